"""Fake ESC/POS printers that receive real bytes and answer ``DLE EOT``.

* :class:`FakeNetworkPrinter`: a TCP server on 127.0.0.1, port 0 (the kernel
  picks a free one, so parallel tests never collide). Use it as a context
  manager; ``printer_config()`` gives the dict for ``printer_from_config``.
* :class:`FakeSerialPrinter`: the printer end of a pseudo-terminal pair; the
  serial backend opens ``fake.device`` like a real ``/dev/ttyUSB0``.
* :class:`FakeUsbDevice`: stands in for a pyusb device (there is no USB bus
  here) so python-escpos's own ``Usb`` class drives it; ``plugged_in()`` makes
  ``usb.core.find`` return it.

All three share :class:`FakePrinterCore`: it splits the stream into jobs (a
job ends at a cut, or where the stream ends), answers status queries for the
current ``state`` and can drop the connection part way through a job:

``ok``, ``near_end``, ``paper_out``, ``offline`` (cover open): answered with
the matching status bytes; ``silent``: never answers status (prints what it
gets); ``drop``: answers like ``ok`` but hangs up after ``drop_after`` bytes
of a job (``drop_times`` times, then behaves; None = always); ``stall``:
accepts the connection and never reads, so a job smaller than the socket
buffers seems to go out and only the status question goes unanswered, and a
larger one times out (a jammed or hung printer);
``paper_out_mid_job``: prints ``drop_after`` bytes of the next job, then runs
out of paper: the rest of that job is lost and the state becomes
``paper_out``; ``drop_mid_band``: hangs up inside a raster band (part way
through a ``GS v 0`` / ``GS ( L`` image), ``drop_times`` times.

``busy_after_job`` (seconds, any state): the first status question after a
job's bytes is answered that much later, like a printer whose receive buffer
is still full of the job it is printing.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import threading
import time
import tty
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kiosk_hardware.testing.escpos_parser import ParsedJob, StreamParser, parse

STATES = ("ok", "near_end", "paper_out", "offline", "silent", "drop", "stall", "paper_out_mid_job", "drop_mid_band")
#: The commands that carry raster image data: where ``drop_mid_band`` hangs up.
_RASTER_PREFIXES = (b"\x1dv0", b"\x1d(L", b"\x1d8L")

# DLE EOT replies per state: n -> status byte (bits 1 and 4 are always set).
_OK = {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12}
_REPLIES: dict[str, dict[int, int]] = {
    "ok": _OK,
    "drop": _OK,
    "drop_mid_band": _OK,
    "paper_out_mid_job": _OK,
    "near_end": {**_OK, 4: 0x12 | 0x0C},
    # Out of paper the printer also goes offline and says why (n=2 bit 5).
    "paper_out": {1: 0x12 | 0x08, 2: 0x12 | 0x20, 3: 0x12, 4: 0x12 | 0x60},
    "offline": {1: 0x12 | 0x08, 2: 0x12 | 0x04, 3: 0x12, 4: 0x12},
}


@dataclass
class ReceivedJob:
    """The bytes of one job as received (status queries left out); ``at``: ``time.monotonic()`` of its last byte."""

    data: bytes
    complete: bool
    source: str
    at: float = field(default_factory=time.monotonic)

    def parse(self) -> ParsedJob:
        """The job read back by :func:`kiosk_hardware.testing.escpos_parser.parse`."""
        return parse(self.data)


class FakePrinterCore:
    """State, job log and status answers shared by every stream of one fake printer."""

    def __init__(self, state: str = "ok", *, drop_after: int = 64, drop_times: int | None = None) -> None:
        self._state = "ok"
        self.state = state
        self.drop_after = drop_after
        self.drop_times = drop_times
        self.drops = 0
        self.busy_after_job = 0.0
        self.jobs: list[ReceivedJob] = []
        self.status_queries: list[int] = []
        #: Exceptions raised while reading a stream: a bug in the fake or the
        #: parser, which tests should see rather than a mysterious timeout.
        self.errors: list[str] = []
        self.changed = threading.Condition()

    @property
    def state(self) -> str:
        """The printer's condition; set it to change how the next query or job goes."""
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        if value not in STATES:
            raise ValueError(f"state must be one of {STATES}, not {value!r}")
        self._state = value

    def reply(self, n: int) -> bytes:
        """The answer to ``DLE EOT n`` in the current state (nothing when silent)."""
        with self.changed:
            self.status_queries.append(n)
            self.changed.notify_all()
        if self._state in ("silent", "stall"):
            return b""
        return bytes([_REPLIES[self._state].get(n, 0x12)])

    def should_drop(self, job_bytes: int) -> bool:
        """True once a job in the ``drop`` state has passed ``drop_after`` bytes."""
        if self._state != "drop" or job_bytes < self.drop_after:
            return False
        return self._count_drop()

    def _count_drop(self) -> bool:
        if self.drop_times is not None and self.drops >= self.drop_times:
            return False
        self.drops += 1
        return True

    def should_drop_mid_band(self, pending: bytes) -> bool:
        """True when, in the ``drop_mid_band`` state, the stream stops inside a raster image command."""
        if self._state != "drop_mid_band" or len(pending) < 16 or not pending.startswith(_RASTER_PREFIXES):
            return False
        return self._count_drop()

    def runs_out(self, job_bytes: int) -> bool:
        """True (once) when a ``paper_out_mid_job`` printer has printed ``drop_after`` bytes: it is out of paper now."""
        if self._state != "paper_out_mid_job" or job_bytes < self.drop_after:
            return False
        self.state = "paper_out"
        return True

    def record(self, data: bytes, complete: bool, source: str) -> None:
        """Log a job and wake anyone in :meth:`wait_for_jobs`."""
        with self.changed:
            self.jobs.append(ReceivedJob(data, complete, source))
            self.changed.notify_all()

    def wait_for_jobs(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedJob]:
        """Block until ``count`` jobs (complete or not) were received; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.jobs) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"expected {count} jobs, got {len(self.jobs)}")
                self.changed.wait(left)
            return list(self.jobs)

    def stream(self, source: str) -> FakeStream:
        """A parser for one byte stream (one TCP connection, the serial line)."""
        return FakeStream(self, source)


class FakeStream:
    """Reads one stream: splits it into jobs and collects the status answers to send."""

    def __init__(self, core: FakePrinterCore, source: str) -> None:
        self.core = core
        self.source = source
        self._parser = StreamParser()
        self._job = bytearray()
        #: Out of paper part way through a job: its remaining bytes go nowhere until its cut.
        self._lost = False
        self._printing = False

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Take received bytes; return (bytes to answer, whether to hang up now)."""
        if self.core.state == "drop_mid_band":
            # In slices, so the stream can end inside a band however it arrived.
            replies = bytearray()
            for at in range(0, len(data), 256):
                answer, hang_up = self._feed(data[at : at + 256])
                replies += answer
                if hang_up:
                    return bytes(replies), True
            return bytes(replies), False
        return self._feed(data)

    def _feed(self, data: bytes) -> tuple[bytes, bool]:
        replies = bytearray()
        for command, raw in self._parser.feed_raw(data):
            if command.name == "DLE EOT":
                if self._printing and self.core.busy_after_job:
                    time.sleep(self.core.busy_after_job)  # reads nothing more until the buffer has room
                self._printing = False
                replies += self.core.reply(command.args[0])
                continue
            self._printing = True
            if self._lost:
                self._lost = command.name != "GS V"
                continue
            self._job += raw
            if command.name == "GS V":
                self.core.record(bytes(self._job), True, self.source)
                self._job.clear()
            elif self.core.runs_out(len(self._job)):
                self.core.record(bytes(self._job), False, self.source)
                self._job.clear()
                self._lost = True
            elif self.core.should_drop(len(self._job)):
                self.end()
                return bytes(replies), True
        if self._parser.pending and self.core.should_drop_mid_band(bytes(self._parser._buf[:16])):
            self.end()
            return bytes(replies), True
        if self._parser.pending and self.core.should_drop(len(self._job) + self._parser.pending):
            self.end()
            return bytes(replies), True
        return bytes(replies), False

    def end(self) -> None:
        """The stream closed: whatever job was under way is logged as incomplete."""
        self._job += self._parser.flush()
        if self._job:
            self.core.record(bytes(self._job), False, self.source)
            self._job.clear()


class FakeBase:
    """A fake printer's job log and state, delegated to its :class:`FakePrinterCore` (every fake device shares it)."""

    core: FakePrinterCore

    @property
    def state(self) -> str:
        """See :class:`FakePrinterCore`."""
        return self.core.state

    @state.setter
    def state(self, value: str) -> None:
        self.core.state = value

    @property
    def jobs(self) -> list[ReceivedJob]:
        """Every job received so far, complete or cut short."""
        return list(self.core.jobs)

    @property
    def completed_jobs(self) -> list[ReceivedJob]:
        """Jobs that arrived whole (up to and including the cut)."""
        return [job for job in self.core.jobs if job.complete]

    @property
    def status_queries(self) -> list[int]:
        """The ``n`` of every ``DLE EOT n`` received."""
        return list(self.core.status_queries)

    def wait_for_jobs(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedJob]:
        """See :meth:`FakePrinterCore.wait_for_jobs`."""
        return self.core.wait_for_jobs(count, timeout)


class FakeNetworkPrinter(FakeBase):
    """A raw-TCP (port 9100 style) printer on 127.0.0.1 with a kernel-chosen port."""

    def __init__(
        self, state: str = "ok", *, drop_after: int = 64, drop_times: int | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.core = FakePrinterCore(state, drop_after=drop_after, drop_times=drop_times)
        self.host = host
        self.port = 0
        self.connections = 0
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def start(self) -> FakeNetworkPrinter:
        """Listen and serve in background threads."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((self.host, 0))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        thread = threading.Thread(target=self._accept, name=f"fake-printer-{self.port}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def printer_config(self, **extra: Any) -> dict[str, Any]:
        """A ``printer_from_config`` dict for this printer (short timeouts suit tests)."""
        config = {"type": "network", "host": self.host, "port": self.port, "timeout": 2.0, "status_timeout": 0.3}
        config.update(extra)
        return config

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._closing.is_set():
            try:
                conn, peer = self._listener.accept()
            except OSError:
                return  # listener closed
            with self._lock:
                self.connections += 1
                self._open.add(conn)
            thread = threading.Thread(target=self._serve, args=(conn, f"tcp:{peer[1]}"), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket, source: str) -> None:
        stream = self.core.stream(source)
        try:
            while True:
                while self.core.state == "stall" and not self._closing.is_set():
                    time.sleep(0.01)  # not reading: the client's sends back up
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                try:
                    replies, hang_up = stream.feed(data)
                except Exception as exc:  # noqa: BLE001 - surfaced through core.errors
                    self.core.errors.append(repr(exc))
                    return
                if hang_up:
                    # Linger 0 turns close() into a reset, like a printer
                    # rebooting or a cable pulled mid-job.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if replies:
                    try:
                        conn.sendall(replies)
                    except OSError:
                        break  # the client left without waiting for the answer
        finally:
            stream.end()
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def close(self) -> None:
        """Stop listening, hang up every client and wait for the threads."""
        self._closing.set()
        if self._listener is not None:
            # close() alone does not wake a thread blocked in accept() on Linux; shutdown() does.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._lock:
            for conn in list(self._open):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> FakeNetworkPrinter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeSerialPrinter(FakeBase):
    """The printer side of a pseudo-terminal; open ``device`` with the serial backend."""

    def __init__(self, state: str = "ok") -> None:
        self.core = FakePrinterCore(state)
        self._master, self._slave = os.openpty()
        # Raw mode so the line discipline does not turn \n into \r\n or eat
        # control bytes; the serial backend sets the same when it opens.
        tty.setraw(self._slave)
        self.device = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-serial-printer", daemon=True)
        self._stream = self.core.stream(f"pty:{self.device}")

    def printer_config(self, **extra: Any) -> dict[str, Any]:
        """A ``printer_from_config`` dict for this port."""
        config = {"type": "serial", "device": self.device, "baudrate": 19200, "status_timeout": 0.3}
        config.update(extra)
        return config

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.core.state == "stall":
                time.sleep(0.01)  # not reading: the pty buffer fills and writes time out
                continue
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._master, 65536)
            except OSError:
                return
            if not self._take(data):
                return

    def _take(self, data: bytes) -> bool:
        """Feed bytes read from the line to the printer and send its answers back; False: stop reading."""
        try:
            replies, _ = self._stream.feed(data)
        except Exception as exc:  # noqa: BLE001 - surfaced through core.errors
            self.core.errors.append(repr(exc))
            return False
        if replies:
            os.write(self._master, replies)
        return True

    def start(self) -> FakeSerialPrinter:
        """Start answering in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop and release the pseudo-terminal."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._stream.end()
        os.close(self._master)
        os.close(self._slave)

    def __enter__(self) -> FakeSerialPrinter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class _FakeUsbContext:
    """What ``usb.util.dispose_resources`` talks to."""

    def __init__(self) -> None:
        self.disposed = 0

    def dispose(self, device: Any, close_handle: bool = True) -> None:
        self.disposed += 1


class FakeUsbDevice(FakeBase):
    """A pyusb ``Device`` look-alike for python-escpos's ``Usb`` (no USB bus in CI).

    Writes go through :class:`FakePrinterCore` like the other fakes; reads
    return status answers or time out like a real bulk IN endpoint. In the
    ``drop`` state a write past ``drop_after`` fails as if the cable were pulled.
    """

    def __init__(
        self, state: str = "ok", *, idVendor: int = 0x0416, idProduct: int = 0x5011, drop_after: int = 64
    ) -> None:
        self.core = FakePrinterCore(state, drop_after=drop_after)
        self.idVendor = idVendor
        self.idProduct = idProduct
        self.backend = self  # python-escpos only detaches kernel drivers on libusb1 backends
        self._ctx = _FakeUsbContext()
        self._stream = self.core.stream("usb")
        self._replies = bytearray()
        self.configured = False
        self.resets = 0
        self.unplugged = False

    def set_configuration(self) -> None:
        """Select the default configuration, as pyusb does."""
        self.configured = True

    def reset(self) -> None:
        """Count bus resets (python-escpos resets on open)."""
        self.resets += 1

    def write(self, endpoint: int, data: Any, timeout: int | None = None) -> int:
        """Bulk OUT transfer."""
        import usb.core

        if self.unplugged:
            raise usb.core.USBError("No such device", errno=19)
        if self.core.state == "stall":
            raise usb.core.USBTimeoutError("Operation timed out", errno=110)
        replies, hang_up = self._stream.feed(bytes(data))
        self._replies += replies
        if hang_up:
            self.unplugged = True
            raise usb.core.USBError("No such device", errno=19)
        return len(data)

    def read(self, endpoint: int, size: int, timeout: int | None = None) -> array:
        """Bulk IN transfer: pending status answers, or a timeout."""
        import usb.core

        if not self._replies:
            time.sleep(min(timeout or 0, 50) / 1000)
            raise usb.core.USBTimeoutError("Operation timed out", errno=110)
        out = bytes(self._replies[:size])
        del self._replies[:size]
        return array("B", out)

    @contextlib.contextmanager
    def plugged_in(self) -> Iterator[FakeUsbDevice]:
        """Make ``usb.core.find`` return this device (for its vendor/product) while inside."""
        import usb.core

        real_find = usb.core.find

        def find(find_all: bool = False, backend: Any = None, custom_match: Any = None, **match: Any) -> Any:
            if match.get("idVendor") == self.idVendor and match.get("idProduct") == self.idProduct:
                return [self] if find_all else self
            return [] if find_all else None

        usb.core.find = find
        try:
            yield self
        finally:
            usb.core.find = real_find
