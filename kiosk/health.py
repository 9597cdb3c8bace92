"""``GET /healthz``: is the database reachable, how is each plugin and device."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from kiosk.db import get_session
from kiosk.stations import current_station

bp = Blueprint("health", __name__)


def database_health() -> dict:
    try:
        get_session().execute(text("SELECT 1"))
        return {"ok": True, "dialect": current_app.extensions["db"].dialect}
    except Exception as exc:
        get_session().rollback()
        return {"ok": False, "detail": type(exc).__name__}


def plugin_health(station) -> dict:
    plugins = current_app.extensions["kiosk_plugins"]
    reports = dict(plugins.call("health_check", station=station)) if station is not None else {}
    checked = current_app.extensions.get("kiosk_settings")
    settings_errors = checked.errors if checked is not None else {}
    out = {}
    for name, info in plugins.infos.items():
        entry = {"state": info.state, "version": info.version, "faults": info.faults}
        if info.error:
            entry["error"] = info.error
        mistakes = settings_errors.get(name)
        if mistakes:
            # Each wrong setting by its full name, for dashboards that act on them.
            entry["settings"] = [{"key": e.key, "error": e.reason()} for e in mistakes]
        if info.last_fault:
            entry["last_fault"] = info.last_fault
        report = reports.get(name)
        ok = info.state in ("enabled", "disabled") and not info.faults
        if isinstance(report, dict):
            entry["detail"] = str(report.get("detail", ""))
            ok = ok and bool(report.get("ok", True))
        if station is not None and info.state == "enabled" and not station.plugin_enabled(name):
            entry["state"] = "off"  # switched off for this station by an admin
        entry["ok"] = ok
        out[name] = entry
    return out


def device_health() -> dict:
    """The state of each device this node drives; none on the hub (devices belong to stations)."""
    if current_app.config.get("ROLE") == "hub":
        return {}
    return current_app.extensions["kiosk_devices"].statuses()


@bp.route("/healthz")
def healthz():
    db = database_health()
    station = None
    if db["ok"]:
        try:
            station = current_station()
        except Exception:
            station = None
    plugins = plugin_health(station)
    devices = device_health()
    ok = db["ok"] and all(p["ok"] for p in plugins.values() if p["state"] == "enabled")
    body = {
        "ok": ok,
        "station": station.code if station is not None else None,
        "database": db,
        "plugins": plugins,
        "devices": devices,
    }
    if db["ok"] and current_app.config.get("ROLE") != "hub":
        from kiosk.sync.pusher import status as sync_status

        try:
            sync = sync_status(current_app)
            body["sync"] = {
                k: sync[k] for k in ("enrolled", "waiting", "oldest_waiting_at", "last_ok_at", "last_error")
            }
        except Exception:  # the sync tables missing (an unmigrated database) must not break /healthz
            body["sync"] = None
    return jsonify(body), (200 if db["ok"] else 503)
