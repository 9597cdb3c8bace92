"""Taking a request in: checking what the resident entered, then storing it in one transaction.

Every way in (the kiosk, the phone form, Open311, another plugin through
``request_service``) ends in :func:`submit`, which writes the request, its
first history line, its photos, the dispatch-system message (or, at a station
enrolled at a district hub, the sync entry that hands it to the hub) and the
push event together: either the resident gets a tracking number and everything
exists, or nothing was written.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import uuid
from dataclasses import dataclass, field

from flask import current_app

from kiosk import clock, sync
from kiosk.db import write_transaction
from kiosk.i18n import gettext
from kiosk.privacy import normalize_phone, valid_mobile
from kiosk_plugins.petitions import numbering, outbox, photos, ratelimit, routing, syncing
from kiosk_plugins.petitions.models import Petition, PetitionPhoto, PetitionStep
from kiosk_plugins.petitions.places import find as find_place
from kiosk_plugins.petitions.settings import Settings, get_settings
from kiosk_plugins.petitions.vocabulary import TYPES, Place, text

log = logging.getLogger("kiosk_plugins.petitions.intake")

NAME_MAX = 50
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,20}$")
# Control characters other than line breaks never belong in a description.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

STEP_FIELDS = {
    1: ("type", "category"),
    2: ("place",),
    3: ("description",),
    4: ("contact",),
}


@dataclass
class Draft:
    """What a resident entered, before it is checked."""

    type: str = ""
    category: str = ""
    place_key: str = ""
    place: str = ""
    description: str = ""
    anonymous: bool = True
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    lat: float | None = None
    lon: float | None = None
    media_url: str = ""
    photos: list = field(default_factory=list)


def clean_text(value, limit: int) -> str:
    """Trimmed text without control characters, cut to ``limit`` characters."""
    return CONTROL_RE.sub("", str(value or "")).replace("\r\n", "\n").strip()[:limit]


def from_form(form, settings: Settings) -> Draft:
    """A :class:`Draft` from a submitted form (kiosk or phone)."""
    anonymous = form.get("anonymous", "1") != "0"
    return Draft(
        type=clean_text(form.get("type"), 20),
        category=clean_text(form.get("category"), 50),
        place_key=clean_text(form.get("place"), 64),
        # One character over the limit is kept so the check can say "too long".
        description=clean_text(form.get("description"), settings.description_max + 1),
        anonymous=anonymous,
        contact_name="" if anonymous else clean_text(form.get("name"), NAME_MAX + 1),
        contact_phone="" if anonymous else normalize_phone(clean_text(form.get("phone"), 20)),
    )


def check(draft: Draft, settings: Settings, places: list[Place], steps=(1, 2, 3, 4)) -> dict[str, str]:
    """Field name → message (in the resident's language) for everything wrong in ``steps``."""
    errors: dict[str, str] = {}
    wanted = {f for s in steps for f in STEP_FIELDS[s]}
    if "type" in wanted and draft.type not in TYPES:
        errors["type"] = gettext("Please choose what kind of request this is.")
    if "category" in wanted and settings.category(draft.category) is None:
        errors["category"] = gettext("Please choose what the problem is about.")
    if "place" in wanted:
        if draft.place_key and draft.place_key != "other":
            place = find_place(places, draft.place_key)
            if place is None:
                errors["place"] = gettext("Please choose a place from the list, or choose “Other or not sure”.")
            else:
                draft.place = text(place.label, "zh_Hans")
        elif draft.place_key == "other":
            draft.place = ""
    if "description" in wanted:
        if len(draft.description) < 2:
            errors["description"] = gettext("Please describe the problem in a few words.")
        elif len(draft.description) > settings.description_max:
            errors["description"] = gettext(
                "The description is too long: at most %(max)s characters, please.", max=settings.description_max
            )
    if "contact" in wanted and not draft.anonymous:
        if not valid_mobile(draft.contact_phone):
            errors["phone"] = gettext("Please enter an 11-digit mobile number, or choose to stay anonymous.")
        if len(draft.contact_name) > NAME_MAX:
            errors["name"] = gettext("The name is too long: at most %(max)s characters, please.", max=NAME_MAX)
        if draft.contact_email and not EMAIL_RE.match(draft.contact_email):
            errors["email"] = gettext("Please check the e-mail address.")
    return errors


def submit(
    draft: Draft,
    station,
    channel: str,
    *,
    clean_photos=(),
    settings: Settings | None = None,
    now=None,
    rate_key: str = "",
) -> Petition:
    """Store a checked request with its photos, history, outbox message and push event.

    With ``rate_key`` the channel's rate limit is counted in the same
    transaction; :class:`~kiosk_plugins.petitions.ratelimit.RateLimited` when used up.
    """
    settings = settings or get_settings()
    app = current_app._get_current_object()
    now = now or clock.now()
    written: list[str] = []
    try:
        with write_transaction() as session:
            if rate_key and not ratelimit.take(session, rate_key, *settings.rate_limit(channel), now=now):
                raise ratelimit.RateLimited(rate_key)
            petition = Petition(
                station_id=station.id,
                uid=uuid.uuid4().hex,
                token=secrets.token_urlsafe(24),
                tracking_no=numbering.next_tracking_no(
                    session, station, now, settings.tracking_prefix, hub=sync.is_hub(app)
                ),
                type=draft.type,
                category=draft.category,
                place_key=draft.place_key if draft.place else "",
                place=draft.place,
                description=draft.description,
                channel=channel[:32],
                anonymous=not (draft.contact_name or draft.contact_phone or draft.contact_email),
                contact_name=draft.contact_name,
                contact_phone=draft.contact_phone,
                contact_email=draft.contact_email,
                lat=draft.lat,
                lon=draft.lon,
                media_url=draft.media_url[:500],
                department="",
                status="received",
                reopened=0,
                due_at=routing.due_at(settings, draft.category, now),
                created_at=now,
                updated_at=now,
            )
            session.add(petition)
            session.flush()
            session.add(
                PetitionStep(
                    station_id=station.id,
                    request_id=petition.id,
                    at=now,
                    action="received",
                    status="received",
                    department="",
                    note="",
                )
            )
            for photo in clean_photos:
                token, name = photos.store(app.instance_path, station.id, photo)
                written.append(name)
                session.add(
                    PetitionPhoto(
                        station_id=station.id,
                        request_id=petition.id,
                        token=token,
                        filename=name,
                        width=photo.width,
                        height=photo.height,
                        size_bytes=len(photo.data),
                        lat=photo.lat,
                        lon=photo.lon,
                        created_at=now,
                    )
                )
                if petition.lat is None and photo.lat is not None:
                    petition.lat, petition.lon = photo.lat, photo.lon
            session.flush()
            # A station enrolled at a hub hands the request over (the hub forwards it); the
            # hub and a station standing alone forward it themselves.
            messages = []
            if not sync.is_enrolled(session):
                messages.append(outbox.enqueue(session, petition, station, settings, "created"))
            # Standing alone, the station forwards it itself: the hub, should it enrol later, will not.
            syncing.record_petition(session, petition, station_forwards=bool(messages))
            syncing.publish_status(session, petition)
            syncing.announce_submitted(session, petition, station)
            outbox.after_commit(session, app, messages)
    except Exception:
        for name in written:
            try:
                os.remove(photos.path_of(app.instance_path, station.id, name))
            except OSError:
                log.warning("could not remove an orphaned photo file after a failed submission")
        raise
    log.info("petition %s received (channel %s, category %s)", petition.tracking_no, channel, petition.category)
    return petition
