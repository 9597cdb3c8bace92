"""Printing receipts: layouts from plugins, a queue that never blocks a request.

A plugin registers layouts (``register_receipt_layouts``) and calls
:func:`print_receipt`, which builds the receipt, lets every plugin decorate it,
and hands it to :class:`kiosk_hardware.print_queue.PrintQueue`. That returns at
once; a worker thread renders and sends the bytes, retrying a bounded number
of times. Jobs live in the ``print_job`` table (:class:`DbJobStore`), so a
failed job stays for staff to reprint and an unfinished one resumes after a
restart. A kiosk page asks ``GET /print-jobs/<id>`` whether its receipt came out.

A station with several terminals has a printer per terminal
(``[terminals.<name>.printer]``, see :mod:`kiosk.devices`): a receipt prints at
the printer of the terminal it was taken at (:func:`kiosk.terminals.current_terminal`),
else at the station's default printer (``[devices.printer]``). The station node
drives each printer it can reach (network printers, its own USB or serial
ones) with a queue of its own; the jobs of a printer behind a ``kiosk agent``
wait in ``print_job`` until that agent takes them (:mod:`kiosk.agent`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, has_app_context, has_request_context, jsonify
from sqlalchemy import select
from sqlalchemy import update as sql_update

from kiosk.config import ConfigError
from kiosk.db import WriterNestingError, get_session, in_write_transaction, release_read_connection, write_transaction
from kiosk.i18n import N_, _
from kiosk.models import PrintJob as PrintJobRow
from kiosk_hardware.errors import PrinterConfigError
from kiosk_hardware.job_store import JobState, JobStore
from kiosk_hardware.job_store import PrintJob as HwJob
from kiosk_hardware.print_queue import PrintQueue
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


class DbJobStore(JobStore):
    """The print queue's jobs in the ``print_job`` table of one station.

    ``printer``: the one printer whose queue this store serves; its unfinished
    jobs are the ones that queue resumes (each printer has its own queue).
    """

    def __init__(self, db, station_id: int, printer: str | None = None):
        self.db = db
        self.station_id = station_id
        self.printer = printer

    def _to_row(self, job: HwJob, row: PrintJobRow) -> None:
        row.printer, row.layout, row.terminal = job.printer, job.label, job.terminal
        row.receipt = job.receipt.to_dict()
        row.state, row.attempts, row.max_attempts = job.state.value, job.attempts, job.max_attempts
        row.error, row.error_kind, row.note = job.error, job.error_kind, job.note or ""
        row.reprint_of = job.reprint_of
        row.created_at, row.updated_at = _ts(job.created_at), _ts(job.updated_at)
        row.finished_at = _ts(job.finished_at)

    @staticmethod
    def _from_row(row: PrintJobRow) -> HwJob:
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
        )

    def add(self, job: HwJob) -> None:
        row = PrintJobRow(id=job.id, station_id=self.station_id)
        self._to_row(job, row)
        if in_write_transaction():
            # Committed only when the block ends, the job would be missing when
            # the printer's worker looks for it a moment from now.
            raise WriterNestingError(
                "print after the write_transaction() block ends, not inside it: "
                "the print job must be committed before the printer's worker reads it"
            )
        if has_app_context() and current_app.extensions.get("db") is self.db:
            # Joins a request that already wrote (its ticket, say) rather than
            # waiting on a second connection for that request's own lock; the
            # job is committed with what it prints, before the worker reads it.
            with write_transaction() as session:
                session.add(row)
            return
        with self.db.Session() as session:
            session.add(row)
            session.commit()

    def update(self, job: HwJob) -> None:
        # One UPDATE of what a job's progress changes: its receipt, printer and
        # layout are written once, by add() (this runs twice or more per receipt).
        with self.db.Session() as session:
            result = session.execute(
                sql_update(PrintJobRow)
                .where(PrintJobRow.id == job.id)
                .values(
                    printer=job.printer,  # staff may reprint a failed job on another terminal's printer
                    lease_owner=None,
                    lease_until=None,
                    state=job.state.value,
                    attempts=job.attempts,
                    max_attempts=job.max_attempts,
                    error=job.error,
                    error_kind=job.error_kind,
                    note=job.note or "",
                    updated_at=_ts(job.updated_at),
                    finished_at=_ts(job.finished_at),
                )
            )
            if result.rowcount == 0:
                raise KeyError(job.id)
            session.commit()

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

    def list_unfinished(self) -> list[HwJob]:
        query = select(PrintJobRow).where(
            PrintJobRow.station_id == self.station_id, PrintJobRow.state.in_(("queued", "printing"))
        )
        if self.printer is not None:
            query = query.where(PrintJobRow.printer == self.printer)
        return self._list(query.order_by(PrintJobRow.created_at))

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
        from kiosk.device_config import terminal_tables

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
            self.profiles[name] = device_cfg.get("profile", "80mm")
            self.queues[name] = PrintQueue(
                {name: printer},
                DbJobStore(db, station_id, printer=name),
                max_attempts=int(queue_cfg.get("max_attempts", 3)),
                retry_delay=float(queue_cfg.get("retry_delay", 1.0)),
            )
            if name == "default":
                self.poll = bool(queue_cfg.get("poll_status", True))
        for name, acfg in self.agent_printers.items():
            self.profiles[name] = acfg.get("profile", "80mm")
        self.config = self.configs["default"]
        self.profile = self.profiles["default"]
        self.printer = self.printers["default"]
        self.queue = self.queues["default"]
        self.store = DbJobStore(db, station_id)
        #: Notified when a job for an agent's printer is added: its long poll answers at once.
        self.agent_jobs = threading.Condition()
        self._stop = threading.Event()
        self._started = False

    def start(self) -> None:
        """Start the queues' workers (resuming unfinished jobs) and the status poller."""
        if self._started or self.app.config.get("ROLE") == "hub":
            return  # the hub has no printer: receipts come out at stations
        self._started = True
        for queue in self.queues.values():
            queue.start()
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
        from kiosk_hardware import escpos_encode  # noqa: F401  (imports the renderer)
        from kiosk_hardware.fonts import cjk_font_check

        for printer in self.printers.values():
            printer.prepare()
        font = cjk_font_check()
        if not font.ok:
            log.warning("%s", font.message)

    def _poll_status(self) -> None:
        # Status queries can take seconds on a dead printer: never on a request.
        while not self._stop.is_set():
            if self.poll:
                for name, queue in self.queues.items():
                    try:
                        queue.check_status()
                    except Exception as exc:
                        log.warning("printer %s status check failed: %s", name, exc)
            if self.agent_printers:
                try:
                    expire_agent_jobs(self.app)
                except Exception as exc:
                    log.warning("could not look for print jobs no agent took: %s", exc)
            self._stop.wait(STATUS_POLL_SECONDS)

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


def print_receipt(layout: str, context: dict, *, station=None, terminal: str | None = None) -> dict:
    """Queue a receipt built from ``layout``; returns at once with ``{"job_id", "state"}``.

    It prints at the printer of the terminal the request comes from (or of
    ``terminal``, a name), else at the station's default printer. The state is
    ``queued`` (or ``failed`` when the queue refused it). The caller tells the
    user the outcome by polling :func:`job_state`.
    """
    receipt = build_receipt(layout, context, station)
    return submit(receipt, layout, terminal=terminal)


def request_terminal() -> str | None:
    """The name of the enrolled terminal the current request comes from, or None."""
    if not has_request_context():
        return None
    from kiosk.terminals import current_terminal

    terminal = current_terminal()
    return terminal.name if terminal is not None else None


def submit(receipt: Receipt, label: str = "", *, terminal: str | None = None) -> dict:
    """Hand a ready receipt document to the printer of ``terminal`` (default: the request's terminal)."""
    release_read_connection()  # the queue stores the job on a connection of its own
    printing = _printing()
    if terminal is None:
        terminal = request_terminal()
    printer = printing.printer_name_for(terminal)
    if printer in printing.agent_printers:
        return _submit_for_agent(printing, receipt, label, printer, terminal)
    printing.start()
    handle = printing.queues[printer].submit(receipt, printer=printer, label=label, terminal=terminal)
    return {"job_id": handle.id, "state": "queued"}


def _submit_for_agent(printing: Printing, receipt: Receipt, label: str, printer: str, terminal: str | None) -> dict:
    """Store a job for a printer behind a ``kiosk agent``: it waits in the table until the agent leases it."""
    job = HwJob(receipt=receipt, printer=printer, label=label, terminal=terminal)
    printing.store.add(job)
    printing.notify_agents()
    return {"job_id": job.id, "state": "queued"}


def job_state(job_id: str, station_id: int | None = None) -> dict | None:
    """``{"state", "error"}`` of a job, or None if unknown (or another station's)."""
    row = get_session().get(PrintJobRow, job_id)
    if row is None or (station_id is not None and row.station_id != station_id):
        return None
    return {"state": row.state, "error": row.error or "", "attempts": row.attempts}


def wait_for(job: dict, timeout: float) -> dict:
    """Wait (bounded) for a job to finish; for the CLI, never for a web request."""
    printing = _printing()
    stored = printing.store.get(job["job_id"])
    name = stored.printer if stored is not None else "default"
    if name in printing.queues:
        result = printing.queues[name].wait(job["job_id"], timeout)
        state, error = result.state.value, result.error or ""
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
        return _submit_for_agent(printing, receipt, "kiosk.test_page", printer, printer)
    printing.start()
    handle = printing.queues[printer].submit(receipt, printer=printer, label="kiosk.test_page")
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


def failed_jobs(station_id: int) -> list[dict]:
    rows = get_session().scalars(
        select(PrintJobRow)
        .where(PrintJobRow.station_id == station_id, PrintJobRow.state == "failed")
        .order_by(PrintJobRow.created_at.desc())
        .limit(50)
    )
    return [
        {
            "id": r.id,
            "layout": r.layout,
            "error": r.error or "",
            "attempts": r.attempts,
            "printer": r.printer,
            "terminal": r.terminal or "",
            "when": r.created_at.strftime("%Y-%m-%d %H:%M:%S UTC") if r.created_at else "",
        }
        for r in rows
    ]


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
        job.finished_at = None
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
        printing.store.add(copy)
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
