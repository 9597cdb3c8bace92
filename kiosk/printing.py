"""Printing receipts: layouts from plugins, a queue that never blocks a request.

A plugin registers layouts (``register_receipt_layouts``) and calls
:func:`print_receipt`, which builds the receipt, lets every plugin decorate it,
and hands it to :class:`kiosk_hardware.print_queue.PrintQueue`. That returns at
once; a worker thread renders and sends the bytes, retrying a bounded number
of times. Jobs live in the ``print_job`` table (:class:`DbJobStore`), so a
failed job stays for staff to reprint and an unfinished one resumes after a
restart. A kiosk page asks ``GET /print-jobs/<id>`` whether its receipt came out.
Printing inside a :func:`kiosk.db.write_transaction` block stores the job in
that block's transaction; the queue's worker is woken after the commit
(:func:`kiosk.db.after_commit`), so it never looks for a job not committed yet, and a
block that rolls back leaves no job.

A station with several terminals has a printer per terminal
(``[terminals.<name>.printer]``, see :mod:`kiosk.devices`): a receipt prints at
the printer of the terminal it was taken at (:func:`kiosk.terminals.current_terminal`),
else at the station's default printer (``[devices.printer]``). The station node
drives each printer it can reach (network printers, its own USB or serial
ones) with a queue of its own; the jobs of a printer behind a ``kiosk agent``
wait in ``print_job`` until that agent takes them (:mod:`kiosk.agent`).

A station node may run several processes (gunicorn workers, or servers on one
database). Each builds the same queues, but only the process holding a
printer's lease (the ``printer_lease`` table, renewed as a heartbeat) sends
that printer's jobs, taking each with an atomic claim: a ticket prints once
whichever process took the request and whatever restarts (see
:mod:`kiosk_hardware.print_queue`).

A job is ``done`` only when the printer confirmed it; ``sent`` when the bytes
went out but the printer never answered; both are final. A receipt expires
(:data:`DEFAULT_EXPIRE_SECONDS`, ``PRINT_EXPIRE_AFTER`` per layout, or
``expire_after`` of :func:`print_receipt`): one
the printer could not take in time is failed, not printed at an empty kiosk.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import cast

from flask import Blueprint, abort, current_app, has_app_context, has_request_context, jsonify
from sqlalchemy import Table, and_, bindparam, case, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError

from kiosk.config import ConfigError
from kiosk.db import (
    _joinable_write_session,
    after_commit,
    get_session,
    joins_write_transaction,
    release_read_connection,
    write_transaction,
)
from kiosk.i18n import N_, _
from kiosk.models import PrinterLease
from kiosk.models import PrintJob as PrintJobRow
from kiosk_hardware.errors import PrinterConfigError
from kiosk_hardware.job_store import JobState, JobStore
from kiosk_hardware.job_store import PrintJob as HwJob
from kiosk_hardware.print_queue import PrintQueue, new_owner
from kiosk_hardware.printers import printer_from_config
from kiosk_hardware.receipt import Receipt

__all__ = [
    "print_receipt",
    "build_receipt",
    "submit",
    "job_state",
    "wait_for",
]

log = logging.getLogger("kiosk.printing")

bp = Blueprint("printing", __name__)

STATUS_POLL_SECONDS = 30
#: While a printer this process drives cannot print (paper out, cover open, unplugged), it is asked this
#: often instead: staff who put the paper in see the fault banner go, and the printer take the next
#: receipt, within seconds rather than up to half a minute later.
FAULT_POLL_SECONDS = 5
#: Seconds the first status check waits for :meth:`Printing.warm` (after the first response): it imports
#: python-escpos (some 135 modules), which would otherwise compete with a booting kiosk's first page.
FIRST_STATUS_WAIT = 2.0
#: A receipt not printed within this many seconds is not printed at all: the resident was told it failed and left.
DEFAULT_EXPIRE_SECONDS = 300
#: The printer test page: ``kiosk printer test`` waits for it, nobody wants it at the next start.
TEST_PAGE_EXPIRE_SECONDS = 60
#: The label of the printer test page's jobs.
TEST_PAGE_LABEL = "kiosk.test_page"
#: How long a process's lease on a printer lasts unrenewed (a dead process's printer is taken over after it).
LEASE_SECONDS = 15.0
#: How often the lease holder looks for jobs other processes stored.
POLL_SECONDS = 0.5
QUEUE_KEYS = ("max_attempts", "retry_delay", "poll_status")
STATE_LABELS = {
    "ok": N_("Printer ready"),
    "warning": N_("Paper is running low"),
    "error": N_("Printer fault"),
    "unknown": N_("Printer state unknown"),
}


def _ts(value: float | None):
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _epoch(value) -> float | None:
    return value.timestamp() if value is not None else None


_JOBS = cast(Table, PrintJobRow.__table__)
#: The print path's statements, built once (a statement built per call costs more CPU than SQLite running it).
_INSERT = _JOBS.insert()
_UPDATE = (
    _JOBS.update()
    .where(_JOBS.c.id == bindparam("job_id"))
    .values(
        printer=bindparam("v_printer"),
        lease_owner=bindparam("v_owner"),
        lease_until=None,
        expires_at=bindparam("v_expires"),
        state=bindparam("v_state"),
        attempts=bindparam("v_attempts"),
        max_attempts=bindparam("v_max"),
        error=bindparam("v_error"),
        error_kind=bindparam("v_kind"),
        note=bindparam("v_note"),
        updated_at=bindparam("v_updated"),
        finished_at=bindparam("v_finished"),
    )
)
#: A printer's oldest unfinished jobs (what its queue works through), read as plain rows: loading them as ORM
#: objects cost more than the rest of the read (0.15 -> 0.0x ms a job while a backlog of 700 drains).
_UNFINISHED = (
    select(_JOBS)
    .where(
        _JOBS.c.station_id == bindparam("station"),
        _JOBS.c.printer == bindparam("printer"),
        _JOBS.c.state.in_(("queued", "printing")),
    )
    .order_by(_JOBS.c.created_at, _JOBS.c.id)
    .limit(bindparam("limit"))
)
_CLAIM = (
    _JOBS.update()
    .where(
        _JOBS.c.id == bindparam("job_id"),
        _JOBS.c.station_id == bindparam("station"),
        _JOBS.c.state == "queued",
        _JOBS.c.attempts == bindparam("known_attempts"),
    )
    .values(
        state="printing",
        attempts=_JOBS.c.attempts + 1,
        lease_owner=bindparam("v_owner"),
        lease_until=None,
        updated_at=bindparam("v_updated"),
    )
)


def _done_then_claim():
    """One UPDATE for a worker's two writes: the printed job's outcome (``done_id``) and the next job's claim.

    The claim's row matches only while it is queued with the attempts the
    worker knows (as :data:`_CLAIM`); each column takes the outcome's value
    on the printed job's row and the claim's (or its own) on the other.
    ``RETURNING id`` tells which rows it changed. One statement instead of
    two: SQLAlchemy's work around each was a third of the print thread's
    Python calls per receipt (bench.core_cpu --profile).
    """
    c = _JOBS.c
    done = c.id == bindparam("done_id")

    def outcome(column, name: str):
        """The outcome's value on the printed job's row; the other row keeps its own."""
        return case((done, bindparam(name, type_=column.type)), else_=column)

    return (
        _JOBS.update()
        .where(
            or_(
                done,
                and_(
                    c.id == bindparam("job_id"),
                    c.station_id == bindparam("station"),
                    c.state == "queued",
                    c.attempts == bindparam("known_attempts"),
                ),
            )
        )
        .values(
            printer=outcome(c.printer, "v_printer"),
            lease_owner=case((done, bindparam("v_owner", type_=c.lease_owner.type)), else_=bindparam("c_owner")),
            lease_until=None,
            expires_at=outcome(c.expires_at, "v_expires"),
            state=case((done, bindparam("v_state", type_=c.state.type)), else_="printing"),
            attempts=case((done, bindparam("v_attempts", type_=c.attempts.type)), else_=c.attempts + 1),
            max_attempts=outcome(c.max_attempts, "v_max"),
            error=outcome(c.error, "v_error"),
            error_kind=outcome(c.error_kind, "v_kind"),
            note=outcome(c.note, "v_note"),
            updated_at=case(
                (done, bindparam("v_updated", type_=c.updated_at.type)),
                else_=bindparam("c_updated", type_=c.updated_at.type),
            ),
            finished_at=outcome(c.finished_at, "v_finished"),
        )
        .returning(c.id)
    )


_DONE_THEN_CLAIM = _done_then_claim()


class DbJobStore(JobStore):
    """The print queue's jobs in the ``print_job`` table of one station.

    ``printer``: the one printer whose queue this store serves; its unfinished
    jobs are the ones that queue resumes (each printer has its own queue).
    """

    def __init__(self, db, station_id: int, printer: str | None = None):
        self.db = db
        self.station_id = station_id
        self.printer = printer
        #: Per thread: whether it is a print worker keeping its connection between jobs, and that connection.
        self._kept = threading.local()

    def keep_between_jobs(self) -> None:
        """The calling print worker's writes share one connection until :meth:`rest` (see :meth:`_begin`)."""
        self._kept.keep = True

    def rest(self) -> None:
        """Give the calling worker's connection back to the pool (it waits: requests may want it)."""
        conn, self._kept.conn = getattr(self._kept, "conn", None), None
        if conn is not None:
            conn.close()

    @contextmanager
    def _begin(self) -> Iterator:
        """A write transaction: on the calling print worker's kept connection, else on a connection of its own.

        A worker printing a backlog writes once or twice a receipt; checking a
        connection out of the pool and back in (and, on PostgreSQL, the pool's
        ping) for each was a third of what SQLAlchemy did around those writes.
        The connection is kept only while the worker has jobs one after the
        other (:meth:`rest`, called before it waits), and dropped after any
        failure (a connection the database closed is not tried again).
        """
        if not getattr(self._kept, "keep", False):
            with self.db.engine.begin() as conn:
                yield conn
            return
        conn = getattr(self._kept, "conn", None)
        if conn is None:
            conn = self._kept.conn = self.db.engine.connect()
        try:
            with conn.begin():
                yield conn
        except BaseException:
            self.rest()
            raise

    def _row(self, job: HwJob) -> dict:
        """The job's row, column by column, for one INSERT."""
        return {
            "id": job.id,
            "station_id": self.station_id,
            "printer": job.printer,
            "layout": job.label,
            "terminal": job.terminal,
            "receipt": job.receipt.to_dict(),
            "state": job.state.value,
            "attempts": job.attempts,
            "max_attempts": job.max_attempts,
            "error": job.error,
            "error_kind": job.error_kind,
            "note": job.note or "",
            "reprint_of": job.reprint_of,
            "created_at": _ts(job.created_at),
            "updated_at": _ts(job.updated_at),
            "finished_at": _ts(job.finished_at),
            "expires_at": _ts(job.expires_at),
            "lease_owner": job.owner,
        }

    @staticmethod
    def _from_row(row) -> HwJob:
        """A job from its row: an ORM object or a plain row of the table (both have the columns by name)."""
        return HwJob(
            receipt=Receipt.from_dict(row.receipt),
            printer=row.printer,
            label=row.layout,
            id=row.id,
            state=JobState(row.state),
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            error=row.error,
            error_kind=row.error_kind,
            note=row.note or "",
            created_at=_epoch(row.created_at),
            updated_at=_epoch(row.updated_at),
            finished_at=_epoch(row.finished_at),
            reprint_of=row.reprint_of,
            terminal=row.terminal,
            expires_at=_epoch(row.expires_at),
            owner=row.lease_owner,
        )

    def add(self, job: HwJob, then: Callable[[], None] | None = None) -> None:
        """Insert the job's row; ``then()`` once it is committed.

        Inside a :func:`kiosk.db.write_transaction` block (a ticket and its
        receipt in one transaction) the row is part of that block and
        ``then`` waits for its commit (nothing at all on a rollback); in a
        request that already wrote, the job is committed with what it prints;
        otherwise in a transaction of its own. One Core INSERT: the row is
        never loaded as an object.
        """
        values = self._row(job)
        ours = has_app_context() and current_app.extensions.get("db") is self.db
        outer, request_session = _joinable_write_session() if ours else (None, False)
        if outer is not None:
            # Joins the enclosing block, or a request that already wrote (its ticket,
            # say), rather than waiting on a second connection for that request's own lock.
            # Otherwise the row goes in on a connection of its own, without an ORM session
            # (a third of the request's CPU for a receipt was the session's bookkeeping).
            if not request_session and outer.get_bind().dialect.name == "sqlite":
                # Inside an enclosing write_transaction() block (a ticket and its receipt) on
                # SQLite: one INSERT applies whole or not at all (SQLite undoes a failed statement
                # by itself), so the joined block's savepoint would only add two statements to
                # every ticket. PostgreSQL aborts the transaction on a failed statement: the
                # savepoint keeps the ticket there.
                outer.execute(_INSERT, values)
                if then is not None:
                    after_commit(outer, then)
                return
            with write_transaction() as session:
                session.execute(_INSERT, values)
                if then is not None:
                    after_commit(session, then)
            return
        with self.db.engine.begin() as conn:
            conn.execute(_INSERT, values)
        if then is not None:
            then()

    def update(self, job: HwJob) -> None:
        # One UPDATE of what a job's progress changes: its receipt, printer and
        # layout are written once, by add() (this runs twice or more per receipt).
        # A Core statement built once: the print worker runs it for every receipt.
        with self._begin() as conn:
            self._update(conn, job)

    @staticmethod
    def _outcome(job: HwJob) -> dict:
        """The values of :data:`_UPDATE` (and of the outcome in :data:`_DONE_THEN_CLAIM`) for ``job``."""
        return {
            "v_printer": job.printer,  # staff may reprint a failed job on another terminal's printer
            "v_owner": job.owner if job.state is JobState.PRINTING else None,
            "v_expires": _ts(job.expires_at),
            "v_state": job.state.value,
            "v_attempts": job.attempts,
            "v_max": job.max_attempts,
            "v_error": job.error,
            "v_kind": job.error_kind,
            "v_note": job.note or "",
            "v_updated": _ts(job.updated_at),
            "v_finished": _ts(job.finished_at),
        }

    @classmethod
    def _update(cls, conn, job: HwJob) -> None:
        values = cls._outcome(job)
        values["job_id"] = job.id
        result = conn.execute(_UPDATE, values)
        if result.rowcount == 0:
            raise KeyError(job.id)

    def claim_after(self, finished: HwJob, job_id: str, owner: str, known: HwJob | None = None) -> HwJob | None:
        """The printed job's outcome and the next job's claim in one transaction (see :meth:`JobStore.claim_after`).

        Two statements, one commit: a print worker working through a backlog
        writes once per receipt instead of twice (the two write transactions
        were over half of its CPU per receipt, py-spy --gil, issue 22). A
        claim that fails (another queue took the job) still commits the outcome.
        """
        if known is None:
            return super().claim_after(finished, job_id, owner, known)
        now = time.time()
        with self._begin() as conn:
            if not conn.dialect.update_returning:
                self._update(conn, finished)
                return self._claim_known(conn, job_id, owner, known, now)
            values = self._outcome(finished)
            values.update(
                done_id=finished.id,
                job_id=job_id,
                station=self.station_id,
                known_attempts=known.attempts,
                c_owner=owner,
                c_updated=_ts(now),
            )
            changed = set(conn.execute(_DONE_THEN_CLAIM, values).scalars())
            if finished.id not in changed:
                raise KeyError(finished.id)  # rolled back, the claim with it: as _update() in the same transaction
        if job_id not in changed or job_id == finished.id:
            return None
        return self._claimed(known, owner, now)

    def _claim_known(self, conn, job_id: str, owner: str, known: HwJob, now: float) -> HwJob | None:
        result = conn.execute(
            _CLAIM,
            {
                "job_id": job_id,
                "station": self.station_id,
                "known_attempts": known.attempts,
                "v_owner": owner,
                "v_updated": _ts(now),
            },
        )
        if result.rowcount != 1:
            return None
        return self._claimed(known, owner, now)

    @staticmethod
    def _claimed(known: HwJob, owner: str, now: float) -> HwJob:
        """The job as a successful claim left it (nothing read back)."""
        claimed = known.copy()
        claimed.state, claimed.attempts, claimed.owner, claimed.updated_at = (
            JobState.PRINTING,
            known.attempts + 1,
            owner,
            now,
        )
        return claimed

    def get(self, job_id: str) -> HwJob | None:
        with self.db.Session() as session:
            row = session.get(PrintJobRow, job_id)
            return self._from_row(row) if row is not None else None

    def _list(self, query, limit: int | None = None) -> list[HwJob]:
        with self.db.Session() as session:
            if limit:
                query = query.limit(limit)
            return [self._from_row(r) for r in session.scalars(query)]

    def list_failed(self, printer: str | None = None, limit: int = 100) -> list[HwJob]:
        query = select(PrintJobRow).where(PrintJobRow.station_id == self.station_id, PrintJobRow.state == "failed")
        if printer:
            query = query.where(PrintJobRow.printer == printer)
        return self._list(query.order_by(PrintJobRow.created_at.desc()), limit)

    def list_unfinished(self, printer: str | None = None, limit: int | None = None) -> list[HwJob]:
        printer = printer if printer is not None else self.printer
        if printer is not None and limit:
            # A print worker's read (one printer, a few jobs): a statement built once, rows not loaded as objects.
            with self.db.engine.connect() as conn:
                rows = conn.execute(_UNFINISHED, {"station": self.station_id, "printer": printer, "limit": limit})
                return [self._from_row(row) for row in rows]
        query = select(PrintJobRow).where(
            PrintJobRow.station_id == self.station_id, PrintJobRow.state.in_(("queued", "printing"))
        )
        if printer is not None:
            query = query.where(PrintJobRow.printer == printer)
        return self._list(query.order_by(PrintJobRow.created_at, PrintJobRow.id), limit)

    def claim(self, job_id: str, owner: str, known: HwJob | None = None) -> HwJob | None:
        """Queued to printing for ``owner`` in one conditional UPDATE: of two claimers one wins, on any database.

        With ``known`` (the job as the print worker has it) nothing is read:
        the UPDATE also requires the attempts it knows, and the job comes back
        from memory.
        """
        from kiosk.db import utcnow

        if known is not None:
            with self._begin() as conn:
                return self._claim_known(conn, job_id, owner, known, time.time())
        statement = (
            sql_update(PrintJobRow)
            .where(PrintJobRow.id == job_id, PrintJobRow.station_id == self.station_id, PrintJobRow.state == "queued")
            .values(
                state="printing",
                attempts=PrintJobRow.attempts + 1,
                lease_owner=owner,
                lease_until=None,
                updated_at=utcnow(),
            )
        )
        with self.db.WriteSession() as session:
            if session.get_bind().dialect.update_returning:
                # The claimed row comes back with the UPDATE: no second query per receipt.
                row = session.scalars(
                    statement.returning(PrintJobRow).execution_options(synchronize_session=False)
                ).one_or_none()
                if row is None:
                    session.rollback()
                    return None
                job = self._from_row(row)
                session.commit()
                return job
            result = session.execute(statement)
            if result.rowcount != 1:
                session.rollback()
                return None
            session.commit()
        return self.get(job_id)

    def hold_printer(self, printer: str, owner: str, seconds: float) -> bool:
        """Take or renew ``printer``'s lease (see :class:`kiosk.models.PrinterLease`); False while another holds it."""
        from kiosk.db import utcnow

        now = utcnow()
        key = (PrinterLease.station_id == self.station_id, PrinterLease.printer == printer)
        with self.db.Session() as session:
            row = session.execute(select(PrinterLease.owner, PrinterLease.lease_until).where(*key)).first()
        if row is not None and row.owner not in (None, owner) and row.lease_until is not None and row.lease_until > now:
            return False  # a plain read: the other processes look every few seconds without taking the write lock
        until = now + timedelta(seconds=seconds)
        with self.db.WriteSession() as session:
            if row is None:
                try:
                    session.add(
                        PrinterLease(
                            station_id=self.station_id, printer=printer, owner=owner, lease_until=until, taken_at=now
                        )
                    )
                    session.commit()
                    return True
                except IntegrityError:
                    return False  # another process made the row at the same moment: it has the printer
            values: dict = {"owner": owner, "lease_until": until}
            if row.owner != owner:
                values["taken_at"] = now
            # Conditional, so of two processes seeing a lapsed lease only one takes it.
            result = session.execute(
                sql_update(PrinterLease)
                .where(
                    *key,
                    (PrinterLease.owner == owner)
                    | PrinterLease.owner.is_(None)
                    | PrinterLease.lease_until.is_(None)
                    | (PrinterLease.lease_until <= now),
                )
                .values(**values)
            )
            session.commit()
            return result.rowcount == 1

    def release_printer(self, printer: str, owner: str) -> None:
        with self.db.WriteSession() as session:
            session.execute(
                sql_update(PrinterLease)
                .where(
                    PrinterLease.station_id == self.station_id,
                    PrinterLease.printer == printer,
                    PrinterLease.owner == owner,
                )
                .values(owner=None, lease_until=None)
            )
            session.commit()

    def list_recent(self, limit: int = 50) -> list[HwJob]:
        query = select(PrintJobRow).where(PrintJobRow.station_id == self.station_id)
        return self._list(query.order_by(PrintJobRow.created_at.desc()), limit)


def _split(cfg: dict) -> tuple[dict, dict]:
    """A printer table's device keys and its queue's keys."""
    cfg = dict(cfg)
    queue_cfg = {key: cfg.pop(key) for key in QUEUE_KEYS if key in cfg}
    return cfg, queue_cfg


class Printing:
    """The station's printers and their print queues (``app.extensions["kiosk_printing"]``).

    ``printers``/``queues``: one per printer this node drives, ``default``
    (``[devices.printer]``) and each terminal's own (by the terminal's name);
    ``agent_printers``: the printer tables of terminals whose ``kiosk agent``
    drives their printer. ``printer``/``queue``/``profile`` are the default's.
    """

    def __init__(self, app):
        from kiosk.device_config import check_printer_profile, terminal_tables

        self.app = app
        self.terminals = terminal_tables(app.config)
        cfg = dict(app.config["DEVICES"].get("printer") or {"type": "preview"})
        if cfg.get("type", "preview") == "preview":
            cfg.setdefault("folder", os.path.join(app.instance_path, "receipts"))
        tables: dict[str, tuple[str, dict]] = {"default": ("devices.printer", cfg)}
        self.agent_printers: dict[str, dict] = {}
        for name, table in self.terminals.items():
            if table.printer is None:
                continue
            if table.agent:
                self.agent_printers[name] = _split(table.printer)[0]
                continue
            tcfg = dict(table.printer)
            if tcfg.get("type") == "preview":
                tcfg.setdefault("folder", os.path.join(app.instance_path, "receipts", name))
            tables[name] = (f"terminals.{name}.printer", tcfg)
        self.printers: dict = {}
        self.queues: dict[str, PrintQueue] = {}
        self.profiles: dict[str, object] = {}
        self.configs: dict[str, dict] = {}
        self.poll = True
        #: This process's name in printer leases and job claims.
        self.owner = new_owner()
        db, station_id = app.extensions["db"], app.extensions["kiosk_station_id"]
        for name, (where, table_cfg) in tables.items():
            # The queue's own settings; the rest describes the device.
            device_cfg, queue_cfg = _split(table_cfg)
            try:
                printer = printer_from_config(device_cfg)
            except PrinterConfigError as exc:
                raise ConfigError(f"[{where}]: {exc}") from exc
            self.printers[name] = printer
            self.configs[name] = device_cfg
            # What the printer is built with (a `model`'s width, a profile name): the preview matches the paper.
            self.profiles[name] = printer.profile
            self.queues[name] = PrintQueue(
                {name: printer},
                DbJobStore(db, station_id, printer=name),
                max_attempts=int(queue_cfg.get("max_attempts", 3)),
                retry_delay=float(queue_cfg.get("retry_delay", 1.0)),
                owner=self.owner,
                lease_seconds=float(app.config.get("PRINT_LEASE_SECONDS", LEASE_SECONDS)),
                poll_interval=POLL_SECONDS,
            )
            if name == "default":
                self.poll = bool(queue_cfg.get("poll_status", True))
        for name, acfg in self.agent_printers.items():
            self.profiles[name] = check_printer_profile(f"terminals.{name}.printer", acfg)
        self.config = self.configs["default"]
        self.profile = self.profiles["default"]
        self.printer = self.printers["default"]
        self.queue = self.queues["default"]
        self.store = DbJobStore(db, station_id)
        #: Notified when a job for an agent's printer is added: its long poll answers at once.
        self.agent_jobs = threading.Condition()
        self._stop = threading.Event()
        #: Set once the renderer and the printer's library are loaded (:meth:`warm`).
        self._warmed = threading.Event()
        self._started = False

    def start(self) -> None:
        """Start the queues' workers (resuming unfinished jobs) and the status poller."""
        if self._started or self.app.config.get("ROLE") == "hub":
            return  # the hub has no printer: receipts come out at stations
        self._started = True
        if joins_write_transaction():
            # The first receipt of a process that starts printing lazily (tests, commands), inside a ticket's
            # write transaction: taking the printers' leases writes on another connection, which on SQLite
            # would wait for this thread's own lock. Started beside it instead: the lease is taken once the
            # ticket commits, and the worker then finds the job in the store.
            threading.Thread(target=self._start, name="kiosk-printing-start", daemon=True).start()
            return
        self._start()

    def _start(self) -> None:
        for queue in self.queues.values():
            queue.start()
        # A process that ends without shutdown() (the CLI, a worker told to exit)
        # gives its printers' leases up, so the server takes over at once.
        atexit.register(_shutdown_at_exit, weakref.ref(self))
        self._fail_orphans()
        if self.poll or self.agent_printers:
            threading.Thread(target=self._poll_status, daemon=True, name="kiosk-printer-status").start()

    def _fail_orphans(self) -> None:
        """Fail the unfinished jobs of a printer the station file no longer has: staff see them and reprint them."""
        from kiosk.db import utcnow

        known = set(self.queues) | set(self.agent_printers)
        now = utcnow()
        where = (
            PrintJobRow.station_id == self.store.station_id,
            PrintJobRow.state.in_(("queued", "printing")),
            PrintJobRow.printer.not_in(known),
        )
        try:
            with self.app.extensions["db"].Session() as session:
                orphans = session.scalars(select(PrintJobRow.printer).where(*where).distinct()).all()
            if not orphans:
                return
            with self.app.extensions["db"].WriteSession() as session:
                for name in orphans:
                    session.execute(
                        sql_update(PrintJobRow)
                        .where(*where, PrintJobRow.printer == name)
                        .values(
                            state="failed",
                            error=f"printer {name} is no longer in the station file: reprint it on another",
                            error_kind="config",
                            lease_owner=None,
                            lease_until=None,
                            updated_at=now,
                            finished_at=now,
                        )
                    )
                    log.warning("print jobs for printer %r, gone from the station file, are left for staff", name)
                session.commit()
        except Exception as exc:  # a start must not fail over this
            log.warning("could not look for print jobs of removed printers: %s", exc)

    def warm(self) -> None:
        """Load the renderer and the printer's library and check the font: the first receipt need not wait.

        Run after the server's first response (:mod:`kiosk.warmup`): Pillow,
        the barcode libraries and the font files are not needed to show the
        home screen.
        """
        from kiosk_hardware import escpos_encode  # noqa: F401  (the encoder; Pillow only where it draws)

        for printer in self.printers.values():
            printer.prepare()
        if any(not printer.profile.text_mode for printer in self.printers.values()):
            # Only a raster profile draws every receipt with our font, so only then is Pillow loaded
            # ahead of the first job. Text-mode printers use their own font (ours only for a character
            # the printer lacks, or a preview): their workers need not map Pillow and FreeType
            # (issue 22: memory). `kiosk doctor` checks the font either way.
            from kiosk_hardware import render  # noqa: F401
            from kiosk_hardware.fonts import cjk_font_check

            font = cjk_font_check()
            if not font.ok:
                log.warning("%s", font.message)
        self._warmed.set()

    def _poll_status(self) -> None:
        # Status queries can take seconds on a dead printer: never on a request.
        if self.poll:
            self._warmed.wait(FIRST_STATUS_WAIT)
        while not self._stop.is_set():
            faulted = False
            if self.poll:
                for name, queue in self.queues.items():
                    if not queue.holds(name):
                        continue  # another process drives this printer: one connection at a time
                    try:
                        faulted = not queue.check_status().ready or faulted
                    except Exception as exc:
                        faulted = True
                        log.warning("printer %s status check failed: %s", name, exc)
            if self.agent_printers:
                try:
                    expire_agent_jobs(self.app)
                except Exception as exc:
                    log.warning("could not look for print jobs no agent took: %s", exc)
            self._stop.wait(FAULT_POLL_SECONDS if faulted else STATUS_POLL_SECONDS)

    def expire_after(self, layout: str) -> float | None:
        """Seconds a receipt of ``layout`` stays worth printing (None: always).

        ``PRINT_EXPIRE_AFTER`` in the app's config is a number for every
        layout or ``{layout: seconds, "*": seconds}``; 0 or a negative number
        means never expire. Default: :data:`DEFAULT_EXPIRE_SECONDS`; the
        printer test page :data:`TEST_PAGE_EXPIRE_SECONDS`.
        """
        if layout == TEST_PAGE_LABEL:
            return TEST_PAGE_EXPIRE_SECONDS
        setting = self.app.config.get("PRINT_EXPIRE_AFTER", DEFAULT_EXPIRE_SECONDS)
        if isinstance(setting, dict):
            setting = setting.get(layout, setting.get("*", DEFAULT_EXPIRE_SECONDS))
        try:
            seconds = float(setting)
        except (TypeError, ValueError):
            log.warning("PRINT_EXPIRE_AFTER for %s is not a number of seconds: %r", layout, setting)
            seconds = DEFAULT_EXPIRE_SECONDS
        return seconds if seconds > 0 else None

    def printer_name_for(self, terminal: str | None) -> str:
        """The printer a receipt taken at ``terminal`` prints on: the terminal's own, else the default."""
        if terminal is not None and (terminal in self.queues or terminal in self.agent_printers):
            return terminal
        return "default"

    def notify_agents(self) -> None:
        with self.agent_jobs:
            self.agent_jobs.notify_all()

    def shutdown(self) -> None:
        self._stop.set()
        self.notify_agents()
        if self._started:
            for queue in self.queues.values():
                queue.stop(timeout=2.0)
            self._started = False


def _shutdown_at_exit(ref: weakref.ref) -> None:
    printing = ref()
    if printing is not None:
        printing.shutdown()


#: A job for an agent's printer that no agent took within this long fails: its resident has gone, staff reprint it.
AGENT_PICKUP_SECONDS = 120


def expire_agent_jobs(app, now: datetime | None = None) -> int:
    """Fail the agent printers' jobs that no agent took in time; returns how many.

    A queued job nobody leased for :data:`AGENT_PICKUP_SECONDS` (the
    terminal's agent is not connected), or one whose agent stopped while
    printing it and did not come back as long, goes to the staff's list of
    receipts that did not print, instead of printing hours later at an empty
    kiosk.
    """
    from datetime import timedelta

    from sqlalchemy import and_, or_

    from kiosk.db import utcnow

    printing = _printing(app)
    if not printing.agent_printers:
        return 0
    now = now or utcnow()
    cutoff = now - timedelta(seconds=AGENT_PICKUP_SECONDS)
    where = (
        PrintJobRow.station_id == printing.store.station_id,
        PrintJobRow.printer.in_(list(printing.agent_printers)),
        or_(
            and_(
                PrintJobRow.state == "queued",
                PrintJobRow.updated_at < cutoff,
                or_(PrintJobRow.lease_until.is_(None), PrintJobRow.lease_until < cutoff),
            ),
            and_(PrintJobRow.state == "printing", PrintJobRow.lease_until < cutoff),
            and_(PrintJobRow.state == "queued", PrintJobRow.expires_at < now),
        ),
    )
    db = app.extensions["db"]
    with db.Session() as session:
        due = session.scalars(select(PrintJobRow.id).where(*where)).all()
    if not due:
        return 0
    with db.WriteSession() as session:
        result = session.execute(
            sql_update(PrintJobRow)
            .where(PrintJobRow.id.in_(due), *where)
            .values(
                state="failed",
                error="the terminal's kiosk agent did not print it in time (is it running and connected?)",
                error_kind="unreachable",
                lease_owner=None,
                lease_until=None,
                updated_at=now,
                finished_at=now,
            )
        )
        session.commit()
    count = result.rowcount or 0
    if count:
        log.warning("%d print job(s) for agent printers were not taken in time: left for staff to reprint", count)
    return count


def _printing(app=None) -> Printing:
    return (app or current_app).extensions["kiosk_printing"]


def build_receipt(layout: str, context: dict, station=None) -> Receipt:
    """Build a receipt from a registered layout and let plugins decorate it."""
    plugins = current_app.extensions["kiosk_plugins"]
    if layout not in plugins.receipt_layouts:
        raise KeyError(f"no receipt layout named {layout!r}")
    _owner, build = plugins.receipt_layouts[layout]
    receipt = build(context)
    if not isinstance(receipt, Receipt):
        raise TypeError(f"receipt layout {layout} returned {type(receipt).__name__}, not a Receipt")
    if station is None:
        from kiosk.stations import current_station

        station = current_station()
    plugins.call("decorate_receipt", receipt=receipt, layout=layout, station=station)
    return receipt


def print_receipt(
    layout: str, context: dict, *, station=None, terminal: str | None = None, expire_after: float | None = None
) -> dict:
    """Queue a receipt built from ``layout``; returns at once with ``{"job_id", "state"}``.

    It prints at the printer of the terminal the request comes from (or of
    ``terminal``, a name), else at the station's default printer. The state is
    ``queued`` (or ``failed`` when the queue refused it). The caller tells the
    user the outcome by polling :func:`job_state`: ``done`` (the printer
    confirmed it), ``sent`` (sent, not confirmed) or ``failed``.
    ``expire_after``: seconds after which it is no longer printed (default:
    the layout's, see :meth:`Printing.expire_after`).

    Inside a :func:`kiosk.db.write_transaction` block the job is part of that
    block's transaction (a ticket and its receipt commit together): it prints
    once the block commits, and not at all if the block rolls back.
    """
    receipt = build_receipt(layout, context, station)
    return submit(receipt, layout, terminal=terminal, expire_after=expire_after)


def request_terminal() -> str | None:
    """The name of the enrolled terminal the current request comes from, or None."""
    if not has_request_context():
        return None
    from kiosk.terminals import current_terminal

    terminal = current_terminal()
    return terminal.name if terminal is not None else None


def submit(
    receipt: Receipt, label: str = "", *, terminal: str | None = None, expire_after: float | None = None
) -> dict:
    """Hand a ready receipt document to the printer of ``terminal`` (default: the request's terminal).

    Inside a :func:`kiosk.db.write_transaction` block it prints once the block commits (see :func:`print_receipt`).
    """
    release_read_connection()  # the queue stores the job on a connection of its own
    printing = _printing()
    if terminal is None:
        terminal = request_terminal()
    printer = printing.printer_name_for(terminal)
    expiry = expire_after if expire_after is not None else printing.expire_after(label)
    if expiry is not None and expiry <= 0:
        expiry = None  # as in PRINT_EXPIRE_AFTER: 0 is "never expires"
    if printer in printing.agent_printers:
        return _submit_for_agent(printing, receipt, label, printer, terminal, expiry)
    printing.start()
    handle = printing.queues[printer].submit(
        receipt, printer=printer, label=label, terminal=terminal, expire_after=expiry
    )
    return {"job_id": handle.id, "state": "queued"}


def _submit_for_agent(
    printing: Printing, receipt: Receipt, label: str, printer: str, terminal: str | None, expiry: float | None
) -> dict:
    """Store a job for a printer behind a ``kiosk agent``: it waits in the table until the agent leases it."""
    job = HwJob(receipt=receipt, printer=printer, label=label, terminal=terminal)
    if expiry is not None:
        job.expires_at = job.created_at + expiry
    printing.store.add(job, then=printing.notify_agents)
    return {"job_id": job.id, "state": "queued"}


def job_state(job_id: str, station_id: int | None = None) -> dict | None:
    """``{"state", "error", "attempts", "printed"}`` of a job, or None if unknown (or another station's).

    ``printed`` is True only when the printer confirmed the job (state ``done``).
    """
    row = get_session().get(PrintJobRow, job_id)
    if row is None or (station_id is not None and row.station_id != station_id):
        return None
    return {"state": row.state, "error": row.error or "", "attempts": row.attempts, "printed": row.state == "done"}


def wait_for(job: dict, timeout: float) -> dict:
    """Wait (bounded) for a job to finish; for the CLI, never for a web request."""
    printing = _printing()
    stored = printing.store.get(job["job_id"])
    name = stored.printer if stored is not None else "default"
    if name in printing.queues:
        result = printing.queues[name].wait(job["job_id"], timeout)
        state, error = result.state.value, result.error or ""
        if state == "queued" and stored is not None and stored.label == TEST_PAGE_LABEL:
            # Nobody is waiting for this page any more: it must not come out at the next start.
            state, error = _give_up_test_page(printing, job["job_id"], timeout) or (state, error)
    else:  # an agent's printer: look at the row until the agent says how it went
        deadline = time.monotonic() + timeout
        while True:
            current = printing.store.get(job["job_id"])
            if current is None or current.finished or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        state = current.state.value if current is not None else "unknown"
        error = (current.error or "") if current is not None else ""
    return {"state": state, "error": error, "where": describe_printer(name)}


def _give_up_test_page(printing: Printing, job_id: str, waited: float) -> tuple[str, str] | None:
    """Fail a test page still queued after the CLI's wait (a job already being sent is left to finish)."""
    from kiosk.db import utcnow

    now = utcnow()
    error = f"the test page was not printed within {waited:g} s; it was withdrawn"
    with printing.app.extensions["db"].WriteSession() as session:
        result = session.execute(
            sql_update(PrintJobRow)
            .where(PrintJobRow.id == job_id, PrintJobRow.state == "queued")
            .values(state="failed", error=error, error_kind="expired", updated_at=now, finished_at=now)
        )
        session.commit()
    return ("failed", error) if result.rowcount == 1 else None


def describe_printer(name: str, app=None) -> str:
    """A printer in words, for staff and the CLI (an agent's printer says which terminal's agent drives it)."""
    printing = _printing(app)
    if name in printing.printers:
        where = printing.printers[name].describe()
        return where if name == "default" else f"{name}: {where}"
    cfg = printing.agent_printers.get(name, {})
    return f"{name}: {cfg.get('type', '?')} printer driven by the terminal's kiosk agent"


def print_test_page(printer: str = "default") -> dict:
    """Queue the printer test page (station name, Chinese sample text, QR code, time) on one printer."""
    from kiosk.stations import current_station
    from kiosk_hardware.testpage import build_test_page

    printing = _printing()
    if printer not in printing.queues and printer not in printing.agent_printers:
        raise KeyError(f"no printer {printer!r}; known: {', '.join(printer_names())}")
    receipt = build_test_page(current_station().name, printer=describe_printer(printer))
    if printer in printing.agent_printers:
        return _submit_for_agent(printing, receipt, TEST_PAGE_LABEL, printer, printer, TEST_PAGE_EXPIRE_SECONDS)
    printing.start()
    handle = printing.queues[printer].submit(
        receipt, printer=printer, label=TEST_PAGE_LABEL, expire_after=TEST_PAGE_EXPIRE_SECONDS
    )
    return {"job_id": handle.id, "state": "queued"}


def printer_names(app=None) -> list[str]:
    """Every printer of the station: ``default`` first, then the terminals' by name."""
    printing = _printing(app)
    return ["default", *sorted((set(printing.queues) | set(printing.agent_printers)) - {"default"})]


def printer_choices(app=None) -> list[dict]:
    """The printers staff may send a reprint to: ``{"name", "label"}``, the default first."""
    from kiosk.terminals import Terminal

    printing = _printing(app)
    labels: dict[str, str] = {}
    station_id = printing.app.extensions["kiosk_station_id"]
    try:
        rows = get_session().scalars(select(Terminal).where(Terminal.station_id == station_id)).all()
        labels = {row.name: row.label for row in rows if row.revoked_at is None and row.label}
    except Exception:  # terminals are only labels here: the list of printers comes from the station file
        get_session().rollback()
    out = [{"name": "default", "label": _("Station printer")}]
    for name in printer_names(app)[1:]:
        label = labels.get(name) or printing.terminals[name].label or name
        out.append({"name": name, "label": _("Printer of %(terminal)s", terminal=label)})
    return out


#: What went wrong, in words staff at a counter act on (by ``error_kind``); the technical error is kept as detail.
STAFF_WORDS = {
    "paper_out": N_("The printer is out of paper. Put in a new roll, then reprint."),
    "offline": N_("The printer is offline (is its cover open?). Close it, then reprint."),
    "unreachable": N_("The kiosk cannot reach the printer. Check its power and cable, then reprint."),
    "timeout": N_("The printer stopped taking the receipt (paper jam or a stuck printer). Check it, then reprint."),
    "dropped": N_("The printer's connection broke off in the middle of the receipt. Check the cable, then reprint."),
    "unconfirmed": N_("Sent to the printer, but the printer never confirmed it. Ask the resident whether it came out."),
    "interrupted": N_(
        "Printing was cut off when the kiosk restarted. It may have printed: ask the resident before reprinting."
    ),
    "expired": N_(
        "Not printed: the printer could not take it in time and the resident was told. Reprint it if they ask."
    ),
    "out_of_service": N_(
        "Not tried: the printer had just failed several times in a row. Fix the printer, then reprint."
    ),
    "invalid": N_("This receipt cannot be printed (its content is faulty). Please tell the administrator."),
    "config": N_("The printer it was for is no longer set up. Reprint it on another printer."),
    "error": N_("The printer reported a fault. Check it, then reprint."),
}
#: How long a receipt that was sent but not confirmed stays on the staff's list.
SENT_LIST_HOURS = 2


def receipt_summary(receipt: dict, layout: str = "") -> str:
    """A receipt in a few words for staff: what it is and its number ("法律咨询 A012"), not the layout's key.

    The number is the receipt's largest text or value (the last of equal
    size: a booking code after the slip's heading); what it is, the first
    large text before it, else the receipt's title. Falls back to ``layout``.
    """
    title, big = "", []
    for block in receipt.get("blocks", []) if isinstance(receipt, dict) else []:
        kind, size = block.get("kind"), block.get("size") or 1
        if kind == "title" and not title:
            title = str(block.get("text", ""))
        elif kind == "text" and size >= 2:
            big.append((size, str(block.get("text", ""))))
        elif kind == "kv" and size >= 2:
            big.append((size, f"{block.get('key', '')} {block.get('value', '')}".strip()))
    if not big:
        return title or layout
    largest = max(size for size, _text in big)
    number_at = max(i for i, (size, _text) in enumerate(big) if size == largest)
    number = big[number_at][1]
    heading = next((text for _size, text in big[:number_at] if text and text != number), "") or title
    return f"{heading} {number}".strip() if heading else number


def _staff_words(kind: str | None, state: str) -> str:
    key = kind if kind in STAFF_WORDS else ("unconfirmed" if state == "sent" else "error")
    return _(STAFF_WORDS[key])


def failed_jobs(station_id: int, station=None) -> list[dict]:
    """Receipts staff should look at, newest first: failed ones, and recent ones sent but never confirmed.

    Each: ``id``, ``summary`` (what and which number), ``layout``, ``state``,
    ``problem`` (in the staff's words), ``problem_kind`` (its ``error_kind``), ``error`` (the technical cause),
    ``attempts``, ``printer``, ``terminal`` and ``when`` (the station's local time).
    """
    from sqlalchemy import and_, or_

    from kiosk import clock
    from kiosk.db import utcnow

    session = get_session()
    since = utcnow() - timedelta(hours=SENT_LIST_HOURS)
    reprinted = select(PrintJobRow.reprint_of).where(
        PrintJobRow.station_id == station_id, PrintJobRow.reprint_of.is_not(None)
    )
    rows = session.scalars(
        select(PrintJobRow)
        .where(
            PrintJobRow.station_id == station_id,
            or_(
                PrintJobRow.state == "failed",
                and_(
                    PrintJobRow.state == "sent",
                    PrintJobRow.error_kind == "unconfirmed",
                    PrintJobRow.created_at >= since,
                    PrintJobRow.id.not_in(reprinted),
                ),
            ),
        )
        .order_by(PrintJobRow.created_at.desc())
        .limit(50)
    )
    return [
        {
            "id": r.id,
            "summary": receipt_summary(r.receipt, r.layout),
            "layout": r.layout,
            "state": r.state,
            "problem": _staff_words(r.error_kind, r.state),
            "problem_kind": r.error_kind or "",
            "error": r.error or "",
            "attempts": r.attempts,
            "printer": r.printer,
            "terminal": r.terminal or "",
            "when": clock.local(station, r.created_at).strftime("%m-%d %H:%M:%S") if r.created_at else "",
        }
        for r in rows
    ]


def confirm_printed(job_id: str, station_id: int) -> bool:
    """Staff saw the receipt came out: a sent (unconfirmed) or interrupted job becomes done and leaves the list.

    False if the job is not this station's or is not one of those two kinds.
    """
    from sqlalchemy import or_

    from kiosk.db import utcnow

    now = utcnow()
    with write_transaction() as session:
        result = session.execute(
            sql_update(PrintJobRow)
            .where(
                PrintJobRow.id == job_id,
                PrintJobRow.station_id == station_id,
                or_(
                    PrintJobRow.state == "sent",
                    (PrintJobRow.state == "failed") & (PrintJobRow.error_kind == "interrupted"),
                ),
            )
            .values(state="done", note="staff saw it come out", updated_at=now, finished_at=now)
        )
    return bool(getattr(result, "rowcount", 0))


def reprint(job_id: str, station_id: int, printer: str | None = None) -> bool:
    """Send a job to a printer again (staff): ``printer`` chosen by staff, default the one it was for.

    False if the job is not this station's or the printer is unknown.
    """
    row = get_session().get(PrintJobRow, job_id)
    if row is None or row.station_id != station_id:
        return False
    printing = _printing()
    target = printer or row.printer
    if target not in printing.queues and target not in printing.agent_printers:
        if printer is not None:
            return False
        target = "default"  # the printer it was for is gone from the station file
    release_read_connection()
    if target in printing.agent_printers:
        return _reprint_for_agent(printing, job_id, target)
    printing.start()
    printing.queues[target].reprint(job_id, printer=target)
    return True


def _reprint_for_agent(printing: Printing, job_id: str, target: str) -> bool:
    job = printing.store.get(job_id)
    if job is None:
        return False
    if not job.finished:
        return True  # still on its way: leave it
    if job.state is JobState.FAILED:
        job.printer, job.state, job.attempts = target, JobState.QUEUED, 0
        job.error = job.error_kind = None
        job.finished_at = job.expires_at = None
        job.updated_at = time.time()  # queued from now: the agent has its full time to take it
        printing.store.update(job)
    else:
        copy = HwJob(
            receipt=job.receipt,
            printer=target,
            label=job.label,
            max_attempts=job.max_attempts,
            reprint_of=job.id,
            terminal=job.terminal,
        )
        printing.store.add(copy, then=printing.notify_agents)
        return True
    printing.notify_agents()
    return True


def _status_entry(level: str, detail: str, where: str) -> dict:
    try:
        label = _(STATE_LABELS[level])
    except RuntimeError:  # outside a request: plain English for logs and the CLI
        label = STATE_LABELS[level]
    return {
        "kind": "printer",
        "state": level,
        "ok": level in ("ok", "warning"),
        "label": label,
        "detail": detail,
        "printer": where,
    }


def printer_status(app=None, printer: str = "default") -> dict:
    """The last known state of a printer this node drives, without asking it (never blocks)."""
    printing = _printing(app)
    status = printing.queues[printer].last_status()
    if status is None:
        level, detail = "unknown", "not checked yet"
    else:
        level, detail = status.level, status.describe()
    return _status_entry(level, detail, describe_printer(printer, app))


def printer_statuses(app=None) -> dict:
    """Every printer this node drives, by device name: ``printer`` (the default) and ``<terminal>/printer``."""
    printing = _printing(app)
    return {
        ("printer" if name == "default" else f"{name}/printer"): printer_status(app, name) for name in printing.queues
    }


def preview_png(job_id: str, station_id: int) -> bytes | None:
    """The raster a job prints, as PNG, for staff to look at."""
    from kiosk_hardware.preview import preview_png as render_png

    row = get_session().get(PrintJobRow, job_id)
    if row is None or row.station_id != station_id:
        return None
    printing = _printing()
    return render_png(Receipt.from_dict(row.receipt), printing.profiles.get(row.printer, printing.profile))


JOB_ID = re.compile(r"[0-9a-f]{32}")


@bp.route("/print-jobs/<job_id>")
def job_status(job_id: str):
    """Whether a receipt came out: the kiosk page polls this after printing."""
    from kiosk.stations import current_station

    # Job ids are uuid4 hex; anything else (a NUL byte, which PostgreSQL cannot compare) is unknown.
    state = job_state(job_id, current_station().id) if JOB_ID.fullmatch(job_id) else None
    if state is None:
        abort(404)
    return jsonify(state)


def init_app(app) -> None:
    printing = Printing(app)
    app.extensions["kiosk_printing"] = printing
    # Unfinished jobs from before a restart are resumed when printing starts:
    # at once when the server runs, lazily on the first print in tests.
    if app.config.get("START_DEVICES"):
        from kiosk import warmup

        printing.start()
        warmup.after_first_response(app, printing.warm, "kiosk-printing-warm")
