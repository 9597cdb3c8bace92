"""All the station's readers: start them, deliver their events, bring lost ones back.

Events go straight from the reader's thread to the current callback. There is
deliberately no queue: a card tapped while no screen wants it must be forgotten,
not handed to the next person who opens a screen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kiosk_hardware.readers.base import EventCallback, Reader
from kiosk_hardware.readers.config import reader_from_config
from kiosk_hardware.readers.events import ReaderEvent
from kiosk_hardware.readers.status import DeviceStatus

log = logging.getLogger(__name__)


@dataclass
class RetryPolicy:
    """How the manager retries a device that is absent or was lost.

    The wait doubles from ``initial`` up to ``maximum`` seconds after each failed
    attempt. It goes back to ``initial`` only after a connection that lasted
    ``stable_after`` seconds, so a device that opens and immediately fails (a bad
    cable) is not reopened in a tight loop. A device that stays away is logged
    once when it goes and then every ``remind_every`` seconds, not at each attempt.

    The ceiling is low because an attempt is cheap (a stat() of the device path,
    or one local pcscd request) and it bounds how long someone who re-plugs a
    scanner waits before it works.
    """

    initial: float = 0.25
    maximum: float = 2.0
    stable_after: float = 5.0
    remind_every: float = 600.0
    tick: float = 0.1


@dataclass
class _Supervision:
    """The manager's bookkeeping for one reader."""

    delay: float
    next_attempt_at: float = 0.0
    awaiting_outcome: bool = False
    opens_seen: int = 0
    opened_at: float | None = None
    failed_attempts: int = 0
    down_since: float | None = None
    last_logged_at: float = 0.0


class ReaderManager:
    """Runs the readers declared in the station config.

    ``configs`` maps device names to their config (see ``reader_from_config``).
    ``on_event`` may be None or replaced at any time through the ``on_event``
    attribute; while it is None, reads are dropped and counted in ``dropped``.
    """

    def __init__(
        self,
        configs: Mapping[str, Mapping[str, Any]],
        on_event: EventCallback | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        readers = [reader_from_config(name, cfg) for name, cfg in configs.items()]
        self._init(readers, on_event, retry or RetryPolicy())

    @classmethod
    def from_readers(
        cls,
        readers: Iterable[Reader],
        on_event: EventCallback | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> ReaderManager:
        """A manager for readers built in code rather than from the config."""
        manager = cls.__new__(cls)
        manager._init(list(readers), on_event, retry or RetryPolicy())
        return manager

    def _init(self, readers: list[Reader], on_event: EventCallback | None, retry: RetryPolicy) -> None:
        names = [reader.name for reader in readers]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate reader names in {names}")
        self._readers: dict[str, Reader] = {reader.name: reader for reader in readers}
        self.on_event = on_event
        self.retry = retry
        #: Reads delivered to a callback / dropped because none was set.
        self.delivered = 0
        self.dropped = 0
        self._count_lock = threading.Lock()
        self._supervision: dict[str, _Supervision] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- public interface ---------------------------------------------------------

    def start(self) -> None:
        """Open every device (absent ones are retried in the background) and return."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("reader manager is already running")
        self._stopping.clear()
        self._supervision = {name: _Supervision(delay=self.retry.initial) for name in self._readers}
        for name, reader in self._readers.items():
            self._attempt(name, reader)
        self._thread = threading.Thread(target=self._supervise, name="reader-manager", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reconnecting and close every device; returns when all threads ended."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for reader in self._readers.values():
            reader.stop()

    def statuses(self) -> list[DeviceStatus]:
        """Every device's status, in config order (for /healthz and the admin page)."""
        return [reader.status() for reader in self._readers.values()]

    def status(self, name: str) -> DeviceStatus:
        """The status of the device called ``name``."""
        return self._readers[name].status()

    def reader(self, name: str) -> Reader:
        """The reader called ``name`` (e.g. a ``TestReader`` to ``inject`` into)."""
        return self._readers[name]

    @property
    def names(self) -> list[str]:
        """Device names in config order."""
        return list(self._readers)

    # -- delivery ---------------------------------------------------------------

    def _dispatch(self, event: ReaderEvent) -> None:
        callback = self.on_event
        with self._count_lock:
            if callback is None:
                self.dropped += 1
            else:
                self.delivered += 1
        if callback is None:
            log.debug("reader %s: %s read dropped, nobody listening", event.source, event.kind)
            return
        callback(event)

    # -- reconnecting -----------------------------------------------------------

    def _attempt(self, name: str, reader: Reader) -> None:
        sup = self._supervision[name]
        sup.awaiting_outcome = True
        sup.opens_seen = reader.open_count
        reader.start(self._dispatch)

    def _supervise(self) -> None:
        while not self._stopping.wait(self.retry.tick):
            now = time.monotonic()
            for name, reader in self._readers.items():
                try:
                    self._check(name, reader, now)
                except Exception:
                    # One misbehaving backend must not end reconnection for the others.
                    log.exception("reader %s: supervision failed", name)

    def _check(self, name: str, reader: Reader, now: float) -> None:
        sup = self._supervision[name]
        if reader.running:
            if reader.open_count != sup.opens_seen and sup.opened_at is None:
                sup.opened_at = now
                if sup.down_since is not None:
                    log.info(
                        "reader %s is back after %.0f s (%d failed attempts): %s",
                        name,
                        now - sup.down_since,
                        sup.failed_attempts,
                        reader.status().detail,
                    )
                else:
                    log.info("reader %s ready: %s", name, reader.status().detail)
                sup.down_since = None
                sup.failed_attempts = 0
            return
        if sup.awaiting_outcome:
            sup.awaiting_outcome = False
            sup.next_attempt_at = now + self._record_outcome(name, reader, sup, now)
        if now >= sup.next_attempt_at:
            sup.opened_at = None
            self._attempt(name, reader)

    def _record_outcome(self, name: str, reader: Reader, sup: _Supervision, now: float) -> float:
        """Log how the last attempt ended and return how long to wait before the next."""
        policy = self.retry
        detail = reader.status().detail
        was_open = reader.open_count != sup.opens_seen
        lasted = now - sup.opened_at if (was_open and sup.opened_at is not None) else 0.0
        if was_open and lasted >= policy.stable_after:
            # A working device went away: retry soon, and say so once.
            sup.delay = policy.initial
            sup.down_since = sup.last_logged_at = now
            log.warning("reader %s lost: %s; reconnecting in the background", name, detail)
            return 0.0
        sup.failed_attempts += 1
        wait = sup.delay
        sup.delay = min(sup.delay * 2, policy.maximum)
        if sup.down_since is None:
            sup.down_since = sup.last_logged_at = now
            log.warning("reader %s unavailable: %s; retrying in the background", name, detail)
        elif now - sup.last_logged_at >= policy.remind_every:
            sup.last_logged_at = now
            log.warning(
                "reader %s still unavailable after %.0f s (%d attempts): %s",
                name,
                now - sup.down_since,
                sup.failed_attempts,
                detail,
            )
        else:
            log.debug("reader %s: attempt %d failed: %s", name, sup.failed_attempts, detail)
        return wait
