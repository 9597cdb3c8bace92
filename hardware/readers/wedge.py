"""Keyboard-wedge readers: USB QR/barcode scanners, RFID and magnetic-stripe readers
that present themselves as a keyboard.

The device is grabbed (EVIOCGRAB, through python-evdev) so its keystrokes reach
only this reader and never type into the page in front of the user. The events
are read as raw ``input_event`` records and decoded by ``keystrokes``, the same
code whatever the source, so a FIFO fed with recorded records (tests, or a helper
process forwarding another machine's scanner) is served exactly like a device;
only the grab is skipped for a FIFO, since there is no keyboard to take away.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import threading
from typing import Any

from kiosk_hardware.readers.base import ABSENT_ERRNOS, DeviceUnavailable, Reader
from kiosk_hardware.readers.events import KIND_CODE
from kiosk_hardware.readers.keystrokes import INPUT_EVENT, InputEventParser, KeystrokeDecoder

POLL_TIMEOUT_MS = 1000
READ_SIZE = INPUT_EVENT.size * 64


class DeviceBusy(Exception):
    """Another program has grabbed the input device."""


class WedgeReader(Reader):
    """A keyboard-wedge device at ``device`` (best a /dev/input/by-id/ path, which
    survives re-plugging into another USB port); each ``terminator`` key ends a read.
    """

    backend = "wedge"

    def __init__(
        self,
        name: str,
        device: str,
        *,
        event_kind: str = KIND_CODE,
        terminator: str = "enter",
        grab: bool = True,
    ) -> None:
        super().__init__(name, event_kind=event_kind)
        self.device = device
        self.terminator = terminator
        self.grab = grab
        # Built now so a bad terminator fails at configuration time.
        self._decoder = KeystrokeDecoder(terminator)
        self._input_device: Any = None  # evdev.InputDevice when reading a real device
        self._fd: int | None = None
        self._wake_lock = threading.Lock()
        self._wake_fds: tuple[int, int] | None = None

    def _open(self) -> str:
        try:
            mode = os.stat(self.device).st_mode
        except FileNotFoundError:
            raise DeviceUnavailable(f"{self.device} not present") from None
        if stat.S_ISCHR(mode):
            detail = self._open_input_device()
        elif stat.S_ISFIFO(mode):
            try:
                self._fd = os.open(self.device, os.O_RDONLY | os.O_NONBLOCK)
            except FileNotFoundError:
                raise DeviceUnavailable(f"{self.device} not present") from None
            detail = f"{self.device} (input_event stream)"
        else:
            raise ValueError(f"{self.device} is neither an input device nor a FIFO")
        self._decoder = KeystrokeDecoder(self.terminator)
        with self._wake_lock:
            self._wake_fds = os.pipe()
        return detail

    def probe(self) -> tuple[bool | None, str]:
        """The input device (or FIFO) exists and this user may read it; it is not opened or grabbed."""
        try:
            mode = os.stat(self.device).st_mode
        except FileNotFoundError:
            return False, f"{self.device} not present: is the scanner plugged in (ls /dev/input/by-id/)?"
        except OSError as exc:
            return False, f"{self.device}: {exc.strerror or exc}"
        if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
            return False, f"{self.device} is neither an input device nor a FIFO"
        if not os.access(self.device, os.R_OK):
            return False, (
                f"{self.device}: permission denied for this user: add it to the input group "
                "(usermod -aG input kiosk) or add a udev rule"
            )
        return True, f"{self.device} present and readable"

    def _open_input_device(self) -> str:
        import evdev  # optional dependency, only needed for real devices

        try:
            device = evdev.InputDevice(self.device)
        except OSError as exc:
            if exc.errno in ABSENT_ERRNOS:
                raise DeviceUnavailable(f"{self.device}: {exc.strerror}") from exc
            raise
        if self.grab:
            try:
                device.grab()
            except OSError as exc:
                device.close()
                if exc.errno == errno.EBUSY:
                    raise DeviceBusy(f"{self.device} is grabbed by another program") from exc
                raise
        self._input_device = device
        self._fd = device.fd
        return f"{device.name} ({self.device}){', grabbed' if self.grab else ''}"

    def _serve(self) -> None:
        fd = self._fd
        assert fd is not None and self._wake_fds is not None
        wake_fd = self._wake_fds[0]
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        poller.register(wake_fd, select.POLLIN)
        parser = InputEventParser()
        while not self.stopping:
            ready = dict(poller.poll(POLL_TIMEOUT_MS))
            if wake_fd in ready:
                os.read(wake_fd, 64)
                continue
            if fd not in ready:
                continue
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno in ABSENT_ERRNOS:
                    raise DeviceUnavailable(f"{self.device} unplugged") from exc
                raise
            if not data:
                raise DeviceUnavailable(f"{self.device}: event stream closed")
            for event in parser.feed(data):
                text = self._decoder.feed(event.type, event.code, event.value)
                if text is not None:
                    self._emit(text)

    def _close(self) -> None:
        device, self._input_device = self._input_device, None
        fd, self._fd = self._fd, None
        if device is not None:
            try:
                if self.grab:
                    device.ungrab()
            except OSError:
                pass  # an unplugged device cannot be ungrabbed, nor needs to be
            device.close()
        elif fd is not None:
            os.close(fd)
        with self._wake_lock:
            wake, self._wake_fds = self._wake_fds, None
        if wake is not None:
            os.close(wake[0])
            os.close(wake[1])

    def _interrupt(self) -> None:
        with self._wake_lock:
            if self._wake_fds is not None:
                os.write(self._wake_fds[1], b"\0")
