"""Settings for the test project, read from the environment with django-environ.

Every value a deployment changes comes from an environment variable, so the same project
runs the test suite (SQLite, in-memory), the PostgreSQL tox env (DATABASE_URL), the demo
(fake Webex on 127.0.0.1:8900) and a real Webex (WEBEX_BOT_TOKEN, WEBHOOK_BASE_URL).
"""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env") if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY", default="testproject-insecure-secret-key-not-for-production"
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_webexteams",
    "testproject.bot",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "testproject.urls"
WSGI_APPLICATION = "testproject.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "testproject" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default="sqlite:///:memory:")}
DATABASES["default"].setdefault("TEST", {})
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Concurrent requests in tests (live server threads) need a little patience.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="")

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "django_webexteams.backends.WebexBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/admin/login/"
LOGIN_REDIRECT_URL = "/"

WEBEXTEAMS = {
    "API_BASE_URL": env.str("WEBEX_API_BASE_URL", default="https://webexapis.com/v1"),
    # A fixed development key keeps the test project runnable out of the box; set
    # WEBEX_ENCRYPTION_KEYS (comma-separated Fernet keys) anywhere real tokens are stored.
    "ENCRYPTION_KEYS": env.list(
        "WEBEX_ENCRYPTION_KEYS", default=["Q2hhbmdlTWVDaGFuZ2VNZUNoYW5nZU1lQ2hhbmdlTWU="]
    ),
    "BOT_TOKEN": env.str("WEBEX_BOT_TOKEN", default=None),
    "CLIENT_ID": env.str("WEBEX_CLIENT_ID", default=None),
    "CLIENT_SECRET": env.str("WEBEX_CLIENT_SECRET", default=None),
    "OAUTH_SCOPES": env.list("WEBEX_OAUTH_SCOPES", default=["spark:people_read"]),
    "WEBHOOK_BASE_URL": env.str("WEBHOOK_BASE_URL", default=None),
    "WEBHOOK_DISPATCH": env.str("WEBEX_WEBHOOK_DISPATCH", default="sync"),
}
# More WEBEXTEAMS keys as JSON (the test suite passes settings to its worker processes this way).
WEBEXTEAMS.update(env.json("WEBEXTEAMS_EXTRA", default={}))

# Celery: broker and result backend from the environment (docs/sending.md).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery beat: every periodic task of the app (docs/deployment.md, "Periodic tasks").
CELERY_BEAT_SCHEDULE = {
    "webexteams-refresh-credentials": {
        "task": "webexteams.refresh_credentials",
        "schedule": 3600.0,
        "kwargs": {"within": 86400},
    },
    "webexteams-check-webhooks": {"task": "webexteams.check_webhooks", "schedule": 300.0},
    "webexteams-prune-deliveries": {"task": "webexteams.prune_deliveries", "schedule": 86400.0},
    "webexteams-requeue-stuck-messages": {
        "task": "webexteams.requeue_stuck_messages",
        "schedule": 300.0,
        "kwargs": {"older_than_minutes": 15},
    },
}
# Redis redelivers a task not acknowledged within visibility_timeout (a killed worker's task,
# or one whose countdown lies beyond it): keep WEBEXTEAMS["MAX_COUNTDOWN"] below it. JSON from
# the environment so the worker-kill test can shorten it.
CELERY_BROKER_TRANSPORT_OPTIONS = env.json(
    "CELERY_BROKER_TRANSPORT_OPTIONS", default={"visibility_timeout": 3600}
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_webexteams": {
            "handlers": ["console"],
            "level": env.str("WEBEX_LOG_LEVEL", default="WARNING"),
        },
    },
}
