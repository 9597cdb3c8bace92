"""Check-in screens: the card, code or phone that identifies a rider, and the one-time registration."""

from __future__ import annotations

from flask import jsonify, redirect, render_template, request, url_for

from kiosk import clock
from kiosk.db import get_session
from kiosk.i18n import _
from kiosk.privacy import normalize_phone, valid_mobile
from kiosk.ratelimit import limited
from kiosk.stations import current_station
from kiosk_plugins.courier_rest import (
    identity,
    messages,
    push,
    riders,
    slots,
    visits,
)
from kiosk_plugins.courier_rest.screen import (
    bp,
    check_in,
    notice,
    ready_offers,
    show_result,
    take_notice,
)
from kiosk_plugins.courier_rest.settings import get_settings
from kiosk_plugins.courier_rest.writes import Refused, run_write


@bp.route("/")
def index():
    """The check-in screen: free places, card/QR/phone, slots kept for the waiting list."""
    station = current_station()
    db_session = get_session()
    error = request.args.get("error")
    notice = take_notice()
    if error in messages.MESSAGES and notice is None:
        notice = {"kind": "error", "text": messages.text(error)}
    return render_template(
        "courier_rest/index.html",
        screen="courier_rest.checkin",
        notice=notice,
        board=slots.board(db_session, station.id),
        ready=ready_offers(db_session, station.id, clock.zone(station)),
        settings=get_settings(),
    )


@bp.route("/phone", methods=["POST"])
@limited(30, 600)
def by_phone():
    """The keypad's check-in: a known rider is checked in, a new one goes to the form."""
    phone = normalize_phone(request.form.get("phone", ""))
    if not valid_mobile(phone):
        # The number stays in the field, to be corrected rather than typed again.
        notice("phone_invalid", typed=request.form.get("phone", "").strip()[:11])
        return redirect(url_for(".index"))
    station = current_station()
    rider = riders.by_phone(get_session(), station.id, phone)
    if rider is None:
        identity.forget()
        identity.set_pending(phone=phone)
        return redirect(url_for(".register"))
    return check_in(rider, "phone")


@bp.route("/id/<token>")
def identify(token: str):
    """Where a card tap or a QR scan sends the page (see :mod:`.reader`)."""
    payload = identity.read_token(token)
    if payload is None:
        notice("expired")
        return redirect(url_for(".index"))
    station = current_station()
    db_session = get_session()
    if payload.get("m") == "qr":
        rider = riders.by_token(db_session, station.id, str(payload.get("t", "")))
        if rider is None:
            notice("code")
            return redirect(url_for(".index"))
        return check_in(rider, "qr")
    uid = riders.normalize_card(str(payload.get("c", "")))
    rider = riders.by_card(db_session, station.id, uid)
    if rider is None:
        identity.forget()
        identity.set_pending(card=uid)
        return redirect(url_for(".register"))
    return check_in(rider, "card")


@bp.route("/register", methods=["GET", "POST"])
@limited(10, 600)
def register():
    """The one-time registration form (name, phone, platform, vehicle)."""
    pending = identity.pending()
    values = {"name": "", "phone": pending.get("phone", ""), "platform": "", "vehicle": ""}
    errors: dict = {}
    if request.method == "POST":
        data, errors = riders.validate(request.form)
        values = data
        station = current_station()
        db_session = get_session()
        if not errors and riders.by_phone(db_session, station.id, data["phone"]) is not None:
            errors["phone"] = messages.MESSAGES["phone_taken"]
        card = pending.get("card")
        if not errors and card and riders.by_card(db_session, station.id, card) is not None:
            errors["card"] = messages.MESSAGES["card_taken"]
        if not errors:
            now = clock.now()

            def work(s):
                # Checked again inside the write: another kiosk may have registered this phone just now.
                if riders.by_phone(s, station.id, data["phone"]) is not None:
                    raise Refused("phone_taken")
                rider = riders.create(s, station.id, data, card_uid=card)
                visits.check_in(s, station.id, rider, "card" if card else "phone", now)
                push.capacity(s, station.id)
                return rider.id

            try:
                rider_id = run_write(work)
            except Refused:
                errors["phone"] = messages.MESSAGES["phone_taken"]
            else:
                identity.remember(rider_id, "card" if card else "phone")
                return show_result("registered")
    status = 400 if errors else 200
    return render_template(
        "courier_rest/register.html",
        screen="courier_rest.register",
        values=values,
        errors={k: _(v) for k, v in errors.items()},
        has_card=bool(pending.get("card")),
        platforms=riders.PLATFORMS,
        vehicles=riders.VEHICLES,
    ), status


@bp.route("/board.json")
def board_json():
    """Free places and slots kept for waiting riders: what the check-in screen refreshes."""
    station = current_station()
    db_session = get_session()
    return jsonify(
        {
            "board": slots.board(db_session, station.id),
            "ready": ready_offers(db_session, station.id, clock.zone(station)),
        }
    )
