"""URLs served by the ingest benchmark: the package's receiver (full path) and the three
reference views (:mod:`benchmarks.views`). A no-op receiver is connected to every webhook
signal, so a delivery's dispatch costs what the package adds, not what a project does."""

from __future__ import annotations

from typing import Any

from django.urls import include, path

from benchmarks import views
from django_webexteams import signals


def noop(sender: Any, **kwargs: Any) -> None:
    """The project's receiver, doing nothing."""


signals.webhook_received.connect(noop, dispatch_uid="benchmarks.noop")
signals.message_created.connect(noop, dispatch_uid="benchmarks.noop")

urlpatterns = [
    path("bench/bare/", views.bare),
    path("bench/minimal/", views.minimal),
    path("bench/floor/", views.floor),
    path("webex/", include("django_webexteams.urls")),
]
