"""Partner lots, their windows and rules, usage and the settlement CSV (``/admin/parking/``)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from kiosk import audit, clock
from kiosk.db import get_session, write_transaction
from kiosk.i18n import _
from kiosk.stations import current_station, station_row_or_404
from kiosk.sync import is_hub
from kiosk_plugins.parking import formatting, hub, schedule, stats, syncing
from kiosk_plugins.parking.models import ID_CONVERTER, Lot, Window

bp = Blueprint("parking_admin", __name__)

# Writes go through write_transaction(): on SQLite it takes the write lock up
# front, where a write on the request's session (which has already read) could
# fail at once when another process wrote in between.
LIMITS = {"spaces": (1, 10000), "quota_per_month": (0, 100), "reserve_days": (0, 30), "hold_minutes": (0, 1440)}


@bp.context_processor
def _helpers():
    return {"money": formatting.money, "window_text": formatting.window_text, "day_names": formatting.day_names()}


@dataclass
class LotForm:
    """The lot form's values as typed, and what is wrong with them."""

    values: dict
    errors: list


def _int_field(form, name, label, errors, values):
    low, high = LIMITS[name]
    raw = (form.get(name) or "").strip()
    try:
        number = int(raw)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        errors.append(_("%(field)s must be a whole number from %(low)s to %(high)s.", field=label, low=low, high=high))
    values[name] = number if number is not None else raw


def read_lot_form(form) -> LotForm:
    """Check the lot form; ``values`` hold clean values when ``errors`` is empty."""
    errors: list = []
    values: dict = {}
    values["name"] = (form.get("name") or "").strip()
    values["address"] = (form.get("address") or "").strip()
    if not values["name"] or len(values["name"]) > 100:
        errors.append(_("Please give the car park a name (up to 100 characters)."))
    if len(values["address"]) > 200:
        errors.append(_("The address may have up to 200 characters."))
    _int_field(form, "spaces", _("Shared spaces"), errors, values)
    _int_field(form, "quota_per_month", _("Vouchers per household per month"), errors, values)
    _int_field(form, "reserve_days", _("Days ahead a resident may book"), errors, values)
    _int_field(form, "hold_minutes", _("Minutes to arrive before the space is released"), errors, values)
    raw_price = (form.get("price") or "").strip()
    try:
        price = Decimal(raw_price)
        if not price.is_finite() or price < 0 or price > 1000 or price != price.quantize(Decimal("0.01")):
            raise InvalidOperation
        values["price_cents"] = int(price * 100)
    except InvalidOperation:
        errors.append(_("The price must be an amount in yuan from 0 to 1000, like 10 or 7.50."))
    values["price"] = raw_price
    values["active"] = form.get("active") == "1"
    return LotForm(values=values, errors=errors)


def _lot_or_404(lot_id: int) -> Lot:
    return station_row_or_404(Lot, lot_id)


def _month_arg():
    tz = clock.zone(current_station())
    today = clock.today(tz)
    return stats.parse_month(request.args.get("month"), today), tz


@bp.before_request
def _stations_own_their_car_parks():
    """At the hub car parks are read-only: each station sets up its own, and they reach the hub by sync."""
    if is_hub() and request.endpoint not in ("parking_admin.index", "parking_admin.settlement_csv"):
        flash(_("Car parks are set up at each station; the district system shows them as they synced."))
        return redirect(url_for("parking_admin.index"))
    return None


@bp.route("/")
def index():
    """Every lot with its windows and this month's usage (at the hub: the station's lots as synced)."""
    month, tz = _month_arg()
    if is_hub():
        start, end = schedule.month_bounds(month, tz)
        settled = hub.month_settlement(get_session(), current_station().id, start, end, clock.now())
        return render_template("parking/admin_hub.html", settled=settled, month=month.strftime("%Y-%m"))
    usage = stats.month_usage(get_session(), current_station().id, month, tz, clock.now())
    return render_template("parking/admin_index.html", usage=usage, month=month.strftime("%Y-%m"))


def _empty_lot_values() -> dict:
    return {
        "name": "",
        "address": "",
        "spaces": 20,
        "price": "10",
        "quota_per_month": 8,
        "reserve_days": 1,
        "hold_minutes": 0,
        "active": True,
    }


@bp.route("/lots/new", methods=["GET", "POST"])
def new_lot():
    """Add a partner lot."""
    if request.method == "POST":
        form = read_lot_form(request.form)
        if not form.errors:
            values = {
                k: form.values[k]
                for k in (
                    "name",
                    "address",
                    "spaces",
                    "price_cents",
                    "quota_per_month",
                    "reserve_days",
                    "hold_minutes",
                    "active",
                )
            }
            with write_transaction() as s:
                lot = Lot(station_id=current_station().id, **values)
                s.add(lot)
                s.flush()
                syncing.record_lot(s, lot)
                audit.record("parking.lot_added", {"lot_id": lot.id}, session=s, commit=False)
            flash(_("The car park was added. Now add the times when residents may park."))
            return redirect(url_for("parking_admin.edit_lot", lot_id=lot.id))
        return render_template(
            "parking/admin_lot.html", lot=None, values=form.values, errors=form.errors, windows=[]
        ), 400
    return render_template("parking/admin_lot.html", lot=None, values=_empty_lot_values(), errors=[], windows=[])


def _lot_values(lot: Lot) -> dict:
    return {
        "name": lot.name,
        "address": lot.address,
        "spaces": lot.spaces,
        "price": f"{lot.price_cents / 100:g}",
        "quota_per_month": lot.quota_per_month,
        "reserve_days": lot.reserve_days,
        "hold_minutes": lot.hold_minutes,
        "active": lot.active,
    }


def _windows(lot: Lot):
    return list(
        get_session().scalars(select(Window).where(Window.lot_id == lot.id).order_by(Window.start_time, Window.id))
    )


@bp.route(f"/lots/<{ID_CONVERTER}:lot_id>", methods=["GET", "POST"])
def edit_lot(lot_id: int):
    """Change a lot's details and rules; vouchers already issued keep their price."""
    lot = _lot_or_404(lot_id)
    if request.method == "POST":
        form = read_lot_form(request.form)
        if form.errors:
            return render_template(
                "parking/admin_lot.html",
                lot=lot,
                values=form.values,
                errors=form.errors,
                windows=_windows(lot),
                window_errors=[],
            ), 400
        with write_transaction() as s:
            row = s.get(Lot, lot.id)
            for key in (
                "name",
                "address",
                "spaces",
                "price_cents",
                "quota_per_month",
                "reserve_days",
                "hold_minutes",
                "active",
            ):
                setattr(row, key, form.values[key])
            syncing.record_lot(s, row)
            audit.record("parking.lot_changed", {"lot_id": lot.id}, session=s, commit=False)
        flash(_("Saved."))
        return redirect(url_for("parking_admin.edit_lot", lot_id=lot.id))
    return render_template(
        "parking/admin_lot.html", lot=lot, values=_lot_values(lot), errors=[], windows=_windows(lot), window_errors=[]
    )


def read_window_form(form) -> tuple[dict, list]:
    """Check the window form: label, start, end (not equal), at least one weekday."""
    errors = []
    label = (form.get("label") or "").strip()
    if not label or len(label) > 50:
        errors.append(_("Please name the time window (up to 50 characters), for example 夜间."))
    start, end = (form.get("start") or "").strip(), (form.get("end") or "").strip()
    for value in (start, end):
        try:
            schedule.parse_time(value)
        except ValueError:
            errors.append(_("%(value)s is not a time of day; write it like 19:00.", value=value or "—"))
    if start and start == end:
        errors.append(_("The window must end at a different time than it starts."))
    try:
        weekdays = schedule.normalize_weekdays("".join(form.getlist("weekdays")))
    except ValueError:
        weekdays = ""
        errors.append(_("Choose at least one day of the week."))
    return {"label": label, "start_time": start, "end_time": end, "weekdays": weekdays}, errors


@bp.route(f"/lots/<{ID_CONVERTER}:lot_id>/windows", methods=["POST"])
def add_window(lot_id: int):
    """Add a time window to a lot."""
    lot = _lot_or_404(lot_id)
    values, errors = read_window_form(request.form)
    if errors:
        return render_template(
            "parking/admin_lot.html",
            lot=lot,
            values=_lot_values(lot),
            errors=[],
            windows=_windows(lot),
            window_errors=errors,
        ), 400
    with write_transaction() as s:
        window = Window(station_id=lot.station_id, lot_id=lot.id, active=True, **values)
        s.add(window)
        s.flush()
        audit.record("parking.window_added", {"lot_id": lot.id, "window_id": window.id}, session=s, commit=False)
    return redirect(url_for("parking_admin.edit_lot", lot_id=lot.id))


@bp.route(f"/windows/<{ID_CONVERTER}:window_id>/toggle", methods=["POST"])
def toggle_window(window_id: int):
    """Stop (or restart) offering a window; vouchers already issued stay valid."""
    station = current_station()
    with write_transaction() as s:
        window = station_row_or_404(Window, window_id, session=s, station=station)
        window.active = not window.active
        audit.record(
            "parking.window_switched", {"window_id": window.id, "active": window.active}, session=s, commit=False
        )
    return redirect(url_for("parking_admin.edit_lot", lot_id=window.lot_id))


def _hub_settlement(month, tz) -> list[tuple]:
    """Settlement at the hub: the station's vouchers as they synced, with the hub's redemptions."""
    start, end = schedule.month_bounds(month, tz)
    return [
        (e.lot.name, e.lot.address, e.lot.price_cents, e.issued, e.used, e.expired, e.cancelled, e.due_cents)
        for e in hub.month_settlement(get_session(), current_station().id, start, end, clock.now())
    ]


def _cell(value) -> str:
    # A cell starting with = + - @ would run as a formula when the partner opens
    # the file in a spreadsheet.
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@bp.route("/settlement.csv")
def settlement_csv():
    """The month's settlement: per lot, vouchers by outcome and the amount due."""
    month, tz = _month_arg()
    if is_hub():
        rows = _hub_settlement(month, tz)
    else:
        rows = [
            (e.lot.name, e.lot.address, e.lot.price_cents, e.counts.issued, e.counts.used, e.counts.expired)
            + (e.counts.cancelled, e.counts.due_cents)
            for e in stats.month_usage(get_session(), current_station().id, month, tz, clock.now())
        ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            _("Settlement month"),
            _("Car park"),
            _("Address"),
            _("Price per use (yuan)"),
            _("Vouchers issued"),
            _("Used"),
            _("Expired unused"),
            _("Cancelled"),
            _("Amount due (yuan)"),
        ]
    )
    for name, address, price_cents, issued, used, expired, cancelled, due_cents in rows:
        writer.writerow(
            [
                month.strftime("%Y-%m"),
                _cell(name),
                _cell(address),
                f"{price_cents / 100:.2f}",
                issued,
                used,
                expired,
                cancelled,
                f"{due_cents / 100:.2f}",
            ]
        )
    with write_transaction() as s:
        audit.record("parking.settlement_exported", {"month": month.strftime("%Y-%m")}, session=s, commit=False)
    filename = f"parking-settlement-{month.strftime('%Y-%m')}.csv"
    # The BOM makes Excel (common in street offices) read the file as UTF-8.
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )
