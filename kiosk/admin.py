"""The admin page: plugins (on or off, version, health), devices, stations.

Everything is worded for the people who run a station: a plugin by the title
of its staff panel, its state and a device's kind and state in words, and the
plugin's own health summary (``health_check``'s ``summary``) rather than the
figures ``/healthz`` gives monitors (``in=8 seats_free=7``).
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from kiosk.audit import record
from kiosk.auth import login_required
from kiosk.db import get_session
from kiosk.health import device_health, plugin_health
from kiosk.i18n import N_, _
from kiosk.models import Station
from kiosk.settings import localized_errors
from kiosk.stations import current_station

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: A plugin's state (kiosk.plugins.PluginInfo.state, and "off" for one an admin switched off here), in words.
PLUGIN_STATES = {
    "enabled": N_("On"),
    "off": N_("Switched off at this station"),
    "disabled": N_("Switched off in the station file"),
    "failed": N_("Could not start"),
    "incompatible": N_("Needs another version of the kiosk"),
}
#: A device's kind: the printer, and each card reader or scanner by how it is attached.
DEVICE_KINDS = {
    "printer": N_("Receipt printer"),
    "pcsc": N_("Card reader"),
    "serial": N_("Scanner or card reader (serial)"),
    "wedge": N_("Scanner or card reader (USB keyboard)"),
    "test": N_("Test reader"),
}
#: A device's state (printers' own words come with their status; readers' and agents' here).
DEVICE_STATES = {
    "ok": N_("Working"),
    "warning": N_("Working, needs attention soon"),
    "error": N_("Fault"),
    "unknown": N_("Not checked yet"),
    "disconnected": N_("Not connected"),
    "stopped": N_("Stopped"),
    "offline": N_("Not reporting (terminal PC off or cut off)"),
}
#: A station's kind (kiosk.config.STATION_KINDS), in words.
STATION_KINDS = {"party_service": N_("Party-mass service centre"), "courier_station": N_("Warm-bee rest station")}


def words(table: dict[str, str], key: str) -> str:
    """``key`` in the reader's words from ``table``; an unknown key is shown as it is (a new state, a new plugin)."""
    return _(table[key]) if key in table else key


def health_summaries(station) -> dict[str, str]:
    """Plugin name → its health in words for people (``health_check``'s ``summary``), where it gives one."""
    plugins = current_app.extensions["kiosk_plugins"]
    out = {}
    for name, report in plugins.call("health_check", station=station):
        if isinstance(report, dict) and report.get("summary"):
            out[name] = str(report["summary"])
    return out


def plugin_titles(station) -> dict[str, str]:
    """Plugin name → the title of its (first) staff panel, in the reader's language; what staff know it by."""
    from kiosk.staff import panel_titles

    return panel_titles(station)


@bp.route("/")
@login_required("admin")
def index():
    station = current_station()
    plugins = plugin_health(station)
    # A plugin switched off by its settings: each mistake in the admin's own language.
    mistakes = {name: localized_errors(name) for name, p in plugins.items() if p.get("settings")}
    return render_template(
        "admin/index.html",
        station=station,
        plugins=plugins,
        devices=device_health(),
        setting_errors=mistakes,
        titles=plugin_titles(station) if station is not None else {},
        summaries=health_summaries(station) if station is not None else {},
        plugin_pages=plugin_admin_pages(),
        words=words,
        PLUGIN_STATES=PLUGIN_STATES,
        DEVICE_KINDS=DEVICE_KINDS,
        DEVICE_STATES=DEVICE_STATES,
    )


def plugin_admin_pages() -> dict[str, str]:
    """Plugin name → the address of its admin home: the shortest of its admin pages that take no argument.

    Found from the URL map, so a plugin's admin page is linked from the admin
    page without the core naming it. Its other pages, CSV and JSON downloads
    are linked from that page (and from the plugin's staff panel).
    """
    areas = current_app.extensions.get("blueprint_areas", {})
    out: dict[str, list[str]] = {}
    for rule in current_app.url_map.iter_rules():
        owner = areas.get(rule.endpoint.split(".", 1)[0])
        if not owner or owner[1] != "admin" or rule.arguments or "GET" not in (rule.methods or ()):
            continue
        if rule.rule.endswith((".csv", ".json")):
            continue
        out.setdefault(owner[0], []).append(rule.rule)
    return {name: min(rules, key=lambda rule: (len(rule), rule)) for name, rules in out.items()}


@bp.route("/plugins/<name>/toggle", methods=["POST"])
@login_required("admin")
def toggle_plugin(name: str):
    plugins = current_app.extensions["kiosk_plugins"]
    if name not in plugins.infos:
        flash(_("No such plugin."))
        return redirect(url_for("admin.index"))
    station = current_station()
    session = get_session()
    station = session.merge(station)
    disabled = set(station.disabled_plugins or [])
    # The state the admin saw and asked for ("on" or "off"): a double click or a resent form
    # then leaves it as asked instead of switching it back. Without it, the button toggles.
    wanted = request.form.get("state")
    turn_on = name in disabled if wanted not in ("on", "off") else wanted == "on"
    if turn_on != (name in disabled):
        return redirect(url_for("admin.index"))  # already as asked: nothing to change or record
    if turn_on:
        disabled.discard(name)
        action = "plugin.enabled"
    else:
        disabled.add(name)
        action = "plugin.disabled"
    station.disabled_plugins = sorted(disabled)
    session.commit()
    record(action, {"plugin": name})
    return redirect(url_for("admin.index"))


@bp.route("/stations")
@login_required("district")
def stations():
    rows = get_session().scalars(select(Station).order_by(Station.code)).all()
    return render_template("admin/stations.html", stations=rows, kind_words=lambda kind: words(STATION_KINDS, kind))
