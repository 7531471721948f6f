"""Django settings for the benchmark server (gunicorn) and the benchmark's Celery workers.

The test project's settings, with: the benchmark's own PostgreSQL database
(``BENCH_DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/bench``), persistent
database connections (as production deployments run; the same for every view measured), the
benchmark URLconf (the package's receiver plus the two reference views), and without the
example bot (its receiver would call Webex for every delivery).
"""

from __future__ import annotations

import os

import environ

from testproject.settings import *  # noqa: F403
from testproject.settings import INSTALLED_APPS

_env = environ.Env()

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "testproject.bot"]
ROOT_URLCONF = "benchmarks.urls"
DATABASES = {
    "default": {
        **_env.db_url_config(
            os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench")
        ),
        "CONN_MAX_AGE": 600,
    }
}
DEBUG = False
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    # Rejections are logged at WARNING by the receiver; the benchmark sends none, but a
    # misconfigured run must not measure the speed of writing log lines.
    "loggers": {"django_webexteams": {"handlers": ["null"], "level": "ERROR", "propagate": False}},
}
