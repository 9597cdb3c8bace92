"""Check-in and check-out, and closing the visits riders forgot to close.

A rider has at most one open visit (``Visit.open_rider_id`` is unique):
identifying again while checked in finds the open visit instead of opening a
second one, even when two kiosks act at the same moment.
"""

from __future__ import annotations

from sqlalchemy import select

from kiosk_plugins.courier_rest import capacity, riders, slots, sync, waiting
from kiosk_plugins.courier_rest.models import Visit

METHODS = ("card", "qr", "phone", "staff", "auto")


def open_visit(session, rider_id: int) -> Visit | None:
    """The rider's open visit, if they are checked in."""
    return session.scalar(select(Visit).where(Visit.open_rider_id == rider_id))


def check_in(session, station_id: int, rider, method: str, now) -> tuple[Visit, bool]:
    """Open a visit for ``rider`` unless one is open; returns (visit, newly opened)."""
    riders.lock(session, rider.id)
    current = open_visit(session, rider.id)
    if current is not None:
        return current, False
    visit = Visit(
        station_id=station_id,
        rider_id=rider.id,
        checked_in_at=now,
        method_in=method,
        method_out="",
        auto_closed=False,
        open_rider_id=rider.id,
    )
    session.add(visit)
    session.flush()
    sync.record_visit(session, visit)
    return visit, True


def check_out(session, visit: Visit, method: str, now, settings, tz, *, auto: bool = False) -> list:
    """Close ``visit``: give back every place, leave the waiting list; returns what was released.

    ``auto`` marks a visit closed by the nightly job rather than by the rider.
    """
    released = []
    freed_kinds = set(waiting.cancel_for_visit(session, visit, now))
    for use in capacity.live_uses(session, visit.id):
        released.append({"kind": use.kind, "slot_id": use.slot_id, "overdue": bool(use.due_at and use.due_at < now)})
        use.state = "ended" if use.state == "active" else "expired"
        use.ended_at, use.end_reason = now, "auto_closed" if auto else "checkout"
        use.live_slot_id = use.live_holder = None
        freed_kinds.add(use.kind)
    visit.checked_out_at, visit.method_out, visit.auto_closed = now, method, auto
    visit.open_rider_id = None
    session.flush()
    sync.record_visit(session, visit)
    for kind in sorted(freed_kinds & set(slots.CHARGE_KINDS)):
        waiting.settle(session, visit.station_id, kind, now, settings, tz)
    return released


def auto_close(session, station_id: int, boundary, settings, tz) -> int:
    """Close every visit opened before ``boundary`` and still open; returns how many.

    The visit is recorded as closed at ``boundary`` (the configured hour), not
    at the moment the job happened to run.
    """
    stale = session.scalars(
        select(Visit)
        .where(Visit.station_id == station_id, Visit.open_rider_id.is_not(None), Visit.checked_in_at < boundary)
        .with_for_update()
    ).all()
    for visit in stale:
        check_out(session, visit, "auto", boundary, settings, tz, auto=True)
    return len(stale)
