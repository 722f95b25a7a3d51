"""The fixtures of the e-mail tests: a local SMTP server and Sluis mailing through it
(defined in tests/notify/stack.py, which the browser tests import them from too)."""

from tests.notify.stack import inbox, sluis

__all__ = ["inbox", "sluis"]
