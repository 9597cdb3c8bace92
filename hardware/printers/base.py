"""What every printer backend shares: the job flow and status interpretation.

A backend only opens a :class:`Connection` (write bytes, ask one ``DLE EOT``
question). :class:`Printer` does the rest for all of them, the same way:

1. open the device (fails: :class:`PrinterUnreachable`);
2. ask status; refuse known-bad states (paper out, offline) before sending,
   so a ticket is not half printed; an unknown status does not block;
3. send the job;
4. ask status again: a dropped connection shows up here even when the
   kernel had accepted every byte, and paper running out mid-job is caught.

``DLE EOT`` is answered when the printer *receives* it, after the job bytes
but possibly before they are all printed: step 4 confirms delivery, not ink.
A printer that accepted the connection but never read (its buffer full, a
jam) or that never answers status gives no reply in step 4: the job is then
*sent*, not confirmed (``PrintResult.confirmed`` False), and the print queue
says so instead of "printed".
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from kiosk_hardware.errors import PaperOut, PrinterError, PrinterOffline
from kiosk_hardware.profiles import PrinterProfile, get_profile
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.status import (
    OFFLINE_CAUSE,
    PAPER_SENSOR,
    PRINTER_STATUS,
    Online,
    Paper,
    PrinterStatus,
    status_from_replies,
)


class Connection(ABC):
    """An open channel to a printer, used for one job or one status check."""

    #: False for write-only devices: no question is sent, status stays unknown.
    can_query: bool = True

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send bytes; raise a :class:`PrinterError` subclass on failure."""

    @abstractmethod
    def query(self, n: int, timeout: float) -> bytes:
        """Send ``DLE EOT n`` and return the reply, ``b""`` if none came in time.

        Raise :class:`ConnectionDropped` if the device closed the channel.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the device."""


@dataclass(frozen=True)
class PrintResult:
    """How a job went: ``confirmed`` means the printer answered after the job.

    ``queried``: a confirmation was asked for (status checks on, a device
    that can answer); when False, ``confirmed`` is False because nothing could
    be learned, not because the printer kept silent.
    """

    bytes_sent: int
    before: PrinterStatus | None
    after: PrinterStatus | None
    confirmed: bool
    note: str = ""
    queried: bool = True


class Printer(ABC):
    """A receipt printer. Subclasses implement :meth:`_open` and :meth:`describe`.

    :param profile: paper width and encoding (name, dict or profile).
    :param status: ask ``DLE EOT`` before and after each job; turn off only
        for printers that choke on it.
    :param status_timeout: seconds to wait for each status reply.
    :param confirm_timeout: seconds to wait for the first status reply after
        a job (default three status timeouts, at least one second): a printer
        whose receive buffer is still full of the job takes in the question
        only as it prints, and a late answer must not turn a printed ticket
        into an unconfirmed one.
    """

    kind: ClassVar[str] = "printer"

    def __init__(
        self,
        profile: Any = None,
        *,
        status: bool = True,
        status_timeout: float = 0.5,
        confirm_timeout: float | None = None,
    ) -> None:
        self.profile: PrinterProfile = get_profile(profile)
        self.check_status = status
        self.status_timeout = status_timeout
        self.confirm_timeout = confirm_timeout if confirm_timeout is not None else max(1.0, 3 * status_timeout)
        # Most printers take one connection at a time; jobs and status checks
        # from different threads (queue worker, staff console) take turns.
        self._lock = threading.Lock()

    @abstractmethod
    def _open(self) -> Connection:
        """Open the device; raise :class:`PrinterUnreachable` if it cannot be."""

    def prepare(self) -> None:
        """Load what the first job needs ahead of it (a backend's device library); nothing by default."""
        return None

    @abstractmethod
    def describe(self) -> str:
        """Where the printer is, for logs and the staff console."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"

    def _ask(self, conn: Connection, first_timeout: float | None = None) -> PrinterStatus:
        if not conn.can_query:
            return PrinterStatus(detail="device gives no status")
        printer = conn.query(PRINTER_STATUS, first_timeout or self.status_timeout)
        if not printer:
            # A printer that ignores the first question ignores the rest too;
            # do not spend three timeouts finding that out.
            return status_from_replies(None, None)
        paper = conn.query(PAPER_SENSOR, self.status_timeout)
        online = status_from_replies(printer, paper)
        cause = conn.query(OFFLINE_CAUSE, self.status_timeout) if online.online is Online.OFFLINE else None
        return status_from_replies(printer, paper, cause)

    def status(self) -> PrinterStatus:
        """Ask the printer now (blocks up to a few ``status_timeout``)."""
        with self._lock:
            try:
                conn = self._open()
            except PrinterError as exc:
                return PrinterStatus(reachable=False, detail=str(exc))
            try:
                return self._ask(conn)
            except PrinterError as exc:
                return PrinterStatus(reachable=False, detail=str(exc))
            finally:
                conn.close()

    @staticmethod
    def _refuse(status: PrinterStatus, when: str) -> None:
        if status.paper is Paper.OUT:
            raise PaperOut(f"paper out {when}")
        if status.online is Online.OFFLINE:
            cause = f" ({status.detail})" if status.detail else ""
            raise PrinterOffline(f"printer offline {when}{cause}")

    def print_receipt(self, receipt: Receipt, *, job_id: str | None = None) -> PrintResult:
        """Encode ``receipt`` for this printer's profile and print it."""
        # Imported here: the encoder pulls in Pillow and the barcode libraries,
        # which a server need not load before it answers its first request.
        from kiosk_hardware.escpos_encode import encode_receipt

        return self.print_bytes(encode_receipt(receipt, self.profile), job_id=job_id)

    def print_bytes(self, data: bytes, *, job_id: str | None = None) -> PrintResult:
        """Send an encoded job with the status checks described in the module docstring."""
        with self._lock:
            conn = self._open()
            try:
                before = self._ask(conn) if self.check_status else None
                if before is not None:
                    self._refuse(before, "before printing")
                conn.write(data)
                after = self._ask(conn, self.confirm_timeout) if self.check_status else None
            finally:
                conn.close()
        if after is None:
            return PrintResult(
                len(data), before, None, False, "status checks are off; delivery not confirmed", queried=False
            )
        self._refuse(after, "during the job")
        notes = []
        if after.online is Online.UNKNOWN:
            notes.append(f"delivery not confirmed: {after.detail or 'no status reply'}")
        if after.paper is Paper.NEAR_END:
            notes.append("paper near end")
        return PrintResult(
            len(data), before, after, after.online is Online.ONLINE, "; ".join(notes), queried=conn.can_query
        )
