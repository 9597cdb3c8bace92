"""The lot attendant's page and the household whitelist (``/staff/parking/``).

The attendant page is made for a phone at the car park entrance: choose the
lot once, then type the code (or photograph the QR code). Staff pages show
full plates and phone numbers; they never leave this area.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, flash, g, redirect, render_template, request, session, url_for
from sqlalchemy import or_, select

from kiosk import audit, clock
from kiosk.db import get_session, write_transaction
from kiosk.i18n import _
from kiosk.photos import PhotoRefused, open_photo
from kiosk.stations import current_station
from kiosk.sync import is_enrolled, is_hub
from kiosk.urls import public_url
from kiosk_plugins.parking import codes, formatting, households, hub
from kiosk_plugins.parking.models import ID_CONVERTER, ISSUED, Household, Lot, Plate, Voucher
from kiosk_plugins.parking.settings import settings
from kiosk_plugins.parking.vouchers import Redemption
from kiosk_plugins.parking.vouchers import redeem as redeem_voucher

bp = Blueprint("parking_staff", __name__)

LOT_KEY = "parking_attendant_lot"
MAX_PHOTO_BYTES = 6 * 1024 * 1024
LIST_LIMIT = 200


def _lots():
    if is_hub():
        # The station's car parks as they synced; the station's own lot rows are not here.
        return hub.lots_of(get_session(), current_station().id)
    return list(
        get_session().scalars(
            select(Lot).where(Lot.station_id == current_station().id).order_by(Lot.active.desc(), Lot.name)
        )
    )


def _selected_lot(lots, wanted=None):
    try:
        wanted = int(wanted if wanted is not None else session.get(LOT_KEY, 0))
    except (TypeError, ValueError):
        wanted = 0
    found = next((lot for lot in lots if lot.id == wanted), None)
    return found or next((lot for lot in lots if lot.active), None)


def decode_photo(data: bytes) -> str | None:
    """The text of the first QR code in a photo, or None; :class:`PhotoRefused` for a file that is no photo."""
    import zxingcpp

    # The core's checks (size, format, pixel count) before any decoding; upright like the camera saw it.
    image = open_photo(data, max_bytes=MAX_PHOTO_BYTES)
    image.thumbnail((2000, 2000))
    found = zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    return found[0].text if found else None


def result_message(outcome: Redemption, tz) -> str:
    """The attendant's verdict in one sentence."""
    v = outcome.voucher
    if outcome.reason == "ok":
        return _("Valid: let the car in. The voucher is now used.")
    if outcome.reason == "used":
        return _("Refused: this voucher was already used at %(time)s.", time=formatting.moment_text(v.used_at, tz))
    if outcome.reason == "wrong_lot":
        if not outcome.lot_name:
            return _(
                "Refused: this voucher is for car park no. %(number)s of %(station)s, not this car park.",
                number=getattr(v, "lot_ref", ""),
                station=outcome.detail.get("station", ""),
            )
        return _("Refused: this voucher is for %(lot)s, not this car park.", lot=outcome.lot_name)
    if outcome.reason == "expired_day":
        return _("Refused: this voucher was valid until %(day)s.", day=formatting.day_text(v.valid_until))
    if outcome.reason == "cancelled":
        return _("Refused: this voucher was cancelled at %(time)s.", time=formatting.moment_text(v.cancelled_at, tz))
    if outcome.reason == "expired":
        return _("Refused: this voucher expired at %(time)s.", time=formatting.moment_text(v.expires_at, tz))
    if outcome.reason == "early":
        return _("Not yet: this voucher is valid from %(time)s.", time=formatting.moment_text(v.starts_at, tz))
    if outcome.reason == "malformed":
        return _(
            "A code has 13 to 24 letters and digits, like SB2K-301A-7QM3-XPA9 (older ones 8, like K7QM-3XPA). "
            "Please check it and try again."
        )
    return _("Refused: no voucher has this code. Check the code, or ask for the printed voucher.")


def _todays(lot, tz):
    """Vouchers in force at the lot now or starting within a day: the attendant's list."""
    if lot is None:
        return []
    now = clock.now()
    rows = get_session().scalars(
        select(Voucher)
        .where(
            Voucher.lot_id == lot.id,
            Voucher.starts_at <= now + timedelta(hours=24),
            Voucher.ends_at > now,
            Voucher.status.in_((ISSUED, "used")),
        )
        .order_by(Voucher.starts_at, Voucher.plate)
        .limit(LIST_LIMIT)
    )
    return [
        {
            "plate": v.plate,
            "when": formatting.occurrence_text(v.starts_at, v.ends_at, tz),
            "status": v.status,
            "code_tail": v.code[-2:],
        }
        for v in rows
    ]


@bp.route("/redeem", methods=["GET", "POST"])
def redeem():
    """Check a voucher code at the attendant's lot and mark it used, once."""
    station = current_station()
    tz = clock.zone(station)
    lots = _lots()
    lot = _selected_lot(lots, request.values.get("lot"))
    result = None
    status = 200
    code_value = (request.args.get("code") or "")[:200]
    if request.method == "POST":
        text = (request.form.get("code") or "").strip()[:200]
        photo = request.files.get("photo")
        if not text and photo is not None and photo.filename:
            try:
                text = decode_photo(photo.read(MAX_PHOTO_BYTES + 1))
            except PhotoRefused as exc:
                result, status = {"ok": False, "message": exc.text}, 400
            else:
                if not text:
                    result = {"ok": False, "message": _("No QR code was found in the photo. Please type the code.")}
                    status = 400
        # At the hub a station whose car parks have not synced yet has none to choose:
        # the voucher's own lot is then shown instead of checked.
        if result is None and lot is None and (lots or not is_hub()):
            result = {"ok": False, "message": _("Please choose the car park first.")}
            status = 400
        elif result is None and is_hub():
            if lot is not None:
                session[LOT_KEY] = lot.id
            outcome = hub.redeem(
                code_text=text, lot=lot, user_id=g.user.id, early_minutes=settings().early_entry_minutes
            )
            get_session().commit()
            result = _hub_result(outcome)
            status = 200 if outcome.ok else 409
        elif result is None and is_enrolled(get_session()):
            # The hub redeems this station's vouchers (its attendants' phones reach it even when the
            # station's own link is down); redeeming here too could let one voucher in twice.
            result = {
                "ok": False,
                "reason": "at_hub",
                "message": _("This station's vouchers are checked on the district's attendant page."),
                "note": public_url("parking_staff.redeem", station=station),
            }
            status = 409
        elif result is None:
            session[LOT_KEY] = lot.id
            outcome = redeem_voucher(station, code_text=text, lot_id=lot.id, user_id=g.user.id)
            # End this request's read snapshot (SQLite WAL) so the list below shows the redemption.
            get_session().commit()
            v = outcome.voucher
            result = {"ok": outcome.ok, "reason": outcome.reason, "message": result_message(outcome, tz)}
            if v is not None and outcome.reason not in ("wrong_lot",):
                result.update(
                    plate=v.plate,
                    code=codes.display_code(v.code),
                    when=formatting.occurrence_text(v.starts_at, v.ends_at, tz),
                    price=formatting.money(v.price_cents),
                )
            status = 200 if outcome.ok else 409
    todays = _hub_todays(lot, tz) if is_hub() else _todays(lot, tz)
    return render_template(
        "parking/staff_redeem.html",
        lots=lots,
        lot=lot,
        result=result,
        code_value=code_value,
        todays=todays,
        at_hub=is_hub(),
    ), status


def _hub_result(outcome: Redemption) -> dict:
    """The hub's verdict for the page: with the record's facts, or only the code's when it has not arrived."""
    seen = outcome.voucher
    result = {"ok": outcome.ok, "reason": outcome.reason, "message": "", "note": ""}
    if seen is None:
        result["message"] = result_message(outcome, None)
        return result
    station = current_station()
    tz = clock.zone(station)
    result["message"] = result_message(outcome, tz)
    if outcome.reason == "wrong_lot":
        return result
    result["code"] = codes.display_code(seen.code)
    result["station"] = seen.station_name
    result["lot_name"] = outcome.lot_name or _("car park no. %(number)s", number=seen.lot_ref)
    if seen.known:
        result.update(
            plate=seen.plate,
            when=formatting.occurrence_text(seen.starts_at, seen.ends_at, tz),
            price=formatting.money(seen.price_cents),
        )
    else:
        result.update(
            plate="—",
            when=_("valid until %(day)s", day=formatting.day_text(seen.valid_until)),
            price=formatting.money(seen.price_cents) if seen.price_cents is not None else "—",
        )
        result["note"] = _(
            "The station has not sent this voucher's details yet (it may be offline). "
            "The code is genuine: check the car against the plate on the printed voucher."
        )
    return result


def _hub_todays(lot, tz):
    now = clock.now()
    return [
        {
            "plate": v.plate,
            "when": formatting.occurrence_text(v.starts_at, v.ends_at, tz),
            "status": v.status,
            "code_tail": v.code[-2:],
        }
        for v in hub.todays(get_session(), lot, now)
    ]


@bp.route("/households")
def households_page():
    """The whitelist: search, import a CSV, switch a household off."""
    station = current_station()
    query = (request.args.get("q") or "").strip()[:50]
    db = get_session()
    stmt = select(Household).where(Household.station_id == station.id)
    if query:
        like = f"%{query}%"
        plate_owner = select(Plate.household_id).where(Plate.station_id == station.id, Plate.plate.like(like.upper()))
        stmt = stmt.where(
            or_(
                Household.unit.like(like),
                Household.phone.like(like),
                Household.contact_name.like(like),
                Household.id.in_(plate_owner),
            )
        )
    rows = list(db.scalars(stmt.order_by(Household.unit).limit(LIST_LIMIT)))
    plates: dict[int, list[str]] = {}
    if rows:
        for p in db.scalars(select(Plate).where(Plate.household_id.in_([h.id for h in rows])).order_by(Plate.plate)):
            plates.setdefault(p.household_id, []).append(p.plate)
    return render_template(
        "parking/staff_households.html", rows=rows, plates=plates, query=query, limit=LIST_LIMIT, report=None
    )


@bp.route("/households/import", methods=["POST"])
def import_households():
    """Import the whitelist from CSV (upload or pasted text); all rows or none."""
    station = current_station()
    upload = request.files.get("file")
    unreadable = False
    if upload is not None and upload.filename:
        try:
            text = households.decode_upload(upload.read())
        except UnicodeDecodeError:  # neither UTF-8 nor GB18030: a spreadsheet's own format, a picture…
            text, unreadable = "", True
    else:
        text = request.form.get("text", "")
    if unreadable:
        report = households.ImportReport(
            errors=[(1, _("The file is not a readable CSV file (%(error)s).", error="UTF-8 / GB18030"))]
        )
    elif not text.strip():
        report = households.ImportReport(errors=[(1, _("Choose a CSV file or paste the rows first."))])
    else:
        # One immediate transaction: the checks and the writes see the same list.
        with write_transaction() as s:
            report = households.import_csv(s, station.id, text)
            if report.ok:
                audit.record(
                    "parking.households_imported",
                    {"added": report.added, "updated": report.updated, "plates": report.plates},
                    session=s,
                    commit=False,
                )
    if report.ok:
        flash(
            _(
                "Imported. Households added: %(added)s, updated: %(updated)s. Plates registered: %(plates)s.",
                added=report.added,
                updated=report.updated,
                plates=report.plates,
            )
        )
        return redirect(url_for("parking_staff.households_page"))
    return render_template(
        "parking/staff_households.html", rows=[], plates={}, query="", limit=LIST_LIMIT, report=report
    ), 400


@bp.route(f"/households/<{ID_CONVERTER}:household_id>/toggle", methods=["POST"])
def toggle_household(household_id: int):
    """Take a household off the list (or back on) without losing its history."""
    station_id = current_station().id
    with write_transaction() as s:
        household = s.get(Household, household_id)
        if household is not None and household.station_id == station_id:
            household.active = not household.active
            audit.record(
                "parking.household_switched",
                {"household_id": household.id, "active": household.active},
                session=s,
                commit=False,
            )
    if household is None or household.station_id != station_id:
        flash(_("That household was not found."))
        return redirect(url_for("parking_staff.households_page"))
    return redirect(url_for("parking_staff.households_page", q=request.form.get("q", "")[:50] or None))


@bp.route("/households/template.csv")
def households_template_csv():
    """An example file with the columns the import expects."""
    sample = (
        "unit,name,phone,plates,card\n"
        "贝丽花园3栋1201,王建国,13800138000,粤B12345,04A1B2C3\n"
        "深华丽园B座502,李秀英,13900139000,粤BD12345;粤B6K7P8,\n"
    )
    return Response(
        "\ufeff" + sample,
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=parking-households.csv"},
    )
