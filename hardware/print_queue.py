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

Several queues may share one store: a station's server runs several worker
processes (or servers) on one database, and each has a queue for the same
printers. Exactly one of them drives each printer: the one holding the
printer's lease (:meth:`JobStore.hold_printer`, renewed by a heartbeat
thread; a crashed holder's lease runs out after ``lease_seconds``). The
holder works through the printer's queued jobs in the store, wherever they
were submitted, and takes each with an atomic :meth:`JobStore.claim`, so a job
is sent once. A job the holder finds ``printing`` was being sent by a process
that died: it is not sent again blindly (the ticket may be in the tray), but
failed with ``error_kind="interrupted"`` for staff, who reprint it if it
did not come out.

A dead printer trips the queue's circuit breaker for that printer: after
``breaker_threshold`` failed attempts in a row, jobs fail at once for
``breaker_cooldown`` seconds instead of each spending its full retry time;
then one job is tried once, and a success (or the status poll, or a staff
reprint) closes it again. A job past its ``expires_at`` is not printed
(``error_kind="expired"``): a queue ticket the resident stopped waiting for
must not come out at an empty kiosk. Staff can still reprint it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

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


#: Linux's ``prctl`` option that names the calling thread (``PR_SET_NAME`` in linux/prctl.h).
PR_SET_NAME = 15


def name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` (its first 15 bytes) in the OS too, as top, py-spy and /proc show it.

    Python 3.11 names threads only for itself: a bench reading the print
    worker's CPU time in ``/proc/<pid>/task`` finds it by this name.
    """
    import ctypes

    try:
        ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the name is only a convenience
        pass


def new_owner() -> str:
    """A name for one print queue of one process: host, pid and a random part (at most 64 characters)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class CircuitBreaker:
    """Whether a printer is worth trying: closed (normal), open (failing fast) or half open (one try).

    ``failures`` counts failed attempts in a row; at ``threshold`` the breaker
    opens for ``cooldown`` seconds. :meth:`probe` lets the next job try at
    once (staff reprinted, or the printer answered ready).
    """

    threshold: int = 3
    cooldown: float = 30.0
    failures: int = 0
    opened_at: float | None = None
    last_error: str = ""
    last_kind: str = ""
    _probe: bool = False

    def mode(self, now: float | None = None) -> str:
        """``closed``, ``open`` or ``half_open``."""
        if self.opened_at is None:
            return "closed"
        now = time.monotonic() if now is None else now
        if self._probe or now - self.opened_at >= self.cooldown:
            return "half_open"
        return "open"

    def failure(self, exc: PrinterError) -> None:
        """Count a failed attempt; open (again) at the threshold or after a failed probe."""
        self.failures += 1
        self.last_error, self.last_kind = str(exc), exc.kind
        if self.failures >= self.threshold or self.opened_at is not None:
            if self.opened_at is None:
                log.warning(
                    "printer failed %d times in a row: failing jobs at once for %g s", self.failures, self.cooldown
                )
            self.opened_at = time.monotonic()
            self._probe = False

    def success(self) -> None:
        """The printer took a job: back to normal."""
        self.failures, self.opened_at, self._probe = 0, None, False

    def probe(self) -> None:
        """Let the next job try now, once."""
        if self.opened_at is not None:
            self._probe = True


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
    :param owner: this queue's name in printer leases and job claims
        (default: host, pid and a random part).
    :param lease_seconds: how long a printer lease lasts unrenewed: how soon
        another process takes over the printer after this one died.
    :param poll_interval: how often the lease holder looks in the store for
        jobs submitted by other processes.
    :param breaker_threshold: failed attempts in a row that open the breaker.
    :param breaker_cooldown: seconds jobs fail at once before one is tried.
    :param expire_after: seconds after which a submitted job is no longer
        printed, unless :meth:`submit` says otherwise (None: never).
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
        owner: str | None = None,
        lease_seconds: float = 15.0,
        poll_interval: float = 0.5,
        breaker_threshold: int = 3,
        breaker_cooldown: float = 30.0,
        expire_after: float | None = None,
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
        self.owner = owner or new_owner()
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.expire_after = expire_after
        self.breakers: dict[str, CircuitBreaker] = {
            name: CircuitBreaker(breaker_threshold, breaker_cooldown) for name in self.printers
        }
        self._wake: dict[str, threading.Event] = {name: threading.Event() for name in self.printers}
        # Jobs this process stored (committed) for a printer it drives, handed to its worker in memory:
        # the worker need not read them back. The store stays the truth (see _step).
        self._handed: dict[str, OrderedDict[str, PrintJob]] = {name: OrderedDict() for name in self.printers}
        self._looked: dict[str, float] = dict.fromkeys(self.printers, float("-inf"))
        # The store may hold jobs not handed over (more than HAND_OVER_LIMIT waited, another process stored
        # them, a restart left them): the worker then reads the store job after job, oldest first, until it
        # finds none, instead of one job per poll_interval (which drained a backlog at two receipts a second).
        self._drain: dict[str, bool] = dict.fromkeys(self.printers, False)
        # While draining, the store's oldest jobs are read STORE_BATCH at a time (the worker thread's own).
        self._found: dict[str, deque[PrintJob]] = {name: deque() for name in self.printers}
        self._last_found: dict[str, str | None] = dict.fromkeys(self.printers, None)
        self._held: dict[str, bool] = dict.fromkeys(self.printers, False)
        self._renewed: dict[str, float] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        # Guards finishing a job against a waiter registering: see wait().
        self._lock = threading.Lock()
        self._finished_events: dict[str, threading.Event] = {}
        self._listeners: list[Listener] = []
        self._last_status: dict[str, PrinterStatus] = {}
        # A job just printed whose outcome is not stored yet: it goes with the next claim (see _print).
        self._unsaved: dict[str, PrintJob | None] = dict.fromkeys(self.printers)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> PrintQueue:
        """Take the printers' leases where free and start a worker per printer and the heartbeat.

        Jobs left unfinished in the store are worked through by whichever
        queue holds their printer's lease (see the module docstring for a job
        found ``printing``).
        """
        if self._threads:
            return self
        self._stop.clear()
        self._renew_leases()  # at once: a job submitted right after start need not wait for the heartbeat
        threads = [threading.Thread(target=self._heartbeat, name="print-queue-lease", daemon=True)]
        for name in self.printers:
            threads.append(threading.Thread(target=self._work, args=(name,), name=f"print-queue-{name}", daemon=True))
        for thread in threads:
            thread.start()
        self._threads = threads
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers and give the leases up; a job waiting to be retried stays queued in the store."""
        self._stop.set()
        for wake in self._wake.values():
            wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        for name in self.printers:
            if self._held[name]:
                self._held[name] = False
                try:
                    self.store.release_printer(name, self.owner)
                except Exception:  # noqa: BLE001 - the lease runs out by itself
                    log.warning("could not release the lease of printer %s", name, exc_info=True)

    def __enter__(self) -> PrintQueue:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def holds(self, printer: str | None = None) -> bool:
        """True while this queue holds the printer's lease (drives it)."""
        return self._held[self._printer_name(printer)]

    def _renew_leases(self, *, due_only: bool = False) -> None:
        now = time.monotonic()
        for name in self.printers:
            if due_only and self._held[name] and now - self._renewed.get(name, 0.0) < self.lease_seconds / 3:
                continue  # ours and fresh: renewing is a write, a third of the lease is soon enough
            try:
                held = self.store.hold_printer(name, self.owner, self.lease_seconds)
            except Exception:  # noqa: BLE001 - a database hiccup: try again next beat
                log.warning("could not renew the lease of printer %s", name, exc_info=True)
                held = False
            if held and not self._held[name]:
                log.info("this process now drives printer %s (%s)", name, self.owner)
                self._looked[name] = float("-inf")  # look in the store at once: the jobs left for this printer
                self._wake[name].set()
            elif self._held[name] and not held:
                log.warning("printer %s is driven by another process now", name)
                with self._lock:
                    self._handed[name].clear()  # the new holder finds them in the store
            self._held[name] = held
            if held:
                self._renewed[name] = now

    def _heartbeat(self) -> None:
        # Looks often (a read) so a printer given up by another process is taken over
        # within a second; renews its own leases every third of their length (a write).
        while not self._stop.wait(min(self.lease_seconds / 3, 1.0)):
            self._renew_leases(due_only=True)

    # -- submitting and reprinting -------------------------------------------

    def _printer_name(self, printer: str | None) -> str:
        name = printer if printer is not None else next(iter(self.printers))
        if name not in self.printers:
            raise KeyError(f"unknown printer {name!r}; known: {sorted(self.printers)}")
        return name

    def submit(
        self,
        receipt: Receipt,
        *,
        printer: str | None = None,
        label: str = "",
        terminal: str | None = None,
        expire_after: float | None = None,
    ) -> JobHandle:
        """Queue a receipt and return at once (``printer``: a name; default the first).

        ``terminal``: the screen the receipt was taken at, kept with the job.
        ``expire_after``: seconds from now after which it is no longer printed
        (default: the queue's ``expire_after``).
        """
        if not isinstance(receipt, Receipt):
            raise TypeError("submit() takes a Receipt")
        expiry = expire_after if expire_after is not None else self.expire_after
        job = PrintJob(
            receipt=receipt,
            printer=self._printer_name(printer),
            label=label,
            max_attempts=self.max_attempts,
            terminal=terminal,
        )
        if expiry is not None:
            job.expires_at = job.created_at + expiry
        return self._enqueue(job, new=True)

    #: Jobs at most handed over in memory per printer; more (a printer out of order) are read from the store.
    HAND_OVER_LIMIT = 256
    #: Jobs read from the store at a time while draining a backlog: one query per job was a third of the
    #: print thread's CPU under load (py-spy --gil, issue 22). Each read sorts the printer's unfinished jobs
    #: (SQLite: a temporary B-tree over the whole backlog), so 32 rather than 8: 0.10 -> 0.06 ms a job with
    #: 700 waiting; a job read early and changed meanwhile still fails its claim.
    STORE_BATCH = 32

    def _enqueue(self, job: PrintJob, *, new: bool) -> JobHandle:
        def stored() -> None:
            self._notify(job)
            if self._held[job.printer]:
                with self._lock:
                    handed = self._handed[job.printer]
                    if len(handed) < self.HAND_OVER_LIMIT:
                        handed[job.id] = job.copy()
                    else:
                        self._drain[job.printer] = True  # committed: the store has it
            self._wake[job.printer].set()

        if new:
            # A store writing inside the caller's transaction calls stored() after its commit.
            self.store.add(job, then=stored)
        else:
            self.store.update(job)
            stored()
        return JobHandle(self, job.id)

    def reprint(self, job_id: str, *, printer: str | None = None) -> JobHandle:
        """Print a job again (``printer``: on that printer of this queue; default where it was printed).

        A failed job goes back in the queue as itself (fresh attempts, no
        expiry: staff asked for it now), so it leaves the failed list. A
        printed or sent job is copied into a new job that records
        ``reprint_of`` (the resident lost the ticket, or it never came out). A
        job still queued or printing is left alone and its handle returned.
        The job may come from another queue sharing the store (staff chose
        this printer). An open circuit breaker lets the reprint try at once.
        """
        job = self.store.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id}")
        if not job.finished:
            return JobHandle(self, job.id)
        target = self._printer_name(printer if printer is not None else job.printer)
        self.breakers[target].probe()
        if job.state is JobState.FAILED:
            job = replace(
                job,
                printer=target,
                state=JobState.QUEUED,
                attempts=0,
                error=None,
                error_kind=None,
                finished_at=None,
                expires_at=None,
                owner=None,
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
        """Wait at most ``timeout`` seconds for a job to finish; return it as it then is.

        Another process may be the one printing it: the store is looked at
        every ``poll_interval`` too.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            job = self.store.get(job_id)
            if job is None:
                raise KeyError(f"no job {job_id}")
            if job.finished:
                return job
            event = self._finished_events.setdefault(job_id, threading.Event())
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or event.wait(min(left, self.poll_interval)):
                break
            current = self.store.get(job_id)
            if current is not None and current.finished:
                # Finished by another process: this one's event would never be set.
                with self._lock:
                    self._finished_events.pop(job_id, None)
                return current
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
        """Ask the printer now (blocks for up to a few status timeouts; not from a web request).

        A printer that answers ready lets the next job try at once even if the
        breaker is open (paper was put in, the cable plugged back).
        """
        name = self._printer_name(printer)
        status = self.printers[name].status()
        self._last_status[name] = status
        if status.ready and status.online is Online.ONLINE:
            self.breakers[name].probe()
        return status

    # -- the workers ---------------------------------------------------------

    def _notify(self, job: PrintJob) -> None:
        for listener in list(self._listeners):
            try:
                listener(job.copy())
            except Exception:  # noqa: BLE001 - a broken listener must not stop printing
                log.exception("print job listener %r failed", listener)

    def _save(self, job: PrintJob, *, later: bool = False) -> None:
        """Store a job's change and tell waiters and listeners.

        ``later``: a printed job's outcome may wait for the worker's next
        write: the next job's claim takes it along (:meth:`JobStore.claim_after`,
        one transaction instead of two per receipt under load); the worker
        stores it before it waits, reads the store or saves anything else
        (:meth:`_flush`), so a page polling the job sees it done a moment
        later at most. A process that dies in that moment leaves the job
        ``printing``, as one that dies while sending it: staff are asked
        whether it came out, it is not printed twice.
        """
        job.updated_at = time.time()
        if job.finished:
            job.finished_at = job.updated_at
            job.owner = None
        if later:
            self._unsaved[job.printer] = job
            return
        self._flush(job.printer)  # outcomes are stored in the order they happened
        if job.finished:
            with self._lock:
                self.store.update(job)
            self._stored_finished(job)
        else:
            self.store.update(job)
            self._notify(job)

    def _stored_finished(self, job: PrintJob) -> None:
        """A finished job is in the store: wake its waiters, tell the listeners."""
        with self._lock:
            event = self._finished_events.pop(job.id, None)
        if event is not None:
            event.set()
        self._notify(job)

    def _flush(self, name: str) -> None:
        """Store the outcome of the job printer ``name`` printed last, if it waits for a claim (see :meth:`_save`)."""
        job = self._unsaved[name]
        if job is None:
            return
        self._unsaved[name] = None
        try:
            with self._lock:
                self.store.update(job)
        except KeyError:
            raise  # no longer stored (withdrawn meanwhile): nothing to keep trying
        except Exception:
            self._unsaved[name] = job  # tried again at the worker's next flush
            raise
        self._stored_finished(job)

    def _claim(self, name: str, job: PrintJob) -> PrintJob | None:
        """Claim ``job``, storing the outcome of the job printed before it in the same write."""
        finished = self._unsaved[name]
        if finished is None:
            # The job as this worker has it (stored by this process, or just read): the store need not send it back.
            return self.store.claim(job.id, self.owner, known=job)
        self._unsaved[name] = None
        try:
            # Under the lock as in _save: a waiter that read the job unfinished has its event registered.
            with self._lock:
                claimed = self.store.claim_after(finished, job.id, self.owner, known=job)
        except Exception:
            self._unsaved[name] = finished
            raise
        self._stored_finished(finished)
        return claimed

    def _fail(self, job: PrintJob, kind: str, error: str) -> None:
        job.state, job.error_kind, job.error = JobState.FAILED, kind, error
        self._save(job)

    def _work(self, name: str) -> None:
        name_os_thread(f"print-queue-{name}")
        wake = self._wake[name]
        # Jobs printed back to back share what the store opens for a write (a database connection);
        # it is given back whenever the worker waits.
        self.store.keep_between_jobs()
        try:
            while not self._stop.is_set():
                wake.clear()
                busy = False
                if self._held[name]:
                    try:
                        busy = self._step(name)
                    except Exception:  # noqa: BLE001 - the worker must survive a store failure
                        log.exception("print worker %s failed", name)
                if not busy:
                    self._flush_logged(name)  # nothing follows at once: the last outcome is stored before waiting
                    self._rest(name)
                    wake.wait(self.poll_interval)
            self._flush_logged(name)
        finally:
            self._rest(name)

    def _rest(self, name: str) -> None:
        try:
            self.store.rest()
        except Exception:  # noqa: BLE001 - what it kept is dropped either way
            log.warning("print worker %s could not give back what its store kept", name, exc_info=True)

    def _flush_logged(self, name: str) -> None:
        try:
            self._flush(name)
        except Exception:  # noqa: BLE001 - kept and tried again next time
            log.exception("print worker %s could not store a printed job's outcome", name)

    def _next_handed(self, name: str) -> PrintJob | None:
        with self._lock:
            handed = self._handed[name]
            return handed.popitem(last=False)[1] if handed else None

    def _step(self, name: str) -> bool:
        """Deal with the next job: one handed over by this process, else the printer's oldest unfinished.

        A job this process stored comes with its receipt in memory, so the
        worker goes straight to claiming it. The store is still looked at
        every ``poll_interval`` even while such jobs keep coming: jobs other
        processes stored, and ones left from before a restart, are found there;
        once one such job is found, the store is read job after job (oldest
        first) until it has none that were not handed over.
        A handed job the store no longer has queued (printed meanwhile from the
        store, withdrawn) fails its claim and is skipped.
        """
        now = time.monotonic()
        if not self._drain[name] and now - self._looked[name] < self.poll_interval:
            job = self._next_handed(name)
            if job is None:
                return False  # the store was looked at a moment ago: next time the poll comes round
            if self._stop.is_set() or not self._held[name]:
                return False
            self._print(name, job)
            return True
        self._looked[name] = now
        draining = self._drain[name]
        # Cleared before the look: a job whose commit sets it again after this is found by the next look.
        self._drain[name] = False
        found = self._found[name]
        if not draining:
            found.clear()  # a poll reads afresh; only a drain goes on through what the last read found
        if not found:
            # The store must not show the job printed last as still printing (it would be taken for interrupted).
            self._flush(name)
            # Only the oldest few: with hundreds queued, loading them all (receipts and all) per job adds up.
            # One read in the same process may be stale by the time its job comes up: claim() refuses a job
            # printed or changed meanwhile, and expiry is checked before printing.
            found.extend(self.store.list_unfinished(name, limit=self.STORE_BATCH))
        if found:
            job = found.popleft()
            if self._stop.is_set() or not self._held[name]:
                found.clear()
                return False
            with self._lock:
                was_handed = self._handed[name].pop(job.id, None) is not None
            # One that was never handed over: there may be more behind it, so look again at once; but
            # not at the same job again if printing it left it unfinished (its claim failed): that one
            # waits for the poll. A handed-over one says nothing of the store's backlog. Jobs left of
            # the last read are dealt with first.
            self._drain[name] = bool(found) or (not was_handed and job.id != self._last_found[name])
            self._last_found[name] = job.id
            if job.state is JobState.PRINTING:
                # Its sender died mid-job (this thread prints one job at a time and is
                # not printing it). Sending it again could print the ticket twice.
                log.warning("job %s was being printed by %s when it stopped; left for staff", job.id, job.owner)
                self._fail(
                    job,
                    "interrupted",
                    "printing was interrupted (the process sending it stopped): it may have printed; "
                    "reprint it if the resident did not get it",
                )
                return True
            self._print(name, job)
            return True
        # Nothing unfinished in the store: what is still handed over was committed after the read, or is a stale
        # copy of a job printed meanwhile (its claim fails). Left there, it would wait for a wake-up within a
        # poll interval of a look, which an idle printer may not get: every idle poll looks at the store.
        job = self._next_handed(name)
        if job is None or self._stop.is_set() or not self._held[name]:
            return False
        self._print(name, job)
        return True

    def _retry_delay(self, attempts: int) -> float:
        return min(self.retry_delay * self.retry_backoff ** max(0, attempts - 1), self.max_retry_delay)

    def _print(self, name: str, job: PrintJob) -> None:
        printer = self.printers[name]
        breaker = self.breakers[name]
        while True:
            if job.expired():
                log.info("job %s (%s) expired before it could print; left for staff", job.id, job.label)
                self._fail(job, "expired", "not printed: it was no longer wanted by the time the printer could take it")
                return
            mode = breaker.mode()
            if mode == "open":
                self._fail(
                    job,
                    "out_of_service",
                    f"not tried: the printer failed {breaker.failures} times in a row (last: {breaker.last_error})",
                )
                return
            claimed = self._claim(name, job)
            if claimed is None:
                return  # another queue took it, or staff changed it meanwhile
            job = claimed
            self._notify(job)
            try:
                result = printer.print_receipt(job.receipt, job_id=job.id)
            except PrinterError as exc:
                breaker.failure(exc)
                job.error, job.error_kind = str(exc), exc.kind
                self._last_status[name] = _status_after(exc)
                if exc.retryable and job.attempts < job.max_attempts and breaker.mode() == "closed":
                    job.state, job.owner = JobState.QUEUED, None
                    self._save(job)
                    log.warning("job %s attempt %d on %s: %s; retrying", job.id, job.attempts, name, exc)
                    if self._stop.wait(self._retry_delay(job.attempts)):
                        return  # shutting down; the job stays queued for whoever drives the printer next
                    again = self.store.get(job.id)
                    if again is None or again.state is not JobState.QUEUED:
                        return
                    job = again
                    continue
                log.error("job %s failed on %s after %d attempts: %s", job.id, name, job.attempts, exc)
                job.state = JobState.FAILED
                self._save(job)
                return
            except Exception as exc:  # noqa: BLE001 - a receipt that cannot be rendered
                log.exception("job %s cannot be printed", job.id)
                self._fail(job, "invalid", f"{type(exc).__name__}: {exc}")
                return
            breaker.success()
            job.error, job.error_kind, job.note = None, None, result.note
            if result.confirmed:
                job.state = JobState.DONE
            else:
                # Every byte went out, but nothing says the printer has them.
                job.state = JobState.SENT
                if result.queried:
                    job.error_kind = "unconfirmed"
                    job.error = f"sent, but the printer did not confirm it ({result.note or 'no status reply'})"
            if result.after is not None:
                self._last_status[name] = result.after
            self._save(job, later=True)
            return
