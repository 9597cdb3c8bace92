"""Printer faults, one class per thing the staff can act on.

Each carries ``retryable``: the print queue tries a retryable fault again
(after a delay) and gives up at once on the others. ``kind`` is a stable key
the web UI can translate.
"""

from __future__ import annotations


class PrinterError(Exception):
    """A print job could not be delivered."""

    kind = "error"
    retryable = True


class PrinterUnreachable(PrinterError):
    """The device could not be opened: connection refused, no route, unplugged."""

    kind = "unreachable"


class PrinterOffline(PrinterError):
    """The printer answered that it is offline (cover open, error)."""

    kind = "offline"


class PaperOut(PrinterError):
    """The paper sensor reports no paper."""

    kind = "paper_out"


class PrinterTimeout(PrinterError):
    """The device stopped accepting data or answering within the timeout."""

    kind = "timeout"


class ConnectionDropped(PrinterError):
    """The connection closed while a job was being sent or confirmed."""

    kind = "dropped"


class PrinterConfigError(PrinterError, ValueError):
    """The printer's configuration is wrong; retrying cannot help."""

    kind = "config"
    retryable = False
