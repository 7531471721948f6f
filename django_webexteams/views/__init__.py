"""Views of django-webexteams (one module per feature)."""
