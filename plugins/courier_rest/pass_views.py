"""What the rider takes away: the result screen, their own code and card, printed notes."""

from __future__ import annotations

from flask import current_app, jsonify, redirect, render_template, url_for

from kiosk import clock, printing
from kiosk.db import get_session
from kiosk.i18n import _, current_locale
from kiosk.privacy import mask_name, mask_phone
from kiosk.ratelimit import limited
from kiosk.reader_hints import CODE, reader_inputs
from kiosk.stations import current_station
from kiosk.urls import public_url
from kiosk_plugins.courier_rest import (
    advanced,
    identity,
    messages,
    riders,
    services,
    sync,
)
from kiosk_plugins.courier_rest.models import Rider
from kiosk_plugins.courier_rest.receipts import PASS_LAYOUT, SLOT_LAYOUT
from kiosk_plugins.courier_rest.screen import (
    absolute,
    bp,
    current_rider,
    need_rider,
    notice,
)
from kiosk_plugins.courier_rest.status import rider_status
from kiosk_plugins.courier_rest.writes import Refused, run_write


@bp.route("/result")
def result():
    """What the last action did, in big type."""
    data = identity.kept("result")
    if not data:
        return redirect(url_for(".index"))
    rider = current_rider()
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
        extra["ticket_qr_url"] = absolute(data["ticket_url"])
    if data["type"] == "hazard" and data.get("status_url"):
        extra["hazard_qr_url"] = absolute(data["status_url"])
    return render_template(
        "courier_rest/result.html",
        screen="courier_rest.result",
        r=data,
        rider=rider,
        kind_label=messages.kind_label,
        advanced_labels=advanced.LABELS,
        **extra,
    )


@bp.route("/my-code")
def my_code():
    """The rider's own QR code, to keep on the phone or print."""
    rider, back = need_rider()
    if back:
        return back
    return render_template(
        "courier_rest/my_code.html",
        screen="courier_rest.my_code",
        pass_url=public_url("courier_rest_mobile.rider", token=rider.pass_token),
        rider_name=mask_name(rider.name),
        rider_phone=mask_phone(rider.phone),
    )


@bp.route("/link-card")
def link_card():
    """Asks the rider to tap the card to link."""
    rider, back = need_rider()
    if back:
        return back
    return render_template("courier_rest/link_card.html", screen="courier_rest.link_card")


@bp.route("/link/<token>")
def link_card_done(token: str):
    """Where the card tap on the link screen sends the page."""
    rider, back = need_rider()
    if back:
        return back
    payload = identity.read_token(token)
    if payload is None or payload.get("m") != "link":
        notice("expired")
        return redirect(url_for(".menu"))
    uid = riders.normalize_card(str(payload.get("c", "")))
    station = current_station()

    def work(db_session):
        owner = riders.by_card(db_session, station.id, uid)
        if owner is not None and owner.id != rider.id:
            raise Refused("card_taken")
        row = db_session.get(Rider, rider.id)
        row.card_uid = uid
        sync.record_rider(db_session, row)

    try:
        run_write(work)
    except Refused as exc:
        notice(exc.code)
        return redirect(url_for(".menu"))
    notice("card_linked", kind="ok")
    return redirect(url_for(".menu"))


@bp.route("/print/<what>", methods=["POST"])
@limited(100, 600)  # paper: a rider may reprint, a script may not run the roll out
def print_note(what: str):
    """Print the rider's code or their charging slot; answers with the print job to poll."""
    rider = current_rider()
    if rider is None:
        return jsonify({"error": messages.text("not_identified")}), 400
    station = current_station()
    status_url = public_url("courier_rest_mobile.rider", token=rider.pass_token)
    if what == "pass":
        layout, context = (
            PASS_LAYOUT,
            {
                "station": station.name,
                "name": mask_name(rider.name),
                "phone": mask_phone(rider.phone),
                "pass_url": status_url,
                "scanner": CODE in reader_inputs(),
            },
        )
    elif what == "slot":
        status = rider_status(get_session(), rider.id, clock.now(), clock.zone(station))
        if status.charge is None:
            return jsonify({"error": messages.text("no_slot")}), 400
        layout = SLOT_LAYOUT
        context = {
            "station": station.name,
            "kind_label": messages.kind_label(status.charge.kind),
            "slot": status.charge.number,
            "since": status.charge.since,
            "until": status.charge.until,
            "phone": mask_phone(rider.phone),
            "status_url": status_url,
        }
    else:
        return jsonify({"error": messages.text("unknown")}), 404
    try:
        job = printing.print_receipt(layout, context)
    except Exception:
        current_app.logger.warning("courier_rest: printing %s failed", layout)
        return jsonify({"error": _("The printer is not available. Please note the number on the screen.")}), 503
    # The core answers GET /print-jobs/<id> with the job's state; the page polls it.
    return jsonify({"job_id": job["job_id"], "state": job["state"], "poll": f"/print-jobs/{job['job_id']}"})
