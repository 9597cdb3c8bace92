"""The rider's menu and places: seats, charging slots, the waiting list, check-out."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from sqlalchemy import select

from kiosk import clock
from kiosk.db import get_session
from kiosk.i18n import current_locale
from kiosk.privacy import mask_name, mask_phone
from kiosk.ratelimit import limited
from kiosk.stations import current_station
from kiosk_plugins.courier_rest import (
    advanced,
    capacity,
    identity,
    messages,
    push,
    services,
    slots,
    visits,
    waiting,
)
from kiosk_plugins.courier_rest.models import Slot, Use
from kiosk_plugins.courier_rest.screen import (
    bp,
    check_in,
    need_rider,
    notice,
    open_visit,
    refused,
    show_result,
    take_notice,
)
from kiosk_plugins.courier_rest.settings import get_settings
from kiosk_plugins.courier_rest.status import rider_status
from kiosk_plugins.courier_rest.writes import Refused, run_write


@bp.route("/menu")
def menu():
    """The rider's menu: places, services, help, check-out."""
    rider, back = need_rider()
    if back:
        return back
    station = current_station()
    db_session = get_session()
    now = clock.now()
    tz = clock.zone(station)
    status = rider_status(db_session, rider.id, now, tz)
    return render_template(
        "courier_rest/menu.html",
        screen="courier_rest.menu",
        notice=take_notice(),
        status=status,
        rider_name=mask_name(rider.name),
        rider_phone=mask_phone(rider.phone),
        board=slots.board(db_session, station.id),
        settings=get_settings(),
        services=services.listed(db_session, station.id),
        locale=current_locale(),
        advanced=advanced.ADVANCED,
        has_card=bool(rider.card_uid),
        kind_label=messages.kind_label,
    )


@bp.route("/checkin", methods=["POST"])
@limited(120, 600, name="courier_rest.place")
def checkin_again():
    """A rider still identified on the screen but checked out (e.g. by staff) checks in again."""
    rider, back = need_rider()
    if back:
        return back
    return check_in(rider, identity.current_method() or "phone")


@bp.route("/take/<kind>", methods=["POST"])
@limited(120, 600, name="courier_rest.place")
def take(kind: str):
    """Take a seat or a charging slot (the lowest free number)."""
    rider, back = need_rider()
    if back:
        return back
    if kind not in slots.SLOT_KINDS:
        notice("unknown")
        return redirect(url_for(".menu"))
    station, settings, now = current_station(), get_settings(), clock.now()
    tz = clock.zone(station)

    def work(db_session):
        visit = open_visit(db_session, rider)
        use, slot = capacity.take(db_session, station.id, visit, kind, now, settings)
        push.capacity(db_session, station.id)
        return slot.number, use.started_at, use.due_at

    try:
        number, started, due = run_write(work)
    except Refused as exc:
        return refused(exc)
    return show_result("slot", kind=kind, slot=number, since=clock.hhmm(tz, started), until=clock.hhmm(tz, due))


@bp.route("/take-held", methods=["POST"])
@limited(120, 600, name="courier_rest.place")
def take_held():
    """Take the slot kept for this rider off the waiting list."""
    rider, back = need_rider()
    if back:
        return back
    station, settings, now = current_station(), get_settings(), clock.now()
    tz = clock.zone(station)

    def work(db_session):
        use, slot = waiting.take_held(db_session, rider.id, now, settings)
        push.capacity(db_session, station.id)
        return use.kind, slot.number, use.started_at, use.due_at

    try:
        kind, number, started, due = run_write(work)
    except Refused as exc:
        return refused(exc)
    return show_result("slot", kind=kind, slot=number, since=clock.hhmm(tz, started), until=clock.hhmm(tz, due))


@bp.route("/release/<int:use_id>", methods=["POST"])
@limited(120, 600, name="courier_rest.place")
def release(use_id: int):
    """Give a place back before leaving."""
    rider, back = need_rider()
    if back:
        return back
    station, settings, now = current_station(), get_settings(), clock.now()
    tz = clock.zone(station)

    def work(db_session):
        use = db_session.scalar(
            select(Use)
            .where(Use.id == use_id, Use.rider_id == rider.id, Use.live_slot_id.is_not(None))
            .with_for_update()
        )
        if use is None:
            return None
        number = db_session.scalar(select(Slot.number).where(Slot.id == use.slot_id))
        capacity.release(db_session, use, now, "released", settings, tz)
        push.capacity(db_session, station.id)
        return use.kind, number

    done = run_write(work)
    if done is None:
        notice("nothing", kind="ok")
        return redirect(url_for(".menu"))
    return show_result("released", kind=done[0], slot=done[1])


@bp.route("/wait/<kind>", methods=["POST"])
@limited(120, 600, name="courier_rest.place")
def join_waiting(kind: str):
    """Join the waiting list for a charging slot."""
    rider, back = need_rider()
    if back:
        return back
    station, now = current_station(), clock.now()
    tz = clock.zone(station)

    def work(db_session):
        visit = open_visit(db_session, rider)
        entry = waiting.join(db_session, station.id, visit, kind, now, tz)
        push.capacity(db_session, station.id)
        return entry.number, waiting.ahead_of(db_session, entry)

    try:
        number, ahead = run_write(work)
    except Refused as exc:
        return refused(exc)
    return show_result("waiting", kind=kind, no=waiting.label(number), ahead=ahead)


@bp.route("/checkout", methods=["POST"])
@limited(120, 600, name="courier_rest.place")
def checkout():
    """Check out: every place is given back and the rider is forgotten on the screen."""
    rider, back = need_rider()
    if back:
        return back
    station, settings, now = current_station(), get_settings(), clock.now()
    tz = clock.zone(station)
    method = identity.current_method() or "phone"

    def work(db_session):
        visit = visits.open_visit(db_session, rider.id)
        if visit is None:
            return None
        minutes = int((now - visit.checked_in_at).total_seconds() // 60)
        released = visits.check_out(db_session, visit, method, now, settings, tz)
        for item in released:
            item["slot"] = db_session.scalar(select(Slot.number).where(Slot.id == item.pop("slot_id")))
        push.capacity(db_session, station.id)
        return minutes, released

    done = run_write(work)
    identity.forget()
    if done is None:
        return show_result("checkout", minutes=None, released=[])
    return show_result("checkout", minutes=done[0], released=done[1])


@bp.route("/finish", methods=["POST"])
@limited(120, 600, name="courier_rest.place")
def finish():
    """Done: forget the rider on this screen and go back to the home screen."""
    identity.forget()
    return redirect(url_for("shell.home"))
