"""The rider's kiosk screens: check in, pick what you need, check out.

Usual case, with gloves on: tap the card (or scan the code, or type the phone
number) → tap what you need → done. Identifying checks the rider in, so the
menu is the only screen between the reader and the result.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from kiosk import clock, printing
from kiosk.db import get_session
from kiosk.i18n import _, current_locale
from kiosk.privacy import mask_name, mask_phone, normalize_phone, valid_mobile
from kiosk.qr import qr_svg
from kiosk.stations import current_station
from kiosk.urls import public_url

from . import advanced, capacity, identity, messages, push, riders, services, slots, visits, waiting
from .models import Rider, Slot, Use, Waiting
from .receipts import PASS_LAYOUT, SLOT_LAYOUT
from .settings import get_settings
from .station_setup import prepare
from .status import rider_status
from .writes import Refused, run_write

bp = Blueprint("courier_rest", __name__)
# QR codes are drawn inline by the templates of this blueprint.
bp.context_processor(lambda: {"qr_svg": qr_svg})


@bp.before_request
def _prepare_station():
    prepare(current_station())


# -- small helpers ------------------------------------------------------------
def _notice(code: str, kind: str = "error", **info) -> None:
    identity.keep(notice={"code": code, "kind": kind, "info": info})


def _take_notice() -> dict | None:
    data = identity.kept("notice", pop=True)
    if not data:
        return None
    return {"kind": data.get("kind", "error"), "text": messages.text(data.get("code", ""), **data.get("info", {}))}


def _current_rider() -> Rider | None:
    rider_id = identity.current_rider_id()
    if rider_id is None:
        return None
    rider = get_session().get(Rider, rider_id)
    if rider is None or rider.station_id != current_station().id:
        identity.forget()
        return None
    return rider


def _need_rider():
    """The identified rider, or a redirect to the check-in screen saying why."""
    rider = _current_rider()
    if rider is None:
        _notice("not_identified")
        return None, redirect(url_for(".index"))
    return rider, None


def _result(result_type: str, **data):
    identity.keep(result={"type": result_type, **data})
    return redirect(url_for(".result"))


def _refused(exc: Refused):
    """Turn a refusal into a message on the menu (or the waiting-list offer when full)."""
    if exc.code == "full":
        if exc.info.get("kind") in slots.CHARGE_KINDS:
            return _result("full", kind=exc.info["kind"])
        _notice("full_seat")
        return redirect(url_for(".menu"))
    info = {}
    use_id = exc.info.get("use_id")
    if use_id:
        number = get_session().scalar(select(Slot.number).join(Use, Use.slot_id == Slot.id).where(Use.id == use_id))
        info["slot"] = number
    _notice(exc.code if exc.code in messages.MESSAGES else "unknown", **info)
    return redirect(url_for(".menu"))


def _open_visit(db_session, rider):
    visit = visits.open_visit(db_session, rider.id)
    if visit is None:
        raise Refused("not_checked_in")
    return visit


def ready_offers(db_session, station_id: int, tz) -> list[dict]:
    """Slots kept for waiting riders, by waiting number (what the board shows)."""
    rows = db_session.execute(
        select(Waiting.number, Waiting.kind, Slot.number, Use.held_until)
        .join(Use, Use.id == Waiting.offered_use_id).join(Slot, Slot.id == Use.slot_id)
        .where(Waiting.station_id == station_id, Waiting.state == "offered", Use.state == "held")
        .order_by(Waiting.number)).all()
    return [{"no": waiting.label(no), "kind": kind, "slot": slot, "until": clock.hhmm(tz, until)}
            for no, kind, slot, until in rows]


# -- check in ----------------------------------------------------------------
@bp.route("/")
def index():
    """The check-in screen: free places, card/QR/phone, slots kept for the waiting list."""
    station = current_station()
    db_session = get_session()
    error = request.args.get("error")
    notice = _take_notice()
    if error in messages.MESSAGES and notice is None:
        notice = {"kind": "error", "text": messages.text(error)}
    return render_template("courier_rest/index.html", screen="courier_rest.checkin", notice=notice,
                           board=slots.board(db_session, station.id),
                           ready=ready_offers(db_session, station.id, clock.zone(station)),
                           settings=get_settings())


@bp.route("/phone", methods=["POST"])
def by_phone():
    """The keypad's check-in: a known rider is checked in, a new one goes to the form."""
    phone = normalize_phone(request.form.get("phone", ""))
    if not valid_mobile(phone):
        _notice("phone_invalid")
        return redirect(url_for(".index"))
    station = current_station()
    rider = riders.by_phone(get_session(), station.id, phone)
    if rider is None:
        identity.forget()
        identity.set_pending(phone=phone)
        return redirect(url_for(".register"))
    return _identify(rider, "phone")


@bp.route("/id/<token>")
def identify(token: str):
    """Where a card tap or a QR scan sends the page (see :mod:`.reader`)."""
    payload = identity.read_token(token)
    if payload is None:
        _notice("expired")
        return redirect(url_for(".index"))
    station = current_station()
    db_session = get_session()
    if payload.get("m") == "qr":
        rider = riders.by_token(db_session, station.id, str(payload.get("t", "")))
        if rider is None:
            _notice("code")
            return redirect(url_for(".index"))
        return _identify(rider, "qr")
    uid = riders.normalize_card(str(payload.get("c", "")))
    rider = riders.by_card(db_session, station.id, uid)
    if rider is None:
        identity.forget()
        identity.set_pending(card=uid)
        return redirect(url_for(".register"))
    return _identify(rider, "card")


def _identify(rider: Rider, method: str):
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
        _notice("checked_in", kind="ok")
    return redirect(url_for(".menu"))


# -- registration -------------------------------------------------------------
@bp.route("/register", methods=["GET", "POST"])
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
                return _result("registered")
    status = 400 if errors else 200
    return render_template("courier_rest/register.html", screen="courier_rest.register", values=values,
                           errors={k: _(v) for k, v in errors.items()}, has_card=bool(pending.get("card")),
                           platforms=riders.PLATFORMS, vehicles=riders.VEHICLES), status


# -- the rider's menu -----------------------------------------------------------
@bp.route("/menu")
def menu():
    """The rider's menu: places, services, help, check-out."""
    rider, back = _need_rider()
    if back:
        return back
    station = current_station()
    db_session = get_session()
    now = clock.now()
    tz = clock.zone(station)
    status = rider_status(db_session, rider.id, now, tz)
    return render_template(
        "courier_rest/menu.html", screen="courier_rest.menu", notice=_take_notice(), status=status,
        rider_name=mask_name(rider.name), rider_phone=mask_phone(rider.phone),
        board=slots.board(db_session, station.id), settings=get_settings(),
        services=services.listed(db_session, station.id), locale=current_locale(),
        advanced=advanced.ADVANCED, has_card=bool(rider.card_uid), kind_label=messages.kind_label)


@bp.route("/checkin", methods=["POST"])
def checkin_again():
    """A rider still identified on the screen but checked out (e.g. by staff) checks in again."""
    rider, back = _need_rider()
    if back:
        return back
    return _identify(rider, identity.current_method() or "phone")


@bp.route("/take/<kind>", methods=["POST"])
def take(kind: str):
    """Take a seat or a charging slot (the lowest free number)."""
    rider, back = _need_rider()
    if back:
        return back
    if kind not in slots.SLOT_KINDS:
        _notice("unknown")
        return redirect(url_for(".menu"))
    station, settings, now = current_station(), get_settings(), clock.now()
    tz = clock.zone(station)

    def work(db_session):
        visit = _open_visit(db_session, rider)
        use, slot = capacity.take(db_session, station.id, visit, kind, now, settings)
        push.capacity(db_session, station.id)
        return slot.number, use.started_at, use.due_at

    try:
        number, started, due = run_write(work)
    except Refused as exc:
        return _refused(exc)
    return _result("slot", kind=kind, slot=number, since=clock.hhmm(tz, started), until=clock.hhmm(tz, due))


@bp.route("/take-held", methods=["POST"])
def take_held():
    """Take the slot kept for this rider off the waiting list."""
    rider, back = _need_rider()
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
        return _refused(exc)
    return _result("slot", kind=kind, slot=number, since=clock.hhmm(tz, started), until=clock.hhmm(tz, due))


@bp.route("/release/<int:use_id>", methods=["POST"])
def release(use_id: int):
    """Give a place back before leaving."""
    rider, back = _need_rider()
    if back:
        return back
    station, settings, now = current_station(), get_settings(), clock.now()
    tz = clock.zone(station)

    def work(db_session):
        use = db_session.scalar(select(Use).where(Use.id == use_id, Use.rider_id == rider.id,
                                                  Use.live_slot_id.is_not(None)).with_for_update())
        if use is None:
            return None
        number = db_session.scalar(select(Slot.number).where(Slot.id == use.slot_id))
        capacity.release(db_session, use, now, "released", settings, tz)
        push.capacity(db_session, station.id)
        return use.kind, number

    done = run_write(work)
    if done is None:
        _notice("nothing", kind="ok")
        return redirect(url_for(".menu"))
    return _result("released", kind=done[0], slot=done[1])


@bp.route("/wait/<kind>", methods=["POST"])
def join_waiting(kind: str):
    """Join the waiting list for a charging slot."""
    rider, back = _need_rider()
    if back:
        return back
    station, now = current_station(), clock.now()
    tz = clock.zone(station)

    def work(db_session):
        visit = _open_visit(db_session, rider)
        entry = waiting.join(db_session, station.id, visit, kind, now, tz)
        push.capacity(db_session, station.id)
        return entry.number, waiting.ahead_of(db_session, entry)

    try:
        number, ahead = run_write(work)
    except Refused as exc:
        return _refused(exc)
    return _result("waiting", kind=kind, no=waiting.label(number), ahead=ahead)


@bp.route("/service/<key>", methods=["POST"])
def use_service(key: str):
    """Use a basic service (counted for the figures), then show its note."""
    rider, back = _need_rider()
    if back:
        return back
    station, now = current_station(), clock.now()
    service = services.by_key(get_session(), station.id, key)
    if service is None or not service.active:
        _notice("unknown")
        return redirect(url_for(".menu"))

    def work(db_session):
        visit = _open_visit(db_session, rider)
        services.record_use(db_session, station.id, rider.id, visit.id, key, now)

    try:
        run_write(work)
    except Refused as exc:
        return _refused(exc)
    return _result("service", key=key)


@bp.route("/advanced/<key>", methods=["POST"])
def ask_advanced(key: str):
    """Ask for legal aid, counselling or skills training."""
    rider, back = _need_rider()
    if back:
        return back
    if key not in advanced.ADVANCED_KEYS:
        _notice("unknown")
        return redirect(url_for(".menu"))
    station, now = current_station(), clock.now()
    existing = advanced.open_request(get_session(), station.id, rider.id, key)
    if existing is not None:
        return _result("request", service=key, ticket=existing.ticket, ticket_url=existing.ticket_url, ahead=None,
                       again=True)
    ticket = advanced.ask_legal_queue(station) if key == "legal_aid" else None

    def work(db_session):
        visit = visits.open_visit(db_session, rider.id)
        advanced.record(db_session, station.id, rider.id, visit.id if visit else None, key, now, ticket)

    run_write(work)
    if ticket:
        return _result("request", service=key, ticket=str(ticket["ticket"]),
                       ticket_url=str(ticket.get("status_url", "")), ahead=ticket.get("ahead"),
                       place=str(ticket.get("service", "")), again=False)
    return _result("request", service=key, ticket="", ticket_url="", ahead=None, again=False)


@bp.route("/checkout", methods=["POST"])
def checkout():
    """Check out: every place is given back and the rider is forgotten on the screen."""
    rider, back = _need_rider()
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
        return _result("checkout", minutes=None, released=[])
    return _result("checkout", minutes=done[0], released=done[1])


@bp.route("/finish", methods=["POST"])
def finish():
    """Done: forget the rider on this screen and go back to the home screen."""
    identity.forget()
    return redirect(url_for("shell.home"))


# -- results ----------------------------------------------------------------------
@bp.route("/result")
def result():
    """What the last action did, in big type."""
    data = identity.kept("result")
    if not data:
        return redirect(url_for(".index"))
    rider = _current_rider()
    station = current_station()
    extra = {}
    if data["type"] == "service":
        service = services.by_key(get_session(), station.id, data.get("key", ""))
        if service is not None:
            extra["service_name"] = services.name_of(service, current_locale())
            extra["service_note"] = services.note_of(service, current_locale())
            extra["service_icon"] = service.icon
    if rider is not None and data["type"] in ("waiting", "registered", "slot"):
        extra["status_url"] = public_url("courier_rest_mobile.rider", token=rider.pass_token)
    if data["type"] == "request" and data.get("ticket_url"):
        extra["ticket_qr_url"] = _absolute(data["ticket_url"])
    if data["type"] == "hazard" and data.get("status_url"):
        extra["hazard_qr_url"] = _absolute(data["status_url"])
    return render_template("courier_rest/result.html", screen="courier_rest.result", r=data, rider=rider,
                           kind_label=messages.kind_label, advanced_labels=advanced.LABELS, **extra)


def _absolute(url: str) -> str:
    """Another plugin's status page as a full address for a phone (they give absolute paths)."""
    return url if url.startswith(("http://", "https://")) else public_url(None, path=url)


@bp.route("/board.json")
def board_json():
    """Free places and slots kept for waiting riders: what the check-in screen refreshes."""
    station = current_station()
    db_session = get_session()
    return jsonify({"board": slots.board(db_session, station.id),
                    "ready": ready_offers(db_session, station.id, clock.zone(station))})


# -- the rider's own code and card -------------------------------------------------
@bp.route("/my-code")
def my_code():
    """The rider's own QR code, to keep on the phone or print."""
    rider, back = _need_rider()
    if back:
        return back
    return render_template("courier_rest/my_code.html", screen="courier_rest.my_code",
                           pass_url=public_url("courier_rest_mobile.rider", token=rider.pass_token),
                           rider_name=mask_name(rider.name), rider_phone=mask_phone(rider.phone))


@bp.route("/link-card")
def link_card():
    """Asks the rider to tap the card to link."""
    rider, back = _need_rider()
    if back:
        return back
    return render_template("courier_rest/link_card.html", screen="courier_rest.link_card")


@bp.route("/link/<token>")
def link_card_done(token: str):
    """Where the card tap on the link screen sends the page."""
    rider, back = _need_rider()
    if back:
        return back
    payload = identity.read_token(token)
    if payload is None or payload.get("m") != "link":
        _notice("expired")
        return redirect(url_for(".menu"))
    uid = riders.normalize_card(str(payload.get("c", "")))
    station = current_station()

    def work(db_session):
        owner = riders.by_card(db_session, station.id, uid)
        if owner is not None and owner.id != rider.id:
            raise Refused("card_taken")
        row = db_session.get(Rider, rider.id)
        row.card_uid = uid

    try:
        run_write(work)
    except Refused as exc:
        _notice(exc.code)
        return redirect(url_for(".menu"))
    _notice("card_linked", kind="ok")
    return redirect(url_for(".menu"))


# -- receipts ------------------------------------------------------------------------
@bp.route("/print/<what>", methods=["POST"])
def print_note(what: str):
    """Print the rider's code or their charging slot; answers with the print job to poll."""
    rider = _current_rider()
    if rider is None:
        return jsonify({"error": messages.text("not_identified")}), 400
    station = current_station()
    status_url = public_url("courier_rest_mobile.rider", token=rider.pass_token)
    if what == "pass":
        layout, context = PASS_LAYOUT, {"station": station.name, "name": mask_name(rider.name),
                                        "phone": mask_phone(rider.phone), "pass_url": status_url}
    elif what == "slot":
        status = rider_status(get_session(), rider.id, clock.now(), clock.zone(station))
        if status.charge is None:
            return jsonify({"error": messages.text("no_slot")}), 400
        layout = SLOT_LAYOUT
        context = {"station": station.name, "kind_label": messages.kind_label(status.charge.kind),
                   "slot": status.charge.number, "since": status.charge.since, "until": status.charge.until,
                   "phone": mask_phone(rider.phone), "status_url": status_url}
    else:
        return jsonify({"error": messages.text("unknown")}), 404
    try:
        job = printing.print_receipt(layout, context)
    except Exception:
        current_app.logger.warning("courier_rest: printing %s failed", layout)
        return jsonify({"error": _("The printer is not available. Please note the number on the screen.")}), 503
    # The core answers GET /print-jobs/<id> with the job's state; the page polls it.
    return jsonify({"job_id": job["job_id"], "state": job["state"], "poll": f"/print-jobs/{job['job_id']}"})
