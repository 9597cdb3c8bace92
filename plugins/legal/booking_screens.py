"""The kiosk screens for booking a duty slot and checking in with the booking code."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import select

from kiosk import clock, ratelimit, visitors
from kiosk.db import get_session
from kiosk.i18n import _, current_locale
from kiosk.privacy import mask_name, mask_phone
from kiosk.ratelimit import limited
from kiosk.stations import current_station, station_row_or_404
from kiosk_plugins.legal import booking, issuing
from kiosk_plugins.legal.calling import ActionError
from kiosk_plugins.legal.models import Booking, DutySlot
from kiosk_plugins.legal.runtime import settings
from kiosk_plugins.legal.views import VISITOR, queue_service, read_phone, remember_issued

if TYPE_CHECKING:
    from babel import Locale

bp = Blueprint("legal_booking", __name__)

#: The back-off bucket of wrong booking codes at check-in.
CODE_GUESSES = "legal.booking_code"
#: The Babel (CLDR) locale of each kiosk language, for dates as each language writes them.
BABEL_LOCALES = {"zh_Hans": "zh_Hans_CN", "zh_Hant": "zh_Hant_HK", "en": "en"}


@lru_cache(maxsize=8)
def _month_day(locale: str) -> tuple[Locale, str]:
    # Resolving the CLDR skeleton costs more than formatting: once per language. Babel is
    # imported here, with the first booking screen, not by every worker as it starts.
    from babel import Locale

    parsed = Locale.parse(locale)
    return parsed, parsed.datetime_skeletons["MMMd"]


def day_words(day: date, today: date) -> tuple[str, str]:
    """``("周二", "12月8日")``: today, tomorrow or the weekday, then the date as the reader's language writes it.

    (It was ``12-08`` over ``2026-12-08``: a resident plans by the weekday.)
    """
    from babel.dates import format_date, get_day_names

    locale = BABEL_LOCALES.get(current_locale(), "zh_Hans_CN")
    parsed, pattern = _month_day(locale)
    if day == today:
        first = _("Today")
    elif day == today + timedelta(days=1):
        first = _("Tomorrow")
    else:
        first = get_day_names("abbreviated", locale=parsed)[day.weekday()]
    return first, format_date(day, pattern, locale=parsed)


def slot_label(station, slot: DutySlot) -> dict:
    """How a slot reads on the kiosk: day, time and the duty lawyer (name masked in public)."""
    start, end = clock.local(station, slot.starts_at), clock.local(station, slot.ends_at)
    day, when = day_words(start.date(), clock.today(station))
    return {
        "day": day,
        "date": when,
        "time": f"{start:%H:%M}–{end:%H:%M}",
        "lawyer": mask_name(slot.lawyer),
        "organisation": slot.organisation,
    }


@bp.route("/book")
def services():
    """Which queues take bookings, with the number of free places this week."""
    station = current_station()
    views = booking.upcoming_slots(get_session(), station)
    now = clock.now()
    free: dict[str, int] = {}
    for view in views:
        if view.slot.starts_at > now:
            free[view.slot.service] = free.get(view.slot.service, 0) + view.free
    rows = [{"service": s, "label": s.text(current_locale()), "free": free.get(s.key, 0)} for s in settings().queues()]
    return render_template("legal/book_services.html", rows=rows, days=settings().booking_days, screen="legal.book")


@bp.route("/book/<service_key>")
def slots(service_key: str):
    """The duty slots of one queue that still have room."""
    service = queue_service(service_key)
    station = current_station()
    views = booking.bookable(get_session(), station, service.key)
    return render_template(
        "legal/book_slots.html",
        service=service,
        label=service.text(current_locale()),
        slots=[(v, slot_label(station, v.slot)) for v in views],
        screen="legal.book",
    )


@bp.route("/book/slot/<int:slot_id>", methods=["GET", "POST"])
@limited(5, 86400, terminal_count=100)  # bookings a day from one address (booking.book: one per phone and day)
def confirm(slot_id: int):
    """Confirm a slot, with an optional phone number for the staff to reach the resident."""
    station = current_station()
    slot = station_row_or_404(DutySlot, slot_id, station=station)
    service = queue_service(slot.service)
    error = None
    if request.method == "POST":
        phone, error = read_phone(request.form.get("phone", ""))
        if error is None:
            try:
                made, slot = booking.book(station, slot.id, phone)
            except ActionError as exc:
                error = str(exc)
            else:
                visitors.remember(VISITOR, booking={"id": made.id, "job": _print_booking(station, made, slot)})
                return redirect(url_for("legal_booking.booked"))
    return render_template(
        "legal/book_confirm.html",
        slot=slot,
        info=slot_label(station, slot),
        service=service,
        label=service.text(current_locale()),
        error=error,
        screen="legal.book_confirm",
    ), (400 if error else 200)


def _booking_context(station, made: Booking, slot: DutySlot) -> dict:
    service = settings().service(slot.service)
    info = slot_label(station, slot)
    return {
        "station": station.name,
        "service": service.text(current_locale()) if service else slot.service,
        "code": made.code,
        "time": f"{info['day']} {info['date']} {info['time']}",
        "lawyer": " ".join(x for x in (info["lawyer"], info["organisation"]) if x),
        "phone": mask_phone(made.phone) if made.phone else "",
        "labels": {
            "title": _("Booking confirmed"),
            "code": _("Booking code"),
            "time": _("Time"),
            "lawyer": _("Duty lawyer"),
            "phone": _("Phone"),
            "how": _(
                "On the day, check in at the kiosk with this code up to %(minutes)s minutes before your time.",
                minutes=settings().checkin_early_minutes,
            ),
        },
    }


def _print_booking(station, made: Booking, slot: DutySlot) -> str | None:
    if not settings().print_tickets:
        return None
    from kiosk import printing

    try:
        return printing.print_receipt("legal.booking", _booking_context(station, made, slot), station=station)["job_id"]
    except Exception as exc:  # the booking stands; its code is on the screen
        issuing.log.warning("booking slip could not be queued: %s", type(exc).__name__)
        return None


@bp.route("/booked")
def booked():
    """The booking code just made, big, with the time and how to check in."""
    held = visitors.recall(VISITOR, "booking") or {}
    station = current_station()
    made = (
        get_session().scalar(select(Booking).where(Booking.id == held.get("id", 0), Booking.station_id == station.id))
        if held
        else None
    )
    if made is None:
        return redirect(url_for("legal_booking.services"))
    slot = get_session().get(DutySlot, made.slot_id)
    service = settings().service(slot.service)
    job = held.get("job")
    return render_template(
        "legal/booked.html",
        made=made,
        info=slot_label(station, slot),
        label=service.text(current_locale()) if service else slot.service,
        phone=mask_phone(made.phone) if made.phone else "",
        print_job=job or "",
        early=settings().checkin_early_minutes,
        screen="legal.booked",
    )


@bp.route("/checkin", methods=["GET", "POST"])
@limited(30, 600)  # besides the back-off after wrong codes
def checkin():
    """Type (or scan) the booking code; joins the queue at the booked time."""
    error, code, status = None, "", 200
    if request.method == "POST":
        code = "".join(ch for ch in request.form.get("code", "") if ch.isdigit())[: booking.CODE_DIGITS]
        # Wrong codes slow down whoever types them (a doubling wait after a few), so codes cannot be
        # tried one after another; an enrolled kiosk, used by everybody in the hall, gets more tries.
        wait = ratelimit.wait_before_guess(CODE_GUESSES, free=5, terminal_free=30, cap=600)
        if wait:
            error, status = _("Too many wrong booking codes from here.") + " " + ratelimit.wait_text(wait), 429
        elif len(code) not in (6, booking.CODE_DIGITS):
            error = _(
                "The booking code has %(digits)s digits. Please check it and try again.", digits=booking.CODE_DIGITS
            )
        else:
            station = current_station()
            try:
                ticket, progress = booking.check_in(station, code)
            except booking.UnknownCode as exc:
                ratelimit.guess_failed(CODE_GUESSES)
                error = str(exc)
            except ActionError as exc:
                error = str(exc)
            else:
                job = issuing.print_ticket(station, ticket, progress)
                remember_issued(ticket, job)
                return redirect(url_for("legal_kiosk.issued"))
        status = status if status != 200 else (400 if error else 200)
    headers = {"Retry-After": str(wait)} if status == 429 else {}
    return (
        render_template("legal/checkin.html", error=error, code=code if error else "", screen="legal.checkin"),
        status,
        headers,
    )
