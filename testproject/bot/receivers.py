"""The example bot's signal receivers (filled in by the webhooks and demo work)."""
