"""Django admin: the four models and the live pages (docs/admin.md is the staff guide).

Security decisions:

- Tokens and secrets are never rendered: list and detail pages show a redacted form
  (``••••abcd``, the last 4 characters, only for values long enough that 4 characters reveal
  nothing useful), and forms take new values in write-only password inputs that are never
  pre-filled. A blank input keeps the stored value.
- Encrypted columns are deferred in every admin queryset (also across relations), and the
  redaction reads the raw column. So a row encrypted with a key that is no longer configured
  shows as "unreadable (wrong key)" instead of crashing the page with ``DecryptionError``.

- Actions that talk to Webex call the service modules (``tokens``, ``webhooks``,
  ``messaging``) and turn every Webex failure into an admin message, never a 500; error texts
  come from the client's errors, which never hold a token.
- The live pages (spaces, licenses) act only as the default bot, a bot credential or the
  staff member's own Webex account (``live_pages`` explains why).

Structure: one module per model admin (``credentials``, ``webhooks``, ``deliveries``,
``outbox``), each on top of :class:`EncryptedFieldsAdmin` (``encrypted``), with the actions'
helpers in ``actions``, error texts in ``errors`` and the paginator in ``paginator``; the live
pages ``SpaceAdmin`` / ``LicenseAdmin`` (``live_admins``) on table-less models (their own
view permissions ``webexteams.view_space`` / ``webexteams.view_license``; URL names
``admin:webexteams_spaces`` and ``admin:webexteams_licenses``) route to the views in
``live_pages``. Django's admin autodiscovery imports this module, which imports each admin
module and so registers it; the modules of the package never import this one.
"""

from __future__ import annotations

from django_webexteams.admin.actions import admin_tasks_mode
from django_webexteams.admin.credentials import CredentialAdmin
from django_webexteams.admin.deliveries import WebhookDeliveryAdmin
from django_webexteams.admin.encrypted import EncryptedFieldsAdmin, redact
from django_webexteams.admin.live_admins import LicenseAdmin, SpaceAdmin
from django_webexteams.admin.outbox import OutboundMessageAdmin
from django_webexteams.admin.paginator import EstimatedCountPaginator
from django_webexteams.admin.webhooks import WebhookAdmin

__all__ = [
    "CredentialAdmin",
    "EncryptedFieldsAdmin",
    "EstimatedCountPaginator",
    "LicenseAdmin",
    "OutboundMessageAdmin",
    "SpaceAdmin",
    "WebhookAdmin",
    "WebhookDeliveryAdmin",
    "admin_tasks_mode",
    "redact",
]
