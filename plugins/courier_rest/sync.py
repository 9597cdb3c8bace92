"""One rider registry for the district: what a 暖蜂驿站 sends the hub, and what it learns back.

Kinds (see ``register_sync`` in the package):

- ``courier_rest.rider`` both ways. A station sends a rider's whole record when
  it registers or changes one (key: the rider's ``uid``). The hub keeps one
  rider per phone for the whole district and publishes every rider to every
  station, so a rider registered at A checks in at B by card, phone or pass
  code, and keeps doing so while B is offline. The same phone registered at
  two stations while they were offline is one person: the uid that reached
  the hub first wins, the other becomes an *alias* (published under its own
  uid with ``merged_into``), and every station moves what it holds of the alias
  onto the rider. The alias's pass code and card keep working.
- ``courier_rest.visit`` station → hub: a check-in, its check-out and the
  places used (key: the visit's ``uid``), kept at the hub for district figures.
- ``courier_rest.hazard`` both ways: a hazard report no local plugin turned
  into a petition goes to the hub, whose job files it with the petitions
  plugin there (``request_service("civic_request")``) and publishes the
  tracking number back to the station that took it.

Rows are matched by uid (or the hazard's token), never by id: ids differ from
one database to the next. Every function here is an idempotent upsert.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import event, select, update
from sqlalchemy.exc import IntegrityError

from kiosk import sync
from kiosk.db import utcnow
from kiosk.privacy import normalize_phone, valid_mobile
from kiosk.stations import station_id_of
from kiosk_plugins.courier_rest import slots
from kiosk_plugins.courier_rest.models import (
    Hazard,
    Rider,
    RiderAlias,
    ServiceRequest,
    ServiceUse,
    Slot,
    Use,
    Visit,
    Waiting,
)

log = logging.getLogger("kiosk_plugins.courier_rest.sync")

RIDER = "courier_rest.rider"
VISIT = "courier_rest.visit"
HAZARD = "courier_rest.hazard"
#: A hazard photo larger than this (bytes, already re-encoded) does not travel to the hub.
PHOTO_MAX_BYTES = 2 * 1024 * 1024


# --- shapes of the entries ----------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def parse_time(value) -> datetime | None:
    """A datetime from an entry (ISO text), or None when missing or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(data: dict, name: str, limit: int) -> str:
    value = data.get(name)
    return " ".join(str(value).split())[:limit] if value is not None else ""


def rider_data(rider: Rider) -> dict:
    """The rider's whole record as it travels (the registry needs every field to check them in)."""
    return {
        "uid": rider.uid,
        "name": rider.name,
        "phone": rider.phone,
        "platform": rider.platform,
        "vehicle": rider.vehicle,
        "card_uid": rider.card_uid,
        "pass_token": rider.pass_token,
        "home_station": rider.home_station,
        "created_at": _iso(rider.created_at),
    }


def record_rider(session, rider: Rider) -> None:
    """Send the rider's current record to the hub, in the transaction that changed it."""
    session.flush()
    sync.record(session, RIDER, rider.uid, rider_data(rider))


def _uses_of(session, visit: Visit) -> list[dict]:
    rows = session.execute(
        select(Use, Slot.number).join(Slot, Slot.id == Use.slot_id).where(Use.visit_id == visit.id).order_by(Use.id)
    ).all()
    return [
        {
            "kind": use.kind,
            "slot": number,
            "state": use.state,
            "started_at": _iso(use.started_at),
            "due_at": _iso(use.due_at),
            "ended_at": _iso(use.ended_at),
            "end_reason": use.end_reason,
            "overstay_at": _iso(use.overstay_at),
        }
        for use, number in rows
    ]


def record_visit(session, visit: Visit) -> None:
    """Send the visit (with the places it used) to the hub, in the transaction that changed it."""
    session.flush()
    rider = session.get(Rider, visit.rider_id)
    if rider is None:
        return
    sync.record(
        session,
        VISIT,
        visit.uid,
        {
            "uid": visit.uid,
            "rider": rider.uid,
            # The hub may not know the rider yet (registered before this station joined the district).
            "rider_data": rider_data(rider),
            "checked_in_at": _iso(visit.checked_in_at),
            "checked_out_at": _iso(visit.checked_out_at),
            "method_in": visit.method_in,
            "method_out": visit.method_out,
            "auto_closed": bool(visit.auto_closed),
            "uses": _uses_of(session, visit),
        },
    )


def record_visit_id(session, visit_id: int | None) -> None:
    """:func:`record_visit` for a visit known by id (after a place was taken or given back)."""
    visit = session.get(Visit, visit_id) if visit_id is not None else None
    if visit is not None:
        record_visit(session, visit)


# --- finding riders by uid --------------------------------------------------------------------


def by_uid(session, station_id: int, uid: str) -> Rider | None:
    """The rider kept under ``station_id`` with this district id (not an alias)."""
    return session.scalar(select(Rider).where(Rider.station_id == station_id, Rider.uid == uid))


def alias_of(session, station_id: int, uid: str) -> RiderAlias | None:
    """The alias row of a merged-away uid, if ``uid`` is one."""
    return session.scalar(select(RiderAlias).where(RiderAlias.station_id == station_id, RiderAlias.uid == uid))


def resolve(session, station_id: int, uid: str) -> Rider | None:
    """The rider ``uid`` stands for now: the rider itself, or the one an alias was merged into."""
    rider = by_uid(session, station_id, uid)
    if rider is not None:
        return rider
    alias = alias_of(session, station_id, uid)
    return session.get(Rider, alias.rider_id) if alias is not None else None


def _clean_rider(data) -> dict | None:
    """The fields of a rider entry, checked; None when the entry is unusable."""
    if not isinstance(data, dict):
        return None
    phone = normalize_phone(str(data.get("phone") or ""))
    uid = _text(data, "uid", 32)
    token = _text(data, "pass_token", 64)
    if not uid or not valid_mobile(phone) or len(token) < 16:
        return None
    card = "".join(ch for ch in str(data.get("card_uid") or "") if ch.isalnum()).upper()[:64]
    return {
        "uid": uid,
        "name": _text(data, "name", 50) or "?",
        "phone": phone,
        "platform": _text(data, "platform", 20),
        "vehicle": _text(data, "vehicle", 20),
        "card_uid": card or None,
        "pass_token": token,
        "home_station": _text(data, "home_station", 40),
        "created_at": parse_time(data.get("created_at")) or utcnow(),
    }


#: session.info key: what this hub transaction must publish when it commits.
_TO_PUBLISH = "courier_rest_to_publish"


def _defer(session, item: tuple) -> None:
    """Publish ``item`` when the transaction commits (after the station's batch is applied).

    :func:`kiosk.sync.publish` does nothing while a station's entries are
    applied (so a record applied at the hub is not echoed back), but the
    registry is the hub's answer to the batch: every station must learn the
    rider, or the merge, in the same transaction. The publications are
    written just before the commit, once the core has finished applying.
    """
    queue = session.info.get(_TO_PUBLISH)
    if queue is None:
        queue = session.info[_TO_PUBLISH] = []
        if not session.info.get(_TO_PUBLISH + "_hooked"):
            session.info[_TO_PUBLISH + "_hooked"] = True
            event.listen(session, "before_commit", _publish_queued)
            event.listen(session, "after_rollback", lambda s: s.info.pop(_TO_PUBLISH, None))
    if item not in queue:
        queue.append(item)


def _publish_queued(session) -> None:
    queue = session.info.pop(_TO_PUBLISH, None) or []
    for what, row_id in queue:
        if what == "rider":
            rider = session.get(Rider, row_id)
            if rider is not None:
                sync.publish(session, RIDER, rider.uid, rider_data(rider))
        else:
            alias = session.get(RiderAlias, row_id)
            rider = session.get(Rider, alias.rider_id) if alias is not None else None
            if rider is not None:
                sync.publish(
                    session,
                    RIDER,
                    alias.uid,
                    {
                        "uid": alias.uid,
                        "merged_into": rider.uid,
                        "pass_token": alias.pass_token,
                        "card_uid": alias.card_uid,
                    },
                )


def _published(session, rider: Rider) -> None:
    session.flush()
    _defer(session, ("rider", rider.id))


def _publish_alias(session, alias: RiderAlias, rider: Rider) -> None:
    session.flush()
    _defer(session, ("alias", alias.id))


def _card_owner(session, station_id: int, card: str) -> Rider | None:
    return session.scalar(select(Rider).where(Rider.station_id == station_id, Rider.card_uid == card))


# --- at the hub -------------------------------------------------------------------------------


def _hub_twin(session, hub_id: int, phone: str) -> Rider | None:
    """The district's rider with this phone (at the hub, one per phone)."""
    return session.scalar(select(Rider).where(Rider.station_id == hub_id, Rider.phone == phone))


def rider_to_hub(session, station, key, data) -> None:
    """A station registered or changed a rider: upsert by uid, merging a phone the hub already knows.

    The hub keeps its registry under its own station (the district), so one
    phone is one rider district-wide (the unique phone column says so even
    when two stations' batches arrive at once). A card another rider already
    holds stays with that rider: the first link wins.
    """
    clean = _clean_rider(data)
    if clean is None or clean["uid"] != str(key):
        if data is not None:
            log.warning("rider entry %s from %s is unusable; ignored", key, station.code)
        return
    hub_id = station_id_of(current_app)
    alias = alias_of(session, hub_id, clean["uid"])
    if alias is not None:
        # The station has not learnt of the merge yet: its news is about the alias's code and card.
        alias.pass_token, alias.card_uid = clean["pass_token"], clean["card_uid"]
        rider = session.get(Rider, alias.rider_id)
        _published(session, rider)
        _publish_alias(session, alias, rider)
        return
    rider = by_uid(session, hub_id, clean["uid"])
    if rider is None:
        twin = _hub_twin(session, hub_id, clean["phone"])
        if twin is None:
            card = clean["card_uid"]
            if card is not None and _card_owner(session, hub_id, card) is not None:
                log.warning("card of rider %s from %s is already another rider's; not linked", key, station.code)
                card = None
            try:
                with session.begin_nested():
                    rider = Rider(
                        station_id=hub_id,
                        uid=clean["uid"],
                        name=clean["name"],
                        phone=clean["phone"],
                        platform=clean["platform"],
                        vehicle=clean["vehicle"],
                        card_uid=card,
                        pass_token=clean["pass_token"],
                        created_at=clean["created_at"],
                        home_station=clean["home_station"] or station.code,
                    )
                    session.add(rider)
                    session.flush()
            except IntegrityError:
                # Another station's batch registered this phone a moment ago, and won.
                twin = _hub_twin(session, hub_id, clean["phone"])
                if twin is None:
                    raise
            else:
                _published(session, rider)
                return
        alias = RiderAlias(
            station_id=hub_id,
            uid=clean["uid"],
            rider_id=twin.id,
            pass_token=clean["pass_token"],
            card_uid=clean["card_uid"],
            merged_at=utcnow(),
        )
        session.add(alias)
        session.flush()
        log.info("rider %s registered at %s merged into %s (same phone)", clean["uid"], station.code, twin.uid)
        _published(session, twin)
        _publish_alias(session, alias, twin)
        return
    if rider.phone != clean["phone"]:
        other = session.scalar(select(Rider).where(Rider.station_id == hub_id, Rider.phone == clean["phone"]))
        if other is not None and other.id != rider.id:
            log.warning("rider %s from %s takes a phone another rider has; phone kept", key, station.code)
            clean["phone"] = rider.phone
    rider.name, rider.phone = clean["name"], clean["phone"]
    rider.platform, rider.vehicle = clean["platform"], clean["vehicle"]
    card = clean["card_uid"]
    if card is not None:
        owner = _card_owner(session, hub_id, card)
        if owner is not None and owner is not rider:
            log.warning("card of rider %s from %s is already another rider's; not linked", key, station.code)
            card = rider.card_uid
    rider.card_uid = card
    session.flush()
    _published(session, rider)


def visit_to_hub(session, station, key, data) -> None:
    """A station's visit: kept under that station, for the rider it belongs to (after any merge)."""
    if not isinstance(data, dict):
        return
    hub_id = station_id_of(current_app)
    rider = resolve(session, hub_id, str(data.get("rider") or ""))
    if rider is None and isinstance(data.get("rider_data"), dict):
        rider_to_hub(session, station, data["rider_data"].get("uid"), data["rider_data"])
        rider = resolve(session, hub_id, str(data.get("rider") or ""))
    came = parse_time(data.get("checked_in_at"))
    if rider is None or came is None:
        log.warning("visit entry %s from %s names no rider the hub knows; ignored", key, station.code)
        return
    visit = session.scalar(select(Visit).where(Visit.station_id == station.id, Visit.uid == str(key)[:32]))
    if visit is None:
        visit = Visit(station_id=station.id, uid=str(key)[:32], open_rider_id=None)
        session.add(visit)
    visit.rider_id = rider.id
    visit.checked_in_at, visit.checked_out_at = came, parse_time(data.get("checked_out_at"))
    visit.method_in, visit.method_out = _text(data, "method_in", 10), _text(data, "method_out", 10)
    visit.auto_closed = bool(data.get("auto_closed"))
    uses = data.get("uses")
    visit.uses = [u for u in uses if isinstance(u, dict)][:20] if isinstance(uses, list) else []
    session.flush()


# --- at a station -----------------------------------------------------------------------------


def _make_alias(session, station_id: int, rider: Rider, into: Rider | None = None) -> RiderAlias:
    """Keep ``rider``'s uid, code and card as an alias of ``into`` (default: the same row)."""
    alias = alias_of(session, station_id, rider.uid)
    if alias is None:
        alias = RiderAlias(station_id=station_id, uid=rider.uid, merged_at=utcnow())
        session.add(alias)
    alias.rider_id = (into or rider).id
    alias.pass_token, alias.card_uid = rider.pass_token, rider.card_uid
    return alias


def _absorb(session, station_id: int, gone: Rider, into: Rider) -> None:
    """Move everything of rider row ``gone`` onto ``into`` and drop the row; no visit is lost.

    If both hold the same kind of live place (an open visit, a seat, a
    charging slot, a place in line), ``gone``'s is closed and kept as history.
    """
    now = utcnow()
    open_into = session.scalar(select(Visit).where(Visit.open_rider_id == into.id))
    for visit in session.scalars(select(Visit).where(Visit.rider_id == gone.id)).all():
        visit.rider_id = into.id
        if visit.open_rider_id is not None:
            if open_into is None:
                visit.open_rider_id, open_into = into.id, visit
            else:
                visit.open_rider_id, visit.checked_out_at, visit.method_out = None, now, "merge"
    session.flush()
    for row in [*session.scalars(select(Use).where(Use.rider_id == gone.id)).all()]:
        row.rider_id = into.id
        if row.live_holder is not None:
            key = slots.holder_key(into.id, row.kind)
            if session.scalar(select(Use.id).where(Use.live_holder == key)) is None:
                row.live_holder = key
            else:
                row.state, row.ended_at, row.end_reason = "ended", now, "merged"
                row.live_slot_id = row.live_holder = None
        session.flush()
    for entry in session.scalars(select(Waiting).where(Waiting.rider_id == gone.id)).all():
        entry.rider_id = into.id
        if entry.live_holder is not None:
            key = slots.holder_key(into.id, entry.kind)
            if session.scalar(select(Waiting.id).where(Waiting.live_holder == key)) is None:
                entry.live_holder = key
            else:
                entry.state, entry.closed_at, entry.live_holder = "cancelled", now, None
        session.flush()
    for model in (ServiceUse, ServiceRequest, Hazard):
        session.execute(update(model).where(model.rider_id == gone.id).values(rider_id=into.id))
    session.execute(update(RiderAlias).where(RiderAlias.rider_id == gone.id).values(rider_id=into.id))
    card = gone.card_uid
    gone.card_uid = None
    session.flush()
    _make_alias(session, station_id, gone, into).card_uid = card
    session.flush()
    session.delete(gone)
    session.flush()


def _free_card(session, station_id: int, card: str | None, keep: Rider | None) -> None:
    """The hub says ``card`` is another rider's: a local rider holding it lets it go."""
    if not card:
        return
    owner = _card_owner(session, station_id, card)
    if owner is not None and owner is not keep:
        owner.card_uid = None
        session.flush()


def rider_to_station(session, station, key, data) -> None:
    """The hub's registry entry: upsert the rider by uid, or apply a merge (``merged_into``)."""
    if isinstance(data, dict) and data.get("merged_into"):
        _alias_to_station(session, station, str(key), data)
        return
    clean = _clean_rider(data)
    if clean is None or clean["uid"] != str(key):
        if data is not None:
            log.warning("rider entry %s from the hub is unusable; ignored", key)
        return
    sid = station.id
    row = by_uid(session, sid, clean["uid"])
    twin = session.scalar(select(Rider).where(Rider.station_id == sid, Rider.phone == clean["phone"]))
    if twin is not None and twin is not row:
        if row is None:
            # Registered here too while offline: this row becomes the district's rider, its old id an alias.
            _make_alias(session, sid, twin)
            twin.uid = clean["uid"]
            row = twin
        else:
            _absorb(session, sid, twin, row)
    _free_card(session, sid, clean["card_uid"], row)
    if row is None:
        row = Rider(station_id=sid, **clean)
        session.add(row)
    row.name, row.phone = clean["name"], clean["phone"]
    row.platform, row.vehicle = clean["platform"], clean["vehicle"]
    row.card_uid, row.pass_token = clean["card_uid"], clean["pass_token"]
    row.home_station, row.created_at = clean["home_station"], clean["created_at"]
    session.flush()


def _alias_to_station(session, station, uid: str, data: dict) -> None:
    sid = station.id
    into = by_uid(session, sid, _text(data, "merged_into", 32))
    if into is None:
        log.warning("merge of rider %s into one this station does not know; ignored", uid)
        return
    local = by_uid(session, sid, uid)
    if local is not None and local is not into:
        _absorb(session, sid, local, into)
    alias = alias_of(session, sid, uid)
    if alias is None:
        alias = RiderAlias(station_id=sid, uid=uid[:32], merged_at=utcnow())
        session.add(alias)
    alias.rider_id = into.id
    alias.pass_token = _text(data, "pass_token", 64) or None
    card = "".join(ch for ch in str(data.get("card_uid") or "") if ch.isalnum()).upper()[:64]
    alias.card_uid = card or None
    session.flush()


# --- hazard reports ---------------------------------------------------------------------------


def hazard_data(app, report: Hazard, *, with_photos: bool) -> dict:
    """A hazard report as it travels; ``with_photos`` adds the photo files (base64) for the hub to file."""
    data = {
        "category": report.category,
        "note": report.note,
        "state": report.state,
        "tracking_no": report.tracking_no,
        "created_at": _iso(report.created_at),
        "photos": [],
    }
    if with_photos:
        from kiosk_plugins.courier_rest.hazards import photo_paths

        for path in photo_paths(app, report):
            try:
                if os.path.getsize(path) > PHOTO_MAX_BYTES:
                    continue
                with open(path, "rb") as fh:
                    data["photos"].append(base64.b64encode(fh.read()).decode())
            except OSError:
                log.warning("hazard photo %s is missing; sent without it", path)
    return data


def record_hazard(app, session, report: Hazard) -> None:
    """Send a report to the hub: a draft (the phone adds photos at the hub), or one to file as a petition."""
    session.flush()
    sync.record(session, HAZARD, report.upload_token, hazard_data(app, report, with_photos=report.state == "kept"))


def hazard_to_hub(session, station, key, data) -> None:
    """Keep the station's report at the hub.

    A ``draft`` waits for photos from the rider's phone (the upload page a
    district station's QR code opens is the hub's); a ``kept`` one is to be
    filed by the hub's job (``forward``), with the hub's photos and the
    station's; one the station filed itself is kept on ``record``.
    """
    if not isinstance(data, dict):
        return
    from kiosk_plugins.courier_rest import hazards, photos

    token = str(key)[:64]
    report = session.scalar(select(Hazard).where(Hazard.station_id == station.id, Hazard.upload_token == token))
    if report is not None and report.state != "draft":
        return  # filed (or being filed) already: a replay or a late change files nothing twice
    category = _text(data, "category", 30)
    note = _text(data, "note", 200)
    if category not in hazards.CATEGORY_KEYS or not note:
        log.warning("hazard entry %s from %s is unusable; ignored", key, station.code)
        return
    if report is None:
        report = Hazard(
            station_id=station.id, upload_token=token, photos=[], status_url="", tracking_no="", state="draft"
        )
        session.add(report)
    report.category, report.note = category, note
    report.created_at = parse_time(data.get("created_at")) or utcnow()
    state = data.get("state")
    if state == "kept" and not data.get("tracking_no"):
        names = list(report.photos or [])
        folder = hazards.photo_folder(current_app, station.id)
        for encoded in (data.get("photos") or [])[:6]:
            try:
                names.append(photos.save(folder, base64.b64decode(str(encoded), validate=True)))
            except (binascii.Error, ValueError, OSError):
                log.warning("a photo of hazard %s from %s was unreadable; filed without it", key, station.code)
        report.photos = names
        report.state = "forward"
    elif state in ("sent", "handled") and data.get("tracking_no"):
        report.state, report.tracking_no = "record", _text(data, "tracking_no", 40)
    session.flush()


def hazard_to_station(session, station, key, data) -> None:
    """The hub filed a report this station kept: it now has a tracking number and a status page."""
    if not isinstance(data, dict) or not data.get("tracking_no"):
        return
    report = session.scalar(select(Hazard).where(Hazard.station_id == station.id, Hazard.upload_token == str(key)[:64]))
    if report is None:
        return
    report.state = "sent"
    report.tracking_no = _text(data, "tracking_no", 40)
    report.status_url = _text(data, "status_url", 300)
    session.flush()


def register(register_kind) -> None:
    """The kinds of the ``register_sync`` hook."""
    register_kind("rider", to_hub=rider_to_hub, to_station=rider_to_station)
    register_kind("visit", to_hub=visit_to_hub)
    register_kind("hazard", to_hub=hazard_to_hub, to_station=hazard_to_station)
