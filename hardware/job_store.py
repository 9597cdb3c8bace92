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
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from kiosk_hardware.receipt import Receipt


class JobState(StrEnum):
    """Where a job is: waiting, on its way to the printer, printed, or given up."""

    QUEUED = "queued"
    PRINTING = "printing"
    DONE = "done"
    FAILED = "failed"


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
    which may differ from the printer that prints it.
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

    @property
    def finished(self) -> bool:
        """True once done or failed."""
        return self.state in (JobState.DONE, JobState.FAILED)

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
            "receipt": self.receipt.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrintJob:
        """Rebuild a job from :meth:`to_dict` output."""
        values = dict(data)
        values["receipt"] = Receipt.from_dict(values["receipt"])
        values["state"] = JobState(values["state"])
        return cls(**values)


class JobStore(ABC):
    """Where print jobs live. The lead's SQLAlchemy store implements the same methods.

    Implementations must be safe to call from several threads, and return
    jobs the caller may modify without changing the stored one until
    :meth:`update` is called.
    """

    @abstractmethod
    def add(self, job: PrintJob) -> None:
        """Store a new job."""

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
    def list_unfinished(self) -> list[PrintJob]:
        """Queued or printing jobs, oldest first: resumed when the queue starts."""

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
        self._lock = threading.Lock()
        self.keep_done = keep_done

    def add(self, job: PrintJob) -> None:
        """Store a copy of a new job; ValueError if the id is taken."""
        with self._lock:
            if job.id in self._jobs:
                raise ValueError(f"job {job.id} already stored")
            self._jobs[job.id] = replace(job)

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

    def list_unfinished(self) -> list[PrintJob]:
        """Queued or printing jobs, oldest first."""
        with self._lock:
            jobs = [replace(j) for j in self._jobs.values() if not j.finished]
        return sorted(jobs, key=lambda j: j.created_at)

    def list_recent(self, limit: int = 50) -> list[PrintJob]:
        """The latest jobs, newest first."""
        with self._lock:
            jobs = [replace(j) for j in self._jobs.values()]
        return sorted(jobs, key=lambda j: j.updated_at, reverse=True)[:limit]
