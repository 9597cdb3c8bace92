"""Device states written to the database, so a fleet's dashboard sees every kiosk's devices.

A kiosk's printer and readers belong to the process that opened them; the
district dashboard may be served by any worker on any machine. Each kiosk
process that starts its devices writes their states to ``device_report`` at
start and then every :data:`REPORT_SECONDS` (a core scheduled job). A report
older than :data:`STALE_SECONDS` means the kiosk stopped reporting: it is off,
crashed or cut off, which the dashboard flags like a fault.

A station enrolled at a district hub also records each report for the hub
(sync kind ``kiosk.device_report``) when its state changes, and at least every
few minutes, so the hub's dashboard shows every station's devices.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from kiosk import sync
from kiosk.db import upsert_insert, utcnow
from kiosk.models import DeviceReport

log = logging.getLogger("kiosk.device_reports")

REPORT_SECONDS = 30
# Three missed reports (plus the scheduler's own 20-second pass) before calling it stale.
STALE_SECONDS = 120
#: States that need nobody to go and look ("unknown": a printer not used since the start).
HEALTHY_STATES = ("ok", "warning", "unknown")
#: A device whose state has not changed is still synced to the hub this often, so the hub sees it is alive.
SYNC_REFRESH_SECONDS = 300


def job_name(app) -> str:
    """The scheduled job's name: one lease per station, so each station's kiosk reports its own devices."""
    return f"kiosk.device_report.{app.config['STATION']['code']}"


def report(app, now: datetime | None = None) -> int:
    """Upsert this process's device statuses for its station; returns how many rows were written."""
    now = now or utcnow()
    # An agent's devices are written by the agent's own reports (kiosk.agent): rewriting
    # them here would hide that the agent stopped reporting.
    statuses = {k: v for k, v in app.extensions["kiosk_devices"].statuses().items() if not v.get("agent")}
    station_id = app.extensions["kiosk_station_id"]
    db = app.extensions["db"]
    insert = upsert_insert(db.dialect)
    changed: dict[str, dict] = {}
    with db.WriteSession() as session:
        for device, status in sorted(statuses.items()):
            values = {
                "kind": str(status.get("kind") or "")[:32],
                "state": str(status.get("state") or "")[:32],
                "detail": str(status.get("detail") or "")[:2000],
                "updated_at": now,
            }
            statement = insert(DeviceReport).values(station_id=station_id, device=device[:64], **values)
            # An upsert, not select-then-insert: two processes of one station
            # reporting at once must not fail on the unique constraint.
            session.execute(statement.on_conflict_do_update(index_elements=["station_id", "device"], set_=values))
            changed[device[:64]] = {k: values[k] for k in ("kind", "state", "detail")}
        # The hub's dashboard learns them through sync (kiosk.device_report), in the same transaction.
        record_for_hub(app, session, station_id, changed, now)
        session.commit()
    return len(statuses)


def record_for_hub(app, session, station_id: int, rows: dict[str, dict], now: datetime) -> int:
    """Record for the hub the devices whose state changed or that were last recorded long ago; returns how many.

    ``rows``: device → {kind, state, detail}. What was last recorded is kept in
    this process's memory: after a restart every device is recorded once again.
    Nothing is recorded before the station joins a hub.
    """
    if not sync.enrolled(session, station_id):
        return 0
    seen = app.extensions.setdefault("kiosk_sync_devices", {})
    count = 0
    for device, values in rows.items():
        last = seen.get(device)
        if last is not None and last[0] == values and (now - last[1]).total_seconds() < SYNC_REFRESH_SECONDS:
            continue
        session.info["kiosk_app"] = app
        data = {"device": device, **values, "updated_at": now.isoformat()}
        sync.record(session, "kiosk.device_report", device, data, station_id=station_id)
        seen[device] = (dict(values), now)
        count += 1
    return count


def report_at_start(app) -> None:
    """Report once as the devices start; a database hiccup here must not stop the kiosk."""
    try:
        report(app)
    except Exception:
        log.exception("could not write the device report at start; the scheduled job will retry")


def reports_by_station(
    session, station_ids, now: datetime | None = None, stale_seconds: int = STALE_SECONDS
) -> dict[int, list[dict]]:
    """The latest reports per station, each with ``fault`` and ``stale`` worked out.

    ``stale_seconds``: the age at which a report means its kiosk stopped
    reporting; the hub allows more, as a station syncs an unchanged report only
    every few minutes.
    """
    now = now or utcnow()
    out: dict[int, list[dict]] = {sid: [] for sid in station_ids}
    if not out:
        return out
    rows = session.scalars(
        select(DeviceReport)
        .where(DeviceReport.station_id.in_(list(out)))
        .order_by(DeviceReport.station_id, DeviceReport.device)
    )
    for row in rows:
        stale = now - row.updated_at > timedelta(seconds=stale_seconds)
        out[row.station_id].append(
            {
                "device": row.device,
                "kind": row.kind,
                "state": row.state,
                "detail": row.detail,
                "updated_at": row.updated_at.isoformat(),
                "stale": stale,
                "fault": row.state not in HEALTHY_STATES,
            }
        )
    return out


def printer_faults(app, now: datetime | None = None) -> list[dict]:
    """The station's printers that cannot print now: ``[{device, state, detail}]``, by device name.

    What this process knows of the printers it drives (and of the agents'
    printers) comes first; a printer this process has not seen since it
    started ("unknown") is judged by the fresh report of the process that
    drives it, so every worker of a station serves the same banner and
    ``/healthz``. None on the hub, which drives no printer.
    """
    if app.config.get("ROLE") == "hub":
        return []
    statuses = {k: v for k, v in app.extensions["kiosk_devices"].statuses().items() if v.get("kind") == "printer"}
    faults = {
        device: {"device": device, "state": s.get("state", ""), "detail": str(s.get("detail") or "")}
        for device, s in statuses.items()
        if not s.get("ok") and s.get("state") != "unknown"
    }
    unknown = {device for device, s in statuses.items() if s.get("state") == "unknown"}
    if unknown:
        from kiosk.db import session_for

        station_id = app.extensions["kiosk_station_id"]
        try:
            with session_for(app) as session:
                reports = reports_by_station(session, [station_id], now)[station_id]
        except Exception as exc:  # the database check of /healthz says why
            log.warning("could not read the device reports: %s", exc)
            reports = []
        for r in reports:
            if r["device"] in unknown and r["kind"] == "printer" and r["fault"] and not r["stale"]:
                faults[r["device"]] = {"device": r["device"], "state": r["state"], "detail": r["detail"]}
    return [faults[k] for k in sorted(faults)]
