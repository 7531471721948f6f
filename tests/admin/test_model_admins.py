"""The model admins: credential, webhook, delivery and outbox actions against the fake Webex."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from django_webexteams import tasks, webhooks
from django_webexteams.models import Credential, OutboundMessage, Webhook, WebhookDelivery
from django_webexteams.webhooks import queue as webhook_queue
from tests.admin.conftest import World, _user, messages_of

pytestmark = pytest.mark.django_db

CLIENT_ID = "C-admin-tests"
CLIENT_SECRET = "admin-tests-secret"


def act(client: Client, model: str, action: str, *pks: int) -> Any:
    """Run admin ``action`` on rows ``pks`` of ``model``'s changelist; the followed page."""
    url = reverse(f"admin:webexteams_{model}_changelist")
    data = {"action": action, "_selected_action": [str(pk) for pk in pks]}
    return client.post(url, data, follow=True)


def text_of(response: Any) -> str:
    return " | ".join(messages_of(response))


# --- credentials ----------------------------------------------------------------------------


def test_check_token_says_who_the_token_is(world: World, su_client: Client) -> None:
    good = Credential.objects.create(kind="bot", name="Good", access_token=world.bot.token)
    bad = Credential.objects.create(kind="bot", name="Bad", access_token="revoked-token-value")
    response = act(su_client, "credential", "check_token", good.pk, bad.pk)
    assert response.status_code == 200
    text = text_of(response)
    assert "Bot: Good: valid" in text and "Admin Bot" in text
    assert "Bot: Bad: Webex rejected the token (401 Unauthorized)" in text
    assert "revoked-token-value" not in response.content.decode()
    assert world.fake.count("GET", "/people/me") == 2


@pytest.fixture
def oauth_credential(world: World, settings: Any, superuser: Any) -> Credential:
    """A user credential with real (fake) OAuth tokens of Alice."""
    from django_webexteams.client.oauth import build_authorize_url, exchange_code
    from django_webexteams.tokens import apply_token_response
    from tests.oauth.conftest import authorize_at_fake, query_of

    redirect_uri = "http://testserver/webex/oauth/callback/"
    world.fake.register_oauth_client(CLIENT_ID, CLIENT_SECRET, redirect_uris=[redirect_uri])
    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
    }
    url = build_authorize_url(
        client_id=CLIENT_ID,
        redirect_uri=redirect_uri,
        scopes=["spark:people_read"],
        state="s",
        base_url=world.fake.base_url,
    )
    code = query_of(authorize_at_fake(url, email="alice@example.com"))["code"]
    answer = exchange_code(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        code=code,
        redirect_uri=redirect_uri,
        base_url=world.fake.base_url,
    )
    credential = Credential(kind="user", owner=superuser, webex_person_id=world.alice.id)
    apply_token_response(credential, answer)
    credential.save()
    return credential


def test_refresh_now_spends_the_refresh_token(
    world: World, su_client: Client, oauth_credential: Credential
) -> None:
    bot = Credential.objects.create(kind="bot", name="Bot", access_token=world.bot.token)
    old_token = oauth_credential.access_token
    before = world.fake.count("POST", "/access_token")
    response = act(su_client, "credential", "refresh_now", oauth_credential.pk, bot.pk)
    text = text_of(response)
    assert "refreshed" in text
    assert "1 bot credential(s) skipped" in text
    assert world.fake.count("POST", "/access_token") == before + 1
    oauth_credential.refresh_from_db()
    assert oauth_credential.access_token != old_token
    assert oauth_credential.client().people.me().id == world.alice.id


def test_refresh_now_without_a_refresh_token(world: World, su_client: Client) -> None:
    row = Credential.objects.create(kind="user", name="No refresh", access_token="t" * 20)
    assert "nothing to refresh" in text_of(act(su_client, "credential", "refresh_now", row.pk))


def test_refresh_now_goes_through_celery_when_configured(
    world: World, su_client: Client, settings: Any, monkeypatch: Any
) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ADMIN_TASKS": "celery"}
    queued: list[int] = []
    monkeypatch.setattr(tasks.refresh_credential, "delay", lambda pk: queued.append(pk))
    row = Credential.objects.create(kind="user", name="U", access_token="t" * 20)
    response = act(su_client, "credential", "refresh_now", row.pk)
    assert queued == [row.pk]
    assert "1 task(s) queued" in text_of(response)
    assert world.fake.count("POST", "/access_token") == 0


def test_a_broker_outage_is_a_message(
    world: World, su_client: Client, settings: Any, monkeypatch: Any
) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ADMIN_TASKS": "celery"}

    def down(pk: int) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.refresh_credential, "delay", down)
    row = Credential.objects.create(kind="user", name="U", access_token="t" * 20)
    response = act(su_client, "credential", "refresh_now", row.pk)
    assert response.status_code == 200
    assert "Could not queue" in text_of(response)


def test_staff_who_may_only_view_cannot_refresh(
    world: World, django_user_model: Any, oauth_credential: Credential
) -> None:
    viewer = _user(django_user_model, "credviewer", "webexteams.view_credential", is_staff=True)
    client = Client()
    client.force_login(viewer)
    page = client.get(reverse("admin:webexteams_credential_changelist")).content.decode()
    # Checking uses (and near expiry refreshes) the token: not for view-only staff either.
    assert 'value="check_token"' not in page and 'value="refresh_now"' not in page


def test_view_only_staff_cannot_check_anyones_token(
    world: World, django_user_model: Any, oauth_credential: Credential
) -> None:
    """The attack: a view-only staff member posts the action by hand, on another user's
    OAuth credential that is about to expire (the check would spend its refresh token)."""
    from datetime import timedelta

    from django.utils import timezone

    Credential.objects.filter(pk=oauth_credential.pk).update(
        expires_at=timezone.now() + timedelta(seconds=30)
    )
    viewer = _user(django_user_model, "credviewer", "webexteams.view_credential", is_staff=True)
    client = Client()
    client.force_login(viewer)
    refreshes = world.fake.count("POST", "/access_token")
    response = act(client, "credential", "check_token", oauth_credential.pk)
    assert response.status_code == 200
    assert world.fake.count("GET", "/people/me") == 0
    assert world.fake.count("POST", "/access_token") == refreshes
    before = Credential.objects.get(pk=oauth_credential.pk)
    assert before.access_token == oauth_credential.access_token


def test_staff_may_check_bots_and_their_own_token_only(
    world: World, django_user_model: Any, oauth_credential: Credential
) -> None:
    editor = _user(
        django_user_model,
        "crededitor",
        "webexteams.view_credential",
        "webexteams.change_credential",
        is_staff=True,
    )
    bot = Credential.objects.create(kind="bot", name="Good", access_token=world.bot.token)
    client = Client()
    client.force_login(editor)
    # oauth_credential belongs to the superuser: skipped, never used.
    response = act(client, "credential", "check_token", oauth_credential.pk, bot.pk)
    text = text_of(response)
    assert "1 credential(s) of other users skipped" in text
    assert "Bot: Good: valid" in text
    assert world.fake.count("GET", "/people/me") == 1
    # Their own user credential they may check.
    Credential.objects.filter(pk=oauth_credential.pk).update(owner=editor)
    text = text_of(act(client, "credential", "check_token", oauth_credential.pk))
    assert "skipped" not in text and "valid" in text
    assert world.fake.count("GET", "/people/me") == 2


def _credential_form(row: Credential, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": row.kind,
        "name": row.name,
        "owner": row.owner_id or "",
        "is_active": "on",
        "webex_person_id": row.webex_person_id,
        "email": row.email,
        "display_name": row.display_name,
        "org_id": row.org_id,
        "scopes": "[]",
        "expires_at_0": "",
        "expires_at_1": "",
        "refresh_expires_at_0": "",
        "refresh_expires_at_1": "",
        "last_error": "",
        "new_access_token": "",
        "new_refresh_token": "",
    }
    data.update(changes)
    return data


def test_staff_cannot_relink_a_webex_identity_to_another_account(
    world: World, django_user_model: Any, superuser: Any
) -> None:
    """Attack: privilege escalation through the identity link. A staff member who may
    change credentials (not a superuser) sets the owner of the credential of *their own*
    Webex identity to the superuser: "Log in with Webex" finds users by that link, so their
    next Webex login would land in the superuser's account. Setting the person id of their
    own credential to a victim's would, the other way round, store the victim's fresh tokens
    under the staff member's account at the victim's next login. Only superusers may change
    who a Webex identity belongs to."""
    staff = _user(
        django_user_model,
        "credstaff",
        "webexteams.view_credential",
        "webexteams.add_credential",
        "webexteams.change_credential",
        is_staff=True,
    )
    own = Credential.objects.create(
        kind="user", owner=staff, webex_person_id=world.alice.id, access_token=world.alice.token
    )
    client = Client()
    client.force_login(staff)
    url = reverse("admin:webexteams_credential_change", args=[own.pk])
    page = client.get(url).content.decode()
    assert 'name="owner"' not in page and 'name="webex_person_id"' not in page
    response = client.post(
        url, _credential_form(own, owner=superuser.pk, webex_person_id=world.admin.id, name="x")
    )
    assert response.status_code == 302  # saved: the other fields stay editable
    own.refresh_from_db()
    assert own.name == "x"
    assert own.owner_id == staff.pk and own.webex_person_id == world.alice.id
    # Adding a credential cannot link an identity to anyone either.
    response = client.post(
        reverse("admin:webexteams_credential_add"),
        _credential_form(
            Credential(kind="user", name="new", webex_person_id="ignored"),
            owner=superuser.pk,
            new_access_token="t" * 40,
        ),
    )
    assert response.status_code == 302
    added = Credential.objects.get(name="new")
    assert added.owner_id is None and added.webex_person_id == ""


@pytest.mark.parametrize(
    ("model", "column"),
    [
        ("credential", "access_token"),
        ("credential", "refresh_token"),
        ("webhook", "secret"),
    ],
)
def test_changelist_filters_are_no_ciphertext_oracle(
    world: World, django_user_model: Any, model: str, column: str
) -> None:
    """Attack: a staff member who may only view a changelist adds a lookup on the raw column
    the admin annotates for redaction (``?_webexteams_raw_access_token__startswith=gAAAA``):
    the admin applies query-string lookups on annotations, so the result count would spell
    out every stored ciphertext character by character. The lookup must be refused."""
    viewer = _user(django_user_model, "probe", f"webexteams.view_{model}", is_staff=True)
    Credential.objects.create(kind="bot", name="B", access_token="a-token-1234567890")
    webhooks.register_webhook(name="Probe", resource="messages", event="created")
    client = Client()
    client.force_login(viewer)
    url = reverse(f"admin:webexteams_{model}_changelist")
    prefix, _, name = column.rpartition("__")
    raw = (prefix + "__" if prefix else "") + f"_webexteams_raw_{name}"
    for probe in ("gAAAAA", "zzz"):
        response = client.get(url, {f"{raw}__startswith": probe})
        assert response.status_code == 400, (probe, response.status_code)


def test_superusers_may_relink_an_identity(world: World, su_client: Client, superuser: Any) -> None:
    row = Credential.objects.create(
        kind="user", webex_person_id=world.alice.id, access_token=world.alice.token
    )
    url = reverse("admin:webexteams_credential_change", args=[row.pk])
    response = su_client.post(url, _credential_form(row, owner=superuser.pk))
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.owner_id == superuser.pk


def test_tokens_are_never_rendered(
    world: World, su_client: Client, oauth_credential: Credential
) -> None:
    pages = [
        su_client.get(reverse("admin:webexteams_credential_changelist")),
        su_client.get(reverse("admin:webexteams_credential_change", args=[oauth_credential.pk])),
    ]
    for page in pages:
        html = page.content.decode()
        assert oauth_credential.access_token not in html
        assert oauth_credential.refresh_token not in html


# --- webhooks -------------------------------------------------------------------------------


@pytest.fixture
def registered(world: World) -> Webhook:
    return webhooks.register_webhook(name="Messages", resource="messages", event="created")


def test_add_registers_at_webex(world: World, su_client: Client) -> None:
    url = reverse("admin:webexteams_webhook_add")
    form = su_client.get(url)
    assert form.status_code == 200
    assert 'name="resource"' in form.content.decode()
    response = su_client.post(
        url, {"name": "From the admin", "resource": "memberships", "event": "all"}, follow=True
    )
    webhook = Webhook.objects.get()
    assert response.redirect_chain[-1][0] == reverse(
        "admin:webexteams_webhook_change", args=[webhook.pk]
    )
    assert "Registered at Webex" in text_of(response)
    assert webhook.webex_id and webhook.secret
    assert world.fake.webhook_status(webhook.webex_id) == "active"
    assert webhook.target_url.startswith("https://bot.example.com/")
    assert webhook.secret not in response.content.decode()


def test_add_offers_bots_and_my_own_account_only(
    world: World, su_client: Client, superuser: Any, django_user_model: Any
) -> None:
    other = django_user_model.objects.create_user(username="other")
    theirs = Credential.objects.create(kind="user", owner=other, access_token=world.alice.token)
    mine = Credential.objects.create(kind="user", owner=superuser, access_token=world.alice.token)
    bot = Credential.objects.create(kind="bot", name="B", access_token=world.bot.token)
    url = reverse("admin:webexteams_webhook_add")
    form = su_client.get(url).context["form"]
    assert set(form.fields["credential"].queryset) == {mine, bot}
    response = su_client.post(
        url, {"name": "x", "resource": "messages", "event": "created", "credential": theirs.pk}
    )
    assert response.status_code == 200 and "credential" in response.context["form"].errors
    assert not Webhook.objects.exists()


def test_add_shows_a_misconfiguration_as_a_message(
    world: World, su_client: Client, settings: Any
) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_BASE_URL": None}
    response = su_client.post(
        reverse("admin:webexteams_webhook_add"),
        {"name": "x", "resource": "messages", "event": "created"},
    )
    assert response.status_code == 200
    assert "WEBHOOK_BASE_URL" in text_of(response)
    assert not Webhook.objects.exists()


def test_add_shows_a_webex_refusal_as_a_message(world: World, su_client: Client) -> None:
    world.fake.fail_next(429, retry_after=30, path="/webhooks")
    response = su_client.post(
        reverse("admin:webexteams_webhook_add"),
        {"name": "x", "resource": "messages", "event": "created"},
    )
    assert response.status_code == 200
    assert "30 seconds" in text_of(response)
    assert not Webhook.objects.exists()


def test_status_has_a_colour(world: World, su_client: Client, registered: Webhook) -> None:
    Webhook.objects.filter(pk=registered.pk).update(status="inactive")
    html = su_client.get(reverse("admin:webexteams_webhook_changelist")).content.decode()
    assert "webexteams-status-inactive" in html and "#ba2121" in html


def test_reactivate(world: World, su_client: Client, registered: Webhook) -> None:
    with world.fake.state.lock:
        world.fake.state.webhooks[registered.webex_id].status = "inactive"
    Webhook.objects.filter(pk=registered.pk).update(status="inactive")
    response = act(su_client, "webhook", "reactivate", registered.pk)
    assert "Active at Webex" in text_of(response)
    registered.refresh_from_db()
    assert registered.status == "active"
    assert world.fake.webhook_status(str(registered.webex_id)) == "active"


def test_rotate_secret(world: World, su_client: Client, registered: Webhook) -> None:
    old = registered.secret
    response = act(su_client, "webhook", "rotate_secret", registered.pk)
    assert "new secret stored" in text_of(response)
    registered.refresh_from_db()
    assert registered.secret != old
    with world.fake.state.lock:
        assert world.fake.state.webhooks[registered.webex_id].secret == registered.secret


def test_check_status(world: World, su_client: Client, registered: Webhook) -> None:
    with world.fake.state.lock:
        world.fake.state.webhooks[registered.webex_id].status = "inactive"
    response = act(su_client, "webhook", "check_status", registered.pk)
    assert "disabled by Webex" in text_of(response)
    registered.refresh_from_db()
    assert registered.status == "inactive"


def test_check_status_needs_the_change_permission(
    world: World, registered: Webhook, django_user_model: Any, settings: Any
) -> None:
    """Attack: a staff member who may only *view* webhooks posts the "check_status" action
    by hand. It writes the rows' status, sends ``webhook_disabled`` to project receivers and,
    with WEBHOOK_AUTO_REACTIVATE, reactivates webhooks at Webex: a change, not a view."""
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_AUTO_REACTIVATE": True}
    with world.fake.state.lock:
        world.fake.state.webhooks[registered.webex_id].status = "inactive"
    viewer = _user(django_user_model, "wviewer", "webexteams.view_webhook", is_staff=True)
    client = Client()
    client.force_login(viewer)
    html = client.get(reverse("admin:webexteams_webhook_changelist")).content.decode()
    assert 'value="check_status"' not in html
    act(client, "webhook", "check_status", registered.pk)
    registered.refresh_from_db()
    assert registered.last_checked_at is None
    assert world.fake.webhook_status(str(registered.webex_id)) == "inactive"


def test_check_status_through_celery(
    world: World, su_client: Client, registered: Webhook, settings: Any, monkeypatch: Any
) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ADMIN_TASKS": "celery"}
    queued: list[int] = []
    monkeypatch.setattr(tasks.check_webhook, "delay", lambda pk: queued.append(pk))
    act(su_client, "webhook", "check_status", registered.pk)
    assert queued == [registered.pk]
    # The task itself does what the sync action does.
    assert tasks.check_webhook(registered.pk) == "active"


def test_sync_with_webex(world: World, su_client: Client, registered: Webhook) -> None:
    gone = webhooks.register_webhook(name="Gone", resource="rooms", event="all")
    with world.fake.state.lock:
        del world.fake.state.webhooks[gone.webex_id]
    world.fake.create_webhook(world.bot, "Elsewhere", "https://elsewhere.example.com/")
    response = act(su_client, "webhook", "sync_with_webex", registered.pk)
    assert "1 in sync, 1 missing at Webex, 1 registered elsewhere" in text_of(response)
    gone.refresh_from_db()
    assert gone.status == "missing"


def test_delete_at_webex_keeps_the_row(
    world: World, su_client: Client, registered: Webhook
) -> None:
    response = act(su_client, "webhook", "delete_at_webex", registered.pk)
    assert "deleted at Webex" in text_of(response)
    registered.refresh_from_db()
    assert registered.status == "missing"
    assert world.fake.webhook_status(str(registered.webex_id)) is None


def test_bulk_delete_is_replaced(world: World, su_client: Client, registered: Webhook) -> None:
    html = su_client.get(reverse("admin:webexteams_webhook_changelist")).content.decode()
    assert 'value="delete_selected"' not in html and 'value="delete_at_webex"' in html


def test_delete_page_deletes_at_webex_too(
    world: World, su_client: Client, registered: Webhook
) -> None:
    url = reverse("admin:webexteams_webhook_delete", args=[registered.pk])
    su_client.post(url, {"post": "yes"}, follow=True)
    assert not Webhook.objects.exists()
    assert world.fake.webhook_status(str(registered.webex_id)) is None


def test_delete_page_keeps_the_row_when_webex_fails(
    world: World, su_client: Client, registered: Webhook
) -> None:
    world.fake.fail_next(403, path="/webhooks")
    url = reverse("admin:webexteams_webhook_delete", args=[registered.pk])
    response = su_client.post(url, {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert "Not deleted" in text_of(response)
    assert "deleted successfully" not in text_of(response)
    assert Webhook.objects.filter(pk=registered.pk).exists()


# --- deliveries -----------------------------------------------------------------------------


def _delivery(webhook: Webhook, n: int = 1, **fields: Any) -> WebhookDelivery:
    payload = {
        "id": webhook.webex_id,
        "resource": "memberships",
        "event": "created",
        "actorId": "someone-else",
        "data": {"id": f"m{n}", "roomId": "r1", "note": "<script>alert(1)</script>"},
    }
    defaults: dict[str, Any] = {
        "webhook": webhook,
        "dedupe_key": f"key-{n}",
        "resource": "memberships",
        "event": "created",
        "data_id": f"m{n}",
        "actor_id": "someone-else",
        "payload": payload,
        "status": "failed",
        "error": "boom",
    }
    defaults.update(fields)
    return WebhookDelivery.objects.create(**defaults)


def test_delivery_is_read_only_with_a_pretty_payload(
    world: World, su_client: Client, registered: Webhook
) -> None:
    delivery = _delivery(registered)
    url = reverse("admin:webexteams_webhookdelivery_change", args=[delivery.pk])
    html = su_client.get(url).content.decode()
    assert '<pre class="webexteams-payload">' in html
    assert "&quot;resource&quot;: &quot;memberships&quot;" in html  # indented JSON, escaped
    assert "<script>alert(1)</script>" not in html
    assert 'name="_save"' not in html
    assert su_client.get(reverse("admin:webexteams_webhookdelivery_add")).status_code == 403


def test_reprocess_dispatches_again(
    world: World,
    su_client: Client,
    registered: Webhook,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django_webexteams import signals

    seen: list[int] = []

    def receiver(sender: Any, delivery: Any, **kw: Any) -> None:
        seen.append(delivery.pk)

    signals.membership_created.connect(receiver, weak=False)
    try:
        delivery = _delivery(registered)
        with django_capture_on_commit_callbacks(execute=True):
            response = act(su_client, "webhookdelivery", "reprocess", delivery.pk)
    finally:
        signals.membership_created.disconnect(receiver)
    assert "1 delivery(ies) reprocessed" in text_of(response)
    assert seen == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == "processed" and delivery.error == ""


def test_reprocess_through_celery(
    world: World,
    su_client: Client,
    registered: Webhook,
    settings: Any,
    monkeypatch: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ADMIN_TASKS": "celery"}
    queued: list[int] = []
    monkeypatch.setattr(webhook_queue, "_enqueue", lambda pk: queued.append(pk))
    delivery = _delivery(registered)
    with django_capture_on_commit_callbacks(execute=True):
        response = act(su_client, "webhookdelivery", "reprocess", delivery.pk)
    assert queued == [delivery.pk]
    assert "queued for reprocessing" in text_of(response)


def test_reprocess_needs_the_change_permission(
    world: World, registered: Webhook, django_user_model: Any
) -> None:
    viewer = _user(django_user_model, "dviewer", "webexteams.view_webhookdelivery", is_staff=True)
    client = Client()
    client.force_login(viewer)
    delivery = _delivery(registered)
    html = client.get(reverse("admin:webexteams_webhookdelivery_changelist")).content.decode()
    assert 'value="reprocess"' not in html
    act(client, "webhookdelivery", "reprocess", delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed"


def test_delivery_filters_need_no_distinct_query(
    world: World, su_client: Client, registered: Webhook
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _delivery(registered, 1)
    _delivery(registered, 2, resource="messages", event="deleted", dedupe_key="k2")
    url = reverse("admin:webexteams_webhookdelivery_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = su_client.get(url + "?resource=messages")
    # The default filter of a CharField would SELECT DISTINCT over the whole table.
    assert not [q for q in queries.captured_queries if "DISTINCT" in q["sql"].upper()]
    assert [d.data_id for d in response.context["cl"].result_list] == ["m2"]
    response = su_client.get(url + "?event=created&status__exact=failed")
    assert [d.data_id for d in response.context["cl"].result_list] == ["m1"]


# --- outbound messages ----------------------------------------------------------------------


def test_outbox_rows_are_not_typed_in(world: World, su_client: Client) -> None:
    assert su_client.get(reverse("admin:webexteams_outboundmessage_add")).status_code == 403


def test_send_again_requeues_a_failed_message(
    world: World, su_client: Client, enqueued: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    failed = OutboundMessage.objects.create(room_id="r1", text="hi", status="failed")
    sent = OutboundMessage.objects.create(room_id="r1", text="hi", status="sent")
    with django_capture_on_commit_callbacks(execute=True):
        response = act(su_client, "outboundmessage", "send_again", failed.pk, sent.pk)
    assert enqueued == [failed.pk]
    assert "1 message(s) queued again" in text_of(response)
    sent.refresh_from_db()
    assert sent.status == "sent"


def test_send_again_needs_the_change_permission(
    world: World,
    django_user_model: Any,
    enqueued: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Attack: a staff member who may only *view* the outbox posts the "send_again" action by
    hand, making the bot post messages to Webex again."""
    failed = OutboundMessage.objects.create(room_id="r1", text="hi", status="failed")
    viewer = _user(django_user_model, "oviewer", "webexteams.view_outboundmessage", is_staff=True)
    client = Client()
    client.force_login(viewer)
    html = client.get(reverse("admin:webexteams_outboundmessage_changelist")).content.decode()
    assert 'value="send_again"' not in html
    with django_capture_on_commit_callbacks(execute=True):
        act(client, "outboundmessage", "send_again", failed.pk)
    assert enqueued == []
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_outbox_status_filter(world: World, su_client: Client) -> None:
    OutboundMessage.objects.create(room_id="r1", text="a", status="failed")
    OutboundMessage.objects.create(room_id="r2", text="b", status="sent")
    url = reverse("admin:webexteams_outboundmessage_changelist") + "?status__exact=failed"
    rows = su_client.get(url).context["cl"].result_list
    assert [r.room_id for r in rows] == ["r1"]


@pytest.mark.parametrize("page", ["-1", "0", "9" * 40, "\u00b2", "1_0"])
def test_estimated_count_pages_out_of_range_are_not_500(
    su_client: Client, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    """Fuzzing ?p= (issue 16): with a planner estimate standing in for the count (a big
    table), a page below 1 was sliced negatively and a huge one overflowed the OFFSET."""

    from django_webexteams.admin import EstimatedCountPaginator

    monkeypatch.setattr(
        EstimatedCountPaginator, "count", property(lambda self: 10**6), raising=True
    )
    url = reverse("admin:webexteams_webhookdelivery_changelist")
    response = su_client.get(url, {"p": page})
    assert response.status_code in (200, 302)
    assert su_client.get(url, {"p": "990"}).status_code == 200  # past the end: empty page
