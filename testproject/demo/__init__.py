"""The demo behind ``make demo``: the fake Webex, the test project and a Celery worker play
the whole story (webhook, signed delivery, receiver, send_message, 429 and Retry-After, a file,
a card). Entry point: ``python -m testproject.demo`` (main.py)."""
