"""The system's Chromium and playwright-core, found (or skipped, or failed in CI) the same way
as for the queue page's browser tests."""

from tests.browser.test_queue_page import chromium, node_modules

__all__ = ["chromium", "node_modules"]
