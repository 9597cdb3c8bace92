"""Serial (RS-232 / USB CDC) card readers and scanners, through pyserial."""

from __future__ import annotations

import codecs
import contextlib
import os
import time
from collections.abc import Mapping

import serial

from kiosk_hardware.readers.base import ABSENT_ERRNOS, DeviceUnavailable, Reader
from kiosk_hardware.readers.events import KIND_CARD
from kiosk_hardware.readers.framing import DEFAULT_GAP, Framer, framer_from_config

READ_TIMEOUT = 0.5


class SerialReader(Reader):
    """A reader on a serial port; each frame (see ``framing``) is one read.

    The frame's bytes are decoded with ``encoding`` and stripped of surrounding
    whitespace; empty frames are ignored. The port is opened exclusively so a
    second program cannot steal half of each read.
    """

    backend = "serial"

    def __init__(
        self,
        name: str,
        device: str,
        *,
        baudrate: int = 9600,
        framing: str | Mapping[str, object] = "crlf",
        event_kind: str = KIND_CARD,
        encoding: str = "ascii",
        gap: float = DEFAULT_GAP,
        bytesize: int = serial.EIGHTBITS,
        parity: str = serial.PARITY_NONE,
        stopbits: float = serial.STOPBITS_ONE,
    ) -> None:
        super().__init__(name, event_kind=event_kind)
        codecs.lookup(encoding)  # LookupError now rather than at the first read
        if bytesize not in serial.Serial.BYTESIZES:
            raise ValueError(f"bytesize must be one of {serial.Serial.BYTESIZES}")
        if parity not in serial.Serial.PARITIES:
            raise ValueError(f"parity must be one of {serial.Serial.PARITIES}")
        if stopbits not in serial.Serial.STOPBITS:
            raise ValueError(f"stopbits must be one of {serial.Serial.STOPBITS}")
        self.device = device
        self.baudrate = baudrate
        self.framing = framing
        self.encoding = encoding
        self.gap = gap
        self.line_settings = {"bytesize": bytesize, "parity": parity, "stopbits": stopbits}
        # Built now so a bad framing fails at configuration time, not at the first read.
        self._framer: Framer = framer_from_config(framing, gap)
        self._port: serial.Serial | None = None

    def probe(self) -> tuple[bool | None, str]:
        """The port exists, this user may open it, and it opens (pyserial opens without blocking)."""
        if not os.path.exists(self.device):
            return False, f"{self.device} not present: is the reader plugged in (ls /dev/serial/by-id/)?"
        if not os.access(self.device, os.R_OK | os.W_OK):
            return False, (
                f"{self.device}: permission denied for this user: add it to the dialout group "
                "(usermod -aG dialout kiosk) or add a udev rule"
            )
        try:
            port = serial.Serial(port=self.device, baudrate=self.baudrate, timeout=0, exclusive=True)
        except serial.SerialException as exc:
            if "lock" in str(exc).lower():
                # The running server holds it (it opens the port exclusively): that is how it should be.
                return None, f"{self.device} is held by another program (the running server?)"
            return False, f"{self.device} does not open: {exc}"
        port.close()
        return True, f"{self.device} opens at {self.baudrate} baud"

    def _open(self) -> str:
        if not os.path.exists(self.device):
            raise DeviceUnavailable(f"{self.device} not present")
        try:
            port = serial.Serial(
                port=self.device,
                baudrate=self.baudrate,
                timeout=READ_TIMEOUT,
                exclusive=True,
                **self.line_settings,
            )
        except serial.SerialException as exc:
            if getattr(exc, "errno", None) in ABSENT_ERRNOS:
                raise DeviceUnavailable(f"{self.device}: {exc.strerror or exc}") from exc
            raise
        self._framer = framer_from_config(self.framing, self.gap)
        self._port = port
        return f"{self.device} at {self.baudrate} baud"

    def _serve(self) -> None:
        port = self._port
        assert port is not None
        while not self.stopping:
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                if self.stopping:
                    return
                raise DeviceUnavailable(f"{self.device} lost: {exc}") from exc
            for frame in self._framer.feed(data, time.monotonic()):
                value = frame.decode(self.encoding, errors="replace").strip()
                if value:
                    self._emit(value)

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            port.close()

    def _interrupt(self) -> None:
        port = self._port
        if port is not None:
            # The port may be closing under us; the read timeout still ends the loop.
            with contextlib.suppress(Exception):
                port.cancel_read()
