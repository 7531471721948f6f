"""The demo's story, step by step, against the running fake Webex, test project and worker.

Each step does something a real deployment does (through the public API of the app: the
client, ``register_webhook``, ``send_message``) and then checks what should have happened,
looking at the database rows the app writes and at the fake's own record of the calls it
answered (its ``/_fake/`` control API). A step returns a few lines to show, or raises
:class:`StepFailed` saying what did not happen.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

RETRY_AFTER = 2  # seconds: the Retry-After the fake sends with the injected 429
WAIT = 60.0  # seconds a step waits for the other processes before it fails


class StepFailed(Exception):
    """A step's check did not hold; the message says what was expected."""


@dataclass
class Story:
    """What the steps share: the fake's seeded world, clients, and what earlier steps made."""

    web_url: str
    fake_url: str
    seeded: dict[str, Any]
    alive: Callable[[], None]  # raises when a child process died
    events: str = "webhook"  # or "websocket" (DEMO_TRANSPORT)
    made: dict[str, Any] = field(default_factory=dict)

    @property
    def websocket(self) -> bool:
        return self.events == "websocket"

    # --- helpers ------------------------------------------------------------------------------
    @property
    def room_id(self) -> str:
        return str(self.seeded["room_id"])

    def person(self, key: str) -> dict[str, Any]:
        return dict(self.seeded["people"][key])

    def client(self, key: str) -> Any:
        """Our WebexClient acting as a seeded person (``alice``, ``bot``) on the fake."""
        from django_webexteams.client import WebexClient

        return WebexClient(self.person(key)["token"], base_url=self.seeded["base_url"])

    def control(self, method: str, name: str, **kw: Any) -> Any:
        resp = requests.request(method, f"{self.fake_url}/_fake/{name}", timeout=10, **kw)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def wait(self, what: str, probe: Callable[[], Any], timeout: float = WAIT) -> Any:
        """Poll ``probe`` until it returns something truthy; StepFailed on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.alive()
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise StepFailed(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.2)

    def wait_sent(self, row: Any, what: str) -> Any:
        from django_webexteams.models import OutboundMessage

        def probe() -> Any:
            row.refresh_from_db()
            if row.status == OutboundMessage.Status.FAILED:
                raise StepFailed(f"{what}: outbox row {row.pk} failed: {row.last_error}")
            return row.status == OutboundMessage.Status.SENT

        self.wait(f"{what} (outbox row {row.pk}) to be sent by the worker", probe)
        return row

    def bot_requests(self, method: str, path: str) -> list[dict[str, Any]]:
        params = {"method": method, "path": path, "person": self.person("bot")["id"]}
        items: list[dict[str, Any]] = self.control("GET", "requests", params=params)["items"]
        return items


# --- the steps ------------------------------------------------------------------------------


def register_webhooks(s: Story) -> list[str]:
    if s.websocket:
        return listener_device(s)
    from django_webexteams.webhooks import register_webhook

    hooks = [
        register_webhook(name="Demo: messages", resource="messages", event="created"),
        register_webhook(
            name="Demo: card submissions", resource="attachmentActions", event="created"
        ),
    ]
    s.made["webhooks"] = hooks
    return [f"{h.resource}:{h.event} -> {h.target_url}" for h in hooks]


def listener_device(s: Story) -> list[str]:
    """DEMO_TRANSPORT=websocket: no webhook; the listener's one device at the fake."""
    bot = s.client("bot")
    wdm = f"{s.fake_url}/wdm/api/v1"
    devices = bot.transport.request("GET", f"{wdm}/devices").json_object["devices"]
    mine = [d for d in devices if d.get("name") == "django-webexteams"]
    if len(mine) != 1:
        raise StepFailed(f"expected the listener's one device, the fake lists {len(devices)}")
    from django_webexteams.models import Webhook

    if Webhook.objects.exists():
        raise StepFailed("a webhook is registered; the websocket story needs none")
    return [
        f"manage.py webexteams_listen: device {mine[0]['url']} (reused by name on restart)",
        "no webhook registered, no public URL needed",
    ]


def person_posts(s: Story) -> list[str]:
    from django_webexteams.client import MarkdownBuilder

    bot = s.person("bot")
    # Arm the fake: the bot's next POST /messages (the reply) gets 429 + Retry-After.
    s.control("POST", "fail-next", json={
        "status": 429, "times": 1, "retry_after": RETRY_AFTER,
        "method": "POST", "path": "/messages", "person": bot["id"],
    })  # fmt: skip
    markdown = MarkdownBuilder().text("hello ").mention_person(bot["id"], bot["display_name"])
    message = s.client("alice").messages.create(room_id=s.room_id, markdown=str(markdown))
    s.made["hello"] = message
    return [
        f'Alice (through WebexClient): "{message.text}" in "Demo space" ({message.id[:24]}...)',
        f"(the fake will answer the bot's next post with 429, Retry-After: {RETRY_AFTER})",
    ]


def webhook_delivered(s: Story) -> list[str]:
    if s.websocket:
        return socket_delivered(s)

    message = s.made["hello"]

    def delivered() -> Any:
        items = s.control("GET", "deliveries")["items"]
        return next(
            (d for d in items if d["data_id"] == message.id and d["status_code"] is not None),
            None,
        )

    item = s.wait("the fake to deliver the messages:created webhook", delivered)
    if item["status_code"] != 200 or not item["signed"]:
        raise StepFailed(f"the test project answered {item['status_code']} ({item['error']})")
    row = _processed(s, message.id)
    return [
        f"POST {item['target_url']} (X-Spark-Signature) -> {item['status_code']}",
        f"stored as WebhookDelivery #{row.pk}, signal message_created sent",
    ]


def _processed(s: Story, data_id: str) -> Any:
    from django_webexteams.models import WebhookDelivery

    try:
        row = s.wait(
            "the delivery to be processed",
            lambda: WebhookDelivery.objects.filter(
                data_id=data_id, status__in=["processed", "failed"]
            ).first(),
        )
    except StepFailed as exc:
        # Say how far it got: never stored (the event did not arrive or was dropped), or
        # stored and not dispatched.
        rows = list(WebhookDelivery.objects.values_list("pk", "data_id", "status", "transport"))
        raise StepFailed(f"{exc}; deliveries stored: {rows or 'none'}") from None
    if row.status != "processed":
        raise StepFailed(f"delivery {row.pk} failed: {row.error}")
    return row


def socket_delivered(s: Story) -> list[str]:
    message = s.made["hello"]
    row = _processed(s, message.id)
    if row.transport != "websocket" or row.webhook_id is not None:
        raise StepFailed(f"delivery {row.pk} came by {row.transport}, not the websocket")
    return [
        "the fake sent a conversation.activity (verb post) on the listener's socket",
        f"the listener fetched the message over REST, stored WebhookDelivery #{row.pk} "
        "(transport websocket), acknowledged it; signal message_created sent",
    ]


def receiver_answers(s: Story) -> list[str]:
    from django_webexteams.models import OutboundMessage
    from testproject.bot.receivers import bot

    message = s.made["hello"]
    # The toolkit keys each answer by the message it answers (bot.answer_key).
    row = s.wait(
        "the receiver to queue a reply with send_message",
        lambda: OutboundMessage.objects.filter(idempotency_key=bot.answer_key(message.id)).first(),
    )
    s.made["reply_row"] = row
    fetched = [r for r in s.bot_requests("GET", f"/messages/{message.id}") if r["status"] == 200]
    if not fetched:
        raise StepFailed("the receiver did not fetch the message from the fake (GET /messages/id)")
    return [
        "testproject/bot/receivers.py (bot toolkit): GET /messages/{id} as the bot -> 200",
        f'send_message(...) -> outbox row #{row.pk} "{row.text}", queued for the worker',
    ]


def worker_honours_retry_after(s: Story) -> list[str]:
    started = time.monotonic()
    row = s.wait_sent(s.made["reply_row"], "the reply")
    elapsed = time.monotonic() - started
    posts = [r["status"] for r in s.bot_requests("POST", "/messages")]
    if posts[:1] != [429] or 200 not in posts:
        raise StepFailed(f"expected the bot's posts to be 429 then 200, the fake saw {posts}")
    return [
        f"attempt 1: 429 Too Many Requests, Retry-After: {RETRY_AFTER} "
        "(the shared rate-limit gate closed for this bot)",
        f"attempt {row.attempts}: 200 after a Celery countdown (no sleep), "
        f"{elapsed:.1f} s into this step",
    ]


def reply_shown(s: Story) -> list[str]:
    from django_webexteams.models import OutboundMessage, WebhookDelivery

    row = s.made["reply_row"]
    reply = s.client("alice").messages.get(row.webex_message_id)
    if reply.parent_id != s.made["hello"].id:
        raise StepFailed("the reply is not in the thread of Alice's message")
    if s.websocket:
        # Over the socket the bot's own post arrives too; the listener skips it before any
        # REST request (the own-event rule), so there is no row, and no answer.
        time.sleep(1.5)
        stored = WebhookDelivery.objects.filter(data_id=reply.id).first()
        if stored is not None and stored.status != "ignored":
            raise StepFailed(f"the bot's own reply was dispatched (delivery {stored.pk})")
        if OutboundMessage.objects.filter(idempotency_key=f"echo:{reply.id}").exists():
            raise StepFailed("the bot answered its own reply")
        return [
            f'Echo Bot, in the thread: "{reply.text}"',
            "its own reply came back over the socket: skipped (the bot never answers itself)",
        ]
    # The reply comes back as a messages:created delivery too (the webhook has no filter):
    # it must be recognised as the bot's own and ignored, or the bot answers itself forever.
    own = s.wait(
        "the webhook delivery of the bot's own reply",
        lambda: WebhookDelivery.objects.filter(
            data_id=reply.id, status__in=["processed", "failed", "ignored"]
        ).first(),
    )
    if own.status != "ignored":
        raise StepFailed(f"the bot's own reply was {own.status}, not ignored (delivery {own.pk})")
    time.sleep(1.0)  # an answer to the reply would be queued by now
    echoed = OutboundMessage.objects.filter(idempotency_key=f"echo:{reply.id}").first()
    if echoed is not None:
        raise StepFailed(f"the bot answered its own reply (outbox row {echoed.pk})")
    return [
        f'Echo Bot, in the thread: "{reply.text}"',
        f"its own reply came back as delivery #{own.pk}: ignored (the bot never answers itself)",
    ]


def file_round_trip(s: Story) -> list[str]:
    from django_webexteams.messaging import send_message

    data = "step,status\n" + "".join(f"{n},ok\n" for n in range(1, 101))
    content = data.encode()
    row = send_message(
        room_id=s.room_id, text="The demo report", file=("demo-report.csv", content, "text/csv")
    )
    s.wait_sent(row, "the file message")
    alice = s.client("alice")
    message = alice.messages.get(row.webex_message_id)
    if not message.files:
        raise StepFailed("the message has no file")
    out = io.BytesIO()
    info = alice.contents.download(message.files[0], out)
    if out.getvalue() != content:
        raise StepFailed(f"downloaded {len(out.getvalue())} bytes that differ from the upload")
    digest = hashlib.sha256(content).hexdigest()[:12]
    return [
        f"send_message(file=...) -> worker uploaded {info.filename} ({len(content)} bytes)",
        f"Alice downloaded it with client.contents.download: same bytes (sha256 {digest}...)",
    ]


def card_posted(s: Story) -> list[str]:
    from django_webexteams.messaging import send_message
    from testproject.bot.cards import feedback_card

    row = send_message(
        room_id=s.room_id,
        text="How is the demo going? (your Webex client cannot show cards)",
        attachments=feedback_card(),
    )
    s.wait_sent(row, "the card")
    s.made["card_message_id"] = row.webex_message_id
    return [f"send_message(attachments=feedback_card()) -> message {row.webex_message_id[:24]}..."]


def card_submitted(s: Story) -> list[str]:
    from django_webexteams.models import OutboundMessage
    from testproject.bot.receivers import bot

    inputs = {"rating": "5", "comment": "works on my machine"}
    action = s.client("alice").attachment_actions.create(
        type="submit", message_id=s.made["card_message_id"], inputs=inputs
    )
    row = s.wait(
        "the attachmentActions webhook and the receiver's answer",
        lambda: OutboundMessage.objects.filter(idempotency_key=bot.answer_key(action.id)).first(),
    )
    s.wait_sent(row, "the answer to the card")
    return [
        f"Alice submitted {inputs} (client.attachment_actions.create)",
        f"{'socket cardAction' if s.websocket else 'webhook'} attachmentActions:created -> "
        "the bot's FeedbackForm validated the inputs",
        f"Echo Bot, in the card's thread: {row.text}",
    ]


def site_answers(s: Story) -> list[str]:
    home = requests.get(s.web_url + "/", timeout=10)
    if home.status_code != 200 or "Log in with Webex" not in home.text:
        raise StepFailed(f"GET / answered {home.status_code} without the login button")
    login = requests.get(s.web_url + "/webex/oauth/login/", timeout=10, allow_redirects=False)
    target = login.headers.get("Location", "")
    if login.status_code != 302 or not target.startswith(s.fake_url + "/v1/authorize"):
        raise StepFailed(f"Log in with Webex answered {login.status_code} -> {target!r}")
    page = requests.get(target, timeout=10)
    if page.status_code != 200:
        raise StepFailed(f"the fake's authorize page answered {page.status_code}")
    admin = requests.get(s.web_url + "/admin/login/", timeout=10)
    if admin.status_code != 200:
        raise StepFailed(f"GET /admin/login/ answered {admin.status_code}")
    return [
        f"{s.web_url}/ -> 200; Log in with Webex -> 302 to the fake's authorize page -> 200",
        f"{s.web_url}/admin/login/ -> 200",
    ]


EXPECTED_POSTS = 4  # the reply, the file, the card, the answer to the card


def sent_once(s: Story) -> list[str]:
    """Nothing beyond the story was posted: a bot answering itself shows here (and run
    twice in a row, the demo posts the same number of messages each time)."""
    from django_webexteams.models import OutboundMessage

    time.sleep(1.0)  # let any stray delivery arrive and be answered
    posts = [r for r in s.bot_requests("POST", "/messages") if r["status"] == 200]
    rows = OutboundMessage.objects.count()
    unsent = list(OutboundMessage.objects.exclude(status="sent").values_list("pk", "last_error"))
    if unsent or len(posts) != EXPECTED_POSTS or rows != EXPECTED_POSTS:
        raise StepFailed(
            f"expected {EXPECTED_POSTS} messages posted by the bot and as many outbox rows, "
            f"got {len(posts)} posts, {rows} rows, not sent: {unsent[:3]}"
        )
    return [f"{len(posts)} messages posted by the bot, one per outbox row, nothing more"]


STEPS: list[tuple[str, Callable[[Story], list[str]]]] = [
    ("Register webhooks for the bot (or, DEMO_TRANSPORT=websocket, its device)", register_webhooks),
    ('A person posts "hello @Echo Bot" in a space', person_posts),
    ("The fake Webex delivers the event (signed webhook, or websocket)", webhook_delivered),
    ("The receiver fetches the message and answers through send_message", receiver_answers),
    ("Webex answers 429; the worker waits Retry-After and delivers", worker_honours_retry_after),
    ("The reply, as Alice sees it", reply_shown),
    ("A file is sent and downloaded back", file_round_trip),
    ("A card is posted", card_posted),
    ("Alice submits the card; the receiver answers", card_submitted),
    ("The site answers: home page, Log in with Webex, admin", site_answers),
    ("Every message was posted once; the bot never answered itself", sent_once),
]
