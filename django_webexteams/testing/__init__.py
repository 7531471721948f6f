"""The fake Webex: a stateful local emulator for tests, the demo and users' own projects.

Never imports Django: it runs standalone (``python -m django_webexteams.testing``) and in
plain-Python tests. See docs/testing.md.
"""

from __future__ import annotations

from .delivery import Delivery, sign
from .fake import FakeCallError, FakeWebex, Obj
from .ids import decode_id, iso, make_id
from .state import Person

__all__ = [
    "Delivery",
    "FakeCallError",
    "FakeWebex",
    "Obj",
    "Person",
    "decode_id",
    "iso",
    "make_id",
    "sign",
]
