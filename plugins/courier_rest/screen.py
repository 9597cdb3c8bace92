"""The rider's kiosk screens: the blueprint they share and the helpers every screen uses.

Usual case, with gloves on: tap the card (or scan the code, or type the phone
number) → tap what you need → done. Identifying checks the rider in, so the
menu is the only screen between the reader and the result. The screens live in
``checkin_views`` (identify, register), ``place_views`` (menu, seats, charging
slots, waiting list, check-out), ``service_views`` (basic and advanced
services) and ``pass_views`` (results, the rider's code and card, printing).
"""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from sqlalchemy import select

from kiosk import clock
from kiosk.db import get_session
from kiosk.qr import qr_svg
from kiosk.stations import current_station
from kiosk.urls import public_url
from kiosk_plugins.courier_rest import (
    identity,
    messages,
    push,
    slots,
    visits,
    waiting,
)
from kiosk_plugins.courier_rest.models import Rider, Slot, Use, Waiting
from kiosk_plugins.courier_rest.station_setup import prepare
from kiosk_plugins.courier_rest.writes import Refused, run_write

bp = Blueprint("courier_rest", __name__)
# QR codes are drawn inline by the templates of this blueprint.
bp.context_processor(lambda: {"qr_svg": qr_svg})


@bp.before_request
def _prepare_station():
    prepare(current_station())


def notice(code: str, kind: str = "error", **info) -> None:
    identity.keep(notice={"code": code, "kind": kind, "info": info})


def take_notice() -> dict | None:
    data = identity.kept("notice", pop=True)
    if not data:
        return None
    info = dict(data.get("info") or {})
    typed = str(info.pop("typed", ""))  # what the rider typed before the mistake, for the field
    return {"kind": data.get("kind", "error"), "text": messages.text(data.get("code", ""), **info), "typed": typed}


def current_rider() -> Rider | None:
    rider_id = identity.current_rider_id()
    if rider_id is None:
        return None
    rider = get_session().get(Rider, rider_id)
    if rider is None or rider.station_id != current_station().id:
        identity.forget()
        return None
    return rider


def need_rider():
    """The identified rider, or a redirect to the check-in screen saying why."""
    rider = current_rider()
    if rider is None:
        notice("not_identified")
        return None, redirect(url_for(".index"))
    return rider, None


def show_result(result_type: str, **data):
    identity.keep(result={"type": result_type, **data})
    return redirect(url_for(".result"))


def refused(exc: Refused):
    """Turn a refusal into a message on the menu (or the waiting-list offer when full)."""
    if exc.code == "full":
        if exc.info.get("kind") in slots.CHARGE_KINDS:
            return show_result("full", kind=exc.info["kind"])
        notice("full_seat")
        return redirect(url_for(".menu"))
    info = {}
    use_id = exc.info.get("use_id")
    if use_id:
        number = get_session().scalar(select(Slot.number).join(Use, Use.slot_id == Slot.id).where(Use.id == use_id))
        info["slot"] = number
    notice(exc.code if exc.code in messages.MESSAGES else "unknown", **info)
    return redirect(url_for(".menu"))


def open_visit(db_session, rider):
    visit = visits.open_visit(db_session, rider.id)
    if visit is None:
        raise Refused("not_checked_in")
    return visit


def ready_offers(db_session, station_id: int, tz) -> list[dict]:
    """Slots kept for waiting riders, by waiting number (what the board shows)."""
    rows = db_session.execute(
        select(Waiting.number, Waiting.kind, Slot.number, Use.held_until)
        .join(Use, Use.id == Waiting.offered_use_id)
        .join(Slot, Slot.id == Use.slot_id)
        .where(Waiting.station_id == station_id, Waiting.state == "offered", Use.state == "held")
        .order_by(Waiting.number)
    ).all()
    return [
        {"no": waiting.label(no), "kind": kind, "slot": slot, "until": clock.hhmm(tz, until)}
        for no, kind, slot, until in rows
    ]


def absolute(url: str) -> str:
    """Another plugin's status page as a full address for a phone (they give absolute paths)."""
    return url if url.startswith(("http://", "https://")) else public_url(None, path=url)


def check_in(rider: Rider, method: str):
    """Check ``rider`` in (once a visit) and keep them identified on this screen; on to the menu."""
    station = current_station()
    now = clock.now()

    def work(db_session):
        visit, created = visits.check_in(db_session, station.id, rider, method, now)
        if created:
            push.capacity(db_session, station.id)
        return created

    created = run_write(work)
    identity.remember(rider.id, method)
    if created:
        notice("checked_in", kind="ok")
    return redirect(url_for(".menu"))
