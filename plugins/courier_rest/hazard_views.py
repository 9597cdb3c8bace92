"""小蜜蜂巡查 on the kiosk: pick a category, write a short note, send (optionally with phone photos)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from kiosk import clock
from kiosk.db import get_session
from kiosk.i18n import _
from kiosk.qr import qr_svg
from kiosk.ratelimit import limited
from kiosk.stations import current_station
from kiosk.urls import public_url
from kiosk_plugins.courier_rest import hazards, identity
from kiosk_plugins.courier_rest.models import Hazard
from kiosk_plugins.courier_rest.settings import get_settings
from kiosk_plugins.courier_rest.station_setup import prepare
from kiosk_plugins.courier_rest.writes import run_write

bp = Blueprint("courier_rest_hazard", __name__)
# QR codes are drawn inline by the templates of this blueprint.
bp.context_processor(lambda: {"qr_svg": qr_svg})


@bp.before_request
def _prepare_station():
    prepare(current_station())


def _rider_id() -> int | None:
    return identity.current_rider_id()


def _own_draft(report_id: int) -> Hazard | None:
    """The draft this kiosk screen started (nobody else's, and not before the last home screen)."""
    if identity.kept("hazard") != report_id:
        return None
    report = get_session().get(Hazard, report_id)
    if report is None or report.station_id != current_station().id:
        return None
    return report


@bp.route("/hazard", methods=["GET", "POST"])
@limited(10, 600)
def hazard():
    """Pick a category, write a short note; send it, or add a photo from the phone first."""
    values, errors = {"category": "", "note": ""}, {}
    if request.method == "POST":
        values, errors = hazards.validate(request.form.get("category", ""), request.form.get("note", ""))
        if not errors:
            station, now, rider_id = current_station(), clock.now(), _rider_id()
            report_id = run_write(
                lambda s: hazards.create(s, station.id, rider_id, values["category"], values["note"], now).id
            )
            identity.keep(hazard=report_id)
            if request.form.get("action") == "photo":
                return redirect(url_for(".photo", report_id=report_id))
            return _send(report_id)
    return render_template(
        "courier_rest/hazard.html",
        screen="courier_rest.hazard",
        values=values,
        errors={k: _(v) for k, v in errors.items()},
        categories=hazards.CATEGORIES,
        note_max=hazards.NOTE_MAX,
        back=url_for("courier_rest.menu") if _rider_id() else url_for("courier_rest.index"),
    ), 400 if errors else 200


@bp.route("/hazard/<int:report_id>/photo")
def photo(report_id: int):
    """The QR code that opens the phone upload page for this draft, and a “send now” button."""
    report = _own_draft(report_id)
    if report is None or report.state != "draft":
        return redirect(url_for(".hazard"))
    return render_template(
        "courier_rest/hazard_photo.html",
        screen="courier_rest.hazard_photo",
        report=report,
        upload_url=public_url("courier_rest_mobile.upload", token=report.upload_token),
        category_label=hazards.LABELS[report.category],
        max_photos=get_settings().max_photos,
    )


@bp.route("/hazard/<int:report_id>/send", methods=["POST"])
@limited(10, 600)
def send(report_id: int):
    """Send the draft started on this screen."""
    report = _own_draft(report_id)
    if report is None:
        return redirect(url_for(".hazard"))
    return _send(report_id)


def _send(report_id: int):
    report = hazards.send(current_station(), report_id, clock.now())
    identity.keep(hazard=None)
    if report is None:
        # The phone sent it a moment earlier: show what became of it.
        report = get_session().get(Hazard, report_id)
    identity.keep(
        result={
            "type": "hazard",
            "state": report.state,
            "tracking_no": report.tracking_no,
            "status_url": report.status_url,
            "photos": len(report.photos or []),
        }
    )
    return redirect(url_for("courier_rest.result"))
