"""Printers on a serial port (RS-232 or a USB-serial adapter), through pyserial.

A serial line is slow: 9600 baud carries 960 bytes a second, so a 30 kB
raster takes half a minute and a text-mode ticket several seconds. A job
here may take as long as the line keeps moving (:class:`Progress`): it is
written in pieces straight to the port's non-blocking descriptor, each
waiting for room at most ``timeout`` seconds, then the driver's queue is
waited out the same way where the driver reports it (``ttyS``, ``ttyUSB``;
a pseudo-terminal does not). A line that stops moving for ``timeout`` fails
the job as a :class:`PrinterTimeout`, with whatever was queued thrown away
so closing the port does not wait for it either.

The status question after a job travels behind the job's last bytes: its
reply is waited for as long as the line needs to carry them, plus the
status timeout.

python-escpos's ``Serial`` is not used: its ``close()`` (also run by its
``__del__``) waits, without a limit, for the line to drain.
"""

from __future__ import annotations

import errno
import time

import serial

from kiosk_hardware.errors import ConnectionDropped, PrinterConfigError, PrinterTimeout, PrinterUnreachable
from kiosk_hardware.printers._transfer import Answers, Progress, chunk_size, drain, open_within, write_fd
from kiosk_hardware.printers.base import Connection, Printer
from kiosk_hardware.status import status_query

FLOW_CONTROLS = ("none", "rtscts", "dsrdtr", "xonxoff")
#: Bits a byte takes on the wire at 8N1: start, 8 data, stop.
BITS_PER_BYTE = 10
#: Margin on the line's nominal speed when estimating when a reply can come.
LINE_SLACK = 1.25


class _SerialConnection(Connection):
    def __init__(self, port: serial.Serial, timeout: float, baudrate: int) -> None:
        self._port = port
        self._timeout = timeout
        self._rate = baudrate / BITS_PER_BYTE
        # When the line will have carried everything written so far, if it
        # runs at its nominal speed from the moment each write started.
        self._line_free_at = 0.0
        self._failed = False
        #: Late answers still to come (see :class:`Answers`).
        self._answers = Answers()

    def write(self, data: bytes) -> None:
        started = time.monotonic()
        progress = Progress(len(data), self._timeout, self._rate)
        try:
            write_fd(self._port.fileno(), data, progress, chunk_size(self._timeout, self._rate))
            # The driver's own queue (0 on a pseudo-terminal, which cannot tell).
            drain(lambda: self._port.out_waiting, progress)
        except PrinterTimeout:
            self._failed = True
            raise
        except (serial.SerialException, OSError) as exc:
            self._failed = True
            raise ConnectionDropped(f"serial port failed while sending: {exc}") from exc
        finally:
            self._line_free_at = max(self._line_free_at, started) + progress.sent / self._rate

    def backlog(self) -> float:
        """Seconds the line may still need for what was written (an estimate, with margin)."""
        return max(0.0, self._line_free_at - time.monotonic()) * LINE_SLACK

    def query(self, n: int, timeout: float) -> bytes:
        """Ask ``DLE EOT n``; ``b""`` if its answer (after any still owed, see :class:`Answers`) has not come.

        It may take ``timeout`` plus the time the line needs for what is queued ahead of the question.
        """
        try:
            # Bytes nobody is waiting for (late answers, automatic status) are thrown away.
            self._answers.thrown(self._port.in_waiting)
            self._port.reset_input_buffer()
            self.write(status_query(n))
            self._port.timeout = timeout + self.backlog()
            # read(16) would wait out the whole timeout for 16 bytes; the answer is
            # one byte (after those owed), anything already behind it comes along.
            reply = self._port.read(self._answers.owed + 1)
            if self._answers.complete(reply) and self._port.in_waiting:
                reply += self._port.read(self._port.in_waiting)
            return self._answers.answer(reply)
        except (serial.SerialException, OSError) as exc:
            raise ConnectionDropped(f"serial port failed: {exc}") from exc

    def close(self) -> None:
        try:
            if self._failed:
                # Closing a tty waits (up to 30 s) for queued output to go out;
                # after a failed job nothing queued is wanted.
                self._port.reset_output_buffer()
            self._port.close()
        except (serial.SerialException, OSError):
            pass  # the port is gone already; nothing left to release


class SerialPrinter(Printer):
    """A printer on ``device`` (e.g. ``/dev/ttyUSB0``) at ``baudrate``.

    :param flow: ``none``, ``rtscts``, ``dsrdtr`` or ``xonxoff`` (see the printer's DIP switches).
    :param timeout: seconds the line may go without moving before the job fails;
        a job as a whole may take as long as the line needs for it.
    :param open_timeout: seconds opening the port may take.
    """

    kind = "serial"

    def __init__(
        self,
        device: str,
        baudrate: int = 19200,
        *,
        flow: str = "none",
        timeout: float = 10.0,
        open_timeout: float = 2.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if flow not in FLOW_CONTROLS:
            raise PrinterConfigError(f"flow must be one of {FLOW_CONTROLS}, not {flow!r}")
        self.device = device
        self.baudrate = int(baudrate)
        self.flow = flow
        self.timeout = float(timeout)
        self.open_timeout = float(open_timeout)
        if self.baudrate <= 0 or self.timeout <= 0 or self.open_timeout <= 0:
            raise PrinterConfigError("baudrate, timeout and open_timeout must be positive")

    def describe(self) -> str:
        """Where the printer is, for logs."""
        return f"serial {self.device} @ {self.baudrate} ({self.profile.name})"

    def _open_port(self) -> serial.Serial:
        return serial.Serial(
            self.device,
            baudrate=self.baudrate,
            timeout=self.status_timeout,
            xonxoff=self.flow == "xonxoff",
            rtscts=self.flow == "rtscts",
            dsrdtr=self.flow == "dsrdtr",
            # flock: a second process writing the same port would interleave jobs.
            exclusive=True,
        )

    def _open(self) -> Connection:
        try:
            port = open_within(self.device, self._open_port, self.open_timeout, discard=lambda late: late.close())
        except ValueError as exc:
            raise PrinterConfigError(f"bad serial settings for {self.device}: {exc}") from exc
        except (serial.SerialException, OSError) as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise PrinterUnreachable(f"serial port {self.device} is in use by another program") from exc
            raise PrinterUnreachable(f"cannot open serial port {self.device}: {exc}") from exc
        return _SerialConnection(port, self.timeout, self.baudrate)
