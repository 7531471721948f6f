"""Celery wiring to copy into your own project (see docs/sending.md)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

if os.environ.get("WEBEXTEAMS_TEST_NETWORK_GUARD"):
    # Worker processes started by the test suite refuse every non-loopback connection.
    from tests.network_guard import install

    install()

app = Celery("testproject")
# Read CELERY_* settings from Django settings (broker URL, result backend, queues).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
