"""Printers behind a device file such as ``/dev/usb/lp0`` (the kernel's usblp driver).

Write-only here: status stays unknown. The usblp driver does report faults as
write errors, which are mapped to the matching printer fault.
"""

from __future__ import annotations

import errno

from kiosk_hardware.errors import ConnectionDropped, PaperOut, PrinterOffline, PrinterUnreachable
from kiosk_hardware.printers._escpos import DeviceNotFoundError, printer  # prepares the capability cache
from kiosk_hardware.printers.base import Connection, Printer


class _AppendingFile(printer.File):
    """python-escpos's ``File``, opened for appending.

    ``File`` opens with "wb", which would empty a regular file used as a
    spool on every job; a character device does not care either way.
    """

    def open(self, raise_not_found: bool = True) -> None:  # noqa: D401 - same contract as File.open
        """Open the device file for appending."""
        if self._device:
            self.close()
        try:
            self.device = open(self.devfile, "ab")
        except OSError as exc:
            self.device = None  # type: ignore[assignment]
            if raise_not_found:
                raise DeviceNotFoundError(f"Could not open the specified file {self.devfile}: {exc}") from exc


class _FileConnection(Connection):
    can_query = False

    def __init__(self, device: printer.File) -> None:
        self._device = device

    def write(self, data: bytes) -> None:
        try:
            self._device._raw(data)
            self._device.flush()
        except OSError as exc:
            # usblp answers a write with ENOSPC when the paper is out and EIO
            # when the printer is offline or in error.
            if exc.errno == errno.ENOSPC:
                raise PaperOut(f"paper out ({exc})") from exc
            if exc.errno == errno.EIO:
                raise PrinterOffline(f"printer offline or in error ({exc})") from exc
            raise ConnectionDropped(f"write to {self._device.devfile} failed: {exc}") from exc

    def query(self, n: int, timeout: float) -> bytes:
        return b""

    def close(self) -> None:
        try:
            self._device.close()
        except OSError:
            pass  # a vanished device cannot be flushed; the write already failed


class FilePrinter(Printer):
    """A printer written to through ``path`` (opened per job, appended to)."""

    kind = "file"

    def __init__(self, path: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.path = path

    def describe(self) -> str:
        """Where the printer is, for logs."""
        return f"file {self.path} ({self.profile.name})"

    def _open(self) -> Connection:
        device = _AppendingFile(self.path, auto_flush=False)
        try:
            device.open()
        except DeviceNotFoundError as exc:
            raise PrinterUnreachable(f"cannot open {self.path}: {exc.__cause__ or exc}") from exc
        return _FileConnection(device)
