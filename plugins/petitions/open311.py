"""Open311 GeoReport v2 (JSON) at ``/api/petitions/open311/v2/``, so civic-tech clients can file and read.

- ``GET discovery.json``: where the endpoint is and what it speaks.
- ``GET services.json``: the station's categories as services (``service_code`` = category key).
- ``GET services/<service_code>.json``: the one extra attribute, the request ``type``
  (complaint, suggestion, consultation, help; complaint when not given).
- ``POST requests.json``: file a request; needs an ``api_key`` from the station's settings.
- ``GET requests.json`` and ``GET requests/<service_request_id>.json``: read requests.

At the district hub the same endpoint answers for the district: without
``?station=`` it lists every station's requests, with ``?station=<code>`` that station's.

What a reader gets depends on its read key (:mod:`kiosk_plugins.petitions.apikeys`).
Anyone: an opaque ``service_request_id``, the category, the department, the
place from the station's list (else none) and the position rounded to about
500 m, the status and the dates; no description, notes, photos or tracking
number, and a request is found by its opaque id only (tracking numbers are
sequential, so looking them up would let anyone walk through every request).
``read:details`` adds the tracking number as the id, the description and the
latest staff note, masked; ``read:location`` the exact position and the address
as given; ``read:photos`` the photo link (which needs the key too).

Status is ``open`` (received, dispatched, in progress) or ``closed``
(resolved, closed). Contact details given on POST are stored for staff and
never returned. Errors are a JSON array of ``{"code", "description"}`` as the
specification asks.
"""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from kiosk import clock, sync
from kiosk.db import get_session
from kiosk.i18n import gettext
from kiosk.models import Station
from kiosk.privacy import normalize_phone
from kiosk.ratelimit import RateLimited, guess_failed, limited
from kiosk.stations import current_station, station_id_of
from kiosk.urls import public_url
from kiosk_plugins.petitions import apikeys, intake, places, present, ratelimit
from kiosk_plugins.petitions.models import Petition, PetitionPhoto, PetitionStep
from kiosk_plugins.petitions.settings import get_settings
from kiosk_plugins.petitions.vocabulary import OPEN_STATUSES, TYPES, text

bp = Blueprint("petitions_api", __name__)

SPEC = "http://wiki.open311.org/GeoReport_v2"
DEFAULT_DAYS = 90
MAX_RESULTS = 1000
CLOSED = ("resolved", "closed")
URL_RE = re.compile(r"^https?://[^\s\x00-\x1f\x7f]{1,490}$")


class Open311Error(Exception):
    """A request the endpoint refuses, answered as ``[{"code", "description"}]``."""

    def __init__(self, code: int, description: str, retry_after: int = 0):
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error):
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
    return jsonify([{"code": exc.code, "description": exc.description}]), exc.code, headers


def _guessing(exc: RateLimited) -> Open311Error:
    return Open311Error(
        429, f"too many wrong api_keys; try again in {exc.retry_seconds} seconds", retry_after=exc.retry_seconds
    )


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return jsonify([{"code": exc.code, "description": exc.name}]), exc.code


def _iso(value, station) -> str | None:
    """W3C date-time with the station's offset, as the spec requires."""
    if value is None:
        return None
    return clock.local(station, value).isoformat(timespec="seconds")


def _parse_date(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C date-time such as 2024-05-12T08:00:00+08:00") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@bp.get("/open311/v2/discovery.json")
def discovery():
    """Service discovery: this endpoint, its specification and format."""
    base = public_url("petitions_api.services").rsplit("/", 1)[0]
    return jsonify(
        {
            "changeset": "2024-01-01T00:00:00+08:00",
            "contact": current_station().name,
            "key_service": current_station().name,
            "endpoints": [
                {
                    "specification": SPEC,
                    "url": base,
                    "changeset": "2024-01-01T00:00:00+08:00",
                    "type": "production",
                    "formats": ["application/json"],
                }
            ],
        }
    )


@bp.get("/open311/v2/services.json")
def services():
    """The station's categories as Open311 services."""
    settings = get_settings()
    out = []
    for category in settings.categories:
        department = settings.department(category.department)
        out.append(
            {
                "service_code": category.key,
                "service_name": text(category.label),
                "description": gettext("Handled within %(days)s days.", days=category.deadline_days),
                "metadata": True,
                "type": "realtime",
                "keywords": ",".join([category.key, *TYPES]),
                "group": text(department.label) if department else "",
            }
        )
    return jsonify(out)


@bp.get("/open311/v2/services/<service_code>.json")
def service_definition(service_code: str):
    """The extra attribute every service takes: the kind of request."""
    if get_settings().category(service_code) is None:
        raise Open311Error(404, f"service_code {service_code} not found")
    return jsonify(
        {
            "service_code": service_code,
            "attributes": [
                {
                    "variable": True,
                    "code": "type",
                    "datatype": "singlevaluelist",
                    "required": False,
                    "datatype_description": gettext("What kind of request this is (complaint if not given)."),
                    "order": 1,
                    "description": gettext("Type"),
                    "values": [{"key": key, "name": gettext(label)} for key, label in TYPES.items()],
                }
            ],
        }
    )


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _params() -> dict:
    """The request's fields from the query, a form or a JSON object, as text.

    A JSON body must be an object of strings and numbers (``attribute`` an
    object of those): a field of another type is refused rather than dropped,
    so nothing is filed without what the client meant to send.
    """
    data = dict(request.values.items())
    if not request.is_json:
        return data
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the JSON parser goes: no request is shaped like that
        body = None
    if not isinstance(body, dict):
        raise Open311Error(400, "the body must be a JSON object")
    attrs = body.get("attribute", {})
    if not isinstance(attrs, dict) or not all(_scalar(v) for v in attrs.values()):
        raise Open311Error(400, "attribute must be an object of strings and numbers")
    wrong = sorted(k for k, v in body.items() if k != "attribute" and not _scalar(v))
    if wrong:
        raise Open311Error(400, f"{', '.join(wrong)} must be a string or a number")
    data.update({k: v for k, v in body.items() if k != "attribute"})
    data.update({f"attribute[{k}]": v for k, v in attrs.items()})
    return {k: str(v) for k, v in data.items()}


def _check_key(given: str, keys: tuple[str, ...]) -> None:
    if not keys:
        raise Open311Error(403, "this station does not accept requests through Open311 (no api_key configured)")
    if not given:
        raise Open311Error(403, "invalid api_key")
    try:
        apikeys.check_guess()
    except RateLimited as exc:
        raise _guessing(exc) from None
    if not any(hmac.compare_digest(given.encode(), k.encode()) for k in keys):
        guess_failed(apikeys.KEY_GUESSES)
        raise Open311Error(403, "invalid api_key")


def _location(params: dict) -> tuple[float | None, float | None]:
    lat, lon = params.get("lat", "").strip(), params.get("long", "").strip()
    if not lat and not lon:
        return None, None
    try:
        lat_f, lon_f = float(lat), float(lon)
    except ValueError:
        raise Open311Error(400, "lat and long must both be decimal degrees") from None
    if not (-90 <= lat_f <= 90 and -180 <= lon_f <= 180):
        raise Open311Error(400, "lat must be within -90..90 and long within -180..180")
    return round(lat_f, 6), round(lon_f, 6)


@bp.post("/open311/v2/requests.json")
@limited(60, 600)  # counted before the key is checked: wrong keys cannot be tried without end
def create_request():
    """File a request; answers ``[{"service_request_id", "service_notice", "account_id"}]``."""
    settings = get_settings()
    station = current_station()
    params = _params()
    _check_key(params.get("api_key", ""), settings.open311_keys)
    category = settings.category(params.get("service_code", ""))
    if category is None:
        raise Open311Error(400, "service_code is missing or unknown; see services.json")
    lat, lon = _location(params)
    address = intake.clean_text(params.get("address_string"), 200)
    address_id = intake.clean_text(params.get("address_id"), 64)
    place_list = places.for_station(get_session(), station, settings)
    place = places.find(place_list, address_id) if address_id else None
    if lat is None and not address and place is None:
        raise Open311Error(400, "a location is required: lat and long, address_string, or a known address_id")
    kind = params.get("attribute[type]", "complaint") or "complaint"
    if kind not in TYPES:
        raise Open311Error(400, f"attribute[type] must be one of {', '.join(TYPES)}")
    name = " ".join(intake.clean_text(params.get(k), 50) for k in ("first_name", "last_name")).strip()
    raw_phone = intake.clean_text(params.get("phone"), 30)
    # Any country's number will do here; keep its digits (a +86 prefix is dropped).
    phone = re.sub(r"\D", "", normalize_phone(raw_phone))
    if raw_phone and not re.fullmatch(r"\d{5,20}", phone):
        raise Open311Error(400, "phone must be a telephone number")
    media_url = params.get("media_url", "").strip()
    if media_url and not URL_RE.match(media_url):
        raise Open311Error(400, "media_url must be an http or https URL")
    draft = intake.Draft(
        type=kind,
        category=category.key,
        place_key=place.key if place else "",
        description=intake.clean_text(params.get("description"), settings.description_max + 1),
        anonymous=not (name or phone or params.get("email")),
        contact_name=name[: intake.NAME_MAX],
        contact_phone=phone,
        contact_email=intake.clean_text(params.get("email"), 200),
        lat=lat,
        lon=lon,
        media_url=media_url,
    )
    errors = intake.check(draft, settings, place_list, steps=(1, 3, 4))
    errors.pop("phone", None)  # any telephone number will do here, not only a mainland mobile
    if errors:
        raise Open311Error(400, "; ".join(f"{k}: {v}" for k, v in errors.items()))
    if place is not None:
        draft.place = text(place.label, "zh_Hans")
    elif address:
        draft.place = address
    try:
        petition = intake.submit(
            draft,
            station,
            "open311",
            settings=settings,
            rate_key=ratelimit.client_key("api", params.get("api_key", "")),
        )
    except ratelimit.RateLimited:
        raise Open311Error(429, "too many requests; please wait and try again") from None
    notice = gettext(
        "Your request %(no)s will be handled within %(days)s days.",
        no=petition.tracking_no,
        days=category.deadline_days,
    )
    return jsonify([{"service_request_id": petition.tracking_no, "service_notice": notice, "account_id": None}]), 201


#: Anonymous positions are snapped to a grid of this many degrees (about 550 m north-south).
COARSE_GRID = 0.005


def _coarse(value: float | None) -> float | None:
    return None if value is None else round(round(value / COARSE_GRID) * COARSE_GRID, 3)


def _as_open311(session, petition: Petition, settings, station, place_list, granted: frozenset[str]) -> dict:
    """One request as ``granted`` (the reader's scopes) allows; see the module's docstring."""
    category = settings.category(petition.category)
    department = settings.department(petition.department) if petition.department else None
    place = places.find(place_list, petition.place_key) if petition.place_key else None
    details, location = "read:details" in granted, "read:location" in granted
    answer = {
        "service_request_id": petition.tracking_no if details else apikeys.public_id(petition.id),
        "status": "closed" if petition.status in CLOSED else "open",
        "status_notes": None,
        "service_name": text(category.label) if category else petition.category,
        "service_code": petition.category,
        "description": None,
        "agency_responsible": text(department.label) if department else None,
        "service_notice": None,
        "requested_datetime": _iso(petition.created_at, station),
        "updated_datetime": _iso(petition.updated_at, station),
        "expected_datetime": _iso(petition.due_at, station),
        "address": text(place.label) if place else None,
        "address_id": petition.place_key or None,
        "zipcode": None,
        "lat": petition.lat if location else _coarse(petition.lat),
        "long": petition.lon if location else _coarse(petition.lon),
        "media_url": None,
    }
    if details:
        last_note = session.scalar(
            select(PetitionStep.note)
            .where(PetitionStep.request_id == petition.id, PetitionStep.note != "", PetitionStep.action != "rated")
            .order_by(PetitionStep.id.desc())
            .limit(1)
        )
        answer["status_notes"] = present.public_text(last_note, petition) if last_note else None
        answer["description"] = present.public_text(petition.description, petition)
    if location and place is None:
        answer["address"] = petition.place or None
    if "read:photos" in granted:
        photo = session.scalar(
            select(PetitionPhoto.token)
            .where(PetitionPhoto.request_id == petition.id)
            .order_by(PetitionPhoto.id)
            .limit(1)
        )
        link = public_url("petitions_mobile.media", token=photo, station=station) if photo else None
        answer["media_url"] = link or petition.media_url or None
    return answer


def _granted() -> frozenset[str]:
    """The reader's scopes; a key that matches nothing is refused rather than read as anonymous."""
    try:
        return apikeys.scopes(get_settings())
    except apikeys.InvalidKey:
        raise Open311Error(403, "invalid api_key") from None
    except RateLimited as exc:
        raise _guessing(exc) from None


def _scope() -> list:
    """This station's requests; at the hub without a station chosen, the whole district's."""
    station = current_station()
    if sync.is_hub() and station.id == station_id_of(current_app):
        return []
    return [Petition.station_id == station.id]


def _answer(session, rows, settings, granted: frozenset[str]) -> list[dict]:
    """Each request with its own station's clock and links, as much as ``granted`` allows."""
    station = current_station()
    stations = {station.id: station}
    place_list = places.for_station(session, station, settings)
    out = []
    for petition in rows:
        if petition.station_id not in stations:
            stations[petition.station_id] = session.get(Station, petition.station_id)
        out.append(_as_open311(session, petition, settings, stations[petition.station_id], place_list, granted))
    return out


def _by_ids(ids: list[str], granted: frozenset[str]):
    """The condition for requests named by ``ids``: opaque ids for anyone, tracking numbers with ``read:details``."""
    row_ids = [n for n in (apikeys.id_from_public(i) for i in ids) if n is not None]
    condition = Petition.id.in_(row_ids)
    if "read:details" in granted:
        condition = condition | Petition.tracking_no.in_(ids)
    return condition


@bp.get("/open311/v2/requests.json")
def list_requests():
    """Requests of the last 90 days by default, newest first, at most 1000; spec filters apply."""
    settings = get_settings()
    session = get_session()
    granted = _granted()
    query = select(Petition).where(*_scope())
    for name, value in request.args.items():
        if intake.CONTROL_RE.search(value):
            raise Open311Error(400, f"{name} must not contain control characters")
    ids = [i.strip() for i in request.args.get("service_request_id", "").split(",") if i.strip()]
    if ids:
        # The spec: with service_request_id given, every other filter is ignored.
        query = query.where(_by_ids(ids[:MAX_RESULTS], granted))
    else:
        codes = [c.strip() for c in request.args.get("service_code", "").split(",") if c.strip()]
        if codes:
            query = query.where(Petition.category.in_(codes))
        start, end = _parse_date("start_date"), _parse_date("end_date")
        if start is None and end is None:
            start = clock.now() - timedelta(days=DEFAULT_DAYS)
        if start is not None:
            query = query.where(Petition.created_at >= start)
        if end is not None:
            query = query.where(Petition.created_at <= end)
        wanted = {s.strip() for s in request.args.get("status", "").split(",") if s.strip()}
        if wanted - {"open", "closed"}:
            raise Open311Error(400, "status must be open, closed or both")
        statuses = set()
        if "open" in wanted:
            statuses |= set(OPEN_STATUSES)
        if "closed" in wanted:
            statuses |= set(CLOSED)
        if statuses:
            query = query.where(Petition.status.in_(statuses))
    rows = session.scalars(query.order_by(Petition.created_at.desc(), Petition.id.desc()).limit(MAX_RESULTS)).all()
    return jsonify(_answer(session, rows, settings, granted))


@bp.get("/open311/v2/requests/<service_request_id>.json")
def get_request(service_request_id: str):
    """One request, as a one-element array."""
    settings = get_settings()
    session = get_session()
    granted = _granted()
    # A control character is in no id (and a NUL byte cannot even be compared on PostgreSQL).
    petition = (
        None
        if intake.CONTROL_RE.search(service_request_id)
        else session.scalar(
            select(Petition).where(*_scope(), _by_ids([service_request_id], granted)).order_by(Petition.id).limit(1)
        )
    )
    if petition is None:
        raise Open311Error(404, f"service_request_id {service_request_id[:40]} not found")
    return jsonify(_answer(session, [petition], settings, granted))
