"""Network printers on raw TCP port 9100 (plain sockets: python-escpos is not imported for them).

One TCP connection per job or status check: many printers serve a single
connection at a time, so holding one open would lock out the staff counter
(and opening and closing one costs ~0.07 ms of CPU a job: not worth it).
A large job waits until the printer acknowledged every byte; a small one
(a text-mode ticket) is confirmed by the status reply after it instead
(:data:`SETTLE_ABOVE`).
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import termios
import time
from array import array

from kiosk_hardware.errors import ConnectionDropped, PrinterTimeout, PrinterUnreachable
from kiosk_hardware.printers._transfer import MAX_CHUNK, Answers, Progress, drain
from kiosk_hardware.printers.base import Connection, Printer
from kiosk_hardware.status import status_query


class _Socket:
    """The TCP connection to a printer: what python-escpos's ``Network`` did for us, without importing it.

    Importing python-escpos's printer classes pulls in usb, serial, yaml,
    qrcode, python-barcode and Pillow (issue 22: some 50 ms and most of a
    worker's print-stack memory), none of which a network printer needs.
    Connecting sets ``TCP_NODELAY``: a status query (3 bytes) written while
    some of the job is still unacknowledged would wait for that
    acknowledgement under Nagle, and a printer may delay it 40 ms. A failed
    connect closes its socket (python-escpos 3.1 left it to the garbage
    collector: a ResourceWarning per attempt while a printer is off).
    """

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.device: socket.socket | None = None

    def open(self) -> None:
        """Connect; OSError if the printer cannot be reached."""
        self.close()
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.device = sock

    def close(self) -> None:
        """Shut the connection down both ways and close it (as python-escpos's ``Network.close``)."""
        sock, self.device = self.device, None
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


def _outq_works() -> bool:
    """True where ``ioctl(SIOCOUTQ)`` tells a TCP socket's unacknowledged bytes (Linux)."""
    return sys.platform.startswith("linux")


#: Bytes a job may have and still go out without waiting for the printer's TCP acknowledgement of all of it.
#: A job this small sits in the socket's buffers at once; the status question sent right after it is
#: answered only once the printer has received the job (it reads in order), and its reply carries the
#: acknowledgement. Waiting for that acknowledgement first cost a delayed ACK (~40 ms on Linux, more on
#: a printer's own TCP stack) and ~0.8 ms of CPU polling the send queue per receipt.
SETTLE_ABOVE = 2048
#: Bytes nobody asked for that a status question throws away at most before it is asked: a printer
#: sends a few (a late answer, automatic status); a device that streams data would keep the worker reading.
DRAIN_LIMIT = 4096


class _TcpConnection(Connection):
    def __init__(self, device, io_timeout: float, settle_above: int = 0) -> None:
        self._device = device
        self._sock: socket.socket = device.device  # type: ignore[assignment]
        self._io_timeout = io_timeout
        self._settle_above = settle_above
        #: Late answers still to come (a late answer to the question before a job says nothing of the job).
        self._answers = Answers()

    def _drain(self) -> None:
        # Throw away bytes nobody asked for yet (a late answer to a query that
        # timed out, automatic status) so they are not read as this reply.
        # At most DRAIN_LIMIT bytes: a device that keeps sending must not hold the worker here.
        self._sock.setblocking(False)
        thrown = 0
        try:
            while True:
                try:
                    stale = self._sock.recv(256)
                except BlockingIOError:
                    return
                except OSError as exc:
                    raise ConnectionDropped(f"connection lost: {exc}") from exc
                if not stale:
                    raise ConnectionDropped("printer closed the connection")
                self._answers.thrown(len(stale))
                thrown += len(stale)
                if thrown >= DRAIN_LIMIT:
                    return  # a device that never stops sending: its noise reads as no valid answer
        finally:
            self._sock.settimeout(self._io_timeout)

    def write(self, data: bytes) -> None:
        """Send a job (see :meth:`_send`) and wait until the printer acknowledged all of it.

        A job of at most ``settle_above`` bytes is not waited for: the status
        question after it confirms its delivery (see :data:`SETTLE_ABOVE`).
        """
        self._send(data, settle=len(data) > self._settle_above)

    def _send(self, data: bytes, *, settle: bool) -> None:
        """Send in pieces; each must move within the timeout, and the printer must take them all.

        ``sendall`` with a timeout limits the whole job, which fails a slow
        printer that is reading all along. Then wait until the kernel's send
        queue is empty (the printer acknowledged every byte), so a printer
        that stopped reading fails here as a timeout, not later as "no status".
        """
        progress = Progress(len(data), self._io_timeout)
        view = memoryview(data)
        try:
            while progress.sent < len(data):
                # A floor of 1 ms: a zero timeout would make the socket non-blocking.
                self._sock.settimeout(max(0.001, progress.remaining()))
                try:
                    sent = self._sock.send(view[progress.sent : progress.sent + MAX_CHUNK])
                except TimeoutError:
                    progress.check()  # raises unless the wait was cut short of the limit
                    continue
                progress.moved(sent)
                if progress.sent < len(data):
                    progress.check()  # moving, but perhaps too slowly for a job this size
            if settle and _outq_works():
                drain(self._unsent, progress)
        except PrinterTimeout:
            raise
        except OSError as exc:
            raise ConnectionDropped(f"connection dropped while sending: {exc}") from exc
        finally:
            self._sock.settimeout(self._io_timeout)

    def _unsent(self) -> int:
        # A reset from the printer leaves the count where it was: look for it first.
        error = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise ConnectionResetError(error, os.strerror(error))
        buf = array("i", [0])
        fcntl.ioctl(self._sock.fileno(), termios.TIOCOUTQ, buf)  # SIOCOUTQ: sent and not acknowledged
        return buf[0]

    def query(self, n: int, timeout: float) -> bytes:
        """Ask ``DLE EOT n``; ``b""`` if its answer (after any owed, see :class:`Answers`) is not in by ``timeout``."""
        self._drain()
        # No waiting for the acknowledgement: the reply carries it.
        self._send(status_query(n), settle=False)
        reply = b""
        deadline = time.monotonic() + timeout
        try:
            while not self._answers.complete(reply):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._sock.settimeout(left)
                try:
                    chunk = self._sock.recv(16)
                except TimeoutError:
                    break
                if not chunk:
                    raise ConnectionDropped("printer closed the connection")
                reply += chunk
        except OSError as exc:
            raise ConnectionDropped(f"connection dropped: {exc}") from exc
        finally:
            self._sock.settimeout(self._io_timeout)
        return self._answers.answer(reply)

    def close(self) -> None:
        self._device.close()


class NetworkPrinter(Printer):
    """A printer reached at ``host:port`` (raw TCP, usually 9100).

    :param timeout: seconds for connecting, and the most a job may go without
        a byte moving; a job as a whole may take longer when the printer is slow
        but reading (up to a cap proportional to its size).
    """

    kind = "network"

    def __init__(self, host: str, port: int = 9100, *, timeout: float = 5.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.host = host
        self.port = int(port)
        self.timeout = float(timeout)

    def describe(self) -> str:
        """Where the printer is, for logs."""
        return f"network {self.host}:{self.port} ({self.profile.name})"

    def _open(self) -> Connection:
        device = _Socket(self.host, self.port, self.timeout)
        try:
            device.open()
        except OSError as exc:
            raise PrinterUnreachable(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        # Without status checks nothing confirms a job after it: every job then waits for its acknowledgement.
        return _TcpConnection(device, self.timeout, SETTLE_ABOVE if self.check_status else 0)
