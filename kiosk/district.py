"""The district dashboard: every station's figures of the day and devices in fault.

A district admin (区级管理员) watches hundreds of stations from one page. The
figures come from each plugin through the ``district_figures`` hook, counted
for the station's own local day; device states come from ``device_report``,
which each kiosk writes, so any worker of a fleet serves the same page.
``summary.json`` is the same data for the district's own systems.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, jsonify, render_template
from sqlalchemy import select

from kiosk import clock
from kiosk.auth import login_required
from kiosk.db import get_session
from kiosk.device_reports import STALE_SECONDS, reports_by_station
from kiosk.i18n import localized
from kiosk.models import Station
from kiosk.stations import current_station

bp = Blueprint("district", __name__, url_prefix="/admin/district")


def _valid(item) -> bool:
    return bool(
        isinstance(item, dict)
        and isinstance(item.get("key"), str)
        and item.get("label")
        and isinstance(item.get("value"), (int, float))
        and not isinstance(item.get("value"), bool)
    )


def station_figures(station: Station, day) -> list[dict]:
    """The plugins' figures for one station and day, labels in the current language."""
    plugins = current_app.extensions["kiosk_plugins"]
    out = []
    for plugin, items in plugins.call("district_figures", station=station, day=day):
        if not isinstance(items, list):
            plugins.record_fault(plugin, "district_figures", TypeError("must return a list of dicts"))
            continue
        for item in items:
            if not _valid(item):
                # One malformed figure must not hide the plugin's other figures.
                plugins.record_fault(plugin, "district_figures", TypeError(f"malformed figure {item!r}"))
                continue
            out.append(
                {
                    "plugin": plugin,
                    "key": f"{plugin}.{item['key']}",
                    "label": localized(item["label"], domain=plugin),
                    "value": item["value"],
                    "alert": bool(item.get("alert")),
                }
            )
    return out


def summary(now: datetime | None = None) -> dict:
    """Every station: its local day, figures, device reports, and whether anything needs a look."""
    now = now or clock.now()
    session = get_session()
    stations = session.scalars(select(Station).order_by(Station.code)).all()
    devices = reports_by_station(session, [s.id for s in stations], now)
    rows = []
    for station in stations:
        day = clock.today(station, now)
        figures = station_figures(station, day)
        reports = devices[station.id]
        faults = [d for d in reports if d["fault"] or d["stale"]]
        rows.append(
            {
                "code": station.code,
                "name": station.name,
                "kind": station.kind,
                "day": day.isoformat(),
                "figures": figures,
                "devices": reports,
                "faults": faults,
                "alert": bool(faults) or any(f["alert"] for f in figures),
            }
        )
    return {"generated_at": now.isoformat(), "stale_after_seconds": STALE_SECONDS, "stations": rows}


@bp.route("/")
@login_required("district")
def index():
    """The dashboard page: one card per station, alerts first."""
    data = summary()
    ordered = sorted(data["stations"], key=lambda s: (not s["alert"], s["code"]))
    return render_template("district/index.html", station=current_station(), data=data, stations=ordered)


@bp.route("/summary.json")
@login_required("district")
def summary_json():
    """The dashboard's data as JSON (same figures, labels in the session's language)."""
    response = jsonify(summary())
    response.headers["Cache-Control"] = "no-store"
    return response
