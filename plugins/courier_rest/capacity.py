"""Taking and giving back seats and charging slots.

Rules: a rider holds at most one seat and one charging slot (phone or battery)
at a time; a slot is never given to two riders. Freed charging slots go to the
waiting list first (:mod:`.waiting`).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from kiosk_plugins.courier_rest import riders, slots, sync, waiting
from kiosk_plugins.courier_rest.models import Slot, Use
from kiosk_plugins.courier_rest.writes import Refused


def live_uses(session, visit_id: int) -> list[Use]:
    """The places a visit holds now (active or held for the rider)."""
    return list(
        session.scalars(select(Use).where(Use.visit_id == visit_id, Use.live_slot_id.is_not(None)).order_by(Use.id))
    )


def take(session, station_id: int, visit, kind: str, now, settings) -> tuple[Use, Slot]:
    """Give the rider of ``visit`` the lowest free place of ``kind``.

    Raises :class:`Refused` with ``already_seat`` / ``already_charging`` when
    they hold one, ``take_held`` when a slot is waiting for them, ``full``
    when none is free.
    """
    if kind not in slots.SLOT_KINDS:
        raise Refused("unknown_kind")
    # One rider's requests from two kiosks run one after the other.
    riders.lock(session, visit.rider_id)
    key = slots.holder_key(visit.rider_id, kind)
    current = session.scalar(select(Use).where(Use.live_holder == key))
    if current is not None:
        if current.state == "held":
            raise Refused("take_held", use_id=current.id)
        raise Refused("already_seat" if kind == "seat" else "already_charging", use_id=current.id)
    slot = slots.first_free(session, station_id, kind) or slots.first_free(session, station_id, kind, wait=True)
    if slot is None:
        raise Refused("full", kind=kind)
    if kind in slots.CHARGE_KINDS:
        # A slot of the other kind was free: the rider has what they queued for.
        waiting.leave_line(session, visit.rider_id, now)
    limit = settings.limit_minutes(kind)
    use = Use(
        station_id=station_id,
        visit_id=visit.id,
        rider_id=visit.rider_id,
        slot_id=slot.id,
        kind=kind,
        state="active",
        started_at=now,
        due_at=now + timedelta(minutes=limit) if limit else None,
        end_reason="",
        live_slot_id=slot.id,
        live_holder=key,
    )
    session.add(use)
    # Flush now: a lost race fails here, inside the retry, not at commit.
    session.flush()
    sync.record_visit(session, visit)
    return use, slot


def release(session, use: Use, now, reason: str, settings, tz) -> None:
    """Give a place back; a charging slot then goes to the next rider in line."""
    if use.live_slot_id is None:
        return
    use.state = "ended" if use.state == "active" else "expired"
    use.ended_at, use.end_reason = now, reason
    use.live_slot_id = use.live_holder = None
    session.flush()
    sync.record_visit_id(session, use.visit_id)
    if use.kind in slots.CHARGE_KINDS:
        waiting.settle(session, use.station_id, use.kind, now, settings, tz)


def overdue(session, station_id: int, now) -> list[Use]:
    """Charging slots used past their time limit, oldest first."""
    return list(
        session.scalars(
            select(Use)
            .where(Use.station_id == station_id, Use.state == "active", Use.due_at.is_not(None), Use.due_at < now)
            .order_by(Use.due_at)
        )
    )
