"""A Python client for the Webex REST API (messaging and admin). Pure Python: this package
never imports Django, so it can be used on its own.

    from django_webexteams.client import WebexClient
    client = WebexClient(token)
    for room in client.rooms.list(type="group"):
        client.messages.create(room_id=room.id, markdown="**hello**")
"""

from __future__ import annotations

from .client import WebexClient
from .errors import (
    ApiError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GoneError,
    LockedError,
    MalformedResponseError,
    MethodNotAllowedError,
    NotFoundError,
    PreconditionRequiredError,
    RateLimitedError,
    RetryLaterError,
    ServerError,
    TransportError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    WebexError,
)
from .files import FileInfo
from .markdown import MarkdownBuilder
from .models import (
    AttachmentAction,
    Event,
    License,
    LicenseAssignment,
    Membership,
    Message,
    Organization,
    Person,
    Role,
    Room,
    RoomTab,
    Team,
    TeamMembership,
    WebexObject,
    Webhook,
)
from .oauth import OAuthError, TokenResponse
from .pagination import Page, PaginatedList
from .resources._base import ExtraBody, ExtraParams
from .retry import RetryExecutor, RetryPolicy
from .retry_after import parse_retry_after
from .signature import generate_secret, sign_body, verify_signature

__all__ = [
    "ApiError",
    "AttachmentAction",
    "BadRequestError",
    "ConflictError",
    "Event",
    "ExtraBody",
    "ExtraParams",
    "FileInfo",
    "ForbiddenError",
    "GoneError",
    "License",
    "LicenseAssignment",
    "LockedError",
    "MalformedResponseError",
    "MarkdownBuilder",
    "Membership",
    "Message",
    "MethodNotAllowedError",
    "NotFoundError",
    "OAuthError",
    "Organization",
    "Page",
    "PaginatedList",
    "Person",
    "PreconditionRequiredError",
    "RateLimitedError",
    "RetryExecutor",
    "RetryLaterError",
    "RetryPolicy",
    "Role",
    "Room",
    "RoomTab",
    "ServerError",
    "Team",
    "TeamMembership",
    "TokenResponse",
    "TransportError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "WebexClient",
    "WebexError",
    "WebexObject",
    "Webhook",
    "generate_secret",
    "parse_retry_after",
    "sign_body",
    "verify_signature",
]
