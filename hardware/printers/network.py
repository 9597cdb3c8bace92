"""Network printers on raw TCP port 9100 (through python-escpos's ``Network``).

One TCP connection per job or status check: many printers serve a single
connection at a time, so holding one open would lock out the staff counter.
"""

from __future__ import annotations

import functools
import socket

from kiosk_hardware.errors import ConnectionDropped, PrinterTimeout, PrinterUnreachable
from kiosk_hardware.printers.base import Connection, Printer
from kiosk_hardware.status import status_query


@functools.cache
def _network_class():
    """python-escpos's ``Network``, with an ``open()`` that closes the socket when connecting fails.

    python-escpos 3.1 drops the half-made socket for the garbage collector:
    one ResourceWarning per attempt while a printer is switched off. Built on
    first use: importing python-escpos is not needed to show the first page.
    """
    from kiosk_hardware.printers._escpos import DeviceNotFoundError, printer

    class _Network(printer.Network):
        def open(self, raise_not_found: bool = True) -> None:
            """Connect, or raise DeviceNotFoundError (always: the caller needs to know)."""
            if self._device:
                self.close()
            try:
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            except OSError as exc:
                self.device = None
                raise DeviceNotFoundError(f"Could not open socket for {self.host}: {exc}") from exc
            self.device = sock

    return _Network, DeviceNotFoundError


class _TcpConnection(Connection):
    def __init__(self, device, io_timeout: float) -> None:
        self._device = device
        self._sock: socket.socket = device.device  # type: ignore[assignment]
        self._io_timeout = io_timeout

    def _drain(self) -> None:
        # Throw away bytes nobody asked for yet (a late answer to a query that
        # timed out, automatic status) so they are not read as this reply.
        self._sock.setblocking(False)
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
        finally:
            self._sock.settimeout(self._io_timeout)

    def write(self, data: bytes) -> None:
        try:
            self._device._raw(data)
        except TimeoutError as exc:
            raise PrinterTimeout(f"printer stopped accepting data after {self._io_timeout} s") from exc
        except OSError as exc:
            raise ConnectionDropped(f"connection dropped while sending: {exc}") from exc

    def query(self, n: int, timeout: float) -> bytes:
        self._drain()
        self.write(status_query(n))
        self._sock.settimeout(timeout)
        try:
            reply = self._sock.recv(16)
        except TimeoutError:
            return b""
        except OSError as exc:
            raise ConnectionDropped(f"connection dropped: {exc}") from exc
        finally:
            self._sock.settimeout(self._io_timeout)
        if not reply:
            raise ConnectionDropped("printer closed the connection")
        return reply

    def close(self) -> None:
        self._device.close()


class NetworkPrinter(Printer):
    """A printer reached at ``host:port`` (raw TCP, usually 9100).

    :param timeout: seconds for connecting and for each send.
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

    def prepare(self) -> None:
        """Import the device library now (the server calls this after its first page)."""
        _network_class()

    def _open(self) -> Connection:
        network, DeviceNotFoundError = _network_class()
        device = network(self.host, self.port, timeout=self.timeout)
        try:
            device.open()
        except DeviceNotFoundError as exc:
            reason = exc.__cause__ or exc.__context__ or exc
            raise PrinterUnreachable(f"cannot connect to {self.host}:{self.port}: {reason}") from exc
        return _TcpConnection(device, self.timeout)
