"""Pages on the rider's own phone, opened from a QR code: their status, and hazard photos.

Masked name and phone only: a phone page can be seen over a shoulder or
forwarded, and its address is all it takes to open it.
"""

from __future__ import annotations

import os

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from kiosk import clock, sync
from kiosk.db import get_session
from kiosk.i18n import _
from kiosk.photos import PhotoRefused, clean_photo
from kiosk.privacy import mask_name, mask_phone
from kiosk.qr import qr_svg
from kiosk.ratelimit import limited
from kiosk.stations import current_station, station_id_of
from kiosk.urls import public_url
from kiosk_plugins.courier_rest import hazards, messages, photos, push, riders, slots
from kiosk_plugins.courier_rest.models import Hazard
from kiosk_plugins.courier_rest.settings import get_settings
from kiosk_plugins.courier_rest.status import hub_status, rider_status
from kiosk_plugins.courier_rest.writes import run_write

bp = Blueprint("courier_rest_mobile", __name__)
# QR codes are drawn inline by the templates of this blueprint.
bp.context_processor(lambda: {"qr_svg": qr_svg})


def _too_many() -> str:
    return _("You have already added %(n)s photos, the most one report can take.", n=get_settings().max_photos)


@bp.route("/r/<token>")
def rider(token: str):
    """The rider's page: their code to scan, their slot and its time, their place in line.

    A pass printed at a station of a district opens at the hub: the rider is
    found in the district's registry, and what the page shows comes from the
    visits the stations synced (no free places, no place in line: only the
    station knows those live).
    """
    station = current_station()
    db_session = get_session()
    at_hub = sync.is_hub()
    registry = station_id_of(current_app) if at_hub else station.id
    found = riders.by_token(db_session, registry, token)
    if found is None:
        return render_template("courier_rest/m_message.html", message=messages.text("not_found")), 404
    tz = clock.zone(station)
    if at_hub:
        status = hub_status(db_session, found.id, station.id, clock.now(), tz)
        synced = sync.last_synced(db_session, station.id)
        board, as_of = None, clock.hhmm(tz, synced) if synced else ""
    else:
        status = rider_status(db_session, found.id, clock.now(), tz)
        board, as_of = slots.board(db_session, station.id), ""
    return render_template(
        "courier_rest/m_rider.html",
        status=status,
        rider_name=mask_name(found.name),
        rider_phone=mask_phone(found.phone),
        board=board,
        at_hub=at_hub,
        as_of=as_of,
        pass_url=public_url("courier_rest_mobile.rider", token=token),
        kind_label=messages.kind_label,
    )


def _draft(token: str) -> Hazard | None:
    return get_session().scalar(
        select(Hazard).where(Hazard.upload_token == token, Hazard.station_id == current_station().id)
    )


@bp.route("/hazard/<token>", methods=["GET", "POST"])
@limited(10, 600)
def upload(token: str):
    """Add photos to a hazard report started on the kiosk (checked, re-encoded without EXIF)."""
    report = _draft(token)
    if report is None:
        return render_template("courier_rest/m_message.html", message=messages.text("not_found")), 404
    error, status = None, 200
    settings = get_settings()
    if request.method == "POST" and report.state == "draft":
        upload_file = request.files.get("photo")
        data = upload_file.read(settings.max_photo_mb * 1024 * 1024 + 1) if upload_file else b""
        try:
            if len(report.photos or []) >= settings.max_photos:
                raise photos.TooManyPhotos()
            clean = clean_photo(data, max_bytes=settings.max_photo_mb * 1024 * 1024)
        except photos.TooManyPhotos:
            error, status = _too_many(), 400
        except PhotoRefused as exc:
            error, status = exc.text, 400
        else:
            app = current_app._get_current_object()
            name = photos.save(hazards.photo_folder(app, report.station_id), clean.data)

            def work(db_session):
                row = db_session.get(Hazard, report.id)
                if row.state != "draft":
                    return None
                if len(row.photos or []) >= settings.max_photos:
                    raise photos.TooManyPhotos()
                row.photos = [*(row.photos or []), name]
                push.hazard_photo(db_session, row.station_id, row.id, len(row.photos))
                return len(row.photos)

            try:
                added = run_write(work)
            except photos.TooManyPhotos:
                added, error, status = None, _too_many(), 400
            if added is None:
                # Sent or full meanwhile (the kiosk pressed "send"): keep no orphan file.
                os.remove(os.path.join(hazards.photo_folder(app, report.station_id), name))
            if error is None:
                return redirect(url_for(".upload", token=token, added=1 if added else 0))
        report = _draft(token)
    return render_template(
        "courier_rest/m_upload.html",
        report=report,
        error=error,
        added=request.args.get("added") == "1",
        max_photos=settings.max_photos,
        max_mb=settings.max_photo_mb,
        category_label=hazards.LABELS[report.category],
    ), status


@bp.route("/hazard/<token>/send", methods=["POST"])
@limited(10, 600)
def send(token: str):
    """The phone’s “send the report now” button."""
    report = _draft(token)
    if report is None:
        return render_template("courier_rest/m_message.html", message=messages.text("not_found")), 404
    hazards.send(current_station(), report.id, clock.now())
    return redirect(url_for(".upload", token=token))
