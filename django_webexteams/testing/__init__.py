"""The fake Webex: a stateful local emulator for tests and the demo."""
