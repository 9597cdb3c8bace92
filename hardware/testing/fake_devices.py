"""Misbehaving printer transports: a slow serial line, a device file that blocks, a USB printer with its own endpoints.

The fakes in :mod:`kiosk_hardware.testing.fake_printer` take bytes as fast as
they come. Real lines do not: a serial printer at 9600 baud takes about 960
bytes a second, a jammed ``/dev/usb/lp0`` stops taking them, and a Chinese
USB printer may not use the endpoints python-escpos assumes. These fakes
behave like that, through the same kernel objects the backends use, and log
what arrives with :class:`~kiosk_hardware.testing.fake_printer.FakePrinterCore`
(jobs split at the cut, ``DLE EOT`` answered for the current ``state``).

* :class:`ThrottledSerialLine`: a pseudo-terminal whose far end reads at
  ``baudrate`` (10 bits a byte: start, 8 data, stop) and can stall, at once
  (:meth:`~ThrottledSerialLine.stall`) or after ``stall_after`` bytes::

      with ThrottledSerialLine(9600) as line:
          printer = printer_from_config(line.printer_config(profile="58mm"))
          result = printer.print_receipt(receipt)      # takes len(job) / 960 s
          (job,) = line.wait_for_jobs(1)               # job.complete, job.parse()

* :class:`ThrottledNetworkPrinter`: a raw-TCP printer that reads ``rate``
  bytes a second through a small TCP window, and can stall the same way.
* :class:`BlockingDeviceFile`: a FIFO standing in for ``/dev/usb/lp0``. Its
  reader takes bytes (``"reading"``), holds the FIFO open and stops reading
  (``"stalled"``; the pipe is shrunk to one page so a few kB fill it), or is
  not there at all (``"absent"``: opening the FIFO for writing blocks).
* :class:`FakeUsbPrinter`: a pyusb device look-alike with real descriptors
  (configuration, printer-class interface, bulk endpoints of your choosing)
  that refuses endpoints it does not have, as pyusb does, and counts resets
  and configuration changes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import shutil
import socket
import tempfile
import termios
import threading
import time
from array import array
from collections.abc import Iterator
from typing import Any

from kiosk_hardware.testing.fake_printer import FakeBase, FakePrinterCore, FakeSerialPrinter, FakeUsbDevice

__all__ = [
    "BITS_PER_BYTE",
    "BlockingDeviceFile",
    "FakeUsbPrinter",
    "ThrottledNetworkPrinter",
    "ThrottledSerialLine",
]

#: A serial byte on the wire: start bit, 8 data bits, stop bit (8N1).
BITS_PER_BYTE = 10
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_FIONREAD = termios.FIONREAD


class ThrottledSerialLine(FakeSerialPrinter):
    """A serial printer behind a line that carries ``baudrate`` baud, and may stop.

    The backend opens :attr:`device` (the slave end of a pseudo-terminal) as
    it would ``/dev/ttyUSB0``. A thread reads the master end no faster than
    the line carries bytes, answers status queries for ``state`` and logs the
    jobs. The kernel buffers some 14 kB between the two ends, as a real
    driver and adapter buffer a few kB: a writer runs ahead of the line by
    that much before its writes block.

    :param baudrate: the line's speed; also what :meth:`printer_config` gives the backend.
    :param stall_after: stop reading once this many bytes arrived (status queries count).
    """

    def __init__(self, baudrate: int = 9600, state: str = "ok", *, stall_after: int | None = None) -> None:
        super().__init__(state)
        self.baudrate = int(baudrate)
        self.bytes_per_second = self.baudrate / BITS_PER_BYTE
        self.stall_after = stall_after
        #: Bytes read from the line so far, and when the last of them came.
        self.received = 0
        self.last_read_at: float | None = None
        self._stalled = threading.Event()
        self._thread.name = f"throttled-serial-{self.baudrate}"

    def printer_config(self, **extra: Any) -> dict[str, Any]:
        """A ``printer_from_config`` dict for this line (its baud rate; short timeouts)."""
        config: dict[str, Any] = {
            "type": "serial",
            "device": self.device,
            "baudrate": self.baudrate,
            "timeout": 2.0,
            "status_timeout": 0.5,
        }
        config.update(extra)
        return config

    def seconds_for(self, size: int) -> float:
        """How long the line takes to carry ``size`` bytes."""
        return size / self.bytes_per_second

    @property
    def stalled(self) -> bool:
        """True while the far end does not read."""
        return self._stalled.is_set()

    def stall(self) -> None:
        """Stop reading: the kernel buffer fills, then the sender's writes block."""
        self._stalled.set()

    def resume(self) -> None:
        """Read again (and forget ``stall_after``)."""
        self.stall_after = None
        self._stalled.clear()

    def _run(self) -> None:
        bucket = _Bucket(self.bytes_per_second)
        while not self._stop.is_set():
            if self._stalled.is_set():
                time.sleep(0.005)
                bucket.restart()
                continue
            if self.stall_after is not None and self.received >= self.stall_after:
                self._stalled.set()
                continue
            allowance = bucket.allowance()
            if self.stall_after is not None:
                allowance = min(allowance, self.stall_after - self.received)
            if allowance < 1:
                # Wake ~100 times a second, not once a byte: reads of ~10 ms of line time.
                time.sleep(0.01)
                continue
            ready, _, _ = select.select([self._master], [], [], 0.02)
            if not ready:
                bucket.restart()  # an idle line banks no time for a burst later
                continue
            try:
                data = os.read(self._master, min(allowance, 4096))
            except OSError:
                return
            bucket.took(len(data))
            self.received += len(data)
            self.last_read_at = time.monotonic()
            if not self._take(data):
                return


class ThrottledNetworkPrinter(FakeBase):
    """A raw-TCP printer on 127.0.0.1 that reads ``rate`` bytes a second through a small window, and may stop.

    Its socket's receive buffer is shrunk to ``window`` bytes, so the sender's
    kernel cannot hand the printer's kernel more than that ahead of what the
    printer read: like a real printer, whose TCP window is a few kB. One
    connection at a time is read (as most printers do).

    :param stall_after: stop reading once this many bytes arrived on a connection.
    """

    def __init__(
        self, rate: float = 20_000, state: str = "ok", *, stall_after: int | None = None, window: int = 4096
    ) -> None:
        self.core = FakePrinterCore(state)
        self.rate = float(rate)
        self.stall_after = stall_after
        self.window = window
        self.host = "127.0.0.1"
        self.port = 0
        self.received = 0
        self._stalled = threading.Event()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []

    def printer_config(self, **extra: Any) -> dict[str, Any]:
        """A ``printer_from_config`` dict for this printer (short timeouts suit tests)."""
        config: dict[str, Any] = {
            "type": "network",
            "host": self.host,
            "port": self.port,
            "timeout": 1.0,
            "status_timeout": 0.5,
        }
        config.update(extra)
        return config

    def stall(self) -> None:
        """Stop reading: the window closes and the sender's queue stops moving."""
        self._stalled.set()

    def resume(self) -> None:
        """Read again (and forget ``stall_after``)."""
        self.stall_after = None
        self._stalled.clear()

    def start(self) -> ThrottledNetworkPrinter:
        """Listen on a kernel-chosen port and serve in a background thread."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Set before listen(): accepted sockets inherit it, and the window
        # offered in the handshake follows from it.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.window)
        listener.bind((self.host, 0))
        listener.listen(4)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        thread = threading.Thread(target=self._accept, name=f"throttled-tcp-{self.port}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)
            self._serve(conn, f"tcp:{peer[1]}")

    def _serve(self, conn: socket.socket, source: str) -> None:
        stream = self.core.stream(source)
        got = 0
        bucket = _Bucket(self.rate)
        conn.settimeout(0.02)
        try:
            while not self._stop.is_set():
                if self._stalled.is_set() or (self.stall_after is not None and got >= self.stall_after):
                    time.sleep(0.005)
                    bucket.restart()
                    continue
                allowance = bucket.allowance()
                if self.stall_after is not None:
                    allowance = min(allowance, self.stall_after - got)
                if allowance < 1:
                    time.sleep(0.01)
                    continue
                try:
                    data = conn.recv(min(allowance, 65536))
                except TimeoutError:
                    bucket.restart()
                    continue
                except OSError:
                    return
                if not data:
                    return
                bucket.took(len(data))
                got += len(data)
                self.received += len(data)
                try:
                    replies, _ = stream.feed(data)
                except Exception as exc:  # noqa: BLE001 - surfaced through core.errors
                    self.core.errors.append(repr(exc))
                    return
                if replies:
                    conn.sendall(replies)
        finally:
            stream.end()
            conn.close()

    def close(self) -> None:
        """Stop serving and wait for the thread."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> ThrottledNetworkPrinter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Bucket:
    """Bytes a line of ``rate`` bytes a second may have carried since it last started moving."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.restart()

    def restart(self) -> None:
        """The line was idle or stopped: no credit for the time it did not carry anything."""
        self.started = time.monotonic()
        self.carried = 0

    def allowance(self) -> int:
        """Bytes that may be read now."""
        return int((time.monotonic() - self.started) * self.rate) - self.carried

    def took(self, count: int) -> None:
        """``count`` bytes were read."""
        self.carried += count


class BlockingDeviceFile(FakeBase):
    """A FIFO at :attr:`path` in place of ``/dev/usb/lp0``, whose reader can stop or be absent.

    ``mode``:

    * ``"reading"``: a reader takes whatever is written and logs the jobs;
    * ``"stalled"``: the reader keeps the FIFO open but reads nothing, so the
      pipe (one page, 4 kB) fills and writes block, like a printer that
      stopped accepting data;
    * ``"absent"``: nobody has the FIFO open for reading, so opening it for
      writing blocks (or fails with ENXIO when opened non-blocking).

    Change it with :meth:`stall`, :meth:`resume`; :meth:`close` releases any
    writer still blocked in ``open()`` so no thread is left behind.
    """

    MODES = ("reading", "stalled", "absent")

    def __init__(self, mode: str = "reading", *, state: str = "ok", pipe_size: int = 4096) -> None:
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, not {mode!r}")
        self.core = FakePrinterCore(state)
        self.mode = mode
        self.pipe_size = pipe_size
        self.received = 0
        self._folder = tempfile.mkdtemp(prefix="fake-lp-")
        self.path = os.path.join(self._folder, "lp0")
        os.mkfifo(self.path)
        self._read_fd: int | None = None
        self._keep_fd: int | None = None
        self._stop = threading.Event()
        self._reading = threading.Event()
        self._stream = self.core.stream(f"fifo:{self.path}")
        self._thread: threading.Thread | None = None

    def printer_config(self, **extra: Any) -> dict[str, Any]:
        """A ``printer_from_config`` dict for this FIFO (short timeouts suit tests)."""
        config: dict[str, Any] = {"type": "file", "path": self.path, "timeout": 1.0, "open_timeout": 0.5}
        config.update(extra)
        return config

    def start(self) -> BlockingDeviceFile:
        """Open the read end (unless ``absent``) and start the reader."""
        if self.mode != "absent":
            self._open_reader()
        return self

    def _open_reader(self) -> None:
        self._read_fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._read_fd, _F_SETPIPE_SZ, self.pipe_size)
        # A write end of our own: the read end then never sees end-of-file
        # between jobs (no busy loop), and the pipe and its size persist.
        self._keep_fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        if self.mode == "reading":
            self._reading.set()
        self._thread = threading.Thread(target=self._run, name="fake-lp0", daemon=True)
        self._thread.start()

    def stall(self) -> None:
        """Keep the FIFO open but stop reading."""
        self.mode = "stalled"
        self._reading.clear()

    def resume(self) -> None:
        """Read again (opening the read end if it was ``absent``)."""
        if self._read_fd is None:
            self.mode = "reading"
            self._open_reader()
        self.mode = "reading"
        self._reading.set()

    def pending(self) -> int:
        """Bytes written into the pipe and not yet read."""
        if self._read_fd is None:
            return 0
        buf = array("i", [0])
        fcntl.ioctl(self._read_fd, _FIONREAD, buf)
        return buf[0]

    def _run(self) -> None:
        assert self._read_fd is not None
        while not self._stop.is_set():
            if not self._reading.is_set():
                self._reading.wait(0.02)
                continue
            ready, _, _ = select.select([self._read_fd], [], [], 0.02)
            if not ready:
                continue
            try:
                data = os.read(self._read_fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                time.sleep(0.005)
                continue
            self.received += len(data)
            try:
                self._stream.feed(data)
            except Exception as exc:  # noqa: BLE001 - surfaced through core.errors
                self.core.errors.append(repr(exc))
                return

    def close(self) -> None:
        """Stop, release any writer blocked opening the FIFO, remove it."""
        self._stop.set()
        self._reading.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        # A writer blocked in open() (mode "absent", or a backend's abandoned
        # open) returns once a reader opens; give it one, then let go.
        with contextlib.suppress(OSError):
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
        for fd in (self._keep_fd, self._read_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._stream.end()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> BlockingDeviceFile:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- USB ------------------------------------------------------------------------------------


class _Descriptor:
    """A pyusb descriptor look-alike: attributes, and iteration over its children."""

    def __init__(self, children: list[Any] | None = None, **fields: Any) -> None:
        self._children = children or []
        for name, value in fields.items():
            setattr(self, name, value)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._children)

    def __getitem__(self, index: int) -> Any:
        return self._children[index]


def _endpoint(address: int, max_packet: int = 64) -> _Descriptor:
    bulk = 0x02
    return _Descriptor(
        bLength=7, bDescriptorType=5, bEndpointAddress=address, bmAttributes=bulk, wMaxPacketSize=max_packet
    )


def _interface(number: int, cls: int, endpoints: list[_Descriptor]) -> _Descriptor:
    return _Descriptor(
        endpoints,
        bLength=9,
        bDescriptorType=4,
        bInterfaceNumber=number,
        bAlternateSetting=0,
        bNumEndpoints=len(endpoints),
        bInterfaceClass=cls,
        bInterfaceSubClass=1 if cls == 7 else 0,
        bInterfaceProtocol=2 if cls == 7 else 0,
    )


class FakeUsbPrinter(FakeUsbDevice):
    """A USB printer as pyusb shows it, with descriptors and the endpoints you give it.

    Many 0416:5011 printers (Winbond-based Chinese 58/80 mm models) put their
    bulk endpoints elsewhere than python-escpos's default IN 0x82 / OUT 0x01.
    This fake has one configuration with a printer-class interface (class 7)
    holding bulk OUT ``out_ep`` and, unless ``in_ep`` is None, bulk IN
    ``in_ep``; ``extra_interfaces`` adds vendor-class interfaces before it,
    with bulk endpoints of their own (some printers put a second function first).

    Like pyusb, a transfer on an endpoint the device lacks raises ValueError;
    like a real device, ``get_active_configuration`` fails until a
    configuration is set. It counts ``resets`` (each one drops whatever the
    printer had buffered, as a real bus reset does) and
    ``configurations_set``; ``kernel_driver`` says whether ``usblp`` holds the
    printer interface.
    """

    def __init__(
        self,
        state: str = "ok",
        *,
        in_ep: int | None = 0x81,
        out_ep: int = 0x03,
        interface: int = 0,
        extra_interfaces: int = 0,
        configured: bool = True,
        kernel_driver: bool = False,
        idVendor: int = 0x0416,
        idProduct: int = 0x5011,
        drop_after: int = 64,
    ) -> None:
        super().__init__(state, idVendor=idVendor, idProduct=idProduct, drop_after=drop_after)
        self.configured = configured
        self.configurations_set = 0
        self.kernel_driver = kernel_driver
        self.detached: list[int] = []
        self.interface_number = interface + extra_interfaces
        # The other functions have bulk endpoints too (0x0F, 0x8F, 0x0E, ...):
        # only the interface class tells the printer apart.
        interfaces = [_interface(n, 0xFF, [_endpoint(0x0F - n), _endpoint(0x8F - n)]) for n in range(extra_interfaces)]
        endpoints = [_endpoint(out_ep)] + ([_endpoint(in_ep)] if in_ep is not None else [])
        interfaces.append(_interface(self.interface_number, 7, endpoints))
        self.configuration = _Descriptor(interfaces, bConfigurationValue=1, bNumInterfaces=len(interfaces))
        self.endpoints = {ep.bEndpointAddress for intf in interfaces for ep in intf}

    # pyusb's Device API, as much of it as a printer driver uses --------------------------

    def __iter__(self) -> Iterator[_Descriptor]:
        return iter([self.configuration])

    def get_active_configuration(self) -> _Descriptor:
        """The configuration in use; USBError when none is set (as pyusb raises)."""
        import usb.core

        if not self.configured:
            raise usb.core.USBError("Configuration not set", errno=None)
        return self.configuration

    def set_configuration(self, configuration: Any = None) -> None:
        """Select the configuration; on a real device this also resets the endpoints' state."""
        self.configured = True
        self.configurations_set += 1

    def reset(self) -> None:
        """A bus reset: the printer re-enumerates and loses what it had buffered."""
        self.resets += 1
        self._replies.clear()

    def is_kernel_driver_active(self, interface: int) -> bool:
        """True while ``usblp`` holds the printer interface."""
        return self.kernel_driver and interface == self.interface_number

    def detach_kernel_driver(self, interface: int) -> None:
        """Take the interface from ``usblp``."""
        self.detached.append(interface)
        if interface == self.interface_number:
            self.kernel_driver = False

    def _check(self, endpoint: int, direction: int) -> None:
        if endpoint not in self.endpoints or (endpoint & 0x80) != direction:
            raise ValueError(f"Invalid endpoint address {hex(endpoint)}")
        if self.kernel_driver:
            import usb.core

            raise usb.core.USBError("Resource busy", errno=errno.EBUSY)

    def write(self, endpoint: int, data: Any, timeout: int | None = None) -> int:
        """Bulk OUT transfer, on an endpoint the device has."""
        self._check(endpoint, 0x00)
        return super().write(endpoint, data, timeout)

    def read(self, endpoint: int, size: int, timeout: int | None = None) -> array:
        """Bulk IN transfer, on an endpoint the device has."""
        self._check(endpoint, 0x80)
        return super().read(endpoint, size, timeout)
