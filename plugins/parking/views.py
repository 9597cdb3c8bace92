"""The resident's screens on the kiosk (``/k/parking/``).

Identify (card tap or mobile number) → pick or type a plate → pick a lot and
a time with free spaces → confirm → the voucher, printed and shown as a QR
code. "My vouchers" lists the household's unused vouchers to show or cancel.
Plates are masked on every screen; the session holds ids, never the plate.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from kiosk import clock, printing
from kiosk.db import get_session
from kiosk.i18n import N_, _
from kiosk.privacy import mask_plate, normalize_phone, valid_mobile
from kiosk.qr import qr_data_uri
from kiosk.ratelimit import limited
from kiosk.stations import current_station
from kiosk.urls import has_public_url, public_url
from kiosk_plugins.parking import availability, codes, formatting, households, identify, receipts
from kiosk_plugins.parking.models import ID_CONVERTER, ISSUED, MAX_ID, USED, Household, Lot, Plate, Voucher, Window
from kiosk_plugins.parking.plates import InvalidPlate, classify_plate
from kiosk_plugins.parking.schedule import is_bookable
from kiosk_plugins.parking.settings import settings
from kiosk_plugins.parking.vouchers import VoucherRefused, cancel_voucher, issue_voucher

log = logging.getLogger("kiosk.parking")

bp = Blueprint("parking_kiosk", __name__)

PLATE_MESSAGES = {
    "empty": N_("Please enter the plate number."),
    "province": N_("A plate starts with a province character such as 粤. Please tap it first."),
    "letter": N_("The second character must be a letter (not I or O)."),
    "length": N_("A plate has 7 characters, or 8 for a new-energy car. Please check it."),
    "characters": N_("Only letters (not I or O) and digits may follow. Please check the plate."),
    "new_energy": N_("A new-energy plate has D or F first (small cars) or last (large vehicles). Please check it."),
}


def refusal_message(exc: VoucherRefused) -> str:
    """What to tell the resident when a rule says no, with what to do next."""
    if exc.reason == "full":
        return _("Sorry, there are no free spaces left for that time. Please choose another time or car park.")
    if exc.reason == "quota":
        return _(
            "Your household has used this month's vouchers for this car park (%(quota)s a month). "
            "Please choose another car park or ask the staff.",
            quota=exc.detail.get("quota"),
        )
    if exc.reason == "duplicate":
        return _('This car already has a voucher for that time. Open "My vouchers" to see or cancel it.')
    if exc.reason == "plate":
        return _("This plate is not registered to your household. Please ask the staff to add it.")
    if exc.reason == "household":
        return _("Your household is not on the shared parking list. Please ask the staff at the counter.")
    if exc.reason == "not_cancellable":
        return _("This voucher can no longer be cancelled: it has been used, cancelled or has expired.")
    return _("That time can no longer be booked. Please choose another time.")


def _household():
    """The identified household of this kiosk turn, or None."""
    turn = identify.current()
    if turn is None:
        return None, None
    household = get_session().get(Household, turn["hh"])
    if household is None or not household.active or household.station_id != current_station().id:
        identify.forget()
        return None, None
    return turn, household


def _start_over():
    flash(_("Please tap your resident card or enter your mobile number again."))
    return redirect(url_for("parking_kiosk.index"))


def _chosen_plate(turn, household) -> Plate | None:
    plate_id = turn.get("plate")
    plate = get_session().get(Plate, plate_id) if isinstance(plate_id, int) else None
    return plate if plate is not None and plate.household_id == household.id else None


@bp.route("/")
def index():
    """Start: tap a resident card or type a mobile number. Forgets any previous resident."""
    identify.forget()
    return _identify_page()


def _identify_page(error: str = "", status: int = 200, typed: str = ""):
    """The first screen; ``typed``: the number the resident typed, kept after a mistake so it can be corrected."""
    return render_template("parking/identify.html", screen="parking.identify", error=error, typed=typed), status


@bp.route("/identify", methods=["POST"])
@limited(20, 600)
def identify_by_phone():
    """Identify by the mobile number registered with the household."""
    identify.forget()
    typed = request.form.get("phone", "")[:32]
    phone = normalize_phone(typed)
    if not valid_mobile(phone):
        return _identify_page(
            _("Please enter the 11-digit mobile number registered with your household."), 400, typed=typed.strip()[:11]
        )
    household = households.by_phone(get_session(), current_station().id, phone)
    if household is None:
        return _identify_page(
            _(
                "This mobile number is not on the shared parking list. "
                "Please ask the staff at the counter to register your household."
            ),
            404,
            typed=phone,
        )
    identify.remember(household.id, "phone")
    return redirect(url_for("parking_kiosk.plate"))


@bp.route("/card", methods=["POST"])
@limited(30, 600)
def identify_by_card():
    """The page posts the token the reader hub gave it after a card tap."""
    identify.forget()
    household_id = identify.read_card_token(request.form.get("card_token", "")[:512])
    if household_id is None:
        return _identify_page(_("The card read has timed out. Please tap your card again."), 400)
    household = get_session().get(Household, household_id) if household_id else None
    if household is None or not household.active or household.station_id != current_station().id:
        return _identify_page(
            _("This card is not registered for shared parking. Please enter your mobile number or ask the staff."), 404
        )
    identify.remember(household.id, "card")
    return redirect(url_for("parking_kiosk.plate"))


@bp.route("/plate", methods=["GET", "POST"])
@limited(20, 600)
def plate():
    """Pick one of the household's cars (masked) or type the plate on the plate keypad."""
    turn, household = _household()
    if household is None:
        return _start_over()
    registered = households.plates_of(get_session(), household.id)
    error, status, typed_plate = "", 200, ""
    if request.method == "POST":
        chosen = None
        if request.form.get("plate_id"):
            try:
                wanted = int(request.form["plate_id"])
            except ValueError:
                wanted = -1
            chosen = next((p for p in registered if p.id == wanted), None)
            if chosen is None:
                error, status = _("Please choose one of your cars."), 400
        else:
            # What was typed stays in the field after a mistake, to be corrected rather than typed again.
            typed_plate = request.form.get("plate", "")[:8].strip()
            try:
                typed, _kind = classify_plate(request.form.get("plate", "")[:16])
            except InvalidPlate as exc:
                error, status = _(PLATE_MESSAGES[exc.reason]), 400
            else:
                chosen = next((p for p in registered if p.plate == typed), None)
                if chosen is None:
                    error, status = (
                        _("This plate is not registered to your household. Please ask the staff to add it."),
                        404,
                    )
        if chosen is not None:
            identify.update(plate=chosen.id)
            return redirect(url_for("parking_kiosk.lots"))
    else:
        identify.update()
    cars = [{"id": p.id, "masked": mask_plate(p.plate), "kind": p.kind} for p in registered]
    return render_template(
        "parking/plate.html", screen="parking.plate", cars=cars, error=error, unit=household.unit, typed=typed_plate
    ), status


def _offers_page(turn, household, plate: Plate, error: str = "", status: int = 200):
    station = current_station()
    tz = clock.zone(station)
    now = clock.now()
    today = clock.today(tz, now)
    lots = availability.offers_for(get_session(), station.id, now, tz, household.id)
    view = []
    for entry in lots:
        view.append(
            {
                "lot": entry.lot,
                "price": formatting.money(entry.lot.price_cents),
                "quota_left": entry.quota_left,
                "offers": [
                    {
                        "key": o.occurrence.key,
                        "window_id": o.window.id,
                        "day": o.occurrence.day.isoformat(),
                        "label": o.window.label,
                        "free": o.free,
                        "when": formatting.occurrence_parts(o.occurrence.starts_at, o.occurrence.ends_at, tz, today),
                    }
                    for o in entry.offers
                ],
            }
        )
    return render_template(
        "parking/lots.html", screen="parking.lots", lots=view, error=error, plate=mask_plate(plate.plate)
    ), status


@bp.route("/lots")
def lots():
    """Lots and times with free spaces, and how many vouchers the household has left."""
    turn, household = _household()
    if household is None:
        return _start_over()
    chosen = _chosen_plate(turn, household)
    if chosen is None:
        return redirect(url_for("parking_kiosk.plate"))
    identify.update()
    return _offers_page(turn, household, chosen)


def _occurrence_args(source) -> tuple[int, date] | None:
    try:
        window_id, day = int(source.get("window", "")[:12]), date.fromisoformat(source.get("day", "")[:10])
    except ValueError:
        return None
    return (window_id, day) if 0 < window_id <= MAX_ID else None


@bp.route("/confirm")
def confirm():
    """Check the details before the voucher is issued (it counts towards the quota)."""
    turn, household = _household()
    if household is None:
        return _start_over()
    chosen = _chosen_plate(turn, household)
    if chosen is None:
        return redirect(url_for("parking_kiosk.plate"))
    picked = _occurrence_args(request.args)
    if picked is None:
        return redirect(url_for("parking_kiosk.lots"))
    station = current_station()
    tz = clock.zone(station)
    now = clock.now()
    window = get_session().get(Window, picked[0])
    lot = get_session().get(Lot, window.lot_id) if window is not None else None
    occ = (
        is_bookable(window, picked[1], now, tz, lot.reserve_days)
        if window is not None and lot is not None and lot.station_id == station.id and lot.active and window.active
        else None
    )
    if occ is None:
        return _offers_page(turn, household, chosen, refusal_message(VoucherRefused("window")), 409)
    identify.update()
    return render_template(
        "parking/confirm.html",
        screen="parking.confirm",
        lot=lot,
        window=window,
        day=occ.day.isoformat(),
        plate=mask_plate(chosen.plate),
        price=formatting.money(lot.price_cents),
        when=formatting.occurrence_text(occ.starts_at, occ.ends_at, tz, clock.today(tz, now)),
    )


@bp.route("/issue", methods=["POST"])
@limited(20, 600)
def issue():
    """Issue the voucher, print it, and show it."""
    turn, household = _household()
    if household is None:
        return _start_over()
    chosen = _chosen_plate(turn, household)
    if chosen is None:
        return redirect(url_for("parking_kiosk.plate"))
    picked = _occurrence_args(request.form)
    if picked is None:
        return _offers_page(turn, household, chosen, refusal_message(VoucherRefused("window")), 400)
    station = current_station()
    try:
        voucher = issue_voucher(
            station, household_id=household.id, plate=chosen.plate, window_id=picked[0], day=picked[1]
        )
    except VoucherRefused as exc:
        # A fresh snapshot: the page must show the space another kiosk just took.
        get_session().commit()
        return _offers_page(turn, household, chosen, refusal_message(exc), 409)
    identify.allow_voucher(voucher.id)
    identify.update(prints={str(voucher.id): 1})
    job = _print(voucher)
    return redirect(url_for("parking_kiosk.voucher", voucher_id=voucher.id, job=job or None))


def voucher_context(voucher: Voucher, lot: Lot, station) -> dict:
    """What the printed voucher says (plate masked), in the resident's language."""
    tz = clock.zone(station)
    return {
        "lot": lot.name,
        "address": lot.address,
        "plate": mask_plate(voucher.plate),
        "window": formatting.occurrence_text(voucher.starts_at, voucher.ends_at, tz),
        "valid_until": formatting.moment_text(voucher.expires_at, tz),
        "park_until": formatting.moment_text(voucher.ends_at, tz),
        "price": formatting.money(voucher.price_cents),
        "code": codes.display_code(voucher.code),
        "qr": codes.qr_payload(voucher.code, _redeem_url()),
        "station": station.name,
    }


def _redeem_url() -> str:
    # The attendant's page at the hub once the station is enrolled (public_url knows the
    # hub's address), else the station's own. Without a public address the code stays
    # "PARKING:<code>" for the attendant's scanner: a loopback link would be worse than none.
    return public_url("parking_staff.redeem", station=current_station()) if has_public_url() else ""


def _print(voucher: Voucher) -> str:
    """Queue the receipt; returns the job id, or "" when the printer refused it.

    The voucher exists whatever happens here: the screen shows its QR code and
    tells the resident when the paper did not come out.
    """
    station = current_station()
    lot = get_session().get(Lot, voucher.lot_id)
    try:
        job = printing.print_receipt(receipts.LAYOUT, voucher_context(voucher, lot, station), station=station)
    except Exception as exc:  # a printer fault must never lose an issued voucher
        log.warning("parking voucher %s could not be queued for printing: %s", voucher.id, type(exc).__name__)
        return ""
    return str(job["job_id"]) if job.get("state") != "failed" else ""


def _own_voucher(voucher_id: int):
    turn, household = _household()
    if household is None or not identify.may_show(voucher_id):
        return None, None
    voucher = get_session().get(Voucher, voucher_id)
    if voucher is None or voucher.household_id != household.id:
        return None, None
    return turn, voucher


@bp.route(f"/voucher/<{ID_CONVERTER}:voucher_id>")
def voucher(voucher_id: int):
    """The voucher on screen: QR code to photograph, code, and whether the receipt printed."""
    turn, found = _own_voucher(voucher_id)
    if found is None:
        return _start_over()
    station = current_station()
    lot = get_session().get(Lot, found.lot_id)
    context = voucher_context(found, lot, station)
    prints = int((turn.get("prints") or {}).get(str(voucher_id), 0))
    job = request.args.get("job", "")[:32]
    return render_template(
        "parking/voucher.html",
        screen="parking.voucher",
        v=found,
        info=context,
        qr=qr_data_uri(context["qr"]),
        print_job=job,
        can_reprint=prints < 1 + settings().max_reprints and found.status == ISSUED,
    )


@bp.route(f"/voucher/<{ID_CONVERTER}:voucher_id>/print", methods=["POST"])
@limited(10, 600)
def reprint(voucher_id: int):
    """Print the voucher again (a few times at most)."""
    turn, found = _own_voucher(voucher_id)
    if found is None:
        return _start_over()
    prints = dict(turn.get("prints") or {})
    count = int(prints.get(str(voucher_id), 0))
    if count >= 1 + settings().max_reprints or found.status != ISSUED:
        flash(_("This voucher cannot be printed again here. Please photograph the QR code or ask the staff."))
        return redirect(url_for("parking_kiosk.voucher", voucher_id=voucher_id))
    prints[str(voucher_id)] = count + 1
    identify.update(prints=prints)
    job = _print(found)
    return redirect(url_for("parking_kiosk.voucher", voucher_id=voucher_id, job=job or None))


def _live_vouchers(household_id: int) -> list[Voucher]:
    now = clock.now()
    return list(
        get_session().scalars(
            select(Voucher)
            .where(Voucher.household_id == household_id, Voucher.status == ISSUED, Voucher.expires_at > now)
            .order_by(Voucher.starts_at)
        )
    )


@bp.route("/mine")
def mine():
    """The household's unused vouchers: show the QR again or cancel."""
    turn, household = _household()
    if household is None:
        return _start_over()
    station = current_station()
    tz = clock.zone(station)
    today = clock.today(tz)
    session = get_session()
    rows = []
    for v in _live_vouchers(household.id):
        identify.allow_voucher(v.id)
        lot = session.get(Lot, v.lot_id)
        rows.append(
            {
                "id": v.id,
                "lot": lot.name,
                "plate": mask_plate(v.plate),
                "when": formatting.occurrence_text(v.starts_at, v.ends_at, tz, today),
            }
        )
    used = []
    for v in _recently_used(household.id):
        lot = session.get(Lot, v.lot_id)
        used.append(
            {
                "lot": lot.name,
                "plate": mask_plate(v.plate),
                "when": formatting.occurrence_text(v.starts_at, v.ends_at, tz, today),
                "used_at": formatting.moment_text(v.used_at, tz),
            }
        )
    identify.update()
    return render_template("parking/mine.html", screen="parking.mine", vouchers=rows, used=used)


def _recently_used(household_id: int) -> list[Voucher]:
    """The household's vouchers let in during the last two days (at the hub's attendant page too, once synced)."""
    since = clock.now() - timedelta(days=2)
    return list(
        get_session().scalars(
            select(Voucher)
            .where(Voucher.household_id == household_id, Voucher.status == USED, Voucher.used_at >= since)
            .order_by(Voucher.used_at.desc())
            .limit(10)
        )
    )


@bp.route(f"/mine/<{ID_CONVERTER}:voucher_id>/cancel", methods=["GET", "POST"])
@limited(20, 600)
def cancel(voucher_id: int):
    """Ask once, then cancel: the space is free for someone else at once."""
    turn, found = _own_voucher(voucher_id)
    if found is None:
        return _start_over()
    station = current_station()
    if request.method == "POST":
        try:
            cancel_voucher(station, household_id=found.household_id, voucher_id=found.id)
        except VoucherRefused as exc:
            flash(refusal_message(exc))
        else:
            flash(_("The voucher has been cancelled. The space is free for others again."))
        return redirect(url_for("parking_kiosk.mine"))
    if found.status != ISSUED:
        flash(refusal_message(VoucherRefused("not_cancellable")))
        return redirect(url_for("parking_kiosk.mine"))
    tz = clock.zone(station)
    lot = get_session().get(Lot, found.lot_id)
    return render_template(
        "parking/cancel.html",
        screen="parking.cancel",
        v=found,
        lot=lot,
        plate=mask_plate(found.plate),
        when=formatting.occurrence_text(found.starts_at, found.ends_at, tz),
    )


@bp.route("/done", methods=["POST"])
@limited(60, 600)
def done():
    """The resident is finished: forget them and go back to the home screen."""
    identify.forget()
    return redirect(url_for("shell.home"))
