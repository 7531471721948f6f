"""Webex messaging for Django.

The REST client in :mod:`django_webexteams.client` is usable without Django; everything else
is a reusable Django app (label ``webexteams``).
"""

__version__ = "0.1.0"
