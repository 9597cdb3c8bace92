"""The station's numbered places and how many are free right now.

Seats, phone-charging slots and e-bike battery slots are rows created from the
station's settings. A place is taken while a :class:`.models.Use` holds its id
in ``live_slot_id`` (unique), so two kiosks can never hand out the same one.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select

from kiosk_plugins.courier_rest.models import Slot, Use, Visit, Waiting

SLOT_KINDS = ("seat", "phone", "battery")
CHARGE_KINDS = ("phone", "battery")


def group_of(kind: str) -> str:
    """Seats are one group, both kinds of charging another: a rider holds one of each."""
    return "seat" if kind == "seat" else "charge"


def holder_key(rider_id: int, kind: str) -> str:
    """The value of ``live_holder`` for a rider holding a place of ``kind``."""
    return f"{rider_id}:{group_of(kind)}"


def charge_key(rider_id: int) -> str:
    """The ``live_holder`` of a rider's charging slot, either kind (one at a time)."""
    return holder_key(rider_id, "phone")


def ensure(session, station_id: int, settings) -> bool:
    """Create the numbered places the settings ask for; retire the extra ones.

    Returns True when something changed. A retired place in use stays with its
    rider until released and is then no longer handed out.
    """
    existing = {(s.kind, s.number): s for s in session.scalars(select(Slot).where(Slot.station_id == station_id))}
    changed = False
    for kind in SLOT_KINDS:
        count = settings.slot_count(kind)
        for number in range(1, count + 1):
            slot = existing.get((kind, number))
            if slot is None:
                session.add(Slot(station_id=station_id, kind=kind, number=number, active=True))
                changed = True
            elif not slot.active:
                slot.active = True
                changed = True
        for (slot_kind, number), slot in existing.items():
            if slot_kind == kind and number > count and slot.active:
                slot.active = False
                changed = True
    session.flush()
    return changed


def _taken_ids():
    return select(Use.live_slot_id).where(Use.live_slot_id.is_not(None))


def first_free(session, station_id: int, kind: str, lock: bool = True, wait: bool = False) -> Slot | None:
    """The lowest-numbered free place of ``kind``, locked for this transaction.

    On PostgreSQL ``SKIP LOCKED`` lets two kiosks pick different places at the
    same moment. ``wait=True`` waits for the kiosks that hold locks instead of
    skipping them: a place another kiosk is about to take is not necessarily
    gone (that kiosk may give up), so "full" is only said after waiting. Should
    two kiosks still pick one place, the unique ``live_slot_id`` lets only one
    commit and the other retries. SQLite runs writers one at a time anyway.
    """
    query = (
        select(Slot)
        .where(Slot.station_id == station_id, Slot.kind == kind, Slot.active.is_(True), Slot.id.not_in(_taken_ids()))
        .order_by(Slot.number)
        .limit(1)
    )
    if lock:
        query = query.with_for_update(skip_locked=not wait, of=Slot)
    return session.scalar(query)


# Built once: a check-in pushes the board, and building these statements per
# call cost more than running them (see bench/courier_rest_bench.py).
_PLACES = (
    select(Slot.kind, func.count(Slot.id), func.count(Use.id))
    .select_from(Slot)
    .outerjoin(Use, Use.live_slot_id == Slot.id)
    .where(Slot.station_id == bindparam("station_id"), Slot.active.is_(True))
    .group_by(Slot.kind)
)
_PEOPLE = select(
    select(func.count(Waiting.id))
    .where(Waiting.station_id == bindparam("station_id"), Waiting.state == "waiting", Waiting.kind == "phone")
    .scalar_subquery(),
    select(func.count(Waiting.id))
    .where(Waiting.station_id == bindparam("station_id"), Waiting.state == "waiting", Waiting.kind == "battery")
    .scalar_subquery(),
    select(func.count(Visit.id))
    .where(Visit.station_id == bindparam("station_id"), Visit.open_rider_id.is_not(None))
    .scalar_subquery(),
)


def free_places(session, station_id: int) -> dict[str, tuple[int, int]]:
    """``{kind: (free, total)}`` of the kinds the station has places of, in one statement."""
    return {
        kind: (int(total) - int(taken), int(total))
        for kind, total, taken in session.execute(_PLACES, {"station_id": station_id})
        if total
    }


def board(session, station_id: int) -> dict:
    """Free and total places of each kind, people waiting and riders in: no personal data."""
    out: dict = {kind: {"free": 0, "total": 0} for kind in SLOT_KINDS}
    for kind, total, taken in session.execute(_PLACES, {"station_id": station_id}):
        out[kind] = {"free": int(total) - int(taken), "total": int(total)}
    phone_waiting, battery_waiting, inside = session.execute(_PEOPLE, {"station_id": station_id}).one()
    out["waiting"] = {"phone": int(phone_waiting), "battery": int(battery_waiting)}
    out["in_station"] = int(inside)
    return out
