"""A reader with no hardware behind it, for tests and for demo stations.

It follows the same lifecycle as a real device (thread, states, reconnect through
the manager), so a plugin test that taps a card here exercises the same path as a
tap on a real reader.
"""

from __future__ import annotations

import threading

from kiosk_hardware.readers.base import DeviceUnavailable, Reader
from kiosk_hardware.readers.events import EVENT_KINDS, KIND_CARD, ReaderEvent
from kiosk_hardware.readers.status import STATE_OK


class TestReader(Reader):
    """A reader whose reads come from ``inject(kind, value)``.

    ``unplug()`` makes it behave like a lost device (state ``"disconnected"``,
    every reopen fails) until ``plug()``; a ``ReaderManager`` then brings it back
    like any other device.
    """

    # pytest would otherwise try to collect this class from test modules importing it.
    __test__ = False

    backend = "test"

    def __init__(self, name: str, *, event_kind: str = KIND_CARD) -> None:
        super().__init__(name, event_kind=event_kind)
        self._plugged = True
        self._wake = threading.Event()

    def inject(self, kind: str, value: str) -> ReaderEvent | None:
        """Deliver one read synchronously, as if the device had just read it.

        Returns the event, or None when the reader is not open (stopped or
        unplugged): like a real device, a read nobody listens to is lost.
        """
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        if not self.running or self.status().state != STATE_OK:
            return None
        return self._emit(value, kind)

    def unplug(self) -> None:
        """Simulate pulling the cable: the open connection drops, reopening fails."""
        self._plugged = False
        self._wake.set()

    def plug(self) -> None:
        """Simulate plugging the device back in: the next reopen succeeds."""
        self._plugged = True

    def probe(self) -> tuple[bool | None, str]:
        """A test reader is there while plugged."""
        return (True, "test reader (no hardware)") if self._plugged else (False, "test device unplugged")

    def _open(self) -> str:
        if not self._plugged:
            raise DeviceUnavailable("test device unplugged")
        self._wake.clear()
        return "test reader"

    def _serve(self) -> None:
        while not self.stopping:
            if not self._plugged:
                raise DeviceUnavailable("test device unplugged")
            self._wake.wait(0.5)
            self._wake.clear()

    def _close(self) -> None:
        return None

    def _interrupt(self) -> None:
        self._wake.set()
