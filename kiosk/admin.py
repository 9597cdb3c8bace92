"""The admin page: plugins (enabled, version, health), devices, stations."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from sqlalchemy import select

from kiosk.audit import record
from kiosk.auth import login_required
from kiosk.db import get_session
from kiosk.health import device_health, plugin_health
from kiosk.i18n import _
from kiosk.models import Station
from kiosk.settings import localized_errors
from kiosk.stations import current_station

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@login_required("admin")
def index():
    station = current_station()
    plugins = plugin_health(station)
    # A plugin switched off by its settings: each mistake in the admin's own language.
    mistakes = {name: localized_errors(name) for name, p in plugins.items() if p.get("settings")}
    return render_template(
        "admin/index.html", station=station, plugins=plugins, devices=device_health(), setting_errors=mistakes
    )


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
    if name in disabled:
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
    return render_template("admin/stations.html", stations=rows)
