"""System checks (``webexteams.E0xx`` errors, ``webexteams.W0xx`` warnings).

No check touches the database or the network.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register

from django_webexteams import conf


@register()
def check_unknown_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    bad = conf.unknown_keys()
    if not bad:
        return []
    return [
        Error(
            f"Unknown WEBEXTEAMS setting(s): {', '.join(bad)}.",
            hint="Remove them or fix the spelling; docs/settings.md lists every setting.",
            id="webexteams.E001",
        )
    ]
