"""One module per Webex resource; each class hangs off :class:`WebexClient`."""
