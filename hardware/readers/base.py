"""The one interface every card reader and scanner backend implements.

A reader owns one daemon thread per connection attempt: open the device, serve
reads until it fails or ``stop()`` is called, close it, record why it ended.
Reconnecting is deliberately not done here but by ``ReaderManager``, so a single
place decides backoff and how loudly a missing device is logged.
"""

from __future__ import annotations

import errno
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from kiosk_hardware.readers.events import INPUT_KINDS, KIND_CARD, ReaderEvent, utc_now
from kiosk_hardware.readers.status import (
    STATE_DISCONNECTED,
    STATE_ERROR,
    STATE_OK,
    STATE_STOPPED,
    DeviceStatus,
)
from kiosk_hardware.readers.uids import describe_unusable, unusable_uid

log = logging.getLogger(__name__)

#: How a reader's status says it read cards whose UID cannot identify anyone (``kiosk doctor`` looks for it).
UNUSABLE_NOTE = "unusable card UIDs read"

EventCallback = Callable[[ReaderEvent], None]

JOIN_TIMEOUT = 3.0

# errno values meaning "the device is not there (any more)", as opposed to a
# device that is there but refuses us (EACCES, EBUSY): only the former is
# reported as "disconnected", the latter as "error".
ABSENT_ERRNOS = frozenset({errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.EIO})


class DeviceUnavailable(Exception):
    """The device, or the service in front of it, is absent; a later retry may succeed."""


def describe_error(exc: BaseException) -> str:
    """A one-line reason for the admin page (the type matters as much as the text)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Reader(ABC):
    """Base class of all backends: ``start(on_event)``, ``stop()``, ``status()``.

    ``on_event`` is called on the reader's own thread, once per read, as soon as
    the read is decoded; it must return quickly (hand the event to a queue).
    An exception raised by the callback is logged and does not stop the reader.
    Subclasses implement ``_open``, ``_serve`` and ``_close`` and, when ``_serve``
    blocks, ``_interrupt`` to wake it up for ``stop()``.
    """

    #: Backend type as written in the station config (``"type"``).
    backend: ClassVar[str] = ""

    def __init__(self, name: str, *, event_kind: str) -> None:
        if event_kind not in INPUT_KINDS:
            raise ValueError(f"{name}: kind must be one of {sorted(INPUT_KINDS)}, not {event_kind!r}")
        self.name = name
        self.event_kind = event_kind
        #: How many times the device was opened successfully (the manager resets
        #: its backoff when this moves).
        self.open_count = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_event: EventCallback | None = None
        self._state = STATE_STOPPED
        self._detail = "not started"
        self._last_event_at: datetime | None = None
        #: Card reads whose UID is random or blank (see ``uids``), and the kind of the last one.
        self.unusable_reads = 0
        self._last_unusable = ""

    # -- public interface ---------------------------------------------------

    def start(self, on_event: EventCallback) -> None:
        """Open the device on a new daemon thread and deliver reads to ``on_event``.

        Returns at once; ``status()`` tells whether opening worked. Calling it
        again after the device was lost makes one more attempt.
        """
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError(f"reader {self.name!r} is already running")
            self._on_event = on_event
            self._stopping.clear()
            # A retry keeps showing why the last attempt failed, so /healthz does not
            # flicker between "connecting" and the real reason.
            if self._state == STATE_STOPPED:
                self._state, self._detail = STATE_DISCONNECTED, "connecting"
            self._thread = threading.Thread(target=self._run, name=f"reader-{self.name}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Close the device and wait for the reader's thread to end."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            self._interrupt()
            thread.join(JOIN_TIMEOUT)
            if thread.is_alive():
                log.warning("reader %s: thread did not end within %.1f s", self.name, JOIN_TIMEOUT)
        with self._lock:
            self._state, self._detail = STATE_STOPPED, "stopped"

    def status(self) -> DeviceStatus:
        """The current state of the device (see ``DeviceStatus``)."""
        with self._lock:
            detail = self._detail
            if self.unusable_reads:
                # Kept in the status (and so in the device report the doctor reads) until restart.
                detail += f"; {self.unusable_reads} {UNUSABLE_NOTE}, the last {self._last_unusable}"
            return DeviceStatus(
                name=self.name,
                kind=self.backend,
                state=self._state,
                detail=detail,
                last_event_at=self._last_event_at,
            )

    @property
    def running(self) -> bool:
        """True while the reader's thread is alive (opening or serving)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    # -- for subclasses -------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` was called; ``_serve`` loops must check it."""
        return self._stopping.is_set()

    def wait_stopping(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, returning early (True) when stopping."""
        return self._stopping.wait(timeout)

    def _emit(self, value: str, kind: str | None = None) -> ReaderEvent:
        """Build the event for one read and hand it to the callback."""
        event = ReaderEvent(source=self.name, kind=kind or self.event_kind, value=value, at=utc_now())
        if event.kind == KIND_CARD:
            self._note_unusable(value)
        with self._lock:
            self._last_event_at = event.at
            callback = self._on_event
        if callback is not None:
            try:
                callback(event)
            except Exception:
                # A bug in whoever consumes the event must not take the device down.
                log.exception("reader %s: event callback failed", self.name)
        return event

    def _note_unusable(self, uid: str) -> None:
        """Log a card whose UID changes at every tap or is blank: it is delivered, but identifies no one."""
        kind = unusable_uid(uid)
        if kind is None:
            return
        with self._lock:
            self.unusable_reads += 1
            self._last_unusable = kind
        log.warning(
            "reader %s: card read with %s; it cannot identify a person (riders: use the rider code or phone number)",
            self.name,
            describe_unusable(kind),
        )

    def probe(self) -> tuple[bool | None, str]:
        """Whether the device could be opened, without opening it for good (for ``kiosk doctor``).

        ``(True, why)`` the device is there and usable by this user; ``(False,
        why)`` it is not (missing, no permission); ``(None, why)`` it cannot be
        told from here. Never blocks for more than a few seconds.
        """
        return None, "this kind of reader cannot be checked without starting it"

    def _set_detail(self, detail: str) -> None:
        """Update the status text without changing the state (e.g. "card present")."""
        with self._lock:
            self._detail = detail

    @abstractmethod
    def _open(self) -> str:
        """Open the device; return the status detail to show while it is ok.

        Raise ``DeviceUnavailable`` when the device is absent.
        """

    @abstractmethod
    def _serve(self) -> None:
        """Read and ``_emit`` until ``stopping``; raise ``DeviceUnavailable`` on loss."""

    @abstractmethod
    def _close(self) -> None:
        """Release whatever ``_open`` acquired; called on every exit of ``_serve``."""

    def _interrupt(self) -> None:
        """Wake a blocked ``_serve`` so ``stop()`` returns promptly (default: none needed)."""
        return None

    # -- the thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            detail = self._open()
        except DeviceUnavailable as exc:
            self._finish(STATE_DISCONNECTED, str(exc))
            return
        except Exception as exc:
            log.debug("reader %s: open failed", self.name, exc_info=True)
            self._finish(STATE_ERROR, describe_error(exc))
            return
        outcome = (STATE_STOPPED, "stopped")
        try:
            if not self.stopping:
                with self._lock:
                    self.open_count += 1
                    self._state, self._detail = STATE_OK, detail
                self._serve()
                if not self.stopping:
                    outcome = (STATE_DISCONNECTED, "device stopped answering")
        except DeviceUnavailable as exc:
            outcome = (STATE_DISCONNECTED, str(exc))
        except Exception as exc:
            log.debug("reader %s: read failed", self.name, exc_info=True)
            outcome = (STATE_ERROR, describe_error(exc))
        finally:
            try:
                self._close()
            except Exception:
                log.debug("reader %s: close failed", self.name, exc_info=True)
        self._finish(*outcome)

    def _finish(self, state: str, detail: str) -> None:
        with self._lock:
            if self._stopping.is_set():
                self._state, self._detail = STATE_STOPPED, "stopped"
            else:
                self._state, self._detail = state, detail
