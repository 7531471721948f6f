"""Optional OAuth scope checks (``fake.enforce_scopes = True``).

Off by default: personal and bot tokens made by ``add_person``/``add_bot`` carry every scope;
only tokens issued through ``/access_token`` or ``issue_token(..., scopes=...)`` are limited.
``spark:all`` grants every ``spark:`` scope (not ``spark-admin:`` or ``spark-compliance:``).
"""

from __future__ import annotations

ALL = "*"

_READ_WRITE = {
    "/people": ("spark:people_read", "spark-admin:people_write"),
    "/rooms": ("spark:rooms_read", "spark:rooms_write"),
    "/memberships": ("spark:memberships_read", "spark:memberships_write"),
    "/messages": ("spark:messages_read", "spark:messages_write"),
    "/teams": ("spark:teams_read", "spark:teams_write"),
    "/team/memberships": ("spark:team_memberships_read", "spark:team_memberships_write"),
    "/attachment/actions": ("spark:messages_read", "spark:messages_write"),
    "/room/tabs": ("spark:rooms_read", "spark:rooms_write"),
    "/contents": ("spark:messages_read", "spark:messages_read"),
    "/events": ("spark-compliance:events_read", "spark-compliance:events_read"),
    "/licenses": ("spark-admin:licenses_read", "spark-admin:licenses_read"),
    "/roles": ("spark-admin:roles_read", "spark-admin:roles_read"),
    "/organizations": ("spark-admin:organizations_read", "spark-admin:organizations_read"),
}


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs, or None (webhooks, unknown)."""
    if path == "/people/me":
        return "spark:people_read"
    if path.rstrip("/") == "/licenses/users" and method == "PATCH":
        # Assigning licenses changes people: Webex asks for spark-admin:people_write.
        return "spark-admin:people_write"
    for prefix in sorted(_READ_WRITE, key=len, reverse=True):
        if path == prefix or path.startswith(prefix + "/"):
            read, write = _READ_WRITE[prefix]
            return read if method in ("GET", "HEAD") else write
    return None


def allowed(scopes: list[str], needed: str | None) -> bool:
    if needed is None or ALL in scopes or needed in scopes:
        return True
    return needed.startswith("spark:") and "spark:all" in scopes
