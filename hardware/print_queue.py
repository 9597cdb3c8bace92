"""The print queue: jobs go in at once, one worker per printer prints them.

A web request calls :meth:`PrintQueue.submit` and gets a :class:`JobHandle`
back immediately; waiting for the outcome is optional and bounded
(``handle.wait(timeout)``), so a slow or broken printer never holds a request
longer than the caller chose. Retryable faults are retried up to
``max_attempts`` times with growing delays; then the job is marked failed and
kept in the :class:`JobStore` until staff reprint it.

Each printer's jobs print in order: while a job waits to be retried the jobs
behind it wait too, because they would meet the same empty roll or
unplugged cable, and tickets should come out in the order they were taken.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from kiosk_hardware.errors import PrinterError
from kiosk_hardware.job_store import InMemoryJobStore, JobState, JobStore, PrintJob
from kiosk_hardware.printers.base import Printer
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.status import Online, Paper, PrinterStatus

log = logging.getLogger(__name__)

Listener = Callable[[PrintJob], None]


def _status_after(exc: PrinterError) -> PrinterStatus:
    """What a fault says about the printer, for :meth:`PrintQueue.last_status`."""
    if exc.kind == "paper_out":
        return PrinterStatus(online=Online.OFFLINE, paper=Paper.OUT, detail=str(exc))
    if exc.kind == "offline":
        return PrinterStatus(online=Online.OFFLINE, detail=str(exc))
    return PrinterStatus(reachable=exc.kind != "unreachable", detail=str(exc))


class JobHandle:
    """What ``submit`` returns: the job's id and a bounded way to wait for it."""

    def __init__(self, print_queue: PrintQueue, job_id: str) -> None:
        self._queue = print_queue
        self.id = job_id

    @property
    def job(self) -> PrintJob:
        """The job as stored now."""
        job = self._queue.get(self.id)
        if job is None:
            raise KeyError(f"job {self.id} is no longer stored")
        return job

    @property
    def state(self) -> JobState:
        """queued, printing, done or failed."""
        return self.job.state

    @property
    def error(self) -> str | None:
        """The last fault, in words."""
        return self.job.error

    @property
    def attempts(self) -> int:
        """How many times printing was tried."""
        return self.job.attempts

    def wait(self, timeout: float) -> PrintJob:
        """Wait at most ``timeout`` seconds for the job to finish; return it in whatever state it is."""
        return self._queue.wait(self.id, timeout)

    def __repr__(self) -> str:
        return f"<JobHandle {self.id}>"


class PrintQueue:
    """Jobs for one or more named printers, stored in a :class:`JobStore`.

    :param printers: ``{name: Printer}``, or one printer (named ``default``).
    :param retry_delay: seconds before the first retry; multiplied by
        ``retry_backoff`` after each further attempt, up to ``max_retry_delay``.
    """

    def __init__(
        self,
        printers: Mapping[str, Printer] | Printer,
        store: JobStore | None = None,
        *,
        max_attempts: int = 3,
        retry_delay: float = 1.0,
        retry_backoff: float = 2.0,
        max_retry_delay: float = 30.0,
    ) -> None:
        self.printers: dict[str, Printer] = {"default": printers} if isinstance(printers, Printer) else dict(printers)
        if not self.printers:
            raise ValueError("a print queue needs at least one printer")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.store = store if store is not None else InMemoryJobStore()
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.retry_backoff = retry_backoff
        self.max_retry_delay = max_retry_delay
        self._queues: dict[str, queue.Queue[str | None]] = {name: queue.Queue() for name in self.printers}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        # Guards finishing a job against a waiter registering: see wait().
        self._lock = threading.Lock()
        self._finished_events: dict[str, threading.Event] = {}
        self._listeners: list[Listener] = []
        self._last_status: dict[str, PrinterStatus] = {}

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> PrintQueue:
        """Start one worker thread per printer and resume unfinished jobs from the store."""
        if self._threads:
            return self
        self._stop.clear()
        for job in self.store.list_unfinished():
            if job.printer not in self.printers:
                log.warning("job %s is for unknown printer %r; left as is", job.id, job.printer)
                continue
            if job.state is JobState.PRINTING:
                # Interrupted mid-job last time; it may print twice, which beats not at all.
                job.state = JobState.QUEUED
                self.store.update(job)
            self._queues[job.printer].put(job.id)
        for name in self.printers:
            thread = threading.Thread(target=self._work, args=(name,), name=f"print-queue-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers; a job waiting to be retried stays queued in the store."""
        self._stop.set()
        for q in self._queues.values():
            q.put(None)
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def __enter__(self) -> PrintQueue:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- submitting and reprinting -------------------------------------------

    def _printer_name(self, printer: str | None) -> str:
        name = printer if printer is not None else next(iter(self.printers))
        if name not in self.printers:
            raise KeyError(f"unknown printer {name!r}; known: {sorted(self.printers)}")
        return name

    def submit(
        self, receipt: Receipt, *, printer: str | None = None, label: str = "", terminal: str | None = None
    ) -> JobHandle:
        """Queue a receipt and return at once (``printer``: a name; default the first).

        ``terminal``: the screen the receipt was taken at, kept with the job.
        """
        if not isinstance(receipt, Receipt):
            raise TypeError("submit() takes a Receipt")
        job = PrintJob(
            receipt=receipt,
            printer=self._printer_name(printer),
            label=label,
            max_attempts=self.max_attempts,
            terminal=terminal,
        )
        return self._enqueue(job, new=True)

    def _enqueue(self, job: PrintJob, *, new: bool) -> JobHandle:
        with self._lock:
            self._finished_events.setdefault(job.id, threading.Event())
        if new:
            self.store.add(job)
        else:
            self.store.update(job)
        self._notify(job)
        self._queues[job.printer].put(job.id)
        return JobHandle(self, job.id)

    def reprint(self, job_id: str, *, printer: str | None = None) -> JobHandle:
        """Print a job again (``printer``: on that printer of this queue; default where it was printed).

        A failed job goes back in the queue as itself (fresh attempts), so it
        leaves the failed list. A printed job is copied into a new job that
        records ``reprint_of`` (the resident lost the ticket). A job still
        queued or printing is left alone and its handle returned. The job may
        come from another queue sharing the store (staff chose this printer).
        """
        job = self.store.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id}")
        if not job.finished:
            return JobHandle(self, job.id)
        target = self._printer_name(printer if printer is not None else job.printer)
        if job.state is JobState.FAILED:
            job = replace(
                job, printer=target, state=JobState.QUEUED, attempts=0, error=None, error_kind=None, finished_at=None
            )
            return self._enqueue(job, new=False)
        copy = PrintJob(
            receipt=job.receipt,
            printer=target,
            label=job.label,
            max_attempts=self.max_attempts,
            reprint_of=job.id,
            terminal=job.terminal,
        )
        return self._enqueue(copy, new=True)

    # -- looking at jobs -----------------------------------------------------

    def get(self, job_id: str) -> PrintJob | None:
        """The stored job."""
        return self.store.get(job_id)

    def handle(self, job_id: str) -> JobHandle:
        """A handle for a job submitted earlier (e.g. by id from a web page)."""
        if self.store.get(job_id) is None:
            raise KeyError(f"no job {job_id}")
        return JobHandle(self, job_id)

    def list_failed(self, printer: str | None = None) -> list[PrintJob]:
        """Failed jobs, newest first."""
        return self.store.list_failed(printer)

    def wait(self, job_id: str, timeout: float) -> PrintJob:
        """Wait at most ``timeout`` seconds for a job to finish; return it as it then is."""
        with self._lock:
            job = self.store.get(job_id)
            if job is None:
                raise KeyError(f"no job {job_id}")
            if job.finished:
                return job
            event = self._finished_events.setdefault(job_id, threading.Event())
        event.wait(max(0.0, timeout))
        return self.store.get(job_id) or job

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job is queued or printing; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.store.list_unfinished():
                return True
            time.sleep(0.01)
        return not self.store.list_unfinished()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(job)`` after every state change (from a worker thread)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    def last_status(self, printer: str | None = None) -> PrinterStatus | None:
        """The printer status seen at the last job, without asking the printer."""
        return self._last_status.get(self._printer_name(printer))

    def check_status(self, printer: str | None = None) -> PrinterStatus:
        """Ask the printer now (blocks for up to a few status timeouts; not from a web request)."""
        name = self._printer_name(printer)
        status = self.printers[name].status()
        self._last_status[name] = status
        return status

    # -- the workers ---------------------------------------------------------

    def _notify(self, job: PrintJob) -> None:
        for listener in list(self._listeners):
            try:
                listener(replace(job))
            except Exception:  # noqa: BLE001 - a broken listener must not stop printing
                log.exception("print job listener %r failed", listener)

    def _save(self, job: PrintJob) -> None:
        job.updated_at = time.time()
        if job.finished:
            job.finished_at = job.updated_at
            with self._lock:
                self.store.update(job)
                event = self._finished_events.pop(job.id, None)
            if event is not None:
                event.set()
        else:
            self.store.update(job)
        self._notify(job)

    def _work(self, name: str) -> None:
        jobs = self._queues[name]
        while not self._stop.is_set():
            job_id = jobs.get()
            if job_id is None:
                return
            try:
                self._print(name, job_id)
            except Exception:  # noqa: BLE001 - the worker must survive a store failure
                log.exception("print worker %s failed on job %s", name, job_id)

    def _retry_delay(self, attempts: int) -> float:
        return min(self.retry_delay * self.retry_backoff ** max(0, attempts - 1), self.max_retry_delay)

    def _print(self, name: str, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None or job.state is not JobState.QUEUED:
            return  # reprinted twice, or already handled
        printer = self.printers[name]
        while True:
            job.state = JobState.PRINTING
            job.attempts += 1
            self._save(job)
            try:
                result = printer.print_receipt(job.receipt, job_id=job.id)
            except PrinterError as exc:
                job.error, job.error_kind = str(exc), exc.kind
                self._last_status[name] = _status_after(exc)
                if exc.retryable and job.attempts < job.max_attempts:
                    job.state = JobState.QUEUED
                    self._save(job)
                    log.warning("job %s attempt %d on %s: %s; retrying", job.id, job.attempts, name, exc)
                    if self._stop.wait(self._retry_delay(job.attempts)):
                        return  # shutting down; the job stays queued for the next start
                    continue
                log.error("job %s failed on %s after %d attempts: %s", job.id, name, job.attempts, exc)
                job.state = JobState.FAILED
                self._save(job)
                return
            except Exception as exc:  # noqa: BLE001 - a receipt that cannot be rendered
                log.exception("job %s cannot be printed", job.id)
                job.state, job.error, job.error_kind = JobState.FAILED, f"{type(exc).__name__}: {exc}", "invalid"
                self._save(job)
                return
            job.state, job.error, job.error_kind, job.note = JobState.DONE, None, None, result.note
            if result.after is not None:
                self._last_status[name] = result.after
            self._save(job)
            return
