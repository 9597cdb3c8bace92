"""The staff page: put rooms up in time slots, see who booked, cancel or remove."""

from __future__ import annotations

from datetime import date, time

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from kiosk import clock
from kiosk.db import get_session
from kiosk.i18n import _
from kiosk.stations import current_station
from kiosk_venue import booking, present, slots
from kiosk_venue.models import ACTIVE, VenueBooking
from kiosk_venue.settings import settings

# Mounted under /staff/venue/: the core lets only staff, admins and district admins in.
bp = Blueprint("venue_staff", __name__)


def _page(error: str = "", form: dict | None = None, status: int = 200):
    station, cfg = current_station(), settings()
    db = get_session()
    views = slots.between(db, station, clock.today(station), cfg.booking_days)
    holders: dict[int, list[VenueBooking]] = {}
    if views:
        for row in db.scalars(
            select(VenueBooking)
            .where(VenueBooking.slot_id.in_([v.slot.id for v in views]), VenueBooking.status == ACTIVE)
            .order_by(VenueBooking.id)
        ):
            holders.setdefault(row.slot_id, []).append(row)
    days = [
        (
            label,
            [
                (v, present.time_range(station, v.slot), present.room_name(v.slot.room), holders.get(v.slot.id, []))
                for v in group
            ],
        )
        for label, group in present.by_day(station, views)
    ]
    return render_template(
        "venue/staff_index.html",
        days=days,
        rooms=cfg.rooms,
        error=error,
        form=form or {"day": clock.today(station).isoformat(), "capacity": "1"},
        station=station,
    ), status


@bp.route("/")
def index():
    """The coming days' slots with their bookings, and the form to add a slot."""
    return _page()


def _parse(form) -> dict:
    """The add-slot form as typed values; raises SlotError naming the field to fix."""
    if settings().room(form.get("room", "")) is None:
        raise slots.SlotError(_("Choose a room."))
    try:
        day = date.fromisoformat(form.get("day", ""))
        start = time.fromisoformat(form.get("start", ""))
        end = time.fromisoformat(form.get("end", ""))
    except ValueError:
        raise slots.SlotError(_("Enter the date as YYYY-MM-DD and the times as HH:MM.")) from None
    try:
        capacity = int(form.get("capacity", ""))
    except ValueError:
        raise slots.SlotError(_("The number of bookings must be from 1 to %(max)s.", max=slots.MAX_CAPACITY)) from None
    return {"room": form["room"], "day": day, "start": start, "end": end, "capacity": capacity}


@bp.route("/slots", methods=["POST"])
def add():
    """Add a slot; a bad form is shown again with the reason and nothing is stored."""
    try:
        values = _parse(request.form)
        slot = slots.add_slot(get_session(), current_station(), **values)
    except slots.SlotError as exc:
        return _page(exc.message, dict(request.form), 400)
    local = clock.local(current_station(), slot.starts_at)
    flash(
        _(
            "Slot added: %(room)s, %(when)s.",
            room=present.room_name(slot.room),
            when=f"{local:%Y-%m-%d} {present.time_range(current_station(), slot)}",
        )
    )
    return redirect(url_for("venue_staff.index"))


@bp.route("/slots/<int:slot_id>/delete", methods=["POST"])
def delete(slot_id: int):
    """Remove a slot nobody has booked."""
    try:
        slots.delete_slot(get_session(), current_station(), slot_id)
    except slots.SlotError as exc:
        return _page(exc.message, status=409)
    flash(_("The slot was removed."))
    return redirect(url_for("venue_staff.index"))


@bp.route("/bookings/<int:booking_id>/cancel", methods=["POST"])
def cancel(booking_id: int):
    """Cancel a resident's booking (after telling them), freeing the place."""
    try:
        booking.cancel(current_station(), booking_id=booking_id)
    except booking.BookingError as exc:
        return _page(exc.message, status=exc.status)
    flash(_("The booking was cancelled."))
    return redirect(url_for("venue_staff.index"))
