"""``GET /healthz``: is the database reachable, how is each plugin and device; and the staff's printer alert.

The answer's ``status`` is ``ok``, ``degraded`` or ``down``:

* ``down`` (HTTP 503): the database cannot be reached; nothing works.
* ``degraded`` (HTTP 503) when a printer cannot print (paper out, cover open,
  unreachable, its agent gone): the pages still answer, but every ticket and
  receipt is failing, and someone has to go and look. 503 because every
  ordinary HTTP monitor (Uptime Kuma, the Prometheus blackbox exporter's
  ``http_2xx``, Zabbix, Nagios ``check_http``) counts a non-2xx answer as
  failing out of the box, while a 200 with ``"ok": false`` in the body is
  seen only by a monitor set up to read it: that is how "printer in error,
  /healthz ok" went unnoticed. Do not wire ``/healthz`` to anything that
  restarts the service: a restart feeds no paper.
* ``degraded`` (HTTP 200) when only a plugin is faulty: its screens say so,
  the others work.

The same printer faults show as a banner on every staff page
(:func:`printer_alerts`, used by ``staff/base.html``).
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify
from sqlalchemy import text

from kiosk import __version__
from kiosk.db import get_session
from kiosk.i18n import N_, _
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


def printer_faults() -> list[dict]:
    """The printers of this station that cannot print now (none on the hub), never raising."""
    from kiosk.device_reports import printer_faults as faults

    try:
        return faults(current_app._get_current_object())  # type: ignore[attr-defined]
    except Exception:  # a broken report must not break /healthz or a staff page
        current_app.logger.exception("could not work out the printers' state")
        return []


#: What a printer fault means, in the staff's words (the detail stays in English for the technician).
FAULT_REASONS = (
    (("paper out", "paper end"), N_("out of paper")),
    (("cover open",), N_("the cover is open")),
    (("unreachable", "cannot open", "not present", "refused", "timed out"), N_("cannot be reached")),
    (("offline",), N_("offline")),
)


def fault_reason(fault: dict) -> str:
    """One printer fault in the staff's language: what is wrong, for the banner."""
    if fault.get("state") == "offline" and "agent" in fault.get("detail", ""):
        return _("its terminal's kiosk agent is not reporting")
    detail = (fault.get("detail") or "").lower()
    for words, reason in FAULT_REASONS:
        if any(w in detail for w in words):
            return _(reason)
    return _("not ready")


def printer_name(device: str) -> str:
    """A printer's device name (``printer``, ``hall-1/printer``) as staff call it."""
    if device == "printer":
        return _("the station's printer")
    return _("the printer of terminal %(name)s", name=device.rsplit("/", 1)[0])


@bp.app_template_global("printer_alerts")
def printer_alerts() -> list[dict]:
    """For staff pages: each printer fault as ``{device, printer, reason, detail}``; nothing for the public."""
    user = g.get("user")
    if user is None or not user.can("staff"):
        return []
    return [
        {"device": f["device"], "printer": printer_name(f["device"]), "reason": fault_reason(f), "detail": f["detail"]}
        for f in printer_faults()
    ]


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
    faults = printer_faults() if db["ok"] else []
    plugins_ok = all(p["ok"] for p in plugins.values() if p["state"] == "enabled")
    ok = db["ok"] and plugins_ok and not faults
    body = {
        "ok": ok,
        "status": "down" if not db["ok"] else ("ok" if ok else "degraded"),
        "station": station.code if station is not None else None,
        "database": db,
        "plugins": plugins,
        "devices": devices,
        # Device names only: a monitor's alert can say which printer without showing addresses.
        "printer_faults": [f["device"] for f in faults],
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
    code = 200 if db["ok"] and not faults else 503
    if not _may_see_details():
        # Anyone may ask whether the kiosk is up; what is inside it (devices, counts, errors) is
        # for staff and for this machine's own monitor.
        return jsonify({"ok": ok, "status": body["status"], "version": __version__}), code
    body["version"] = __version__
    return jsonify(body), code


def _may_see_details() -> bool:
    """A logged-in staff member, or a caller on this machine (after trusted proxies are unwrapped)."""
    from kiosk.audit import client_address
    from kiosk.urls import is_loopback_address

    user = g.get("user")
    return (user is not None and user.can("staff")) or is_loopback_address(client_address())
