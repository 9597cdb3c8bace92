"""Printers behind a device file such as ``/dev/usb/lp0`` (the kernel's usblp driver).

Write-only here: status stays unknown. The usblp driver does report faults as
write errors, which are mapped to the matching printer fault.

Nothing here may block for ever, since the print worker and ``kiosk doctor``
wait on it: the device is opened non-blocking in a helper thread with a time
limit (:func:`~kiosk_hardware.printers._transfer.open_within`), and written
in pieces, each waiting for room at most ``timeout`` seconds
(:class:`~kiosk_hardware.printers._transfer.Progress`). What the path is
decides how it is opened:

* a character device (``/dev/usb/lp0``): ``O_NONBLOCK``; a missing one is
  reported unplugged, never created as a regular file under ``/dev``;
* a FIFO (a bridge or spooler reads it): opened blocking, which waits for the
  reader, up to ``open_timeout``; after the job, the bytes still in the pipe
  must be read within the progress timeout, or the job failed;
* anything else: a regular file, appended to and created if missing (a spool
  file, or a test's stand-in).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import termios
from array import array

from kiosk_hardware.errors import (
    ConnectionDropped,
    PaperOut,
    PrinterConfigError,
    PrinterOffline,
    PrinterUnreachable,
)
from kiosk_hardware.printers._transfer import Progress, drain, open_within, write_fd
from kiosk_hardware.printers.base import Connection, Printer


def _pipe_pending(fd: int) -> int:
    # FIONREAD on either end of a pipe: bytes written and not yet read.
    buf = array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass  # a vanished device cannot be flushed; nothing left to release


class _FileConnection(Connection):
    can_query = False

    def __init__(self, fd: int, path: str, timeout: float, fifo: bool) -> None:
        self._fd = fd
        self._path = path
        self._timeout = timeout
        self._fifo = fifo

    def write(self, data: bytes) -> None:
        progress = Progress(len(data), self._timeout)
        try:
            write_fd(self._fd, data, progress)
            if self._fifo:
                drain(lambda: _pipe_pending(self._fd), progress)
        except BrokenPipeError as exc:
            raise ConnectionDropped(f"nobody reads {self._path} any more ({progress.sent} bytes sent)") from exc
        except OSError as exc:
            # usblp answers a write with ENOSPC when the paper is out and EIO
            # when the printer is offline or in error.
            if exc.errno == errno.ENOSPC:
                raise PaperOut(f"paper out ({exc})") from exc
            if exc.errno == errno.EIO:
                raise PrinterOffline(f"printer offline or in error ({exc})") from exc
            raise ConnectionDropped(f"write to {self._path} failed: {exc}") from exc

    def query(self, n: int, timeout: float) -> bytes:
        return b""

    def close(self) -> None:
        _close_quietly(self._fd)


class FilePrinter(Printer):
    """A printer written to through ``path`` (opened per job; regular files are appended to).

    :param timeout: seconds a write may wait for the device to take more bytes.
    :param open_timeout: seconds opening the device may take.
    """

    kind = "file"

    def __init__(self, path: str, *, timeout: float = 10.0, open_timeout: float = 2.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.timeout = float(timeout)
        self.open_timeout = float(open_timeout)
        if self.timeout <= 0 or self.open_timeout <= 0:
            raise PrinterConfigError("timeout and open_timeout must be positive")

    def describe(self) -> str:
        """Where the printer is, for logs."""
        return f"file {self.path} ({self.profile.name})"

    def _open_device(self, seen: dict[str, bool]) -> tuple[int, bool]:
        """Open ``path`` for writing as its kind asks (see the module docstring); returns (fd, is_fifo)."""
        try:
            mode: int | None = os.stat(self.path).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and stat.S_ISFIFO(mode):
            seen["fifo"] = True
            fd = os.open(self.path, os.O_WRONLY | os.O_NOCTTY)  # waits for the reader
            os.set_blocking(fd, False)
            return fd, True
        if mode is not None and stat.S_ISCHR(mode):
            return os.open(self.path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK), False
        if mode is None and os.path.abspath(self.path).startswith("/dev/"):
            # Creating /dev/usb/lp0 as a regular file would swallow every
            # later job while the printer is unplugged.
            raise FileNotFoundError(errno.ENOENT, "no such device (unplugged or not powered?)", self.path)
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644), False

    def _unblock_fifo(self, seen: dict[str, bool]) -> None:
        # A writer's open() of a FIFO returns once a reader opens it: be that
        # reader for a moment so the abandoned helper thread ends.
        if seen.get("fifo"):
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))

    def _open(self) -> Connection:
        seen: dict[str, bool] = {}
        try:
            fd, fifo = open_within(
                self.path,
                lambda: self._open_device(seen),
                self.open_timeout,
                discard=lambda opened: _close_quietly(opened[0]),
                unblock=lambda: self._unblock_fifo(seen),
            )
        except OSError as exc:
            raise PrinterUnreachable(f"cannot open {self.path}: {exc.strerror or exc}") from exc
        return _FileConnection(fd, self.path, self.timeout, fifo)
