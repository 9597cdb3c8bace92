"""Print jobs as plain records, and where they are kept.

:class:`PrintJob` is a plain dataclass; its receipt round-trips through
:meth:`PrintJob.to_dict` / :meth:`PrintJob.from_dict`, so a database-backed
:class:`JobStore` can keep it in ordinary columns plus one JSON column. The
print queue only ever talks to the :class:`JobStore` interface;
:class:`InMemoryJobStore` is the implementation for tests and the demo.
"""

from __future__ import annotations

import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from kiosk_hardware.receipt import Receipt


class JobState(StrEnum):
    """Where a job is: waiting, on its way to the printer, printed, sent, or given up.

    ``done`` means the printer confirmed the job (it answered a status query
    sent after the job's bytes). ``sent`` means every byte went out but the
    printer never confirmed it: a printer that accepts a connection and never
    reads, or one that does not answer status, looks exactly like one that
    printed, so the kiosk does not claim it did. Both are final: a sent job is
    not sent again by itself (it may well have printed), staff can reprint it.
    """

    QUEUED = "queued"
    PRINTING = "printing"
    DONE = "done"
    SENT = "sent"
    FAILED = "failed"


#: States a job does not leave by itself.
FINISHED_STATES = frozenset({JobState.DONE, JobState.SENT, JobState.FAILED})


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class PrintJob:
    """One receipt to print and what happened to it.

    ``error``/``error_kind`` hold the last fault (``kind`` as in
    :mod:`kiosk_hardware.errors`, or ``invalid`` for a receipt that cannot be
    rendered); ``note`` a remark on success ("paper near end", "delivery not
    confirmed"). ``reprint_of`` links a reprint of a printed job to the original.
    ``terminal`` names the screen the receipt was taken at (None: not known),
    which may differ from the printer that prints it. ``expires_at`` (epoch
    seconds, None: never) is when the receipt is no longer worth printing (a
    queue ticket the resident stopped waiting for); ``owner`` the print-queue
    process that claimed it while it is ``printing``.
    """

    receipt: Receipt
    printer: str = "default"
    label: str = ""
    id: str = field(default_factory=_new_id)
    state: JobState = JobState.QUEUED
    attempts: int = 0
    max_attempts: int = 3
    error: str | None = None
    error_kind: str | None = None
    note: str = ""
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    reprint_of: str | None = None
    terminal: str | None = None
    expires_at: float | None = None
    owner: str | None = None

    def copy(self) -> PrintJob:
        """A shallow copy, as ``dataclasses.replace(job)`` makes, without its per-field work.

        The print worker hands every listener a copy of each change, and the
        request hands the worker one of each job: ``replace`` read and passed
        all 17 fields one by one (some 23 calls a copy, 5 copies a receipt).
        """
        new = _new_job(type(self))
        new.__dict__.update(self.__dict__)
        return new

    @property
    def finished(self) -> bool:
        """True once done, sent or failed."""
        return self.state in FINISHED_STATES

    def expired(self, now: float | None = None) -> bool:
        """True when the receipt's time to print has passed."""
        return self.expires_at is not None and (now if now is not None else time.time()) >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the receipt as :meth:`Receipt.to_dict`)."""
        return {
            "id": self.id,
            "printer": self.printer,
            "label": self.label,
            "state": self.state.value,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "error": self.error,
            "error_kind": self.error_kind,
            "note": self.note,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
            "reprint_of": self.reprint_of,
            "terminal": self.terminal,
            "expires_at": self.expires_at,
            "owner": self.owner,
            "receipt": self.receipt.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrintJob:
        """Rebuild a job from :meth:`to_dict` output."""
        values = dict(data)
        values["receipt"] = Receipt.from_dict(values["receipt"])
        values["state"] = JobState(values["state"])
        return cls(**values)


_new_job = object.__new__


class JobStore(ABC):
    """Where print jobs live (:class:`kiosk.printing.DbJobStore` keeps them in the database).

    Implementations must be safe to call from several threads, and return
    jobs the caller may modify without changing the stored one until
    :meth:`update` is called. Several print queues (in several processes)
    may share one store: :meth:`hold_printer` lets one of them drive each
    printer, :meth:`claim` lets one of them take each job.
    """

    @abstractmethod
    def add(self, job: PrintJob, then: Callable[[], None] | None = None) -> None:
        """Store a new job; call ``then()`` once it is stored for good.

        A store that writes inside a caller's transaction (a database store
        inside a ticket's transaction) calls ``then`` only after that
        transaction commits, and never if it rolls back: the print queue wakes
        its worker in ``then``, so the worker never looks for a job that is not
        there yet, and nothing wakes for a job that never was.
        """

    @abstractmethod
    def update(self, job: PrintJob) -> None:
        """Save a changed job (matched by ``job.id``)."""

    @abstractmethod
    def get(self, job_id: str) -> PrintJob | None:
        """The job with this id, or None."""

    @abstractmethod
    def list_failed(self, printer: str | None = None, limit: int = 100) -> list[PrintJob]:
        """Failed jobs, newest first (optionally for one printer)."""

    @abstractmethod
    def list_unfinished(self, printer: str | None = None, limit: int | None = None) -> list[PrintJob]:
        """Queued or printing jobs, oldest first (of one ``printer``, at most ``limit``): what a queue works through."""

    @abstractmethod
    def claim(self, job_id: str, owner: str, known: PrintJob | None = None) -> PrintJob | None:
        """Atomically move a queued job to ``printing`` for ``owner`` (attempts + 1); None if it is not queued.

        This is what makes a job print once: of two queues that both saw it
        queued, only one claim succeeds. ``known``: the job as the caller has
        it (queued, with these attempts); a store may then return it changed
        as claimed instead of reading it back, if the stored job is still queued
        with the same attempts.
        """

    def claim_after(
        self, finished: PrintJob, job_id: str, owner: str, known: PrintJob | None = None
    ) -> PrintJob | None:
        """Save ``finished`` (as :meth:`update`), then :meth:`claim` the next job: a worker's two writes as one.

        ``finished`` is saved whether or not the claim succeeds; a store that
        can write both in one transaction does (:class:`kiosk.printing.DbJobStore`):
        under load a print worker's every receipt is one write, not two. This
        default writes one after the other.
        """
        self.update(finished)
        return self.claim(job_id, owner, known)

    @abstractmethod
    def hold_printer(self, printer: str, owner: str, seconds: float) -> bool:
        """Take or renew the lease that lets ``owner`` alone drive ``printer`` for ``seconds``.

        True if ``owner`` holds it now; False while another owner's lease runs.
        """

    def keep_between_jobs(self) -> None:
        """The calling thread is a print worker: it may keep what its writes need from one job to the next.

        A store that opens something per write (a database connection) keeps
        it for this thread until :meth:`rest`; nothing by default.
        """
        return None

    def rest(self) -> None:
        """The calling print worker has nothing to do for now: give back what it kept (:meth:`keep_between_jobs`)."""
        return None

    @abstractmethod
    def release_printer(self, printer: str, owner: str) -> None:
        """Give the lease up (if ``owner`` holds it), so another process can take over at once."""

    @abstractmethod
    def list_recent(self, limit: int = 50) -> list[PrintJob]:
        """The latest jobs in any state, newest first (for the staff console)."""


class InMemoryJobStore(JobStore):
    """A :class:`JobStore` in a dict; keeps at most ``keep_done`` printed jobs.

    Failed and unfinished jobs are never evicted: a failed ticket must stay
    listable until someone reprints it.
    """

    def __init__(self, keep_done: int = 500) -> None:
        self._jobs: dict[str, PrintJob] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.keep_done = keep_done

    def add(self, job: PrintJob, then: Callable[[], None] | None = None) -> None:
        """Store a copy of a new job (``then()`` at once); ValueError if the id is taken."""
        with self._lock:
            if job.id in self._jobs:
                raise ValueError(f"job {job.id} already stored")
            self._jobs[job.id] = replace(job)
        if then is not None:
            then()

    def update(self, job: PrintJob) -> None:
        """Replace the stored copy; KeyError if the job was never added."""
        with self._lock:
            if job.id not in self._jobs:
                raise KeyError(job.id)
            self._jobs[job.id] = replace(job, updated_at=time.time())
            if job.state is JobState.DONE:
                self._evict_done()

    def _evict_done(self) -> None:
        done = [j for j in self._jobs.values() if j.state is JobState.DONE]
        for job in sorted(done, key=lambda j: j.updated_at)[: max(0, len(done) - self.keep_done)]:
            del self._jobs[job.id]

    def get(self, job_id: str) -> PrintJob | None:
        """A copy of the stored job, or None."""
        with self._lock:
            job = self._jobs.get(job_id)
            return replace(job) if job else None

    def list_failed(self, printer: str | None = None, limit: int = 100) -> list[PrintJob]:
        """Failed jobs, newest first."""
        with self._lock:
            jobs = [
                replace(j)
                for j in self._jobs.values()
                if j.state is JobState.FAILED and (printer is None or j.printer == printer)
            ]
        return sorted(jobs, key=lambda j: j.updated_at, reverse=True)[:limit]

    def list_unfinished(self, printer: str | None = None, limit: int | None = None) -> list[PrintJob]:
        """Queued or printing jobs, oldest first."""
        with self._lock:
            jobs = [
                replace(j) for j in self._jobs.values() if not j.finished and (printer is None or j.printer == printer)
            ]
        return sorted(jobs, key=lambda j: j.created_at)[:limit]

    def claim(self, job_id: str, owner: str, known: PrintJob | None = None) -> PrintJob | None:
        """See :meth:`JobStore.claim` (the stored copy is always returned)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state is not JobState.QUEUED:
                return None
            job.state, job.owner, job.attempts, job.updated_at = JobState.PRINTING, owner, job.attempts + 1, time.time()
            return replace(job)

    def hold_printer(self, printer: str, owner: str, seconds: float) -> bool:
        """See :meth:`JobStore.hold_printer` (queues sharing this store stand for processes sharing a database)."""
        now = time.monotonic()
        with self._lock:
            holder = self._leases.get(printer)
            if holder is not None and holder[0] != owner and holder[1] > now:
                return False
            self._leases[printer] = (owner, now + seconds)
            return True

    def release_printer(self, printer: str, owner: str) -> None:
        """See :meth:`JobStore.release_printer`."""
        with self._lock:
            holder = self._leases.get(printer)
            if holder is not None and holder[0] == owner:
                del self._leases[printer]

    def list_recent(self, limit: int = 50) -> list[PrintJob]:
        """The latest jobs, newest first."""
        with self._lock:
            jobs = [replace(j) for j in self._jobs.values()]
        return sorted(jobs, key=lambda j: j.updated_at, reverse=True)[:limit]
