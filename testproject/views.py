"""Views of the test project (the demo's pages)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    """The home page: a "Log in with Webex" button, who is logged in, their Webex connection."""
    from django_webexteams.models import Credential

    credentials = []
    if request.user.is_authenticated:
        credentials = list(Credential.objects.filter(kind=Credential.Kind.USER, owner=request.user))
    return render(request, "home.html", {"credentials": credentials})
