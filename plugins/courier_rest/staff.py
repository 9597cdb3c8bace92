"""The staff pages: who is in, slots in use, overstays, the waiting list, requests and hazard reports.

Staff are logged in, so full names and phone numbers are shown here (and
nowhere else). Every action is written to the audit trail with ids only.
"""

from __future__ import annotations

import os

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, send_from_directory, url_for
from sqlalchemy import select

from kiosk import audit, clock
from kiosk.db import get_session
from kiosk.i18n import _
from kiosk.stations import current_station, station_row_or_404
from kiosk_plugins.courier_rest import advanced, capacity, hazards, messages, push, riders, visits
from kiosk_plugins.courier_rest.models import Hazard, Rider, ServiceRequest, Slot, Use, Visit, Waiting
from kiosk_plugins.courier_rest.settings import get_settings
from kiosk_plugins.courier_rest.station_setup import prepare
from kiosk_plugins.courier_rest.writes import run_write

bp = Blueprint("courier_rest_staff", __name__)


@bp.before_request
def _prepare_station():
    prepare(current_station())


def record_staff_action(db_session, action: str, detail: dict) -> None:
    """Record a staff action in the same transaction as the change it describes.

    (Writing it through the request's own session instead would try to turn
    that session's older read snapshot into a write on SQLite, which fails.)
    """
    audit.record(action, detail, session=db_session, commit=False)


def overview(db_session, station, now) -> dict:
    """Everything the staff page and the console panel show."""
    tz = clock.zone(station)
    inside = db_session.execute(
        select(Visit, Rider)
        .join(Rider, Rider.id == Visit.rider_id)
        .where(Visit.station_id == station.id, Visit.open_rider_id.is_not(None))
        .order_by(Visit.checked_in_at)
    ).all()
    live = db_session.execute(
        select(Use, Slot, Rider)
        .join(Slot, Slot.id == Use.slot_id)
        .join(Rider, Rider.id == Use.rider_id)
        .where(Use.station_id == station.id, Use.live_slot_id.is_not(None))
    ).all()
    by_visit: dict[int, list] = {}
    slot_rows = []
    for use, slot, rider in live:
        row = {
            "use_id": use.id,
            "kind": use.kind,
            "number": slot.number,
            "state": use.state,
            "since": clock.hhmm(tz, use.started_at),
            "until": clock.hhmm(tz, use.due_at or use.held_until),
            "overdue": bool(use.state == "active" and use.due_at and use.due_at < now),
            "flagged": use.overstay_at is not None,
            "rider": rider,
        }
        by_visit.setdefault(use.visit_id, []).append(row)
        slot_rows.append(row)
    slot_rows.sort(key=lambda r: (["seat", "phone", "battery"].index(r["kind"]), r["number"]))
    people = [
        {"visit": v, "rider": r, "since": clock.hhmm(tz, v.checked_in_at), "holdings": by_visit.get(v.id, [])}
        for v, r in inside
    ]
    line = db_session.execute(
        select(Waiting, Rider)
        .join(Rider, Rider.id == Waiting.rider_id)
        .where(Waiting.station_id == station.id, Waiting.state.in_(("waiting", "offered")))
        .order_by(Waiting.id)
    ).all()
    requests_open = db_session.execute(
        select(ServiceRequest, Rider)
        .join(Rider, Rider.id == ServiceRequest.rider_id)
        .where(ServiceRequest.station_id == station.id, ServiceRequest.state.in_(("open", "ticket")))
        .order_by(ServiceRequest.created_at)
    ).all()
    kept = db_session.scalars(
        select(Hazard)
        .where(Hazard.station_id == station.id, Hazard.state.in_(("kept", "sent", "draft", "sending")))
        .order_by(Hazard.created_at.desc())
        .limit(50)
    ).all()
    return {
        "people": people,
        "slots": slot_rows,
        "overdue": [r for r in slot_rows if r["overdue"]],
        "waiting": [
            {"entry": w, "rider": r, "no": f"W{w.number:02d}", "since": clock.hhmm(tz, w.created_at)} for w, r in line
        ],
        "requests": [{"req": q, "rider": r, "at": clock.hhmm(tz, q.created_at)} for q, r in requests_open],
        "hazards": [{"h": h, "at": clock.local_text(tz, h.created_at, "%m-%d %H:%M")} for h in kept],
    }


def render_panel() -> str:
    """The console panel: counts and the overstays, with a link to the full page."""
    station = current_station()
    prepare(station)
    data = overview(get_session(), station, clock.now())
    return render_template("courier_rest/staff_panel.html", d=data, kind_label=messages.kind_label)


@bp.route("/")
def index():
    """Everything happening in the station now, with full names for staff."""
    station = current_station()
    data = overview(get_session(), station, clock.now())
    return render_template(
        "courier_rest/staff_index.html",
        d=data,
        kind_label=messages.kind_label,
        platform_label=lambda k: _(riders.label(riders.PLATFORMS, k)),
        vehicle_label=lambda k: _(riders.label(riders.VEHICLES, k)),
        service_label=lambda k: _(advanced.LABELS.get(k, k)),
        category_label=lambda k: _(hazards.LABELS.get(k, k)),
    )


@bp.route("/visits/<int:visit_id>/checkout", methods=["POST"])
def checkout(visit_id: int):
    """Check a rider out on their behalf (they left without doing it)."""
    station, settings, now = current_station(), get_settings(), clock.now()

    def work(db_session):
        visit = db_session.scalar(
            select(Visit)
            .where(Visit.id == visit_id, Visit.station_id == station.id, Visit.open_rider_id.is_not(None))
            .with_for_update()
        )
        if visit is None:
            return False
        visits.check_out(db_session, visit, "staff", now, settings, clock.zone(station))
        push.capacity(db_session, station.id)
        record_staff_action(db_session, "courier_rest.staff_checkout", {"visit": visit_id})
        return True

    if run_write(work):
        flash(_("The rider was checked out and their places freed."))
    else:
        flash(_("That rider is no longer checked in."))
    return redirect(url_for(".index"))


@bp.route("/uses/<int:use_id>/release", methods=["POST"])
def release(use_id: int):
    """Free a place (e.g. a phone left charging past its limit was handed in)."""
    station, settings, now = current_station(), get_settings(), clock.now()

    def work(db_session):
        use = db_session.scalar(
            select(Use)
            .where(Use.id == use_id, Use.station_id == station.id, Use.live_slot_id.is_not(None))
            .with_for_update()
        )
        if use is None:
            return False
        capacity.release(db_session, use, now, "staff", settings, clock.zone(station))
        push.capacity(db_session, station.id)
        record_staff_action(db_session, "courier_rest.staff_release", {"use": use_id})
        return True

    if run_write(work):
        flash(_("The place is free again."))
    else:
        flash(_("That place was already free."))
    return redirect(url_for(".index"))


@bp.route("/requests/<int:request_id>/done", methods=["POST"])
def request_done(request_id: int):
    """Mark an advanced-service request as handled."""
    station, now, user = current_station(), clock.now(), g.get("user")

    def work(db_session):
        row = db_session.scalar(
            select(ServiceRequest).where(ServiceRequest.id == request_id, ServiceRequest.station_id == station.id)
        )
        if row is None or row.state == "done":
            return False
        row.state, row.handled_at, row.handled_by = "done", now, user.id if user else None
        record_staff_action(db_session, "courier_rest.request_done", {"request": request_id})
        return True

    if run_write(work):
        flash(_("The request is marked as handled."))
    return redirect(url_for(".index"))


@bp.route("/hazards/<int:report_id>/done", methods=["POST"])
def hazard_done(report_id: int):
    """Mark a hazard report as handled."""
    station, now = current_station(), clock.now()

    def work(db_session):
        row = db_session.scalar(select(Hazard).where(Hazard.id == report_id, Hazard.station_id == station.id))
        if row is None or row.state in ("handled", "draft", "sending"):
            return False
        row.state, row.handled_at = "handled", now
        record_staff_action(db_session, "courier_rest.hazard_done", {"hazard": report_id})
        return True

    if run_write(work):
        flash(_("The report is marked as handled."))
    return redirect(url_for(".index"))


@bp.route("/hazards/<int:report_id>/photos/<name>")
def hazard_photo(report_id: int, name: str):
    """A hazard photo, to staff only."""
    station = current_station()
    report = station_row_or_404(Hazard, report_id, station=station)
    if name not in (report.photos or []):
        abort(404)
    folder = hazards.photo_folder(current_app._get_current_object(), station.id)
    if not os.path.exists(os.path.join(folder, name)):
        abort(404)
    response = send_from_directory(folder, name, mimetype="image/jpeg", max_age=0)
    # Not "no-cache": that still lets a shared staff PC's browser keep the photo on its disk.
    response.headers["Cache-Control"] = "no-store"
    return response
