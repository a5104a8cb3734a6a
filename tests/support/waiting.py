"""Polling for a condition another thread or process brings about."""

from __future__ import annotations

import time


def wait_for(predicate, timeout: float = 30, interval: float = 0.05, message: str = ""):
    """Poll until ``predicate()`` is truthy; return its value or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)
