"""Time limits for talking to devices: progress timeouts for writes, a watchdog for opens.

A receipt of 8 to 70 kB takes seconds on a slow line (9600 baud carries 960
bytes a second), so "the whole write within N seconds" either fails good
jobs or waits for ever on bad ones. Instead a job may take as long as bytes
keep moving: :class:`Progress` fails it when nothing moved for ``timeout``
seconds, or when the whole took longer than a cap proportional to its size
(a line that trickles a byte now and then must not hold the print worker
for an hour).

Opening a device can block too (a FIFO nobody reads, a wedged USB driver):
:func:`open_within` runs the open in a helper thread and gives up after a
time limit, closing the device if the open completes later.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from kiosk_hardware.errors import PrinterTimeout

T = TypeVar("T")

#: The slowest a working printer takes a job, in bytes a second, for the
#: overall cap: a 60 kB raster at this rate takes a minute. Real printers
#: take 5 to 100 kB/s; a slower line (9600 baud) lowers it further.
FLOOR_RATE = 1024.0
#: Sizes of the pieces handed to the kernel: small enough that each one can
#: move within a fraction of the progress timeout on the slowest line.
MAX_CHUNK = 4096
MIN_CHUNK = 64


def overall_limit(size: int, timeout: float, rate: float | None = None) -> float:
    """Seconds a job of ``size`` bytes may take in all.

    The progress timeout, plus twice its time at the slower of ``rate`` and
    :data:`FLOOR_RATE`.
    """
    slowest = min(rate, FLOOR_RATE) if rate else FLOOR_RATE
    return timeout + 2 * size / slowest


def chunk_size(timeout: float, rate: float | None = None) -> int:
    """Bytes per write: what the line carries in a quarter of the progress timeout, within bounds."""
    if not rate:
        return MAX_CHUNK
    return int(max(MIN_CHUNK, min(MAX_CHUNK, rate * timeout / 4)))


class Progress:
    """One transfer's clock: how long the next wait may be, and whether the job is stuck or too slow.

    The limits are checked only after a wait or an attempt that moved nothing
    (:meth:`check`): a process that was not scheduled for a while must not
    take its own delay for a printer that stopped.

    :param size: bytes to send; :param timeout: seconds without progress
        allowed; :param rate: the line's speed in bytes a second, if known.
    """

    def __init__(self, size: int, timeout: float, rate: float | None = None) -> None:
        self.size = size
        self.timeout = timeout
        self.sent = 0
        #: While draining: bytes handed over but not yet taken by the device.
        self.queued = 0
        self.started = self.last_moved = time.monotonic()
        self.limit = overall_limit(size, timeout, rate)

    def moved(self, count: int) -> None:
        """Note that ``count`` more bytes went out (0 is allowed and changes nothing)."""
        if count > 0:
            self.sent += count
            self.last_moved = time.monotonic()

    def remaining(self) -> float:
        """Seconds until the progress timeout or the cap, whichever comes first (0 when past)."""
        return max(0.0, min(self.last_moved + self.timeout, self.started + self.limit) - time.monotonic())

    def check(self) -> None:
        """Raise :class:`PrinterTimeout` if the job went ``timeout`` s without moving or is past its cap."""
        now = time.monotonic()
        if now >= self.started + self.limit:
            raise PrinterTimeout(
                f"printer too slow: {self.sent - self.queued} of {self.size} bytes in {self.limit:.0f} s,"
                " the most a job this size may take"
            )
        if now >= self.last_moved + self.timeout:
            raise self.stalled()

    def stalled(self) -> PrinterTimeout:
        """The error for a transfer that stopped moving."""
        if self.queued:
            where = f"{self.queued} of {self.size} bytes still waiting to be taken"
        else:
            where = f"{self.sent} of {self.size} bytes sent"
        return PrinterTimeout(f"printer stopped accepting data: nothing moved for {self.timeout:g} s ({where})")


def write_fd(fd: int, data: bytes, progress: Progress, chunk: int = MAX_CHUNK) -> None:
    """Write ``data`` to a non-blocking ``fd``, waiting for room at most ``progress.remaining()`` at a time.

    OSError other than "would block" is left to the caller to name.
    """
    view = memoryview(data)
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    while progress.sent < len(data):
        if poller.poll(int(progress.remaining() * 1000)):
            try:
                written = os.write(fd, view[progress.sent : progress.sent + chunk])
            except (BlockingIOError, InterruptedError):
                written = 0
            if written:
                progress.moved(written)
                if progress.sent < len(data):
                    progress.check()  # moving, but perhaps too slowly for a job this size
                continue
        progress.check()


def drain(pending: Callable[[], int], progress: Progress) -> None:
    """Wait until ``pending()`` (bytes queued in the kernel or device) is 0, failing when it stops falling."""
    left = progress.queued = pending()
    pause = 0.001
    while left > 0:
        time.sleep(min(pause, progress.remaining()))
        now_left = pending()
        if now_left < left:
            progress.last_moved = time.monotonic()
            pause = 0.001
        else:
            progress.check()
            pause = min(pause * 2, 0.02)
        left = progress.queued = now_left


class _Late:
    """Hand-over between a caller that may give up and a helper thread that may finish late."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.abandoned = False
        self.result: object = None
        self.error: BaseException | None = None


#: Paths whose open() is still blocked in an abandoned helper thread: a second
#: open of the same device would only block another thread.
_hung: dict[str, threading.Thread] = {}
_hung_lock = threading.Lock()


def open_within(
    what: str,
    opener: Callable[[], T],
    timeout: float,
    *,
    discard: Callable[[T], None],
    unblock: Callable[[], None] | None = None,
) -> T:
    """Run ``opener()`` in a helper thread and return its result within ``timeout`` seconds.

    On time-out raise :class:`PrinterTimeout`; if the open completes later,
    ``discard`` releases what it opened. ``unblock`` (if given) is called
    after giving up to make the open return (e.g. open a FIFO's read end);
    while an open of ``what`` is still blocked, later ones fail at once
    rather than leave a thread behind each time.
    """
    with _hung_lock:
        stuck = _hung.get(what)
        if stuck is not None and stuck.is_alive():
            raise PrinterTimeout(f"opening {what} is still blocked from an earlier attempt")
        _hung.pop(what, None)
    late = _Late()

    def run() -> None:
        try:
            result = opener()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            late.error = exc
            late.done.set()
            return
        with late.lock:
            if not late.abandoned:
                late.result = result
                late.done.set()
                return
        discard(result)

    thread = threading.Thread(target=run, name=f"open {what}", daemon=True)
    thread.start()
    if not late.done.wait(timeout):
        with late.lock:
            if not late.done.is_set():
                late.abandoned = True
        if late.abandoned:
            if unblock is not None:
                try:
                    unblock()
                except OSError:
                    pass  # nothing to unblock with; the thread stays parked
            thread.join(0.05)
            if thread.is_alive():
                with _hung_lock:
                    _hung[what] = thread
            raise PrinterTimeout(f"opening {what} did not finish within {timeout:g} s")
    if late.error is not None:
        raise late.error
    return late.result  # type: ignore[return-value]


class Answers:
    """Which bytes from a printer answer which ``DLE EOT`` question on one connection.

    A printer answers status questions in order, one byte each. A question
    whose answer did not come in time may still get it later (a slow link, a
    busy printer): until it does, the next byte that arrives is that late
    answer, not the next question's. Read as the answer to the question
    after a job, it would confirm a job the printer may never have taken.
    So a question that times out before the printer answered anything on the
    connection leaves its answer *owed*, and the next question's answer is
    the byte after the owed ones. Once the printer has answered on the
    connection, a question it leaves unanswered is one it ignores (some
    printers never answer ``DLE EOT 4``): nothing is owed for it, or every
    later question would wait for an answer that never comes.
    """

    def __init__(self) -> None:
        self.owed = 0
        self.answered = False

    def thrown(self, count: int) -> None:
        """``count`` bytes nobody was waiting for were thrown away: late answers among them are owed no longer."""
        self.owed = max(0, self.owed - count)

    def complete(self, reply: bytes) -> bool:
        """True once ``reply`` (what arrived since the question) holds this question's answer."""
        return len(reply) > self.owed

    def answer(self, reply: bytes) -> bytes:
        """This question's answer in ``reply`` (and anything after it), or ``b""`` if it has not come."""
        earlier = self.owed
        if len(reply) <= earlier:
            if not self.answered:
                self.owed = earlier + 1 - len(reply)
            return b""
        self.owed, self.answered = 0, True
        return reply[earlier:]
