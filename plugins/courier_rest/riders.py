"""Riders: registering once, and finding them again by card, phone or their own QR code."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select

from kiosk.i18n import N_
from kiosk.models import Station
from kiosk.privacy import normalize_phone, valid_mobile
from kiosk_plugins.courier_rest import sync
from kiosk_plugins.courier_rest.models import Rider, RiderAlias

#: Platforms a rider works for (key, message id). 其他 covers drivers and sanitation workers.
PLATFORMS = [
    ("meituan", N_("Meituan")),
    ("eleme", N_("Ele.me")),
    ("sf", N_("SF Express")),
    ("jd", N_("JD Logistics")),
    ("other", N_("Other")),
]
VEHICLES = [
    ("ebike", N_("E-bike")),
    ("motorbike", N_("Motorbike")),
    ("bicycle", N_("Bicycle")),
    ("car", N_("Car")),
    ("none", N_("On foot")),
]
PLATFORM_KEYS = {k for k, _ in PLATFORMS}
VEHICLE_KEYS = {k for k, _ in VEHICLES}
NAME_MAX = 20

#: The rider's QR code holds the address of their status page; the token is its last part.
PASS_RE = re.compile(r"/m/courier_rest/r/([A-Za-z0-9_-]{16,64})(?:[/?#]|$)")


def label(options: list[tuple[str, str]], key: str) -> str:
    """The message id of ``key`` in ``options`` (translate it with ``_``)."""
    return dict(options).get(key, key)


def normalize_card(value: str) -> str:
    """A card UID as readers disagree on it: ``04:a2 1B`` and ``04A21B`` are one card."""
    return re.sub(r"[^0-9A-Za-z]", "", value or "").upper()[:64]


def token_from_code(text: str) -> str | None:
    """The pass token inside a scanned rider QR code, or None for any other code."""
    match = PASS_RE.search((text or "").strip())
    return match.group(1) if match else None


def validate(form: dict) -> tuple[dict, dict]:
    """Check a registration form; returns (clean data, field → message id of the problem)."""
    name = " ".join((form.get("name") or "").split())
    phone = normalize_phone(form.get("phone") or "")
    platform = form.get("platform") or ""
    vehicle = form.get("vehicle") or ""
    errors = {}
    if not name:
        errors["name"] = N_("Please type your name.")
    elif len(name) > NAME_MAX:
        errors["name"] = N_("The name is too long. Please type at most 20 characters.")
    if not valid_mobile(phone):
        errors["phone"] = N_("Please type an 11-digit mobile number, for example 13812345678.")
    if platform not in PLATFORM_KEYS:
        errors["platform"] = N_("Please tap the platform you work for.")
    if vehicle not in VEHICLE_KEYS:
        errors["vehicle"] = N_("Please tap how you get around.")
    return {"name": name, "phone": phone, "platform": platform, "vehicle": vehicle}, errors


def by_phone(session, station_id: int, phone: str) -> Rider | None:
    """The station's rider with this mobile number."""
    return session.scalar(select(Rider).where(Rider.station_id == station_id, Rider.phone == normalize_phone(phone)))


def by_card(session, station_id: int, uid: str) -> Rider | None:
    """The station's rider whose linked card has this UID (any formatting).

    A card linked to a registration later merged into another (the same phone
    at two stations) still finds the rider.
    """
    uid = normalize_card(uid)
    if not uid:
        return None
    rider = session.scalar(select(Rider).where(Rider.station_id == station_id, Rider.card_uid == uid))
    if rider is None:
        rider = session.scalar(
            select(Rider)
            .join(RiderAlias, RiderAlias.rider_id == Rider.id)
            .where(RiderAlias.station_id == station_id, RiderAlias.card_uid == uid)
            .limit(1)
        )
    return rider


def by_token(session, station_id: int, token: str) -> Rider | None:
    """The station's rider whose QR code carries this token (a merged registration's code too)."""
    if not token:
        return None
    rider = session.scalar(select(Rider).where(Rider.station_id == station_id, Rider.pass_token == token))
    if rider is None:
        rider = session.scalar(
            select(Rider)
            .join(RiderAlias, RiderAlias.rider_id == Rider.id)
            .where(RiderAlias.station_id == station_id, RiderAlias.pass_token == token)
            .limit(1)
        )
    return rider


def lock(session, rider_id: int) -> None:
    """Lock the rider's row for this transaction (PostgreSQL), serialising their requests."""
    session.execute(select(Rider.id).where(Rider.id == rider_id).with_for_update())


def create(session, station_id: int, data: dict, card_uid: str | None = None) -> Rider:
    """Add a rider (the data already validated) and send them to the district's registry.

    The unique constraints refuse a twin at this station; a twin registered
    at another station while one of them was offline is merged by the hub.
    """
    station = session.get(Station, station_id)
    rider = Rider(
        station_id=station_id,
        home_station=station.code if station is not None else "",
        name=data["name"],
        phone=data["phone"],
        platform=data["platform"],
        vehicle=data["vehicle"],
        card_uid=normalize_card(card_uid) or None,
        pass_token=secrets.token_urlsafe(18),
    )
    session.add(rider)
    session.flush()
    sync.record_rider(session, rider)
    return rider
