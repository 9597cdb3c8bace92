"""Waiting for events and states in tests without sleeping for fixed times."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kiosk_hardware.readers.events import ReaderEvent

# Threads this package starts; a test that leaves one running leaked it.
THREAD_PREFIXES = ("reader-", "vicc-")


class EventCollector:
    """An ``on_event`` callback that records events and lets a test wait for them."""

    def __init__(self) -> None:
        self.events: list[ReaderEvent] = []
        self._changed = threading.Condition()

    def __call__(self, event: ReaderEvent) -> None:
        """Record one event (called on the reader's thread)."""
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReaderEvent]:
        """Block until ``count`` events arrived; return them all (AssertionError on timeout)."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.events) >= count, timeout):
                raise AssertionError(f"expected {count} events within {timeout} s, got {self.events!r}")
            return list(self.events)

    @property
    def values(self) -> list[tuple[str, str]]:
        """(kind, value) of every event so far."""
        with self._changed:
            return [(event.kind, event.value) for event in self.events]


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it is true (AssertionError naming ``what`` on timeout)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def reader_threads() -> set[threading.Thread]:
    """The live threads started by readers, managers and virtual cards."""
    return {t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIXES) or t.name == "reader-manager"}
