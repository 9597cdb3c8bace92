"""The kiosk screens: choose a room, a time, book; look a booking up or cancel it by its code."""

from __future__ import annotations

import re

from flask import Blueprint, abort, redirect, render_template, request, url_for

from kiosk import visitors
from kiosk.db import get_session
from kiosk.i18n import _
from kiosk.privacy import normalize_phone, valid_mobile
from kiosk.stations import current_station
from kiosk_venue import booking, present, receipts, slots
from kiosk_venue.settings import settings

bp = Blueprint("venue", __name__)

#: Whose booking was just made: kept with the kiosk's visitor (:mod:`kiosk.visitors`),
#: not in the URL, so the home screen and the idle reset forget it and the next
#: resident cannot open it again (its code would let them cancel it).
VISITOR = "venue"
CODE_RE = re.compile(r"^\d{6}$")


@bp.route("/")
def rooms():
    """The rooms, each with how many times are still free."""
    station, cfg = current_station(), settings()
    free: dict[str, int] = {}
    for view in slots.bookable(get_session(), station, cfg.booking_days):
        free[view.slot.room] = free.get(view.slot.room, 0) + 1
    return render_template(
        "venue/rooms.html",
        rooms=[(r, free.get(r.key, 0)) for r in cfg.rooms],
        days=cfg.booking_days,
        screen="venue.rooms",
    )


@bp.route("/rooms/<room>")
def room_slots(room: str):
    """A room's free times for the coming days, grouped by day."""
    station, cfg = current_station(), settings()
    chosen = cfg.room(room)
    if chosen is None:
        abort(404)
    views = slots.bookable(get_session(), station, cfg.booking_days, room=room)
    days = [
        (label, [(v, present.time_range(station, v.slot)) for v in group])
        for label, group in present.by_day(station, views)
    ]
    return render_template("venue/slots.html", room=chosen, days=days, screen="venue.slots")


@bp.route("/slots/<int:slot_id>", methods=["GET", "POST"])
def confirm(slot_id: int):
    """The chosen time, an optional phone number, and the button that books it."""
    station = current_station()
    view = slots.one(get_session(), station, slot_id)
    if view is None:
        abort(404)
    error, status = "", 200
    if request.method == "POST":
        phone = normalize_phone(request.form.get("phone", ""))[:20]
        if phone and not valid_mobile(phone):
            error, status = _("Please enter an 11-digit mobile number, or leave it empty."), 400
        else:
            try:
                made, slot = booking.book(station, slot_id, phone or None)
            except booking.BookingError as exc:
                error, status = exc.message, exc.status
            else:
                job = None
                if settings().print_slips:
                    job = receipts.print_slip(station, present.booking_facts(station, made, slot), made.phone)
                visitors.remember(VISITOR, last_booking={"id": made.id, "job": job["job_id"] if job else ""})
                return redirect(url_for("venue.booked"))
        view = slots.one(get_session(), station, slot_id)
    open_for_booking = slots.starts_in_future(view.slot) and view.free > 0
    return render_template(
        "venue/confirm.html",
        view=view,
        room=present.room_name(view.slot.room),
        when=present.when(station, view.slot),
        error=error,
        open=open_for_booking,
        screen="venue.confirm",
    ), status


@bp.route("/booked")
def booked():
    """The booking code, the details, and whether the slip came out of the printer."""
    last = visitors.recall(VISITOR, "last_booking")
    found = booking.by_id(get_session(), current_station(), last["id"]) if last else None
    if found is None:
        return redirect(url_for("venue.rooms"))
    return render_template(
        "venue/booked.html",
        facts=present.booking_facts(current_station(), *found),
        print_job=last.get("job", ""),
        printing=settings().print_slips,
        screen="venue.booked",
    )


@bp.route("/find", methods=["GET", "POST"])
def find():
    """Look a booking up by its code, typed or scanned from the slip (see reader.py)."""
    error, facts, code, status = "", None, "", 200
    if request.method == "POST":
        code = re.sub(r"\D", "", request.form.get("code", ""))[:6]
        found = booking.find(get_session(), current_station(), code) if CODE_RE.match(code) else None
        if found is None:
            error, status = _("We could not find this booking code. Please check it or ask the staff."), 404
            if not CODE_RE.match(code):
                error, status = _("A booking code has 6 digits."), 400
        else:
            facts = present.booking_facts(current_station(), *found)
            facts["cancellable"] = facts["status"] == "booked" and slots.starts_in_future(found[1])
    return render_template("venue/find.html", facts=facts, error=error, code=code, screen="venue.find"), status


@bp.route("/find/cancel", methods=["POST"])
def cancel():
    """Cancel the booking with this code and give its place back."""
    code = re.sub(r"\D", "", request.form.get("code", ""))[:6]
    if not CODE_RE.match(code):
        return render_template(
            "venue/find.html", facts=None, error=_("A booking code has 6 digits."), code="", screen="venue.find"
        ), 400
    try:
        booking.cancel(current_station(), code=code)
    except booking.BookingError as exc:
        return render_template(
            "venue/find.html", facts=None, error=exc.message, code=code, screen="venue.find"
        ), exc.status
    return render_template("venue/find.html", facts=None, error="", code="", cancelled=True, screen="venue.find")
