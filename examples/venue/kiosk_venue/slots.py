"""Time slots: staff put a room up for booking; residents see what is still free."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import delete, func, select

from kiosk import audit, clock
from kiosk.i18n import _
from kiosk_venue.models import ACTIVE, VenueBooking, VenueSlot

MAX_CAPACITY = 200


class SlotError(Exception):
    """A slot cannot be added or removed; ``message`` is already translated."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class SlotView:
    """A slot with the number of places already booked."""

    slot: VenueSlot
    booked: int

    @property
    def free(self) -> int:
        """Places still bookable."""
        return max(self.slot.capacity - self.booked, 0)


def booked_counts(session, slot_ids: list[int]) -> dict[int, int]:
    """Slot id → active bookings, for the given slots."""
    if not slot_ids:
        return {}
    return dict(
        session.execute(
            select(VenueBooking.slot_id, func.count())
            .where(VenueBooking.slot_id.in_(slot_ids), VenueBooking.status == ACTIVE)
            .group_by(VenueBooking.slot_id)
        ).all()
    )


def _views(session, query) -> list[SlotView]:
    rows = list(session.scalars(query.order_by(VenueSlot.starts_at, VenueSlot.room, VenueSlot.id)))
    counts = booked_counts(session, [s.id for s in rows])
    return [SlotView(s, counts.get(s.id, 0)) for s in rows]


def between(session, station, first: date, days: int, room: str | None = None) -> list[SlotView]:
    """Slots starting on ``first`` or in the ``days - 1`` days after it, earliest first."""
    start = clock.day_bounds(station, first)[0]
    end = clock.day_bounds(station, first + timedelta(days=days - 1))[1]
    query = select(VenueSlot).where(
        VenueSlot.station_id == station.id, VenueSlot.starts_at >= start, VenueSlot.starts_at < end
    )
    if room is not None:
        query = query.where(VenueSlot.room == room)
    return _views(session, query)


def bookable(session, station, days: int, room: str | None = None) -> list[SlotView]:
    """Slots a resident may still book: not started yet, within ``days`` days, with a free place."""
    now = clock.now()
    return [
        v for v in between(session, station, clock.today(station), days, room) if v.slot.starts_at > now and v.free > 0
    ]


def one(session, station, slot_id: int) -> SlotView | None:
    """One slot of this station with its bookings counted, or None."""
    views = _views(session, select(VenueSlot).where(VenueSlot.id == slot_id, VenueSlot.station_id == station.id))
    return views[0] if views else None


def add_slot(session, station, *, room: str, day: date, start: time, end: time, capacity: int) -> VenueSlot:
    """Put ``room`` up for booking on ``day`` from ``start`` to ``end``; refuses overlaps and the past."""
    starts_at, ends_at = clock.at_local(station, day, start), clock.at_local(station, day, end)
    if ends_at <= starts_at:
        raise SlotError(_("The end time must be after the start time."))
    if starts_at <= clock.now():
        raise SlotError(_("This time has already begun. Choose a later time."))
    if not 1 <= capacity <= MAX_CAPACITY:
        raise SlotError(_("The number of bookings must be from 1 to %(max)s.", max=MAX_CAPACITY))
    clash = session.scalar(
        select(VenueSlot.id).where(
            VenueSlot.station_id == station.id,
            VenueSlot.room == room,
            VenueSlot.starts_at < ends_at,
            VenueSlot.ends_at > starts_at,
        )
    )
    if clash is not None:
        raise SlotError(_("This room already has a slot at that time."))
    slot = VenueSlot(station_id=station.id, room=room, starts_at=starts_at, ends_at=ends_at, capacity=capacity)
    session.add(slot)
    session.flush()
    audit.record(
        "venue.slot_added",
        {"slot": slot.id, "room": room, "starts_at": starts_at.isoformat()},
        station_id=station.id,
        session=session,
        commit=False,
    )
    session.commit()
    return slot


def delete_slot(session, station, slot_id: int) -> None:
    """Remove a slot nobody holds a booking for; otherwise refuse, so no resident is dropped unawares."""
    slot = session.scalar(select(VenueSlot).where(VenueSlot.id == slot_id, VenueSlot.station_id == station.id))
    if slot is None:
        raise SlotError(_("That slot was not found."))
    if booked_counts(session, [slot.id]).get(slot.id):
        raise SlotError(_("Residents have booked this slot. Cancel their bookings first."))
    # Only cancelled bookings are left; they go with the slot.
    session.execute(delete(VenueBooking).where(VenueBooking.slot_id == slot.id))
    session.delete(slot)
    audit.record("venue.slot_deleted", {"slot": slot_id}, station_id=station.id, session=session, commit=False)
    session.commit()


def starts_in_future(slot: VenueSlot, now: datetime | None = None) -> bool:
    """Whether the slot has not begun yet (only those can be booked)."""
    return slot.starts_at > (now or clock.now())
