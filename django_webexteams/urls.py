from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from django_webexteams.oauth import views as oauth
from django_webexteams.webhooks import receive as webhook

app_name = "webexteams"

urlpatterns: list[URLPattern | URLResolver] = [
    # The webhook receiver; one URL per registration (docs/webhooks.md)
    path("webhooks/<uuid:uuid>/", webhook.receive, name="webhook"),
    # "Log in with Webex" (docs/oauth.md)
    path("oauth/login/", oauth.login_view, name="oauth_login"),
    path("oauth/callback/", oauth.callback, name="oauth_callback"),
    path("oauth/disconnect/", oauth.disconnect, name="oauth_disconnect"),
]
