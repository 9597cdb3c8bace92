"""The waiting list for charging slots.

When every slot of a kind is taken a rider may join the line and gets a number
(W01, W02 … per day). When a slot frees, it is held for the first rider in
line for ``hold_minutes``: the kiosk board and the rider's phone say so, and
the rider takes it by checking in again. A hold that runs out passes the slot
to the next rider.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from kiosk import clock
from kiosk_plugins.courier_rest import push, riders, slots, sync
from kiosk_plugins.courier_rest.models import Slot, Use, Waiting
from kiosk_plugins.courier_rest.writes import Refused

OPEN_STATES = ("waiting", "offered")


def label(number: int) -> str:
    """The number a waiting rider is called by on the board: W03."""
    return f"W{number:02d}"


def entry_of(session, rider_id: int) -> Waiting | None:
    """The rider's place in line (waiting or offered a slot), if any."""
    return session.scalar(select(Waiting).where(Waiting.live_holder == slots.charge_key(rider_id)))


def ahead_of(session, entry: Waiting) -> int:
    """How many riders are in line before ``entry`` for the same kind of slot."""
    return (
        session.scalar(
            select(func.count(Waiting.id)).where(
                Waiting.station_id == entry.station_id,
                Waiting.kind == entry.kind,
                Waiting.state == "waiting",
                Waiting.id < entry.id,
            )
        )
        or 0
    )


def join(session, station_id: int, visit, kind: str, now, tz) -> Waiting:
    """Put the rider of ``visit`` in line for a ``kind`` charging slot.

    Refused when they already hold a charging slot, or when a slot is free
    (they should simply take it). Joining twice returns the same place.
    """
    if kind not in slots.CHARGE_KINDS:
        raise Refused("unknown_kind")
    riders.lock(session, visit.rider_id)
    key = slots.holder_key(visit.rider_id, kind)
    holding = session.scalar(select(Use).where(Use.live_holder == key))
    if holding is not None:
        raise Refused("already_charging", use_id=holding.id)
    existing = session.scalar(select(Waiting).where(Waiting.live_holder == key))
    if existing is not None:
        return existing
    if slots.first_free(session, station_id, kind, lock=False) is not None:
        raise Refused("slot_free", kind=kind)
    day = clock.today(tz, now).isoformat()
    last = (
        session.scalar(select(func.max(Waiting.number)).where(Waiting.station_id == station_id, Waiting.day == day))
        or 0
    )
    entry = Waiting(
        station_id=station_id,
        rider_id=visit.rider_id,
        visit_id=visit.id,
        kind=kind,
        day=day,
        number=last + 1,
        state="waiting",
        created_at=now,
        live_holder=key,
    )
    session.add(entry)
    session.flush()
    return entry


def _close(entry: Waiting, state: str, now) -> None:
    entry.state = state
    entry.closed_at = now
    entry.live_holder = None


def leave_line(session, rider_id: int, now) -> bool:
    """Take the rider out of line (they took a slot another way); True if they were in it."""
    entry = session.scalar(
        select(Waiting).where(Waiting.live_holder == slots.charge_key(rider_id), Waiting.state == "waiting")
    )
    if entry is None:
        return False
    _close(entry, "cancelled", now)
    session.flush()
    return True


def settle(session, station_id: int, kind: str, now, settings, tz) -> int:
    """Hold each free ``kind`` slot for the next rider in line; returns how many were offered."""
    offered = 0
    while True:
        entry = session.scalar(
            select(Waiting)
            .where(Waiting.station_id == station_id, Waiting.kind == kind, Waiting.state == "waiting")
            .order_by(Waiting.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if entry is None:
            return offered
        if session.scalar(select(Use.id).where(Use.live_holder == slots.charge_key(entry.rider_id))):
            # Holding a charging slot already (one per rider): this place in line is spent.
            _close(entry, "cancelled", now)
            session.flush()
            continue
        slot = slots.first_free(session, station_id, kind)
        if slot is None:
            return offered
        until = now + timedelta(minutes=settings.hold_minutes)
        use = Use(
            station_id=station_id,
            visit_id=entry.visit_id,
            rider_id=entry.rider_id,
            slot_id=slot.id,
            kind=kind,
            state="held",
            held_until=until,
            end_reason="",
            live_slot_id=slot.id,
            live_holder=slots.holder_key(entry.rider_id, kind),
        )
        session.add(use)
        session.flush()
        entry.state, entry.offered_at, entry.offered_use_id = "offered", now, use.id
        sync.record_visit_id(session, use.visit_id)
        push.slot_ready(session, station_id, label(entry.number), kind, slot.number, clock.hhmm(tz, until))
        offered += 1


def take_held(session, rider_id: int, now, settings) -> tuple[Use, Slot]:
    """The rider takes the slot held for them: the charging time starts now."""
    use = session.scalar(
        select(Use).where(Use.live_holder == slots.charge_key(rider_id), Use.state == "held").with_for_update()
    )
    if use is None:
        raise Refused("no_offer")
    use.state, use.started_at, use.held_until = "active", now, None
    use.due_at = now + timedelta(minutes=settings.limit_minutes(use.kind))
    entry = session.scalar(select(Waiting).where(Waiting.offered_use_id == use.id))
    if entry is not None:
        _close(entry, "served", now)
    session.flush()
    sync.record_visit_id(session, use.visit_id)
    return use, session.get(Slot, use.slot_id)


def expire_holds(session, station_id: int, now, settings, tz) -> tuple[int, int]:
    """End holds nobody came for and offer those slots to the next in line.

    Returns (holds ended, slots offered to the next rider).
    """
    held = session.scalars(
        select(Use).where(Use.station_id == station_id, Use.state == "held", Use.held_until <= now).with_for_update()
    ).all()
    kinds = set()
    for use in held:
        use.state, use.ended_at, use.end_reason = "expired", now, "hold_expired"
        use.live_slot_id = use.live_holder = None
        entry = session.scalar(select(Waiting).where(Waiting.offered_use_id == use.id))
        if entry is not None:
            _close(entry, "expired", now)
        kinds.add(use.kind)
    session.flush()
    for visit_id in sorted({use.visit_id for use in held}):
        sync.record_visit_id(session, visit_id)
    offered = sum(settle(session, station_id, kind, now, settings, tz) for kind in sorted(kinds))
    return len(held), offered


def cancel_for_visit(session, visit, now) -> list[str]:
    """Take the rider of ``visit`` out of line and end any hold; returns the kinds freed."""
    freed = []
    for entry in session.scalars(
        select(Waiting).where(Waiting.visit_id == visit.id, Waiting.state.in_(OPEN_STATES))
    ).all():
        _close(entry, "cancelled", now)
    for use in session.scalars(select(Use).where(Use.visit_id == visit.id, Use.state == "held")).all():
        use.state, use.ended_at, use.end_reason = "expired", now, "left"
        use.live_slot_id = use.live_holder = None
        freed.append(use.kind)
    session.flush()
    return freed
