"""The district dashboard: every station's figures of the day and devices in fault.

A district admin (区级管理员) watches hundreds of stations from one page. The
figures come from each plugin through the ``district_figures`` hook, counted
for the station's own local day; device states come from ``device_report``,
which each kiosk writes, so any worker of a fleet serves the same page.
``summary.json`` is the same data for the district's own systems.

On the district hub (``role = "hub"``) the figures and device reports are the
ones each enrolled station synced (kinds ``kiosk.figures`` and
``kiosk.device_report``), each station's card says when it last synced, and a
station silent for longer than ``[hub] stale_after_minutes`` is flagged.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, current_app, jsonify, render_template
from sqlalchemy import select

from kiosk import clock
from kiosk.auth import login_required
from kiosk.db import get_session
from kiosk.device_reports import STALE_SECONDS, SYNC_REFRESH_SECONDS, reports_by_station
from kiosk.i18n import localized
from kiosk.models import Station
from kiosk.stations import current_station
from kiosk.sync import is_hub
from kiosk.sync.models import SyncFigures, SyncPeer

#: Minutes without a sync after which the hub's dashboard flags a station (``[hub] stale_after_minutes``).
STALE_AFTER_MINUTES = 15

bp = Blueprint("district", __name__, url_prefix="/admin/district")


def _valid(item) -> bool:
    return bool(
        isinstance(item, dict)
        and isinstance(item.get("key"), str)
        and item.get("label")
        and isinstance(item.get("value"), (int, float))
        and not isinstance(item.get("value"), bool)
    )


def stale_after_minutes(app=None) -> int:
    """``[hub] stale_after_minutes`` (default 15): how long a station may go without syncing."""
    app = app or current_app
    value = (app.config.get("HUB") or {}).get("stale_after_minutes", STALE_AFTER_MINUTES)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return STALE_AFTER_MINUTES
    return value


def station_figures(station: Station, day, localize: bool = True) -> list[dict]:
    """The plugins' figures for one station and day, labels in the current language.

    ``localize=False`` keeps each label as the plugin gave it (a message id or
    a dict of locale → text): what a station syncs, for the hub to translate.
    """
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
                    "label": localized(item["label"], domain=plugin) if localize else _raw_label(item["label"]),
                    "value": item["value"],
                    "alert": bool(item.get("alert")),
                }
            )
    return out


def _raw_label(label):
    """A label as it travels to the hub: a dict of locale → text, or a message id the hub translates."""
    if isinstance(label, dict):
        return {str(k): str(v) for k, v in label.items()}
    message = getattr(label, "message", None)  # a lazy string: its message id, unless it has values in it
    if isinstance(message, str) and not getattr(label, "variables", None):
        return message
    return str(label)


def summary(now: datetime | None = None) -> dict:
    """Every station: its local day, figures, device reports, and whether anything needs a look."""
    now = now or clock.now()
    if is_hub():
        return hub_summary(now)
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
                "printer_faults": printer_faults_of(reports),
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


def hub_summary(now: datetime) -> dict:
    """The hub's view: every enrolled station as it last synced, and the hub's own station live."""
    session = get_session()
    minutes = stale_after_minutes()
    own_id = current_app.extensions["kiosk_station_id"]
    peers = {
        p.station_id: p
        for p in session.scalars(
            select(SyncPeer).where(SyncPeer.enrolled_at.is_not(None), SyncPeer.revoked_at.is_(None))
        )
    }
    stations = session.scalars(select(Station).where(Station.id.in_([own_id, *peers])).order_by(Station.code)).all()
    device_stale = STALE_SECONDS + SYNC_REFRESH_SECONDS
    devices = reports_by_station(session, [s.id for s in stations], now, stale_seconds=device_stale)
    rows = []
    for station in stations:
        day = clock.today(station, now)
        peer = peers.get(station.id)
        reports = devices[station.id]
        faults = [d for d in reports if d["fault"] or d["stale"]]
        row: dict = {"code": station.code, "name": station.name, "kind": station.kind, "day": day.isoformat()}
        if peer is None:  # the hub's own station: counted here and now
            figures = station_figures(station, day)
            row.update(synced=True, last_sync_at=None, last_sync_local=None, stale=False, figures_day=day.isoformat())
        else:
            synced = session.scalar(
                select(SyncFigures)
                .where(SyncFigures.station_id == station.id, SyncFigures.day <= day)
                .order_by(SyncFigures.day.desc())
                .limit(1)
            )
            figures = _synced_figures(synced.figures) if synced is not None else []
            last = peer.last_sync_at
            stale = last is None or now - last > timedelta(minutes=minutes)
            row.update(
                synced=True,
                last_sync_at=last.isoformat() if last else None,
                last_sync_local=clock.local(station, last).strftime("%H:%M") if last else None,
                stale=stale,
                figures_day=synced.day.isoformat() if synced is not None else None,
            )
        row.update(
            figures=figures,
            devices=reports,
            faults=faults,
            printer_faults=printer_faults_of(reports),
            alert=bool(faults) or row["stale"] or any(f["alert"] for f in figures),
        )
        rows.append(row)
    return {
        "generated_at": now.isoformat(),
        "stale_after_seconds": device_stale,
        "stale_after_minutes": minutes,
        "hub": True,
        "stations": rows,
    }


def printer_faults_of(reports: list[dict]) -> list[dict]:
    """A station's printers that reported a fault (a report gone stale is the "not reporting" flag instead)."""
    return [d for d in reports if d["kind"] == "printer" and d["fault"] and not d["stale"]]


def _synced_figures(items: list) -> list[dict]:
    """Synced figures with their labels in the viewer's language (the plugin's catalog, when installed here)."""
    out = []
    for item in items or []:
        try:
            label = localized(item["label"], domain=item["plugin"])
        except Exception:  # a plugin not installed at the hub: its message id as it is
            label = item["label"] if isinstance(item["label"], str) else next(iter(item["label"].values()), "")
        out.append(
            {
                "plugin": item["plugin"],
                "key": item["key"],
                "label": label,
                "value": item["value"],
                "alert": bool(item.get("alert")),
            }
        )
    return out


@bp.route("/")
@login_required("district")
def index():
    """The dashboard page: one card per station, alerts first."""
    data = summary()
    ordered = sorted(data["stations"], key=lambda s: (not s["printer_faults"], not s["alert"], s["code"]))
    printing_down = [s for s in ordered if s["printer_faults"]]
    return render_template(
        "district/index.html", station=current_station(), data=data, stations=ordered, printing_down=printing_down
    )


@bp.route("/summary.json")
@login_required("district")
def summary_json():
    """The dashboard's data as JSON (same figures, labels in the session's language)."""
    response = jsonify(summary())
    response.headers["Cache-Control"] = "no-store"
    return response
