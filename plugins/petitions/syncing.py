"""Petitions between a station and the district hub: the request goes up once, its handling comes back.

A station takes a request (kiosk, or any plugin's ``civic_request``) and, in the
same transaction, records the whole request as taken: kind ``petitions.petition``,
key = the request's ``uid``, with its history, ratings and photos (the cleaned
JPEG bytes, base64; shrunk further when over :data:`PHOTO_MAX` bytes or, all
together, over :data:`PHOTOS_BUDGET`, so an entry stays far below the hub's
2 MiB batch limit).

At the hub :func:`to_hub` stores it under the sending station (matched by
``uid``, never by id) and queues the hub's own message for the dispatch system:
from then on the hub owns the request. A later entry for the same request may
only fill in intake fields still empty at the hub; status, department, notes
and deadlines are the hub's and are never overwritten by a station.

Every change at the hub (a step, a note, a rating, a request taken by phone
for the station) is published as ``petitions.status`` to the request's station;
:func:`to_station` applies it to the station's copy (or creates a copy of a
phone request), so the kiosk's status lookup works offline with the last known
state and says when it last heard from the hub.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
from datetime import UTC, datetime

from flask import current_app, has_app_context
from sqlalchemy import delete, or_, select

from kiosk import events, sync
from kiosk.db import utcnow
from kiosk.photos import PhotoRefused, clean_photo
from kiosk_plugins.petitions import outbox, photos, present
from kiosk_plugins.petitions.models import Petition, PetitionPhoto, PetitionRating, PetitionStep
from kiosk_plugins.petitions.settings import get_settings
from kiosk_plugins.petitions.vocabulary import STATUSES, TYPES

log = logging.getLogger("kiosk_plugins.petitions.sync")

PETITION = "petitions.petition"
STATUS = "petitions.status"
#: A photo larger than this (bytes) is re-encoded smaller before it travels in an entry.
PHOTO_MAX = 600 * 1024
#: All of a request's photos together, so one entry stays well inside the hub's batch limit (2 MiB).
PHOTOS_BUDGET = 900 * 1024
#: Tokens and uids are URL-safe random strings; anything else in an entry is refused.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

#: What the resident entered; a later station entry may fill these in when still empty at the hub.
INTAKE_TEXT = {
    "type": 20,
    "category": 50,
    "place_key": 64,
    "place": 200,
    "description": 5000,
    "channel": 32,
    "contact_name": 100,
    "contact_phone": 32,
    "contact_email": 200,
    "media_url": 500,
}
CONTACT = ("contact_name", "contact_phone", "contact_email")
#: Where the request stands: the hub's alone after intake.
HANDLING_TIMES = ("due_at", "updated_at", "resolved_at", "closed_at")


class Unusable(ValueError):
    """An entry that cannot be applied (malformed, or another station's request)."""


# --- reading and writing the travelling form ------------------------------------------------------


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _time(data: dict, name: str, required: bool = False) -> datetime | None:
    raw = data.get(name)
    if raw in (None, ""):
        if required:
            raise Unusable(f"{name} is missing")
        return None
    try:
        value = datetime.fromisoformat(str(raw))
    except ValueError:
        raise Unusable(f"{name} is not a date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _text(data: dict, name: str, limit: int) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Unusable(f"{name} must be text")
    return value[:limit]


def _float(data: dict, name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unusable(f"{name} must be a number")
    return float(value)


def _token(data: dict, name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not TOKEN_RE.match(value):
        raise Unusable(f"{name} is missing or malformed")
    return value


def _steps(session, petition: Petition, public: bool) -> list[dict]:
    rows = session.scalars(
        select(PetitionStep).where(PetitionStep.request_id == petition.id).order_by(PetitionStep.id)
    ).all()
    return [
        {
            "at": _iso(s.at),
            "action": s.action,
            "status": s.status,
            "department": s.department,
            "note": present.public_text(s.note, petition) if public else s.note,
        }
        for s in rows
    ]


def _ratings(session, petition: Petition) -> list[dict]:
    rows = session.scalars(
        select(PetitionRating).where(PetitionRating.request_id == petition.id).order_by(PetitionRating.id)
    ).all()
    return [{"at": _iso(r.at), "score": r.score, "comment": r.comment} for r in rows]


def _photo_bytes(path: str, limit: int) -> bytes | None:
    """The stored photo, re-encoded smaller until it fits ``limit`` bytes (None: missing or unusable)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        log.warning("a petition photo file is missing; its entry goes without it")
        return None
    side = 1600
    while len(data) > limit:
        if side < 320:
            log.warning("a petition photo could not be made small enough to travel; its entry goes without it")
            return None
        try:
            data = clean_photo(data, max_bytes=len(data) + 1, max_side=side, quality=70).data
        except PhotoRefused:
            return None
        side = side * 3 // 4
    return data


def announce_submitted(session, petition: Petition, station) -> None:
    """The ``petitions.submitted`` event (no personal data), in ``session``'s transaction: at intake and at the hub."""
    events.emit(
        "petitions.submitted",
        {
            "tracking_no": petition.tracking_no,
            "type": petition.type,
            "category": petition.category,
            "channel": petition.channel,
        },
        channel="petitions",
        station_id=station.id,
        session=session,
    )


def petition_state(session, petition: Petition, instance_path: str, *, station_forwards: bool = False) -> dict:
    """The whole request as the station took it, as it travels to the hub.

    ``station_forwards``: the station queued its own dispatch message (it stood
    alone, with no hub, when it took the request), so the hub must not forward
    the request a second time.
    """
    data = {name: getattr(petition, name) for name in INTAKE_TEXT}
    data.update(
        {
            "uid": petition.uid,
            "token": petition.token,
            "tracking_no": petition.tracking_no,
            "anonymous": bool(petition.anonymous),
            "lat": petition.lat,
            "lon": petition.lon,
            "department": petition.department,
            "status": petition.status,
            "reopened": petition.reopened,
            "contact_erased_at": _iso(petition.contact_erased_at),
            "created_at": _iso(petition.created_at),
            **{name: _iso(getattr(petition, name)) for name in HANDLING_TIMES},
            "steps": _steps(session, petition, public=False),
            "ratings": _ratings(session, petition),
            "photos": [],
            "station_forwards": station_forwards,
        }
    )
    rows = session.scalars(
        select(PetitionPhoto).where(PetitionPhoto.request_id == petition.id).order_by(PetitionPhoto.id)
    ).all()
    limit = min(PHOTO_MAX, PHOTOS_BUDGET // max(len(rows), 1))
    for row in rows:
        raw = _photo_bytes(photos.path_of(instance_path, row.station_id, row.filename), limit)
        if raw is None:
            continue
        data["photos"].append(
            {
                "token": row.token,
                "width": row.width,
                "height": row.height,
                "lat": row.lat,
                "lon": row.lon,
                "created_at": _iso(row.created_at),
                "jpeg": base64.b64encode(raw).decode("ascii"),
            }
        )
    return data


def record_petition(session, petition: Petition, *, station_forwards: bool = False) -> None:
    """At a station, queue the request for the hub in the caller's transaction (a no-op on the hub)."""
    if sync.is_hub():
        return
    data = petition_state(session, petition, current_app.instance_path, station_forwards=station_forwards)
    sync.record(session, PETITION, petition.uid, data)


def status_state(session, petition: Petition) -> dict:
    """What a station keeps of a request the hub handles: public facts and history, never contact details."""
    return {
        "uid": petition.uid,
        "token": petition.token,
        "tracking_no": petition.tracking_no,
        "type": petition.type,
        "category": petition.category,
        "place_key": petition.place_key,
        "place": petition.place,
        "description": present.public_text(petition.description, petition),
        "channel": petition.channel,
        "lat": petition.lat,
        "lon": petition.lon,
        "department": petition.department,
        "status": petition.status,
        "reopened": petition.reopened,
        "created_at": _iso(petition.created_at),
        **{name: _iso(getattr(petition, name)) for name in HANDLING_TIMES},
        "steps": _steps(session, petition, public=True),
        "ratings": _ratings(session, petition),
    }


def publish_status(session, petition: Petition) -> None:
    """At the hub, tell the request's station where it stands now (a no-op on a station)."""
    session.flush()
    sync.publish(session, STATUS, petition.uid, status_state(session, petition), station_id=petition.station_id)


# --- applying ---------------------------------------------------------------------------------------


def _collides(session, station, uid: str, token: str, tracking_no: str) -> bool:
    """True when the uid or token belongs to another request, or the number to another at this station."""
    other = session.scalar(
        select(Petition.id)
        .where(
            or_(
                Petition.uid == uid,
                Petition.token == token,
                (Petition.station_id == station.id) & (Petition.tracking_no == tracking_no),
            )
        )
        .limit(1)
    )
    return other is not None


def _new_petition(station, key: str, data: dict, *, with_contact: bool) -> Petition:
    if data.get("uid", key) != key:
        raise Unusable("uid and key differ")
    tracking_no = _text(data, "tracking_no", 32)
    if not tracking_no:
        raise Unusable("tracking_no is missing")
    status = _text(data, "status", 20) or "received"
    if status not in STATUSES:
        raise Unusable(f"unknown status {status!r}")
    if _text(data, "type", 20) not in TYPES:
        raise Unusable("unknown type")
    created = _time(data, "created_at", required=True)
    petition = Petition(
        station_id=station.id,
        uid=key,
        token=_token(data, "token"),
        tracking_no=tracking_no,
        status=status,
        reopened=int(data.get("reopened") or 0),
        department=_text(data, "department", 64),
        lat=_float(data, "lat"),
        lon=_float(data, "lon"),
        created_at=created,
        due_at=_time(data, "due_at") or created,
        updated_at=_time(data, "updated_at") or created,
        resolved_at=_time(data, "resolved_at"),
        closed_at=_time(data, "closed_at"),
        contact_erased_at=_time(data, "contact_erased_at") if with_contact else None,
    )
    for name, limit in INTAKE_TEXT.items():
        setattr(petition, name, "" if name in CONTACT and not with_contact else _text(data, name, limit))
    petition.anonymous = not petition.has_contact
    return petition


def _add_steps(session, station, petition: Petition, data: dict) -> None:
    for step in data.get("steps") or []:
        if not isinstance(step, dict):
            raise Unusable("a step must be an object")
        session.add(
            PetitionStep(
                station_id=station.id,
                request_id=petition.id,
                at=_time(step, "at", required=True),
                action=_text(step, "action", 20),
                status=_text(step, "status", 20),
                department=_text(step, "department", 64),
                note=_text(step, "note", 5000),
                user_id=None,
            )
        )


def _add_ratings(session, station, petition: Petition, data: dict) -> None:
    for rating in data.get("ratings") or []:
        if not isinstance(rating, dict):
            raise Unusable("a rating must be an object")
        session.add(
            PetitionRating(
                station_id=station.id,
                request_id=petition.id,
                score=_text(rating, "score", 24),
                comment=_text(rating, "comment", 300),
                at=_time(rating, "at", required=True),
            )
        )


def _add_photos(session, station, petition: Petition, data: dict, instance_path: str) -> None:
    """Photos of the entry not yet stored at the hub, written under its uploads folder by their token."""
    listed = data.get("photos") or []
    if not isinstance(listed, list):
        raise Unusable("photos must be a list")
    have = set(session.scalars(select(PetitionPhoto.token).where(PetitionPhoto.request_id == petition.id)))
    for item in listed:
        if not isinstance(item, dict):
            raise Unusable("a photo must be an object")
        token = _token(item, "token")
        if token in have or session.scalar(select(PetitionPhoto.id).where(PetitionPhoto.token == token)):
            continue
        try:
            raw = base64.b64decode(str(item.get("jpeg") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise Unusable("a photo's bytes are not base64") from None
        if not raw.startswith(b"\xff\xd8"):
            raise Unusable("a photo is not a JPEG")
        name = token + ".jpg"
        with open(os.path.join(photos.folder(instance_path, station.id), name), "wb") as fh:
            fh.write(raw)
        session.add(
            PetitionPhoto(
                station_id=station.id,
                request_id=petition.id,
                token=token,
                filename=name,
                width=int(item.get("width") or 0),
                height=int(item.get("height") or 0),
                size_bytes=len(raw),
                lat=_float(item, "lat"),
                lon=_float(item, "lon"),
                created_at=_time(item, "created_at") or petition.created_at,
            )
        )
        have.add(token)


def _fill_intake(petition: Petition, data: dict) -> None:
    """Intake fields still empty at the hub, from a later station entry; never the hub's handling."""
    for name, limit in INTAKE_TEXT.items():
        if name in CONTACT and petition.contact_erased_at is not None:
            continue
        if not getattr(petition, name):
            value = _text(data, name, limit)
            if value:
                setattr(petition, name, value)
    if petition.lat is None and petition.lon is None:
        petition.lat, petition.lon = _float(data, "lat"), _float(data, "lon")
    petition.anonymous = not petition.has_contact


def to_hub(session, station, key, data) -> None:
    """Store a station's request at the hub under ``station`` (idempotent; the hub owns it after intake)."""
    if data is None:
        # A station never deletes a request the district has acknowledged.
        log.warning("station %s sent a deletion of petition %s; the hub keeps the request", station.code, key)
        return
    if not isinstance(data, dict):
        raise Unusable("the entry is not an object")
    # Unusable propagates: the core parks the entry (logged, nothing else changed) and the sync goes on.
    _apply_at_hub(session, station, str(key), data)


def _apply_at_hub(session, station, key: str, data: dict) -> None:
    app = current_app._get_current_object()
    petition = session.scalar(select(Petition).where(Petition.station_id == station.id, Petition.uid == key))
    now = utcnow()
    if petition is not None:
        _fill_intake(petition, data)
        _add_photos(session, station, petition, data, app.instance_path)
        petition.synced_at = now
        return
    if not TOKEN_RE.match(key):
        raise Unusable("the key is not a request uid")
    token, tracking_no = _token(data, "token"), _text(data, "tracking_no", 32)
    if _collides(session, station, key, token, tracking_no):
        raise Unusable("its uid, token or tracking number belongs to another request")
    with session.no_autoflush:
        petition = _new_petition(station, key, data, with_contact=True)
    petition.synced_at = now
    session.add(petition)
    session.flush()
    _add_steps(session, station, petition, data)
    _add_ratings(session, station, petition, data)
    _add_photos(session, station, petition, data, app.instance_path)
    session.flush()
    # From here on the hub forwards it, with the hub's webhook settings and secret; a request
    # the station took before it was enrolled reaches the dispatch system from the station.
    messages = []
    if data.get("station_forwards") is not True:
        messages.append(outbox.enqueue(session, petition, station, get_settings(), "created"))
    announce_submitted(session, petition, station)
    outbox.after_commit(session, app, messages)
    log.info("petition %s from station %s stored at the hub", petition.tracking_no, station.code)


def to_station(session, station, key, data) -> None:
    """Apply the hub's state of a request to this station's copy (creating a copy of a phone request)."""
    if data is None or not isinstance(data, dict):
        return
    # Unusable propagates: the core parks the entry (logged, nothing half-applied) and the pulls go on.
    _apply_at_station(session, station, str(key), data)


def _apply_at_station(session, station, key: str, data: dict) -> None:
    petition = session.scalar(select(Petition).where(Petition.station_id == station.id, Petition.uid == key))
    if petition is None:
        token, tracking_no = _token(data, "token"), _text(data, "tracking_no", 32)
        if _collides(session, station, key, token, tracking_no):
            raise Unusable("its uid, token or tracking number belongs to another request here")
        with session.no_autoflush:
            petition = _new_petition(station, key, data, with_contact=False)
        session.add(petition)
        session.flush()
    else:
        status = _text(data, "status", 20)
        if status not in STATUSES:
            raise Unusable(f"unknown status {status!r}")
        petition.status = status
        petition.department = _text(data, "department", 64)
        petition.reopened = int(data.get("reopened") or 0)
        for name in HANDLING_TIMES:
            value = _time(data, name)
            if value is not None or name in ("resolved_at", "closed_at"):
                setattr(petition, name, value)
    # The hub's history replaces the copy's: it holds every step, the station's first one included.
    session.execute(delete(PetitionStep).where(PetitionStep.request_id == petition.id))
    session.execute(delete(PetitionRating).where(PetitionRating.request_id == petition.id))
    _add_steps(session, station, petition, data)
    _add_ratings(session, station, petition, data)
    petition.synced_at = utcnow()
    if not has_app_context():
        return  # applied by the station's sync thread, which has no app context: no push event
    events.emit(
        "petitions.status_changed",
        {"tracking_no": petition.tracking_no, "status": petition.status, "action": "synced"},
        channel="petitions",
        station_id=station.id,
        session=session,
    )
