"""``kiosk agent``: the devices of a terminal whose printer or reader hangs off another PC.

A network printer is driven by the station node directly. A receipt printer
or card reader on USB or serial at a kiosk's own PC is not reachable from the
station node, so a small agent runs on that PC: ``kiosk agent``. It reads the
same station-file tables for its terminal (``[terminals.hall-2]`` with
``agent = true`` and its ``printer``/``readers``), drives them with the same
hardware layer, and connects OUT to the station node (no listening port on the
terminal PC)::

    GET  /agent/v1/jobs?wait=25          long poll: the next print job of this terminal, leased to the agent
    POST /agent/v1/jobs/<id>/done        the printer took the bytes, confirmed or not (idempotent)
    POST /agent/v1/jobs/<id>/failed      it could not print (retried by the station, or left for staff)
    POST /agent/v1/reads                 a card tap or scan at this terminal, for its page only
    POST /agent/v1/status                its devices' states, for /healthz, the admin page and the hub
    POST /agent/v1/enrol                 a one-time token for the agent's credential (``kiosk agent enrol``)

Every request carries ``Kiosk-Agent-Protocol`` (an agent too old or too new is
refused, 400, with a message naming the version to install), the terminal's agent
credential (``Authorization: Bearer agent-<id>.<secret>``; only a hash is
stored; the terminal's own screen credential is accepted as well) and the
agent run's session (``Kiosk-Agent-Session``: its start time and a random
part). One agent serves one terminal: a newer run takes over from an older
one, which is told so and stops.

A job is leased to the agent run that took it. The agent acknowledges a job
only after the printer took the bytes, and first writes the job's id to a
small local journal: after a crash between the two, the restarted agent is
handed the job again, finds it in the journal and only acknowledges it. So a
job is printed once, not twice, across kills and restarts.

On the station node: ``kiosk agent token hall-2`` prints a one-time token
(24 hours); on the terminal PC: ``kiosk agent enrol http://station:5000 TOKEN``
stores the credential (mode 0600), then ``kiosk agent`` runs (systemd unit in
docs/deploy.md).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import queue
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base, UTCDateTime, utcnow

log = logging.getLogger("kiosk.agent")

#: The protocol this code speaks, and the oldest one a station node still accepts.
PROTOCOL = 1
MIN_PROTOCOL = 1
PROTOCOL_HEADER = "Kiosk-Agent-Protocol"
VERSION_HEADER = "Kiosk-Agent-Version"
SESSION_HEADER = "Kiosk-Agent-Session"
TERMINAL_HEADER = "Kiosk-Agent-Terminal"
#: How long a job stays leased to the agent run that took it.
LEASE_SECONDS = 60
#: The longest long poll (the agent asks for 25 s: under common proxies' 30 s idle limits).
MAX_WAIT_SECONDS = 30
DEFAULT_WAIT_SECONDS = 25
#: How long an agent's enrolment token can be used.
TOKEN_SECONDS = 24 * 3600
#: A card read older than this when it reaches the station node is dropped: its resident may have gone.
READ_MAX_AGE_SECONDS = 10
#: The agent reports its devices at least this often (and at once when one changes).
STATUS_EVERY_SECONDS = 30
#: An agent's last contact is written at most this often.
SEEN_EVERY_SECONDS = 30
#: A run not heard from for this long no longer holds its terminal against an older-stamped run.
TAKEOVER_SECONDS = 90
CREDENTIAL_RE = re.compile(r"agent-(\d{1,12})\.([A-Za-z0-9_-]{20,200})\Z")
SESSION_RE = re.compile(r"(\d{13})-([0-9a-f]{8,32})\Z")
DEVICE_RE = re.compile(r"[A-Za-z0-9_.-]{1,30}\Z")


def package_version() -> str:
    """This installation's version of the kiosk package (what an agent should match)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("station-kiosk")
    except PackageNotFoundError:
        return "0+unknown"


class TerminalAgent(Base):
    """The agent credential of one terminal, apart from its screen's: both may be in use at once."""

    __tablename__ = "kiosk_terminal_agent"
    __table_args__ = (Index("ix_kiosk_terminal_agent_token_hash", "token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("kiosk_terminal.id"), unique=True)
    # sha256 of the secret of "agent-<id>.<secret>"; None until an agent enrolled.
    credential_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # sha256 of the one-time enrolment token; None once used.
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The agent run now serving the terminal (Kiosk-Agent-Session); an older run is refused.
    session: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ---- The station node's side --------------------------------------------------------------

bp = Blueprint("agent", __name__, url_prefix="/agent/v1")


def new_token(session, station_id: int, name: str) -> str:
    """A one-time enrolment token for the agent of terminal ``name`` (the caller commits).

    The terminal must exist (``kiosk terminals add``). A credential already
    issued stays valid until the new token is used.
    """
    from kiosk.terminals import TerminalError, find

    terminal = find(session, station_id, name)
    if terminal is None:
        raise TerminalError(
            f"no terminal {name} at this station: add it first (kiosk terminals add {name} --kind kiosk)"
        )
    if terminal.revoked_at is not None:
        raise TerminalError(f"terminal {name} is revoked; add a new one")
    agent = session.scalar(select(TerminalAgent).where(TerminalAgent.terminal_id == terminal.id))
    if agent is None:
        agent = TerminalAgent(terminal_id=terminal.id, version="")
        session.add(agent)
    # The operator types it as a command argument: one starting with "-" would be read as an option.
    token = "a" + secrets.token_urlsafe(24)
    agent.token_hash = _digest(token)
    agent.token_expires_at = utcnow() + timedelta(seconds=TOKEN_SECONDS)
    session.flush()
    return token


def _digest(secret: str) -> str:
    from kiosk.terminals import digest

    return digest(secret)


class Refused(Exception):
    """An agent request refused: ``status`` and a message the operator can act on."""

    def __init__(self, status: int, message: str, log_it: bool = True, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.log_it = log_it
        self.extra = extra


@bp.errorhandler(Refused)
def _refused(exc: Refused):
    if exc.log_it:
        log.warning(
            "agent request %s %s from %s refused (%s): %s",
            request.method,
            request.path,
            request.remote_addr,
            exc.status,
            exc.message,
        )
    body: dict[str, Any] = {"error": exc.message, **exc.extra}
    return jsonify(body), exc.status


def _upgrade() -> dict:
    """What a refused agent is told besides the message: the protocols and the version to install."""
    return {"protocol": {"min": MIN_PROTOCOL, "max": PROTOCOL}, "version": package_version()}


def _check_protocol() -> None:
    """An agent of another protocol is refused (400, naming the version to install) before anything else."""
    raw = request.headers.get(PROTOCOL_HEADER, "")
    if not raw.strip().isdigit():
        raise Refused(400, f"not a kiosk agent request: it needs the {PROTOCOL_HEADER} header")
    spoken = int(raw.strip()[:6])
    agent_version = request.headers.get(VERSION_HEADER, "unknown")[:64]
    if spoken < MIN_PROTOCOL:
        raise Refused(
            400,
            f"this kiosk agent (version {agent_version}, protocol {spoken}) is older than this station node accepts "
            f"(protocol {MIN_PROTOCOL} to {PROTOCOL}): install station-kiosk {package_version()} on the terminal PC "
            f"(pip install 'station-kiosk=={package_version()}') and restart the agent",
            **_upgrade(),
        )
    if spoken > PROTOCOL:
        raise Refused(
            400,
            f"this kiosk agent (version {agent_version}, protocol {spoken}) is newer than this station node "
            f"(station-kiosk {package_version()}, protocol {MIN_PROTOCOL} to {PROTOCOL}): upgrade the station node, "
            f"or install station-kiosk {package_version()} on the terminal PC",
            **_upgrade(),
        )


def _credential_terminal(session, raw: str):
    """(terminal, agent row or None) for a bearer credential; Refused (403) otherwise."""
    from kiosk.terminals import Terminal

    station_id = current_app.extensions["kiosk_station_id"]
    match = CREDENTIAL_RE.fullmatch(raw)
    agent = None
    if match is not None:
        agent = session.get(TerminalAgent, int(match.group(1)))
        if agent is None or agent.credential_hash is None:
            raise Refused(403, "unknown agent credential: enrol the agent again (kiosk agent enrol)")
        if not hmac.compare_digest(agent.credential_hash, _digest(match.group(2))):
            raise Refused(403, "wrong agent credential: enrol the agent again (kiosk agent enrol)")
        terminal = session.get(Terminal, agent.terminal_id)
    else:
        # The terminal's own screen credential ("<terminal id>.<secret>") is accepted too.
        ident, _, secret = raw.partition(".")
        if not ident.isdigit() or len(ident) > 12 or not secret or len(secret) > 200:
            raise Refused(403, "not a terminal credential: enrol the agent (kiosk agent enrol URL TOKEN)")
        terminal = session.get(Terminal, int(ident))
        if terminal is None or terminal.credential_hash is None:
            raise Refused(403, "unknown terminal credential")
        if not hmac.compare_digest(terminal.credential_hash, _digest(secret)):
            raise Refused(403, f"wrong credential for terminal {terminal.name}")
        if terminal.credential_expires_at is not None and terminal.credential_expires_at <= utcnow():
            raise Refused(403, f"the credential of terminal {terminal.name} expired")
    if terminal is None or terminal.station_id != station_id:
        raise Refused(403, "this credential is not for a terminal of this station")
    if terminal.revoked_at is not None:
        raise Refused(403, f"terminal {terminal.name} was revoked: its agent may no longer connect")
    return terminal, agent


def _session_stamp(value: str) -> int | None:
    match = SESSION_RE.fullmatch(value)
    return int(match.group(1)) if match else None


@dataclass
class Caller:
    """The terminal an agent request comes from, and its run."""

    terminal_id: int
    name: str
    session: str


@bp.before_request
def _authenticate():
    if current_app.config.get("ROLE") == "hub":
        raise Refused(404, "the hub drives no devices: point the agent at its station node", log_it=False)
    _check_protocol()
    if request.endpoint == "agent.enrol":
        return
    from kiosk.db import session_for

    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise Refused(403, "this needs the terminal's agent credential (Authorization: Bearer ...)")
    run = request.headers.get(SESSION_HEADER, "")
    stamp = _session_stamp(run)
    if stamp is None:
        raise Refused(400, f"the {SESSION_HEADER} header must be <13-digit start time in ms>-<hex>")
    asked = request.headers.get(TERMINAL_HEADER, "")
    app = current_app._get_current_object()
    with session_for(app) as session:
        # Most calls come from the run already serving the terminal, seen lately: no write needed.
        terminal, agent = _credential_terminal(session, raw.strip())
        if asked and asked != terminal.name:
            raise Refused(403, f"this credential is terminal {terminal.name}'s, not {asked[:40]}'s")
        if agent is None:
            agent = session.scalar(select(TerminalAgent).where(TerminalAgent.terminal_id == terminal.id))
        seen = agent.last_seen_at if agent is not None else None
        if (
            agent is not None
            and agent.session == run
            and seen
            and utcnow() - seen <= timedelta(seconds=SEEN_EVERY_SECONDS)
        ):
            g.agent = Caller(terminal.id, terminal.name, run)
            return
    with session_for(app, write=True) as session:
        terminal, agent = _credential_terminal(session, raw.strip())
        if agent is None:  # the screen's credential: the terminal's agent row records its runs all the same
            agent = session.scalar(select(TerminalAgent).where(TerminalAgent.terminal_id == terminal.id))
            if agent is None:
                agent = TerminalAgent(terminal_id=terminal.id, version="")
                session.add(agent)
        current = _session_stamp(agent.session or "")
        now = utcnow()
        if agent.session != run:
            alive = agent.last_seen_at is not None and now - agent.last_seen_at < timedelta(seconds=TAKEOVER_SECONDS)
            # An older run may take back a terminal whose newer run has gone silent (a clock set back).
            if current is not None and stamp < current and alive:
                raise Refused(
                    409,
                    f"a kiosk agent started later now serves terminal {terminal.name}: this one stops "
                    "(run one agent per terminal)",
                    superseded=True,
                )
            if agent.session is not None:
                log.warning("a new kiosk agent run took over terminal %s (%s)", terminal.name, request.remote_addr)
            agent.session = run
            agent.last_seen_at = now
            agent.version = request.headers.get(VERSION_HEADER, "")[:64]
            session.commit()
        elif agent.last_seen_at is None or now - agent.last_seen_at > timedelta(seconds=SEEN_EVERY_SECONDS):
            agent.last_seen_at = now
            session.commit()
        g.agent = Caller(terminal.id, terminal.name, run)


def _json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Refused(400, "the body must be a JSON object")
    return data


@bp.route("/enrol", methods=["POST"])
def enrol():
    """Trade a one-time token (``kiosk agent token``) for the terminal's agent credential."""
    from kiosk.db import write_transaction
    from kiosk.terminals import Terminal

    token = _json_body().get("token")
    if not isinstance(token, str) or not 10 <= len(token) <= 200:
        raise Refused(400, 'the body needs the enrolment token: {"token": "..."}')
    station_id = current_app.extensions["kiosk_station_id"]
    with write_transaction() as session:
        agent = session.scalar(select(TerminalAgent).where(TerminalAgent.token_hash == _digest(token)))
        terminal = session.get(Terminal, agent.terminal_id) if agent is not None else None
        fresh = agent is not None and agent.token_expires_at is not None and agent.token_expires_at > utcnow()
        if terminal is None or terminal.station_id != station_id or terminal.revoked_at is not None or not fresh:
            raise Refused(
                403,
                "this agent enrolment token is unknown, used or expired: make a new one on the station node "
                "(kiosk agent token <terminal>)",
            )
        assert agent is not None
        secret = secrets.token_urlsafe(32)
        agent.credential_hash = _digest(secret)
        agent.token_hash = agent.token_expires_at = None
        agent.enrolled_at = utcnow()
        credential = f"agent-{agent.id}.{secret}"
        name, kind = terminal.name, terminal.kind
        from kiosk.audit import record

        record("agent.enrol", {"terminal": name}, station_id=station_id, session=session, commit=False)
    log.info("the kiosk agent of terminal %s enrolled from %s", name, request.remote_addr)
    return jsonify({"credential": credential, "terminal": name, "kind": kind, "station": _station_code()})


def _station_code() -> str:
    return str(current_app.config["STATION"].get("code", ""))


@bp.route("/hello")
def hello():
    """Who the agent is to this station node: its terminal and what the station file says it drives."""
    printing = current_app.extensions["kiosk_printing"]
    table = printing.terminals.get(g.agent.name)
    return jsonify(
        {
            "terminal": g.agent.name,
            "station": _station_code(),
            "protocol": PROTOCOL,
            "version": package_version(),
            "agent_terminal": bool(table and table.agent),
        }
    )


def _lease(app, name: str, run: str) -> dict | None:
    """Lease the oldest unfinished job of terminal ``name``'s printer to agent run ``run``; None if none is due.

    Jobs print in order: while the oldest waits to be retried, the others wait
    too. A job leased to an earlier run of the agent (it was killed) is handed
    to this run, which checks its journal before printing it.
    """
    from sqlalchemy import update

    from kiosk.models import PrintJob

    station_id = app.extensions["kiosk_station_id"]
    now = utcnow()
    db = app.extensions["db"]
    # A plain read first: the long poll looks every second, and most looks find nothing
    # (on SQLite a write session would take the station's write lock each time).
    with db.Session() as session:
        row = session.scalar(
            select(PrintJob)
            .where(
                PrintJob.station_id == station_id,
                PrintJob.printer == name,
                PrintJob.state.in_(("queued", "printing")),
            )
            .order_by(PrintJob.created_at, PrintJob.id)
            .limit(1)
        )
        if row is None:
            return None
        job_id, state, attempts, owner = row.id, row.state, row.attempts, row.lease_owner
        label, receipt, lease_until = row.layout, row.receipt, row.lease_until
    if state == "queued" and lease_until is not None and lease_until > now:
        return None  # waiting to be retried
    again = state == "printing" and owner == run
    values: dict[str, Any] = {"lease_owner": run, "lease_until": now + timedelta(seconds=LEASE_SECONDS)}
    if not again:
        values.update(state="printing", attempts=attempts + 1, updated_at=now)
    with db.WriteSession() as session:
        # Compare-and-set: two requests (of this run or another) must not both take it.
        done = session.execute(
            update(PrintJob)
            .where(
                PrintJob.id == job_id,
                PrintJob.state == state,
                PrintJob.attempts == attempts,
                (PrintJob.lease_owner == owner) if owner is not None else PrintJob.lease_owner.is_(None),
            )
            .values(**values)
        )
        if done.rowcount != 1:
            session.rollback()
            return None
        session.commit()
    return {
        "id": job_id,
        "label": label,
        "receipt": receipt,
        "attempt": values.get("attempts", attempts),
        "resumed": state == "printing",
    }


@bp.route("/jobs")
def jobs():
    """Long poll: the next print job of this terminal's printer, leased to the asking agent run."""
    from kiosk.db import release_read_connection

    try:
        wait = min(max(int(request.args.get("wait", DEFAULT_WAIT_SECONDS)), 0), MAX_WAIT_SECONDS)
    except ValueError:
        raise Refused(400, "wait must be a whole number of seconds") from None
    app = current_app._get_current_object()
    printing = app.extensions["kiosk_printing"]
    if g.agent.name not in printing.agent_printers:
        # Nothing will come: say so once, then wait like any long poll so the agent does not spin.
        log.info("terminal %s has no agent printer in the station file; its agent gets no print jobs", g.agent.name)
    release_read_connection()
    from kiosk.printing import expire_agent_jobs

    expire_agent_jobs(app)  # an agent back after hours must not print what residents gave up on
    deadline = time.monotonic() + wait
    while True:
        job = _lease(app, g.agent.name, g.agent.session) if g.agent.name in printing.agent_printers else None
        left = deadline - time.monotonic()
        if job is not None or left <= 0 or printing._stop.is_set():
            return jsonify({"job": job})
        with printing.agent_jobs:
            # Woken at once by a job added in this process; another process's job is seen within a second.
            printing.agent_jobs.wait(min(1.0, left))


def _job_row(session, job_id: str):
    from kiosk.models import PrintJob

    if not re.fullmatch(r"[0-9a-f]{32}", job_id):
        raise Refused(404, "no such print job", log_it=False)
    row = session.get(PrintJob, job_id, with_for_update=True)
    if row is None or row.station_id != current_app.extensions["kiosk_station_id"]:
        raise Refused(404, "no such print job")
    if row.printer != g.agent.name:
        # Another terminal's job (or no longer this one's: staff sent it to another printer).
        # Only the terminal whose printer it is may settle it; an honest agent drops it.
        raise Refused(403, f"print job {job_id} is not for terminal {g.agent.name}'s printer", job="elsewhere")
    return row


def _text(data: dict, key: str, limit: int) -> str:
    value = data.get(key, "")
    return value[:limit] if isinstance(value, str) else ""


@bp.route("/jobs/<job_id>/done", methods=["POST"])
def job_done(job_id: str):
    """The printer took the job's bytes. Idempotent: saying it twice changes nothing."""
    from kiosk.db import write_transaction

    data = _json_body()
    # "done" only when the agent's printer confirmed the job; an agent older than confirmations
    # sends neither field and is taken at its word. Asked and not answered: "sent", for staff.
    confirmed = data.get("confirmed", True) is not False
    queried = data.get("queried", True) is not False
    settled = None
    with write_transaction() as session:
        row = _job_row(session, job_id[:40])
        if row.state not in ("done", "sent"):
            now = utcnow()
            row.state, row.error, row.error_kind = ("done" if confirmed else "sent"), None, None
            if not confirmed and queried:
                row.error_kind = "unconfirmed"
                row.error = "sent, but the printer did not confirm it"
            row.note = _text(data, "note", 500)
            row.finished_at = row.updated_at = now
            row.lease_owner = row.lease_until = None
            settled = row.printer, row.state
        state = row.state
    if settled is not None:
        from kiosk import metrics

        metrics.print_job_finished(current_app, *settled)
    return jsonify({"state": state})


@bp.route("/jobs/<job_id>/failed", methods=["POST"])
def job_failed(job_id: str):
    """The job could not be printed: retried later (a retryable fault) or left failed for staff to reprint."""
    from kiosk.db import write_transaction

    data = _json_body()
    printing = current_app.extensions["kiosk_printing"]
    with write_transaction() as session:
        row = _job_row(session, job_id[:40])
        if row.state != "printing" or row.lease_owner != g.agent.session:
            return jsonify({"state": row.state})  # already settled, or handed to a newer agent run
        now = utcnow()
        row.error = _text(data, "error", 2000) or "the terminal's agent could not print it"
        row.error_kind = _text(data, "kind", 32) or "error"
        row.updated_at = now
        row.lease_owner = None
        if data.get("retryable") is True and row.attempts < row.max_attempts:
            delay = min(1.0 * 2 ** max(0, row.attempts - 1), 30.0)
            row.state, row.lease_until = "queued", now + timedelta(seconds=delay)
        else:
            row.state, row.finished_at, row.lease_until = "failed", now, None
            log.error(
                "job %s failed at terminal %s after %d attempts: %s", row.id, g.agent.name, row.attempts, row.error
            )
        state, printer = row.state, row.printer
    if state == "failed":
        from kiosk import metrics

        metrics.print_job_finished(current_app, printer, state)
    printing.notify_agents()
    return jsonify({"state": state})


@bp.route("/reads", methods=["POST"])
def reads():
    """A card tap or scan made at the agent's terminal: offered to that terminal's page only."""
    from kiosk_hardware.readers.events import EVENT_KINDS, ReaderEvent

    data = _json_body()
    source, kind, value = data.get("source"), data.get("kind"), data.get("value")
    if not isinstance(source, str) or not DEVICE_RE.fullmatch(source):
        raise Refused(400, "source must be the reader's name from the station file")
    if kind not in EVENT_KINDS:
        raise Refused(400, f"kind must be one of {', '.join(sorted(EVENT_KINDS))}")
    if not isinstance(value, str) or len(value) > 4096:
        raise Refused(400, "value must be the text read (at most 4096 characters)")
    try:
        at = datetime.fromisoformat(str(data.get("at")))
    except ValueError:
        raise Refused(400, "at must be an ISO 8601 time with its offset") from None
    if at.tzinfo is None:
        raise Refused(400, "at must be an ISO 8601 time with its offset")
    age = (datetime.now(UTC) - at).total_seconds()
    if age > READ_MAX_AGE_SECONDS or age < -READ_MAX_AGE_SECONDS:
        # A tap that took this long to arrive may belong to someone who already left.
        log.info("dropped a read of %s at terminal %s made %.0f s ago", source, g.agent.name, age)
        return jsonify({"delivered": 0, "dropped": "too old"})
    event = ReaderEvent(source=source, kind=kind, value=value, at=at)
    hub = current_app.extensions["reader_hub"]
    delivered = hub.publish(event, terminal=g.agent.name)
    return jsonify({"delivered": int(delivered or 0)})


@bp.route("/status", methods=["POST"])
def status():
    """The agent's devices: written as the station's device reports (``<terminal>/<device>``)."""
    from kiosk import device_reports
    from kiosk.db import upsert_insert
    from kiosk.device_config import device_key
    from kiosk.models import DeviceReport

    data = _json_body()
    devices = data.get("devices")
    if not isinstance(devices, dict) or len(devices) > 20:
        raise Refused(400, "devices must be an object of at most 20 devices")
    rows: dict[str, dict] = {}
    for name, info in devices.items():
        if not DEVICE_RE.fullmatch(str(name)) or not isinstance(info, dict):
            raise Refused(400, f"device {str(name)[:40]!r}: a name from the station file and its state")
        state = info.get("state")
        if not isinstance(state, str) or not re.fullmatch(r"[a-z_]{1,32}", state):
            raise Refused(400, f"device {name}: state must be a word like ok, warning, error, disconnected")
        rows[device_key(g.agent.name, name)] = {
            "kind": _text(info, "kind", 32),
            "state": state,
            "detail": _text(info, "detail", 2000),
        }
    version = _text(data, "version", 64)
    rows[device_key(g.agent.name, "agent")] = {"kind": "agent", "state": "ok", "detail": f"kiosk agent {version}"}
    app = current_app._get_current_object()
    station_id = app.extensions["kiosk_station_id"]
    db = app.extensions["db"]
    insert = upsert_insert(db.dialect)
    now = utcnow()
    with db.WriteSession() as session:
        for device, values in sorted(rows.items()):
            statement = insert(DeviceReport).values(station_id=station_id, device=device[:64], updated_at=now, **values)
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["station_id", "device"], set_={**values, "updated_at": now}
                )
            )
        device_reports.record_for_hub(app, session, station_id, rows, now)
        session.commit()
    return jsonify({"ok": True})


def api_description() -> dict:
    """The agents' endpoints for ``/api/openapi.json`` (JSON for ``kiosk agent``, not for people)."""

    def error(text: str) -> dict:
        return {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }

    def ok(schema: dict, text: str) -> dict:
        return {"description": text, "content": {"application/json": {"schema": schema}}}

    header = {
        "name": PROTOCOL_HEADER,
        "in": "header",
        "required": True,
        "schema": {"type": "integer"},
        "description": f"The agent protocol the agent speaks (this station node accepts {MIN_PROTOCOL} to {PROTOCOL})",
    }
    refusals = {
        "403": error("No credential, a wrong or revoked one, or another terminal's job or reads"),
        "404": error("No such print job at this station, or this node is the hub"),
        "409": error("A kiosk agent started later now serves this terminal: this one stops"),
        "400": error(
            "Malformed request, the protocol or session header is missing, or the agent's protocol is not "
            "accepted (the answer names the version to install)"
        ),
    }
    job_id = {
        "name": "job_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    }
    state = {"type": "object", "required": ["state"], "properties": {"state": {"type": "string"}}}
    job = {
        "type": ["object", "null"],
        "required": ["id", "receipt", "label", "attempt", "resumed"],
        "properties": {
            "id": {"type": "string"},
            "receipt": {"type": "object"},
            "label": {"type": "string"},
            "attempt": {"type": "integer"},
            "resumed": {"type": "boolean"},
        },
    }

    def body(schema: dict) -> dict:
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    return {
        "endpoints": {
            "agent.enrol": {
                "post": {
                    "summary": "A terminal's kiosk agent trades its one-time token for its credential",
                    "parameters": [header],
                    "requestBody": body(
                        {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}
                    ),
                    "responses": {
                        "200": ok(
                            {
                                "type": "object",
                                "required": ["credential", "terminal", "kind", "station"],
                                "properties": {k: {"type": "string"} for k in ("credential", "terminal", "kind")}
                                | {"station": {"type": "string"}},
                            },
                            "Enrolled: the agent's credential (shown once)",
                        ),
                        **refusals,
                    },
                }
            },
            "agent.hello": {
                "get": {
                    "summary": "Who the agent is to this station node",
                    "parameters": [header],
                    "responses": {
                        "200": ok(
                            {"type": "object", "required": ["terminal", "station", "protocol", "version"]},
                            "The agent's terminal and this node's protocol and version",
                        ),
                        **refusals,
                    },
                }
            },
            "agent.jobs": {
                "get": {
                    "summary": "Long poll: the next print job of the agent's terminal, leased to it",
                    "parameters": [
                        header,
                        {
                            "name": "wait",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
                        },
                    ],
                    "responses": {
                        "200": ok(
                            {"type": "object", "required": ["job"], "properties": {"job": job}},
                            "A job, or null after the wait",
                        ),
                        **refusals,
                    },
                }
            },
            "agent.job_done": {
                "post": {
                    "summary": "The terminal's printer took the job (idempotent)",
                    "parameters": [header, job_id],
                    "requestBody": body({"type": "object", "properties": {"note": {"type": "string"}}}),
                    "responses": {"200": ok(state, "The job is done"), **refusals},
                }
            },
            "agent.job_failed": {
                "post": {
                    "summary": "The job could not be printed: retried later, or left for staff to reprint",
                    "parameters": [header, job_id],
                    "requestBody": body(
                        {
                            "type": "object",
                            "properties": {
                                "error": {"type": "string"},
                                "kind": {"type": "string"},
                                "retryable": {"type": "boolean"},
                            },
                        }
                    ),
                    "responses": {"200": ok(state, "queued again, or failed"), **refusals},
                }
            },
            "agent.reads": {
                "post": {
                    "summary": "A card tap or scan at the agent's terminal, for that terminal's page only",
                    "parameters": [header],
                    "requestBody": body(
                        {
                            "type": "object",
                            "required": ["source", "kind", "value", "at"],
                            "properties": {
                                "source": {"type": "string"},
                                "kind": {"type": "string", "enum": ["card", "code", "track", "removed"]},
                                "value": {"type": "string", "maxLength": 4096},
                                "at": {"type": "string", "format": "date-time"},
                            },
                        }
                    ),
                    "responses": {
                        "200": ok(
                            {
                                "type": "object",
                                "required": ["delivered"],
                                "properties": {"delivered": {"type": "integer"}},
                            },
                            "How many pages received it (a read too old is dropped)",
                        ),
                        **refusals,
                    },
                }
            },
            "agent.status": {
                "post": {
                    "summary": "The states of the agent's devices (shown on /healthz and the dashboards)",
                    "parameters": [header],
                    "requestBody": body(
                        {
                            "type": "object",
                            "required": ["devices"],
                            "properties": {"devices": {"type": "object"}, "version": {"type": "string"}},
                        }
                    ),
                    "responses": {"200": ok({"type": "object"}, "Recorded"), **refusals},
                }
            },
        }
    }


def init_app(app) -> None:
    """Register the agents' endpoints (no CSRF: agents send no cookies; they prove themselves by credential)."""
    app.register_blueprint(bp)
    app.extensions["csrf_exempt_blueprints"].add(bp.name)


# ---- The agent on the terminal PC -------------------------------------------------------------


class AgentRefused(Exception):
    """The station node refused this agent for a reason retrying cannot fix (protocol, credential)."""


class StationUnreachable(Exception):
    """The station node could not be reached or answered with a server error; retried with backoff."""


class Journal:
    """The ids of the jobs this terminal's printer took, on disk: a restart must not print them again.

    An id is written (and flushed to disk) after the printer took the bytes and
    before the station node is told; the file keeps the last :attr:`KEEP` ids.
    """

    KEEP = 500

    def __init__(self, path: Path):
        self.path = path
        self.ids: list[str] = []
        if path.exists():
            self.ids = [line.strip() for line in path.read_text("ascii", "replace").splitlines() if line.strip()]
        if len(self.ids) > self.KEEP:
            self.ids = self.ids[-self.KEEP :]
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(f"{i}\n" for i in self.ids), "ascii")
            os.replace(tmp, path)
        self._set = set(self.ids)

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._set

    def add(self, job_id: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="ascii") as fh:
            fh.write(job_id + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.ids.append(job_id)
        self._set.add(job_id)


class Backoff:
    """Waits between reconnection attempts: 1, 2, 4 … up to 30 s, back to 1 after a success."""

    def __init__(self, first: float = 1.0, most: float = 30.0):
        self.first, self.most = first, most
        self.delay = first

    def next(self) -> float:
        delay = self.delay
        self.delay = min(self.delay * 2, self.most)
        return delay

    def reset(self) -> None:
        self.delay = self.first


def read_credential(path: Path) -> dict:
    """The credential file ``kiosk agent enrol`` wrote: {station, terminal, credential}."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise AgentRefused(f"{path}: no credential file; enrol first: kiosk agent enrol URL TOKEN") from None
    except (OSError, ValueError) as exc:
        raise AgentRefused(f"{path}: not a kiosk agent credential file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("credential"), str):
        raise AgentRefused(f"{path}: not a kiosk agent credential file")
    return data


def write_credential(path: Path, data: dict) -> None:
    """Write the credential readable by its owner only (0600), replacing any earlier one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _request(
    url: str, *, method: str = "GET", body: dict | None = None, headers: dict, timeout: float
) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            payload = json.loads(exc.read() or b"{}")
        except ValueError:
            payload = {}
        if exc.code >= 500 or exc.code == 429:
            raise StationUnreachable(f"the station node answered {exc.code}") from None
        return exc.code, payload if isinstance(payload, dict) else {}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise StationUnreachable(str(getattr(exc, "reason", exc))) from None


def enrol_agent(station: str, token: str, path: Path, *, protocol: int = PROTOCOL) -> dict:
    """Trade a one-time token for the terminal's agent credential and store it at ``path`` (0600)."""
    station = station.rstrip("/")
    code, body = _request(
        f"{station}/agent/v1/enrol",
        method="POST",
        body={"token": token},
        headers={PROTOCOL_HEADER: str(protocol), VERSION_HEADER: package_version()},
        timeout=15,
    )
    if code != 200:
        raise AgentRefused(body.get("error") or f"the station node refused the enrolment ({code})")
    data = {"station": station, "terminal": body["terminal"], "credential": body["credential"]}
    write_credential(path, data)
    return data


def agent_tables(station_file: Path, terminal: str):
    """The terminal's device tables from a copy of the station file (checked as the station node checks them)."""
    from kiosk.config import ConfigError, load_station_file
    from kiosk.device_config import terminal_tables

    try:
        tables = terminal_tables(load_station_file(station_file))
    except FileNotFoundError:
        raise AgentRefused(
            f"{station_file}: no such station file (copy the station node's, or --station-file)"
        ) from None
    except ConfigError as exc:
        raise AgentRefused(f"{station_file}: {exc}") from None
    table = tables.get(terminal)
    if table is None:
        raise AgentRefused(f"{station_file} has no [terminals.{terminal}] table: it says what this agent drives")
    if not table.agent:
        raise AgentRefused(
            f"[terminals.{terminal}] in {station_file} does not say agent = true: the station node drives its "
            "devices itself, so this agent would fight it for them"
        )
    return table


class Agent:
    """Drives one terminal's printer and readers for the station node, over outgoing HTTP only."""

    def __init__(
        self,
        station: str,
        terminal: str,
        credential: str,
        devices,
        journal: Path,
        *,
        protocol: int = PROTOCOL,
        wait: int = DEFAULT_WAIT_SECONDS,
        status_every: float = STATUS_EVERY_SECONDS,
    ):
        self.station = station.rstrip("/")
        self.terminal = terminal
        self.devices = devices
        self.journal = Journal(journal)
        self.protocol = protocol
        self.wait = wait
        self.status_every = status_every
        self.session = f"{int(time.time() * 1000):013d}-{secrets.token_hex(8)}"
        self.headers = {
            "Authorization": f"Bearer {credential}",
            PROTOCOL_HEADER: str(protocol),
            VERSION_HEADER: package_version(),
            SESSION_HEADER: self.session,
            TERMINAL_HEADER: terminal,
        }
        self.stop = threading.Event()
        self.fatal: str | None = None
        self.printer: Any = None
        self._printer_lock = threading.Lock()
        self._printer_state = {"kind": "printer", "state": "unknown", "detail": "not used yet"}
        self._reads: queue.Queue = queue.Queue(maxsize=20)
        self._status_changed = threading.Event()
        self.manager: Any = None

    # -- talking to the station node --

    def call(self, path: str, *, method: str = "GET", body: dict | None = None, timeout: float = 15) -> dict:
        """One request; AgentRefused for what retrying cannot fix, StationUnreachable for what it may."""
        code, payload = _request(
            f"{self.station}{path}", method=method, body=body, headers=self.headers, timeout=timeout
        )
        refused = code in (401, 403) and payload.get("job") != "elsewhere"
        if refused or payload.get("superseded") or (code == 400 and "protocol" in payload):
            raise AgentRefused(payload.get("error") or f"the station node refused the agent ({code})")
        if code >= 400:
            log.warning("%s %s: the station node answered %s: %s", method, path, code, payload.get("error", ""))
        payload["_status"] = code
        return payload

    # -- the parts --

    def _open_devices(self) -> None:
        from kiosk.device_config import QUEUE_KEYS
        from kiosk_hardware.printers import printer_from_config

        if self.devices.printer is not None:
            cfg = {k: v for k, v in self.devices.printer.items() if k not in QUEUE_KEYS}
            self.printer = printer_from_config(cfg)
        if self.devices.readers:
            from kiosk_hardware.readers import ReaderManager

            self.manager = ReaderManager(self.devices.readers, on_event=self._on_read)
            self.manager.start()

    def _on_read(self, event) -> None:
        try:
            self._reads.put_nowait((time.monotonic(), event))
        except queue.Full:
            log.warning("dropped a read of %s: the station node is not taking reads", event.source)

    def _send_reads(self) -> None:
        backoff = Backoff(0.2, 5.0)
        while not self.stop.is_set():
            try:
                taken, event = self._reads.get(timeout=0.5)
            except queue.Empty:
                continue
            while not self.stop.is_set():
                if time.monotonic() - taken > READ_MAX_AGE_SECONDS:
                    log.info("dropped a read of %s: too old to deliver", event.source)
                    break
                try:
                    self.call("/agent/v1/reads", method="POST", body=event.to_dict(), timeout=5)
                    backoff.reset()
                    break
                except StationUnreachable as exc:
                    log.warning("could not deliver a read (%s); trying again", exc)
                    self.stop.wait(backoff.next())
                except AgentRefused as exc:
                    self._fail(str(exc))
                    return

    def device_states(self) -> dict:
        out: dict[str, dict] = {"printer": dict(self._printer_state)} if self.printer is not None else {}
        if self.manager is not None:
            for status in self.manager.statuses():
                out[status.name] = {"kind": status.kind, "state": status.state, "detail": status.detail}
        return out

    def _report(self) -> None:
        last: dict | None = None
        next_at = 0.0
        backoff = Backoff(1.0, 30.0)
        while not self.stop.is_set():
            states = self.device_states()
            if states != last or time.monotonic() >= next_at:
                try:
                    self.call("/agent/v1/status", method="POST", body={"devices": states, "version": package_version()})
                    last, next_at = states, time.monotonic() + self.status_every
                    backoff.reset()
                except StationUnreachable as exc:
                    log.warning("could not report the devices (%s)", exc)
                    next_at = time.monotonic() + backoff.next()
                except AgentRefused as exc:
                    self._fail(str(exc))
                    return
            self._status_changed.wait(1.0)
            self._status_changed.clear()

    def _fail(self, message: str) -> None:
        if self.fatal is None:
            self.fatal = message
        self.stop.set()

    def _set_printer_state(self, state: str, detail: str) -> None:
        self._printer_state = {"kind": "printer", "state": state, "detail": detail}
        self._status_changed.set()

    # -- print jobs --

    def handle(self, job: dict) -> None:
        """Print one leased job (unless the journal says it printed), then tell the station node."""
        from kiosk_hardware.errors import PrinterError
        from kiosk_hardware.receipt import Receipt

        job_id = job["id"]
        if job_id in self.journal:
            log.info("job %s was printed before a restart: acknowledging it without printing", job_id)
            self._settle(job_id, "done", {"note": "printed before the agent restarted"})
            return
        if self.printer is None:
            self._settle(job_id, "failed", {"error": "this terminal has no printer", "kind": "config"})
            return
        try:
            with self._printer_lock:
                result = self.printer.print_receipt(Receipt.from_dict(job["receipt"]), job_id=job_id)
        except PrinterError as exc:
            self._set_printer_state("warning" if exc.retryable else "error", str(exc))
            self._settle(job_id, "failed", {"error": str(exc), "kind": exc.kind, "retryable": exc.retryable})
            return
        except Exception as exc:  # a receipt that cannot be rendered: retrying cannot help
            log.exception("job %s cannot be printed", job_id)
            self._settle(job_id, "failed", {"error": f"{type(exc).__name__}: {exc}", "kind": "invalid"})
            return
        # The printer took the bytes: remember it before telling anyone.
        self.journal.add(job_id)
        after = result.after
        self._set_printer_state(after.level if after is not None else "ok", after.describe() if after else "")
        self._settle(job_id, "done", {"note": result.note, "confirmed": result.confirmed, "queried": result.queried})

    def _settle(self, job_id: str, outcome: str, body: dict) -> None:
        """Tell the station node how a job went, until it hears it (or the job is no longer ours)."""
        backoff = Backoff()
        while not self.stop.is_set():
            try:
                answer = self.call(f"/agent/v1/jobs/{job_id}/{outcome}", method="POST", body=body)
                if answer["_status"] in (403, 404, 409):
                    log.warning("job %s: %s", job_id, answer.get("error", "no longer this terminal's"))
                return
            except StationUnreachable as exc:
                delay = backoff.next()
                log.warning("could not report job %s %s (%s); again in %.0f s", job_id, outcome, exc, delay)
                self.stop.wait(delay)

    def _check_printer(self) -> None:
        if self.printer is None:
            return
        with self._printer_lock:
            try:
                status = self.printer.status()
            except Exception as exc:
                self._set_printer_state("error", str(exc))
                return
        self._set_printer_state(status.level, status.describe())

    def _hello(self) -> None:
        """Introduce the agent, waiting for the station node if it is not up yet.

        A refused credential or protocol stops the agent here, before any device opens.
        """
        backoff = Backoff()
        logged = False
        while not self.stop.is_set():
            try:
                self.call("/agent/v1/hello")
                if logged:
                    log.warning("the station node %s answers", self.station)
                return
            except StationUnreachable as exc:
                if not logged:
                    log.warning("the station node %s cannot be reached (%s); retrying", self.station, exc)
                    logged = True
                self.stop.wait(backoff.next())

    def run(self) -> None:
        """Serve the terminal until :attr:`stop` is set; raises AgentRefused when the station node refuses it."""
        self._hello()
        if self.stop.is_set():
            return
        self._open_devices()
        threads = [
            threading.Thread(target=self._send_reads, daemon=True, name="agent-reads"),
            threading.Thread(target=self._report, daemon=True, name="agent-status"),
        ]
        for thread in threads:
            thread.start()
        backoff = Backoff()
        down_since: float | None = None
        last_check = 0.0
        try:
            while not self.stop.is_set():
                try:
                    answer = self.call(f"/agent/v1/jobs?wait={self.wait}", timeout=self.wait + 15)
                except StationUnreachable as exc:
                    if down_since is None:
                        down_since = time.monotonic()
                        log.warning("the station node %s cannot be reached (%s); retrying", self.station, exc)
                    self.stop.wait(backoff.next())
                    continue
                if down_since is not None:
                    log.warning("the station node answers again after %.0f s", time.monotonic() - down_since)
                    down_since = None
                backoff.reset()
                job = answer.get("job")
                if job:
                    self.handle(job)
                elif time.monotonic() - last_check > self.status_every:
                    last_check = time.monotonic()
                    self._check_printer()
        finally:
            self.stop.set()
            if self.manager is not None:
                self.manager.stop()
        if self.fatal:
            raise AgentRefused(self.fatal)


# ---- The command ------------------------------------------------------------------------------

DEFAULT_CREDENTIAL = "/etc/kiosk/agent.json"


@click.group("agent", invoke_without_command=True)
@click.option(
    "--station", "station_url", default=None, help="The station node's URL (default: from the credential file)."
)
@click.option(
    "--terminal", default=None, help="The terminal this PC is, e.g. hall-2 (default: from the credential file)."
)
@click.option(
    "--credential-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CREDENTIAL,
    show_default=True,
    help="Where `kiosk agent enrol` stored the credential.",
)
@click.option(
    "--station-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A copy of the station file with this terminal's [terminals.<name>] tables (default: KIOSK_STATION_FILE).",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The list of jobs already printed (default: $STATE_DIRECTORY, else beside the credential file).",
)
@click.pass_context
def agent_cli(ctx, station_url, terminal, credential_file, station_file, journal):
    """Drive this terminal PC's printer and readers for the station node (connects out; opens no port)."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        saved = read_credential(credential_file)
        station_url = station_url or saved.get("station")
        terminal = terminal or saved.get("terminal")
        if not station_url or not terminal:
            raise AgentRefused("give --station and --terminal (or enrol: kiosk agent enrol URL TOKEN)")
        station_file = station_file or Path(os.environ.get("KIOSK_STATION_FILE") or "station.toml")
        devices = agent_tables(station_file, terminal)
        # systemd's StateDirectory= (the unit in docs/deploy.md); else beside the credential file.
        state = Path(os.environ["STATE_DIRECTORY"].split(":")[0]) if os.environ.get("STATE_DIRECTORY") else None
        journal = journal or (state or credential_file.parent) / f"agent-{terminal}.journal"
        agent = Agent(station_url, terminal, saved["credential"], devices, journal)
        click.echo(f"kiosk agent for terminal {terminal} of {station_url} (protocol {PROTOCOL})", err=True)
        agent.run()
    except AgentRefused as exc:
        click.echo(f"kiosk agent: {exc}", err=True)
        ctx.exit(4)
    except StationUnreachable as exc:
        click.echo(f"kiosk agent: the station node {station_url} cannot be reached ({exc})", err=True)
        ctx.exit(3)
    except KeyboardInterrupt:
        ctx.exit(0)


@agent_cli.command("enrol")
@click.argument("station_url", metavar="URL")
@click.argument("token")
@click.option(
    "--credential-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CREDENTIAL,
    show_default=True,
)
def enrol_cmd(station_url, token, credential_file):
    """Enrol this PC's agent with a one-time token from `kiosk agent token <terminal>` (stores it 0600)."""
    try:
        data = enrol_agent(station_url, token, credential_file)
    except (AgentRefused, StationUnreachable) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"enrolled as the agent of terminal {data['terminal']}; credential in {credential_file}")


@agent_cli.command("token")
@click.argument("terminal")
def token_cmd(terminal):
    """On the station node: a one-time token (24 h) for the agent of TERMINAL."""
    from flask.cli import ScriptInfo

    from kiosk.terminals import TerminalError

    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    with app.app_context():
        station_id = app.extensions["kiosk_station_id"]
        with app.extensions["db"].WriteSession() as session:
            try:
                token = new_token(session, station_id, terminal)
            except TerminalError as exc:
                raise click.ClickException(str(exc)) from exc
            from kiosk.audit import record

            record(
                "agent.token",
                {"terminal": terminal, "via": "cli"},
                station_id=station_id,
                session=session,
                commit=False,
            )
            session.commit()
        if terminal not in app.extensions["kiosk_printing"].terminals:
            click.echo(f"note: the station file has no [terminals.{terminal}] with agent = true yet", err=True)
    click.echo(token)
    click.echo(f"on the terminal PC: kiosk agent enrol <this station's URL> {token}", err=True)
