"""Printing receipts: layouts from plugins, a queue that never blocks a request.

A plugin registers layouts (``register_receipt_layouts``) and calls
:func:`print_receipt`, which builds the receipt, lets every plugin decorate it,
and hands it to :class:`kiosk_hardware.print_queue.PrintQueue`. That returns at
once; a worker thread renders and sends the bytes, retrying a bounded number
of times. Jobs live in the ``print_job`` table (:class:`DbJobStore`), so a
failed job stays for staff to reprint and an unfinished one resumes after a
restart. A kiosk page asks ``GET /print-jobs/<id>`` whether its receipt came out.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, has_app_context, jsonify
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
    """The print queue's jobs in the ``print_job`` table of one station."""

    def __init__(self, db, station_id: int):
        self.db = db
        self.station_id = station_id

    def _to_row(self, job: HwJob, row: PrintJobRow) -> None:
        row.printer, row.layout = job.printer, job.label
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
        return self._list(query.order_by(PrintJobRow.created_at))

    def list_recent(self, limit: int = 50) -> list[HwJob]:
        query = select(PrintJobRow).where(PrintJobRow.station_id == self.station_id)
        return self._list(query.order_by(PrintJobRow.created_at.desc()), limit)


class Printing:
    """The station's printer and print queue (``app.extensions["kiosk_printing"]``)."""

    def __init__(self, app):
        self.app = app
        cfg = dict(app.config["DEVICES"].get("printer") or {"type": "preview"})
        if cfg.get("type", "preview") == "preview":
            cfg.setdefault("folder", os.path.join(app.instance_path, "receipts"))
        # The queue's own settings; the rest describes the device.
        queue_cfg = {key: cfg.pop(key) for key in QUEUE_KEYS if key in cfg}
        self.config = cfg
        self.profile = cfg.get("profile", "80mm")
        try:
            self.printer = printer_from_config(cfg)
        except PrinterConfigError as exc:
            raise ConfigError(f"[devices.printer]: {exc}") from exc
        self.store = DbJobStore(app.extensions["db"], app.extensions["kiosk_station_id"])
        self.queue = PrintQueue(
            self.printer,
            self.store,
            max_attempts=int(queue_cfg.get("max_attempts", 3)),
            retry_delay=float(queue_cfg.get("retry_delay", 1.0)),
        )
        self.poll = bool(queue_cfg.get("poll_status", True))
        self._stop = threading.Event()
        self._started = False

    def start(self) -> None:
        """Start the queue's worker (resuming unfinished jobs) and the status poller."""
        if self._started or self.app.config.get("ROLE") == "hub":
            return  # the hub has no printer: receipts come out at stations
        self._started = True
        self.queue.start()
        if self.poll:
            threading.Thread(target=self._poll_status, daemon=True, name="kiosk-printer-status").start()

    def warm(self) -> None:
        """Load the renderer and the printer's library and check the font: the first receipt need not wait.

        Run after the server's first response (:mod:`kiosk.warmup`): Pillow,
        the barcode libraries and the font files are not needed to show the
        home screen.
        """
        from kiosk_hardware import escpos_encode  # noqa: F401  (imports the renderer)
        from kiosk_hardware.fonts import cjk_font_check

        self.printer.prepare()
        font = cjk_font_check()
        if not font.ok:
            log.warning("%s", font.message)

    def _poll_status(self) -> None:
        # Status queries can take seconds on a dead printer: never on a request.
        while not self._stop.is_set():
            try:
                self.queue.check_status()
            except Exception as exc:
                log.warning("printer status check failed: %s", exc)
            self._stop.wait(STATUS_POLL_SECONDS)

    def shutdown(self) -> None:
        self._stop.set()
        if self._started:
            self.queue.stop(timeout=2.0)
            self._started = False


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


def print_receipt(layout: str, context: dict, *, station=None) -> dict:
    """Queue a receipt built from ``layout``; returns at once with ``{"job_id", "state"}``.

    The state is ``queued`` (or ``failed`` when the queue refused it). The
    caller tells the user the outcome by polling :func:`job_state`.
    """
    receipt = build_receipt(layout, context, station)
    return submit(receipt, layout)


def submit(receipt: Receipt, label: str = "") -> dict:
    """Hand a ready receipt document to the queue."""
    release_read_connection()  # the queue stores the job on a connection of its own
    printing = _printing()
    printing.start()
    handle = printing.queue.submit(receipt, label=label)
    return {"job_id": handle.id, "state": "queued"}


def job_state(job_id: str, station_id: int | None = None) -> dict | None:
    """``{"state", "error"}`` of a job, or None if unknown (or another station's)."""
    row = get_session().get(PrintJobRow, job_id)
    if row is None or (station_id is not None and row.station_id != station_id):
        return None
    return {"state": row.state, "error": row.error or "", "attempts": row.attempts}


def wait_for(job: dict, timeout: float) -> dict:
    """Wait (bounded) for a job to finish; for the CLI, never for a web request."""
    printing = _printing()
    result = printing.queue.wait(job["job_id"], timeout)
    return {"state": result.state.value, "error": result.error or "", "where": printing.printer.describe()}


def print_test_page() -> dict:
    """Queue the printer test page (station name, Chinese sample text, QR code, time)."""
    from kiosk.stations import current_station
    from kiosk_hardware.testpage import build_test_page

    printing = _printing()
    receipt = build_test_page(current_station().name, printer=printing.printer.describe())
    return submit(receipt, "kiosk.test_page")


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
            "when": r.created_at.strftime("%Y-%m-%d %H:%M:%S UTC") if r.created_at else "",
        }
        for r in rows
    ]


def reprint(job_id: str, station_id: int) -> bool:
    """Send a job to the printer again (staff). False if it is not this station's."""
    row = get_session().get(PrintJobRow, job_id)
    if row is None or row.station_id != station_id:
        return False
    printing = _printing()
    printing.start()
    printing.queue.reprint(job_id)
    return True


def printer_status(app=None) -> dict:
    """The last known printer state, without asking the printer (never blocks)."""
    printing = _printing(app)
    status = printing.queue.last_status()
    if status is None:
        level, detail = "unknown", "not checked yet"
    else:
        level, detail = status.level, status.describe()
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
        "printer": printing.printer.describe(),
    }


def preview_png(job_id: str, station_id: int) -> bytes | None:
    """The raster a job prints, as PNG, for staff to look at."""
    from kiosk_hardware.preview import preview_png as render_png

    row = get_session().get(PrintJobRow, job_id)
    if row is None or row.station_id != station_id:
        return None
    return render_png(Receipt.from_dict(row.receipt), _printing().profile)


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
