"""Scheduled jobs from plugins (and the core), run by one worker at a time.

Each job has a row in ``job_run`` holding a lease: the worker that takes the
lease runs the job, so a fleet with many workers runs it once. Jobs run in a
daemon thread started by ``kiosk serve``/``kiosk run`` (not in tests, which
call :func:`run_due` directly).

A job is ``func(app)``, called inside an application context of ``app``:
:func:`kiosk.db.get_session` works there and its session is closed when the
job ends (commit what you wrote), and :func:`kiosk.db.write_transaction` too.
A thread the job starts has no context: it opens sessions with
:func:`kiosk.db.session_for` and learns its station from
:func:`kiosk.stations.station_id_of`.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import select

from kiosk import clock
from kiosk.db import session_for, utcnow
from kiosk.models import JobRun

log = logging.getLogger("kiosk.jobs")


def _due(job: dict, last: datetime | None, now: datetime, tz: tzinfo) -> bool:
    if job["every"] is not None:
        return last is None or (now - last).total_seconds() >= job["every"]
    hour, minute = (int(x) for x in job["at"].split(":"))
    local_now = now.astimezone(tz)
    today_at = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if local_now < today_at:
        return False
    return last is None or last.astimezone(tz) < today_at


def _take_lease(session, name: str, now: datetime, seconds: int) -> JobRun | None:
    row = session.get(JobRun, name, with_for_update=True)
    if row is None:
        row = JobRun(name=name, last_error="")
        session.add(row)
        session.flush()
    if row.lease_until is not None and row.lease_until > now:
        return None
    row.lease_until = now + timedelta(seconds=seconds)
    return row


def run_due(app, now: datetime | None = None) -> list[str]:
    """Run every job that is due now; returns the names that ran."""
    now = now or utcnow()
    # An unknown zone falls back like everywhere else: the jobs must still run.
    tz = clock.zone(app.config["STATION"].get("timezone") or "")
    plugins = app.extensions["kiosk_plugins"]
    ran = []
    for job in app.extensions["kiosk_jobs"]:
        if job["plugin"] != "kiosk" and plugins.infos.get(job["plugin"]).state != "enabled":
            continue
        with session_for(app, write=True) as session:
            last = session.scalar(select(JobRun.last_run_at).where(JobRun.name == job["name"]))
            if not _due(job, last, now, tz):
                continue
            row = _take_lease(session, job["name"], now, 300)
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
            done = session.get(JobRun, job["name"])
            if done is not None:  # its row was taken above; only a database wiped meanwhile lacks it
                done.last_run_at, done.lease_until, done.last_error = now, None, error
                session.commit()
        ran.append(job["name"])
    return ran


def init_app(app) -> None:
    """Collect the core's jobs and the plugins' into ``app.extensions["kiosk_jobs"]``."""
    from kiosk import device_reports, events

    jobs = [{"plugin": "kiosk", "name": "kiosk.prune_events", "func": events.prune, "every": 3600, "at": None}]
    if app.config.get("START_DEVICES"):
        # Only a process that holds devices has anything to report.
        jobs.append(
            {
                "plugin": "kiosk",
                "name": device_reports.job_name(app),
                "func": device_reports.report,
                "every": device_reports.REPORT_SECONDS,
                "at": None,
            }
        )
    jobs += app.extensions["kiosk_plugins"].jobs
    app.extensions["kiosk_jobs"] = jobs


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
