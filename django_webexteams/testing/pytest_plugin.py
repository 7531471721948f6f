"""pytest plugin (entry point ``webexteams``): the ``fake_webex`` fixture."""
