"""``make demo`` (``python -m testproject.demo``): the whole product, working, on one machine.

1. a fresh SQLite database under var/, migrated, with a staff user;
2. three children that stop together: the fake Webex (seeded organisation, control API on),
   the test project (runserver) and a Celery worker, configured only through environment
   variables;
3. the story (story.py), printed step by step;
4. then it keeps serving until Ctrl-C (or, with ``DEMO_ONCE=1``, exits: 0 only when every
   step passed).
"""

from __future__ import annotations

import io
import json
import secrets
import shutil
import sys
import time
import traceback
from typing import Any

import requests

from testproject.demo.config import ROOT, DemoConfig, DemoError, from_env, port_in_use
from testproject.demo.processes import Interrupted, Supervisor
from testproject.demo.story import STEPS, StepFailed, Story

OK, FAIL = "\u2713", "\u2717"  # ✓ ✗
STAFF_USER = "demo"


def say(text: str = "") -> None:
    print(text, flush=True)


def _check_ports(config: DemoConfig) -> None:
    for what, port, var in (
        ("the test project", config.web_port, "DEMO_WEB_PORT"),
        ("the fake Webex", config.fake_port, "DEMO_FAKE_PORT"),
    ):
        if port_in_use(port):
            raise DemoError(
                f"port {port} on 127.0.0.1 (for {what}) is already in use. Is another "
                f"`make demo` running? Stop it, or choose free ports, e.g. "
                f"DEMO_WEB_PORT={config.web_port + 1} DEMO_FAKE_PORT={config.fake_port + 1} "
                f"make demo   (checked {var})"
            )


def _fresh_files(config: DemoConfig) -> None:
    """A new database and empty broker/cache folders every run: the fake Webex starts empty
    each time, so rows from an earlier run would point at webhooks and people that no longer
    exist."""
    config.var.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        config.db_path.with_name(config.db_path.name + suffix).unlink(missing_ok=True)
    shutil.rmtree(config.work, ignore_errors=True)
    for sub in ("logs", "media", "cache", "broker/queue", "broker/control"):
        (config.work / sub).mkdir(parents=True, exist_ok=True)


def _start_fake(config: DemoConfig, sup: Supervisor) -> dict[str, Any]:
    out = config.logs / "fake.json"
    redirects = [
        f"http://127.0.0.1:{config.web_port}/webex/oauth/callback/",
        f"http://localhost:{config.web_port}/webex/oauth/callback/",
    ]
    cmd = [sys.executable, "-m", "django_webexteams.testing", "--port", str(config.fake_port),
           "--seed", "demo", "--json", "--control"]  # fmt: skip
    for uri in redirects:
        cmd += ["--redirect-uri", uri]
    sup.start("fake Webex", cmd, {**_plain_env(), "PYTHONPATH": str(ROOT)}, stdout=out)
    seeded: dict[str, Any] = {}

    def parsed() -> bool:
        try:
            seeded.update(json.loads(out.read_text()))
        except (OSError, ValueError):
            return False
        return True

    sup.wait_for("the fake Webex to start", parsed, timeout=30)
    return seeded


def _plain_env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _setup_django(env: dict[str, str]) -> None:
    import os

    os.environ.update(env)
    # The children log at INFO to their files; the demo's own console shows the story only.
    os.environ["WEBEX_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()


def _migrate_and_staff(config: DemoConfig) -> str:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        # WAL: readers (the demo's checks) do not block the writers (web, worker).
        cursor.execute("PRAGMA journal_mode=WAL")
    password = secrets.token_urlsafe(9)
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username=STAFF_USER, defaults={"email": "demo@example.com"}
    )
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    connection.close()
    return password


def _store_admin_credential(seeded: dict[str, Any]) -> str:
    """Keep the fake organisation admin's token as a Credential owned by the staff user, so
    that the admin's live Licenses page (which needs an administrator) has one to act as.
    Through the same command a deployment uses: the token travels in an environment
    variable, never on a command line."""
    import os

    from django.core.management import call_command

    admin = seeded["people"]["admin"]
    os.environ["DEMO_ADMIN_TOKEN"] = admin["token"]
    try:
        call_command(
            "webexteams_add_credential",
            token_env="DEMO_ADMIN_TOKEN",
            name=f"{admin['display_name']} (organisation admin)",
            owner=STAFF_USER,
            stdout=io.StringIO(),
        )
    finally:
        del os.environ["DEMO_ADMIN_TOKEN"]
    return str(admin["display_name"])


def _start_web_and_worker(
    config: DemoConfig, sup: Supervisor, env: dict[str, str], seeded: dict[str, Any]
) -> None:
    sup.start(
        "test project",
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{config.web_port}", "--noreload"],
        env,
    )
    worker = sup.start(
        "Celery worker",
        [sys.executable, "-m", "celery", "-A", "testproject", "worker", "-Q", config.queue,
         "-c", "2", "-n", f"demo-{config.web_port}@%h", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-l", "INFO"],
        env,
    )  # fmt: skip

    def web_up() -> bool:
        try:
            return requests.get(config.web_url + "/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    sup.wait_for(f"the test project on {config.web_url}", web_up, timeout=60)
    sup.wait_for("the Celery worker", lambda: b"ready." in worker.log.read_bytes(), timeout=60)
    if config.events == "websocket":
        out = config.logs / "listener.out"
        sup.start(
            "websocket listener",
            [sys.executable, "manage.py", "webexteams_listen", "--u2c-url", config.u2c_url],
            env,
            stdout=out,
        )
        sup.wait_for(
            "the websocket listener to start",
            lambda: out.exists() and b"listening as" in out.read_bytes(),
            timeout=60,
        )
        # "listening as" comes before the socket is open: an activity published before the
        # fake has authorised it reaches nobody (as at Webex), so wait for the bot's socket.
        bot_id = seeded["people"]["bot"]["id"]

        def bot_socket() -> bool:
            try:
                resp = requests.get(f"{config.fake_url}/_fake/websockets", timeout=2)
                return any(i["person_id"] == bot_id for i in resp.json()["items"])
            except (requests.RequestException, ValueError, KeyError):
                return False

        sup.wait_for("the websocket listener's socket to be authorised", bot_socket, timeout=60)


def run_story(story: Story) -> tuple[int, str] | None:
    """Run every step, printing it; returns ``(number, title)`` of the first failed one."""
    say("The story")
    for number, (title, step) in enumerate(STEPS, start=1):
        say(f"{number:>2}. {title}")
        try:
            lines = step(story)
        except (StepFailed, DemoError) as exc:
            say(f"    {FAIL} {exc}")
            return number, title
        except Interrupted:
            raise
        except Exception as exc:
            say(f"    {FAIL} {type(exc).__name__}: {exc}")
            say("      " + traceback.format_exc().strip().replace("\n", "\n      "))
            return number, title
        for index, line in enumerate(lines):
            say(f"    {OK if index == 0 else ' '} {line}")
    return None


def main() -> int:
    try:
        config = from_env()
        _check_ports(config)
    except DemoError as exc:
        say(f"make demo: {exc}")
        return 2
    say("django-webexteams demo")
    say(f"  files     {config.var} (a fresh demo.sqlite3 each run; logs in {config.logs})")
    say(f"  broker    {config.describe_broker()}")
    say(f"  cache     {config.cache_url.split('@')[-1]} (the shared rate-limit gate)")
    _fresh_files(config)
    sup = Supervisor(config.logs)
    show_logs = False
    sup.install_signal_handlers()
    failed: tuple[int, str] | None = None
    try:
        seeded = _start_fake(config, sup)
        oauth = seeded["oauth"]
        env = config.child_env(
            bot_token=seeded["people"]["bot"]["token"],
            client_id=oauth["client_id"],
            client_secret=oauth["client_secret"],
        )
        _setup_django(env)
        password = _migrate_and_staff(config)
        say(f"  {OK} fake Webex on {config.fake_url}/v1 (seeded: Alice, Bob, an admin, "
            "Echo Bot, a team, 'Demo space', licenses, an OAuth client)")  # fmt: skip
        say(f"  {OK} database migrated; staff user: {STAFF_USER} / {password}")
        admin_name = _store_admin_credential(seeded)
        say(f"  {OK} {admin_name}'s token stored as a Credential (webexteams_add_credential), "
            "for the admin's Licenses page")  # fmt: skip
        _start_web_and_worker(config, sup, env, seeded)
        say(f"  {OK} test project on {config.web_url} (runserver), Celery worker on "
            f"queue {config.queue}")  # fmt: skip
        if config.events == "websocket":
            say(f"  {OK} websocket listener connected (manage.py webexteams_listen); events "
                "arrive over the socket, not as webhooks")  # fmt: skip
        say()
        story = Story(
            config.web_url, config.fake_url, seeded, sup.check_alive, events=config.events
        )
        failed = run_story(story)
        say()
        if failed is not None:
            number, title = failed
            say(f"{FAIL} The demo failed at step {number}: {title}.")
            say(f"  Logs: {config.logs}/")
            if config.once:
                show_logs = True  # a run nobody watches (CI, make test): the logs go with it
                return 1
        else:
            say(f"{OK} All {len(STEPS)} steps passed.")
            if config.once:
                return 0
        _serve(config, sup, password)
        return 0
    except Interrupted:
        say("\nStopping (interrupted)...")
        return 130 if config.once else 0
    except DemoError as exc:
        say(f"\n{FAIL} make demo: {exc}")
        say(f"  Logs: {config.logs}/")
        return 1
    except Exception:
        # A bug of the demo itself (or of the app during setup): show it, stop everything.
        say(f"\n{FAIL} make demo stopped on an unexpected error:\n{traceback.format_exc()}")
        say(f"  Logs: {config.logs}/")
        return 1
    finally:
        sup.stop_all()
        say("Stopped the fake Webex, the test project and the worker.")
        if show_logs:
            # After the stop: the listener and the worker write their summaries on SIGTERM.
            for child in sup.children:
                say(f"\n--- last lines of {child.log.name} ---\n{child.tail(40)}")


def _serve(config: DemoConfig, sup: Supervisor, password: str) -> None:
    say()
    say("Keep exploring (Ctrl-C stops everything):")
    say(f"  {config.web_url}/          'Log in with Webex' through the fake's authorize page")
    say(f"  {config.web_url}/admin/    staff login {STAFF_USER} / {password}: credentials,")
    say("                                 webhooks, deliveries, outbound messages, and the live")
    say("                                 Webex spaces and licenses pages (licenses: act as")
    say("                                 'My Webex account: Ada Admin', the organisation admin)")
    say(f"  {config.fake_url}/v1      the fake Webex; tokens in {config.logs}/fake.json")
    say(f"  {config.logs}/  logs of the processes")
    while True:
        sup.check_alive()
        time.sleep(0.5)
