"""Scheduled jobs from plugins (and the core), each run by one worker at a time.

Every job states where it runs (its *scope*):

- ``"station"`` (the default): on a station node, for that node's station,
  with that station's settings and in its time zone. The lease is the station's
  own (``<job>@<station code>``), so two station nodes that share one
  PostgreSQL database each run the job for themselves and never run it for
  the other with the wrong settings;
- ``"hub"``: on the district hub only, once across all its processes
  (lease ``<job>@hub``);
- ``"any"``: on both, leased like a station job on a station and like a hub
  job on the hub.

Each lease is a row in ``job_run`` named as above; the worker that takes it
runs the job. Jobs run in a daemon thread started by ``kiosk serve``/``kiosk run``
(not in tests, which call :func:`run_due` directly).

A job is ``func(app)``, called inside an application context of ``app``:
:func:`kiosk.db.get_session` works there and its session is closed when the
job ends (commit what you wrote), and :func:`kiosk.db.write_transaction` too.
A thread the job starts has no context: it opens sessions with
:func:`kiosk.db.session_for` and learns its station from
:func:`kiosk.stations.station_id_of`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kiosk import clock
from kiosk.db import session_for, utcnow
from kiosk.models import JobRun, Station

log = logging.getLogger("kiosk.jobs")

#: Where a job may run: on each station node, on the hub only, or on both.
SCOPES = ("station", "hub", "any")
#: The lease name's suffix of a job that runs on the hub.
HUB_LEASE = "hub"
#: ``job_run.name`` holds at most this many characters.
LEASE_NAME_LENGTH = 100


def _due(job: dict, last: datetime | None, now: datetime, tz: tzinfo) -> bool:
    if job["every"] is not None:
        # A last run "after now" means the clock was set back since (NTP correcting a clock that ran
        # ahead): the job is due, or it would not run again until the clock caught up with that run.
        return last is None or last > now or (now - last).total_seconds() >= job["every"]
    # A daily job keeps its rule: one run per local day at ``at``; a run recorded later today by a
    # clock that ran ahead is today's run.
    hour, minute = (int(x) for x in job["at"].split(":"))
    local_now = now.astimezone(tz)
    today_at = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if local_now < today_at:
        return False
    return last is None or last.astimezone(tz) < today_at


def runs_here(job: dict, hub: bool) -> bool:
    """Whether ``job`` runs on this node: station jobs on stations, hub jobs on the hub, "any" on both."""
    scope = job.get("scope", "station")
    return scope == "any" or scope == ("hub" if hub else "station")


def lease_name(job_name: str, owner: str) -> str:
    """The ``job_run`` row of ``job_name`` run for ``owner`` (a station code, or ``"hub"``).

    A name too long for the column keeps its start and gains a short digest, so
    it stays unique.
    """
    name = f"{job_name}@{owner}"
    if len(name) <= LEASE_NAME_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return name[: LEASE_NAME_LENGTH - 13] + "~" + digest


def _take_lease(session, name: str, legacy: str, now: datetime, seconds: int) -> JobRun | None:
    row = session.get(JobRun, name, with_for_update=True)
    if row is None:
        # The row of the same job from before leases were per station: its last run
        # carries over, so a daily job does not run twice on the day of an upgrade.
        before = session.get(JobRun, legacy)
        row = JobRun(name=name, last_error="", last_run_at=before.last_run_at if before is not None else None)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # Another worker made the row at the same moment (a fresh database, several
            # workers starting together): that worker has the job this pass.
            return None
    if row.lease_until is not None and row.lease_until > now:
        return None
    row.lease_until = now + timedelta(seconds=seconds)
    return row


def _last_run(session, name: str, legacy: str) -> datetime | None:
    found = session.execute(select(JobRun.name, JobRun.last_run_at).where(JobRun.name.in_((name, legacy)))).all()
    runs = dict(found)
    return runs[name] if name in runs else runs.get(legacy)


def run_due(app, now: datetime | None = None) -> list[str]:
    """Run every job of this node's role that is due now; returns the names (``plugin.job``) that ran."""
    now = now or utcnow()
    hub = app.config.get("ROLE") == "hub"
    plugins = app.extensions["kiosk_plugins"]
    station_id = app.extensions["kiosk_station_id"]
    with session_for(app) as session:
        station = session.get(Station, station_id)
        # An unknown zone falls back like everywhere else: the jobs must still run.
        tz = clock.zone(station if station is not None else app.config["STATION"].get("timezone") or "")
        owner = HUB_LEASE if hub else (station.code if station is not None else app.config["STATION"]["code"])
    ran = []
    for job in app.extensions["kiosk_jobs"]:
        if not runs_here(job, hub):
            continue
        if job["plugin"] != "kiosk" and plugins.infos.get(job["plugin"]).state != "enabled":
            continue
        lease = lease_name(job["name"], owner)
        with session_for(app, write=True) as session:
            if not _due(job, _last_run(session, lease, job["name"]), now, tz):
                continue
            row = _take_lease(session, lease, job["name"], now, 300)
            session.commit()
        if row is None:
            continue
        error = ""
        try:
            with app.app_context():
                job["func"](app)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if job["plugin"] != "kiosk":
                plugins.record_fault(job["plugin"], f"job {job['name']}", exc)
            else:
                log.exception("core job %s failed", job["name"])
        with session_for(app, write=True) as session:
            done = session.get(JobRun, lease)
            if done is not None:  # its row was taken above; only a database wiped meanwhile lacks it
                done.last_run_at, done.lease_until, done.last_error = now, None, error
                session.commit()
        ran.append(job["name"])
    return ran


def make_job(plugin: str, name: str, func, every=None, at=None, scope: str = "station") -> dict:
    """A job's record, checked: exactly one of ``every``/``at``, a known ``scope``.

    Raises :class:`ValueError` saying what is wrong (the plugin loader turns it
    into a :class:`kiosk.plugins.PluginError` for the plugin).
    """
    if (every is None) == (at is None):
        raise ValueError("a job needs exactly one of every= or at=")
    if scope not in SCOPES:
        raise ValueError(f"job {name}: scope must be one of {', '.join(repr(s) for s in SCOPES)}, not {scope!r}")
    if not callable(func):
        raise ValueError(f"job {name}: func must be callable")
    return {"plugin": plugin, "name": name, "func": func, "every": every, "at": at, "scope": scope}


def init_app(app, core: list[dict] | tuple = ()) -> None:
    """Collect the core's jobs (``core``, from the app factory) and the plugins' into ``app.extensions["kiosk_jobs"]``.

    The core's list comes from outside so this module imports none of the
    modules whose work it schedules (they may schedule jobs of their own).
    """
    app.extensions["kiosk_jobs"] = [*core, *app.extensions["kiosk_plugins"].jobs]


def start_scheduler(app, interval: float = 20.0) -> threading.Event:
    """Run due jobs every ``interval`` seconds in a daemon thread; set the event to stop."""
    stop = threading.Event()

    def loop():
        while not stop.wait(interval):
            try:
                run_due(app)
            except Exception:
                log.exception("scheduler pass failed; trying again next pass")

    threading.Thread(target=loop, daemon=True, name="kiosk-jobs").start()
    return stop
