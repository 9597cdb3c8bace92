"""Pages on a resident's phone (``/m/petitions/``): the form with photos, the status page, photos.

The phone form is the kiosk's form on one page, with photo upload. Photos are
checked and re-encoded (see :mod:`kiosk.photos`) before
anything is stored; a refused photo leaves nothing behind. The status page
shows the request and its history, never who sent it.
"""

from __future__ import annotations

import os

from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file, url_for
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from kiosk import clock, sync
from kiosk.db import get_session
from kiosk.i18n import gettext
from kiosk.photos import PhotoRefused, clean_photo
from kiosk.qr import qr_svg
from kiosk.ratelimit import limited
from kiosk.stations import current_station, station_id_of, station_row_or_404
from kiosk.urls import public_url
from kiosk_plugins.petitions import apikeys, intake, photos, places, ratelimit
from kiosk_plugins.petitions.models import PetitionPhoto
from kiosk_plugins.petitions.settings import get_settings
from kiosk_plugins.petitions.views import _choices, _status, lookup

bp = Blueprint("petitions_mobile", __name__)


def megabytes(count: int) -> str:
    """A size for people: ``5`` or ``0.05`` (MB)."""
    return f"{round(count / (1024 * 1024), 2):g}"


def _render_form(draft, errors, options, code=200, keep_location=False):
    settings = get_settings()
    return render_template(
        "petitions/mobile_form.html",
        draft=draft,
        errors=errors,
        keep_location=keep_location,
        max_photos=settings.photos.max_count,
        max_mb=megabytes(settings.photos.max_bytes),
        description_max=settings.description_max,
        **options,
    ), code


def _uploaded_files():
    """The non-empty files of the form."""
    return [f for f in request.files.getlist("photos") if f and f.filename]


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_exc):
    """A body over the core's limit is refused before any view reads it: say so on the form."""
    settings = get_settings()
    return _render_form(
        intake.Draft(),
        {
            "photos": gettext(
                "The photos are too large together. Please attach fewer or smaller photos (at most %(mb)s MB each).",
                mb=megabytes(settings.photos.max_bytes),
            )
        },
        _choices(settings, current_station()),
        413,
    )


@bp.errorhandler(404)
def not_found(_exc):
    """A mistyped or outdated link, on a phone: a phone page, not the kiosk's.

    At the hub a receipt's link may be opened before the station's sync brought
    the request (the station may be offline): the page says so, and since when.
    """
    message = gettext("This request was not found. Please check the link or scan the QR code on your receipt again.")
    if request.endpoint == "petitions_mobile.status" and sync.is_hub():
        station = current_station()
        if station.id != station_id_of(current_app):
            last = sync.last_synced(get_session(), station.id)
            message = (
                gettext(
                    "Your request has not reached the district yet: %(station)s was last in touch at %(at)s. "
                    "It will show here once the station is back online; your receipt stays valid.",
                    station=station.name,
                    at=clock.local_text(station, last),
                )
                if last is not None
                else gettext(
                    "Your request has not reached the district yet. It will show here once %(station)s is online; "
                    "your receipt stays valid.",
                    station=station.name,
                )
            )
    return render_template("petitions/mobile_error.html", message=message), 404


@bp.route("/", methods=["GET", "POST"])
@limited(30, 600)  # every try; intake also counts the requests sent ([plugins.petitions.rate_limit])
def form():
    """The whole form on one page; photos optional."""
    settings = get_settings()
    station = current_station()
    if request.method == "GET":
        return _render_form(intake.Draft(), {}, _choices(settings, station))
    limits = settings.photos
    files = _uploaded_files()
    draft = intake.from_form(request.form, settings)
    keep_location = request.form.get("share_location") == "1"
    place_list = places.for_station(get_session(), station, settings)
    errors = intake.check(draft, settings, place_list)
    cleaned = []
    if len(files) > limits.max_count:
        errors["photos"] = gettext("Please attach at most %(n)s photos.", n=limits.max_count)
    else:
        for upload in files:
            try:
                cleaned.append(
                    clean_photo(
                        upload.read(limits.max_bytes + 1),
                        keep_location=keep_location,
                        max_bytes=limits.max_bytes,
                        max_pixels=limits.max_pixels,
                        max_side=limits.max_side,
                    )
                )
            except PhotoRefused as exc:
                errors["photos"] = exc.text
                break
    if errors:
        return _render_form(draft, errors, _choices(settings, station, place_list), 400, keep_location)
    try:
        petition = intake.submit(
            draft, station, "mobile", clean_photos=cleaned, settings=settings, rate_key=ratelimit.client_key("mobile")
        )
    except ratelimit.RateLimited:
        return _render_form(
            draft,
            {
                "form": gettext(
                    "Many requests were sent from this network just now. Please wait a few minutes and try again."
                )
            },
            _choices(settings, station, place_list),
            429,
            keep_location,
        )
    return redirect(url_for("petitions_mobile.status", token=petition.token, new=1))


@bp.route("/s/<token>", methods=["GET", "POST"])
@limited(20, 600)
def status(token: str):
    """The status page: where the request stands, its history, and the rating form once resolved."""
    extra = {}
    if request.method == "GET" and request.args.get("new") == "1":
        # Right after sending: the tracking number and a QR code to keep (a screenshot will do).
        url = public_url("petitions_mobile.status", token=token, station=current_station())
        extra = {"just_sent": True, "status_qr": qr_svg(url, gettext("QR code of your request's status page"))}
    return _status(token, "petitions/mobile_status.html", "petitions.mobile_status", extra)


@bp.get("/find")
def find():
    """A request's progress by its typed tracking number; at the hub, any station's."""
    station_id = None if sync.is_hub() else current_station().id
    return lookup("petitions/mobile_lookup.html", "petitions.mobile_lookup", station_id, "mobile")


@bp.get("/media/<token>.jpg")
def media(token: str):
    """A request's photo (already stripped of metadata), by its unguessable token; at the hub, any station's.

    Only for staff who may see the request and for Open311 readers whose key has
    ``read:photos``; anyone else gets a 404, as for a token that does not exist.
    """
    if sync.is_hub() and "\x00" not in token:
        row = get_session().scalar(select(PetitionPhoto).where(PetitionPhoto.token == token))
        if row is None:
            abort(404)
    else:
        row = station_row_or_404(PetitionPhoto, token=token)
    try:
        reader_may = "read:photos" in apikeys.scopes(get_settings())
    except apikeys.InvalidKey:
        reader_may = False
    if not (reader_may or apikeys.staff_may_see(row.station_id)):
        abort(404)
    path = photos.path_of(current_app.instance_path, row.station_id, row.filename)
    if not os.path.isfile(path):
        abort(404)
    response = send_file(path, mimetype="image/jpeg", max_age=0)
    # A resident's photo: never kept in the disk cache of a shared staff PC or a reader's browser.
    response.headers["Cache-Control"] = "no-store"
    return response
