"""What one rider has right now: their visit, places, a slot held for them, their place in line.

The kiosk menu and the rider's phone page show the same thing from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from kiosk import clock
from kiosk_plugins.courier_rest import capacity, visits, waiting
from kiosk_plugins.courier_rest.models import Slot
from kiosk_plugins.courier_rest.sync import parse_time


@dataclass
class Holding:
    """A place the rider holds, ready for a template."""

    use_id: int
    kind: str
    number: int
    state: str
    since: str
    until: str
    overdue: bool


@dataclass
class RiderStatus:
    """Everything the rider's screens show about them (no name, no phone)."""

    checked_in: bool = False
    since: str = ""
    visit_id: int | None = None
    seat: Holding | None = None
    charge: Holding | None = None
    offer: Holding | None = None
    waiting_no: str = ""
    waiting_kind: str = ""
    ahead: int = 0
    holdings: list = field(default_factory=list)


def rider_status(session, rider_id: int, now, tz) -> RiderStatus:
    """Collect the rider's current state (read only)."""
    out = RiderStatus()
    visit = visits.open_visit(session, rider_id)
    if visit is None:
        return out
    out.checked_in, out.since, out.visit_id = True, clock.hhmm(tz, visit.checked_in_at), visit.id
    for use in capacity.live_uses(session, visit.id):
        number = session.scalar(select(Slot.number).where(Slot.id == use.slot_id))
        if use.state == "held":
            holding = Holding(use.id, use.kind, number, use.state, "", clock.hhmm(tz, use.held_until), False)
            out.offer = holding
            continue
        holding = Holding(
            use.id,
            use.kind,
            number,
            use.state,
            clock.hhmm(tz, use.started_at),
            clock.hhmm(tz, use.due_at),
            bool(use.due_at and use.due_at < now),
        )
        out.holdings.append(holding)
        if use.kind == "seat":
            out.seat = holding
        else:
            out.charge = holding
    entry = waiting.entry_of(session, rider_id)
    if entry is not None and entry.state == "waiting":
        out.waiting_no, out.waiting_kind = waiting.label(entry.number), entry.kind
        out.ahead = waiting.ahead_of(session, entry)
    return out


def hub_status(session, rider_id: int, station_id: int | None, now, tz) -> RiderStatus:
    """At the hub: the rider's state as the stations last reported it (their synced visits).

    The hub drives no slots: a visit still open in the last entry a station
    sent is the rider's visit, with the places it listed as taken or held for
    them. ``station_id`` (the station the page was opened for) comes first.
    """
    from kiosk_plugins.courier_rest.models import Visit

    out = RiderStatus()
    query = select(Visit).where(Visit.rider_id == rider_id, Visit.checked_out_at.is_(None))
    open_visits = list(session.scalars(query.order_by(Visit.checked_in_at.desc())))
    if not open_visits:
        return out
    visit = next((v for v in open_visits if v.station_id == station_id), open_visits[0])
    out.checked_in, out.since, out.visit_id = True, clock.hhmm(tz, visit.checked_in_at), visit.id
    for use in visit.uses or []:
        kind, number, state = use.get("kind"), use.get("slot"), use.get("state")
        if not isinstance(kind, str) or not isinstance(number, int):
            continue
        due = parse_time(use.get("due_at"))
        if state == "held":
            out.offer = Holding(0, kind, number, state, "", clock.hhmm(tz, due) if due else "", False)
        elif state == "active":
            started = parse_time(use.get("started_at"))
            holding = Holding(
                0,
                kind,
                number,
                state,
                clock.hhmm(tz, started) if started else "",
                clock.hhmm(tz, due) if due else "",
                bool(due and due < now),
            )
            out.holdings.append(holding)
            if kind == "seat":
                out.seat = holding
            else:
                out.charge = holding
    return out
