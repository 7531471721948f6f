"""The fake Webex: a stateful local emulator for tests, the demo and users' own projects.

Never imports Django: it runs standalone (``python -m django_webexteams.testing``) and in
plain-Python tests. See docs/testing.md.

Names are imported lazily: the pytest plugin (``django_webexteams.testing.pytest_plugin``)
is loaded in every pytest run of every project that installs us, and importing this package
must stay cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .delivery import Delivery, sign
    from .fake import FakeCallError, FakeWebex, Obj
    from .ids import decode_id, iso, make_id
    from .state import Organization, Person

_EXPORTS = {
    "Delivery": ".delivery",
    "sign": ".delivery",
    "FakeCallError": ".fake",
    "FakeWebex": ".fake",
    "Obj": ".fake",
    "decode_id": ".ids",
    "iso": ".ids",
    "make_id": ".ids",
    "Organization": ".state",
    "Person": ".state",
}

__all__ = [
    "Delivery",
    "FakeCallError",
    "FakeWebex",
    "Obj",
    "Organization",
    "Person",
    "decode_id",
    "iso",
    "make_id",
    "sign",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
