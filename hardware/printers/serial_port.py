"""Printers on a serial port (RS-232 or a USB-serial adapter), via python-escpos's ``Serial``."""

from __future__ import annotations

import serial

from kiosk_hardware.errors import ConnectionDropped, PrinterConfigError, PrinterTimeout, PrinterUnreachable
from kiosk_hardware.printers._escpos import DeviceNotFoundError, printer  # prepares the capability cache
from kiosk_hardware.printers.base import Connection, Printer
from kiosk_hardware.status import status_query

FLOW_CONTROLS = ("none", "rtscts", "dsrdtr", "xonxoff")


class _SerialConnection(Connection):
    def __init__(self, device: printer.Serial) -> None:
        self._device = device
        self._port: serial.Serial = device.device  # type: ignore[assignment]

    def write(self, data: bytes) -> None:
        try:
            self._device._raw(data)
            self._port.flush()
        except serial.SerialTimeoutException as exc:
            raise PrinterTimeout("printer stopped accepting data (serial write timeout)") from exc
        except (serial.SerialException, OSError) as exc:
            raise ConnectionDropped(f"serial port failed while sending: {exc}") from exc

    def query(self, n: int, timeout: float) -> bytes:
        try:
            self._port.reset_input_buffer()
            self.write(status_query(n))
            self._port.timeout = timeout
            # read(16) would wait out the whole timeout for 16 bytes; the
            # answer is one byte, anything already behind it comes along.
            reply = self._port.read(1)
            if reply and self._port.in_waiting:
                reply += self._port.read(self._port.in_waiting)
            return reply
        except (serial.SerialException, OSError) as exc:
            raise ConnectionDropped(f"serial port failed: {exc}") from exc

    def close(self) -> None:
        try:
            self._device.close()
        except (serial.SerialException, OSError):
            pass  # the port is gone already; nothing left to release


class SerialPrinter(Printer):
    """A printer on ``device`` (e.g. ``/dev/ttyUSB0``) at ``baudrate``.

    :param flow: ``none``, ``rtscts``, ``dsrdtr`` or ``xonxoff`` (see the printer's DIP switches).
    :param timeout: seconds a write may block before the job fails.
    """

    kind = "serial"

    def __init__(
        self, device: str, baudrate: int = 19200, *, flow: str = "none", timeout: float = 10.0, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if flow not in FLOW_CONTROLS:
            raise PrinterConfigError(f"flow must be one of {FLOW_CONTROLS}, not {flow!r}")
        self.device = device
        self.baudrate = int(baudrate)
        self.flow = flow
        self.timeout = float(timeout)

    def describe(self) -> str:
        """Where the printer is, for logs."""
        return f"serial {self.device} @ {self.baudrate} ({self.profile.name})"

    def _open(self) -> Connection:
        device = printer.Serial(
            self.device,
            baudrate=self.baudrate,
            timeout=self.status_timeout,
            xonxoff=self.flow == "xonxoff",
            dsrdtr=self.flow == "dsrdtr",
        )
        try:
            device.open()
        except DeviceNotFoundError as exc:
            raise PrinterUnreachable(f"cannot open serial port {self.device}: {exc.__context__ or exc}") from exc
        port: serial.Serial = device.device  # type: ignore[assignment]
        port.rtscts = self.flow == "rtscts"
        port.write_timeout = self.timeout
        return _SerialConnection(device)
