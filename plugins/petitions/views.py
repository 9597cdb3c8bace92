"""Kiosk screens (``/k/petitions/``): report a problem by tapping, see a request's progress.

The form is four short screens (what, where, describe, contact); what was
chosen travels in hidden fields, so nothing of one resident is kept on the
server or in the session for the next. Receipts and the QR code carry only
the tracking number and the status page.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from kiosk import clock, sync
from kiosk.db import get_session, write_transaction
from kiosk.i18n import gettext
from kiosk.models import Station
from kiosk.qr import qr_svg
from kiosk.ratelimit import limited
from kiosk.stations import current_station, station_row_or_404
from kiosk.urls import public_url
from kiosk_plugins.petitions import intake, lifecycle, numbering, places, present, ratelimit, receipts
from kiosk_plugins.petitions.models import Petition
from kiosk_plugins.petitions.settings import get_settings
from kiosk_plugins.petitions.vocabulary import RATINGS, TYPES, text

bp = Blueprint("petitions_kiosk", __name__)

LAST_STEP = 4
FIELD_STEP = {"type": 1, "category": 1, "place": 2, "description": 3, "phone": 4, "name": 4}
STATUS_PATH_RE = re.compile(r"/m/petitions/s/([A-Za-z0-9_-]{20,64})")


def status_url(petition: Petition, station) -> str:
    """The address of a request's status page that a phone opens (QR codes, receipts)."""
    return public_url("petitions_mobile.status", token=petition.token, station=station)


def _choices(settings, station, place_list=None):
    """The options of the form, in the reader's language."""
    if place_list is None:
        place_list = places.for_station(get_session(), station, settings)
    return {
        "types": [(key, gettext(label)) for key, label in TYPES.items()],
        "categories": [(c.key, text(c.label)) for c in settings.categories],
        "places": [(p.key, text(p.label)) for p in place_list],
    }


@bp.get("/")
def index():
    """Start: fill in here, or scan a code to continue on the phone (with photos)."""
    station = current_station()
    mobile = public_url("petitions_mobile.form", station=station)
    return render_template(
        "petitions/kiosk_index.html",
        screen="petitions.index",
        mobile_qr=qr_svg(mobile, gettext("QR code of the form for your phone")),
    )


@bp.route("/new", methods=["GET", "POST"])
@limited(60, 600)  # every try; intake also counts the requests sent ([plugins.petitions.rate_limit])
def new():
    """The four-step form; each step is checked before the next one shows."""
    settings = get_settings()
    station = current_station()
    if request.method == "GET":
        return _form(1, intake.Draft(), {}, _choices(settings, station))
    place_list = places.for_station(get_session(), station, settings)
    draft = intake.from_form(request.form, settings)
    try:
        step = min(max(int(request.form.get("step", "1")), 1), LAST_STEP)
    except ValueError:
        step = 1
    if request.form.get("go") == "back":
        return _form(max(step - 1, 1), draft, {}, _choices(settings, station, place_list))
    errors = intake.check(draft, settings, place_list, steps=range(1, step + 1))
    if errors:
        # Show the earliest step with a problem (later ones only when it is the current one).
        first = min(FIELD_STEP.get(field, step) for field in errors)
        return _form(first, draft, errors, _choices(settings, station, place_list)), 400
    if step < LAST_STEP:
        return _form(step + 1, draft, {}, _choices(settings, station, place_list))
    try:
        petition = intake.submit(draft, station, "kiosk", settings=settings, rate_key=ratelimit.client_key("kiosk"))
    except ratelimit.RateLimited:
        message = gettext(
            "Many requests were sent from this kiosk just now. Please wait a few minutes "
            "and try again, or ask the staff for help."
        )
        return _form(step, draft, {"form": message}, _choices(settings, station)), 429
    summary = present.summary(petition, settings, station, place_list)
    job = receipts.send_to_printer(receipts.context_for(summary, status_url(petition, station), station.name))
    args = {"token": petition.token}
    if job and job.get("job_id") is not None:
        args["job"] = job["job_id"]
    return redirect(url_for("petitions_kiosk.done", **args))


def _form(step: int, draft, errors: dict, options: dict):
    settings = get_settings()
    return render_template(
        "petitions/kiosk_form.html",
        screen=f"petitions.step{step}",
        step=step,
        last_step=LAST_STEP,
        draft=draft,
        errors=errors,
        description_max=settings.description_max,
        # Tap, not type: the category's common phrases, as chips that write them into the description.
        phrases=[text(phrase) for phrase in settings.phrases.get(draft.category, ())],
        **options,
    )


def _petition_by_token(token: str) -> Petition:
    """The request of a status link; at the hub any station's (the token is unguessable and unique)."""
    if not sync.is_hub():
        return station_row_or_404(Petition, token=token)
    if "\x00" in token:
        abort(404)
    found = get_session().scalar(select(Petition).where(Petition.token == token))
    if found is None:
        abort(404)
    return found


def station_of(petition: Petition):
    """The station a request belongs to (at the hub a district page may show any station's)."""
    station = current_station()
    if station.id != petition.station_id:
        station = get_session().get(Station, petition.station_id)
    return station


def heard_from_hub(session, petition: Petition, station) -> dict:
    """At a station enrolled at a hub: when this copy last heard from the hub (the kiosk may be offline)."""
    if sync.is_hub() or not sync.is_enrolled(session):
        return {}
    if petition.synced_at is None:
        return {"hub_sync": ""}
    # The copy is as fresh as the station's last good sync, even when the request has not changed since.
    last = sync.last_synced(session)
    heard = max(petition.synced_at, last) if last is not None else petition.synced_at
    return {"hub_sync": clock.local_text(station, heard)}


def lookup(template: str, screen: str, station_id: int | None, rate_channel: str, extra: dict | None = None):
    """A request by its typed tracking number: where it stands, without its description or notes.

    Tracking numbers can be guessed, so this shows less than the status link
    does and counts towards the channel's rate limit.
    """
    settings = get_settings()
    typed = request.args.get("no", "")
    values = {"screen": screen, "typed": typed[:40], **(extra or {})}
    if "no" not in request.args:
        return render_template(template, **values)  # the empty form: nothing typed yet
    if not numbering.compact(typed):
        values["error"] = gettext("Please enter the tracking number on your receipt, for example P261206-K7QM-0001.")
        return render_template(template, **values), 400
    with write_transaction() as session:
        allowed = ratelimit.take(
            session, ratelimit.client_key("lookup-" + rate_channel), *settings.rate_limit(rate_channel)
        )
    if not allowed:
        values["error"] = gettext("Many numbers were looked up here just now. Please wait a few minutes.")
        return render_template(template, **values), 429
    session = get_session()
    petition = numbering.find(session, typed, station_id)
    if petition is None:
        values["error"] = gettext("No request has this number here. Please check the number on your receipt.")
        return render_template(template, **values), 404
    station = station_of(petition)
    place_list = places.for_station(session, station, settings)
    summary = present.status_only(present.summary(petition, settings, station, place_list))
    steps = [{**step, "note": ""} for step in present.history(session, petition, settings, station)]
    values.update(summary=summary, steps=steps, **heard_from_hub(session, petition, station))
    return render_template(template, **values)


@bp.get("/done/<token>")
def done(token: str):
    """The tracking number, the QR code of the status page, and whether the receipt printed."""
    settings = get_settings()
    station = current_station()
    petition = _petition_by_token(token)
    place_list = places.for_station(get_session(), station, settings)
    job = request.args.get("job", "")
    job = job if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", job) else None
    return render_template(
        "petitions/kiosk_done.html",
        screen="petitions.done",
        summary=present.summary(petition, settings, station, place_list),
        has_contact=petition.has_contact,
        job_id=job,
        status_qr=qr_svg(status_url(petition, station), gettext("QR code of your request's status page")),
    )


@bp.get("/find")
def find():
    """A request's progress by its typed tracking number (this station's requests only)."""
    return lookup("petitions/kiosk_lookup.html", "petitions.lookup", current_station().id, "kiosk")


@bp.route("/status/<token>", methods=["GET", "POST"])
@limited(30, 600)
def status(token: str):
    """A request's progress at the kiosk (after scanning the receipt), with the rating form."""
    return _status(token, "petitions/kiosk_status.html", "petitions.status")


def _status(token: str, template: str, screen: str, extra: dict | None = None):
    """Show (and on POST, rate) a request by its token; shared by the kiosk and the phone."""
    settings = get_settings()
    session = get_session()
    petition = _petition_by_token(token)
    station = station_of(petition)
    error = ""
    code = 200
    if request.method == "POST":
        try:
            lifecycle.rate(station, token, request.form.get("score", ""), request.form.get("comment", ""))
        except lifecycle.LifecycleError as exc:
            error, code = gettext(exc.message), 400
        else:
            return redirect(request.path + "?rated=1")
        session.expire_all()
        petition = _petition_by_token(token)
    place_list = places.for_station(session, station, settings)
    extra = {**heard_from_hub(session, petition, station), **(extra or {})}
    return render_template(
        template,
        screen=screen,
        summary=present.summary(petition, settings, station, place_list),
        steps=present.history(session, petition, settings, station),
        can_rate=lifecycle.can_rate(session, petition),
        error=error,
        rated=request.args.get("rated") == "1",
        token=token,
        ratings=[(k, gettext(v)) for k, v in RATINGS.items()],
        **extra,
    ), code


def reader_action(event, screen, station) -> dict | None:
    """A scanned receipt QR opens that request's progress on the kiosk."""
    if getattr(event, "kind", "") != "code" or not (screen in (None, "home") or str(screen).startswith("petitions.")):
        return None
    match = STATUS_PATH_RE.search(str(getattr(event, "value", "")))
    if match is None:
        return None
    token = match.group(1)
    found = get_session().scalar(select(Petition.id).where(Petition.token == token, Petition.station_id == station.id))
    if found is None:
        return None
    # Reads arrive outside any request (from the reader thread): build the path from the URL map.
    path = current_app.url_map.bind("").build("petitions_kiosk.status", {"token": token})
    return {"redirect": path}
