"""OAuth2 "Log in with Webex" (docs/oauth.md): ``views`` (login, callback, disconnect),
``adapter`` (the one customisation hook, setting ``ADAPTER``) and ``backends`` (the
authentication backend).

Keeping a stored credential's token fresh is not here: every feature that calls Webex needs
it, so it sits under the models, in :mod:`django_webexteams.tokens`. The old paths
``django_webexteams.adapter`` and ``django_webexteams.backends`` hand on the public names.
"""
