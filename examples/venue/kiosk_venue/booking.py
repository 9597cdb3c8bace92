"""Bookings: a resident takes a place in a slot and gets a six-digit code.

Two kiosks (or a kiosk and a phone) may try for the last place at the same
moment, so booking runs in ``kiosk.db.write_transaction``: on SQLite it holds
the write lock from the start; on PostgreSQL the slot's row is locked with
``with_for_update()`` before the places are counted. The unique constraint on
(station, code) backs the code's uniqueness.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select

from kiosk import audit, clock, events
from kiosk.db import get_session, write_transaction
from kiosk.i18n import _
from kiosk_venue.models import ACTIVE, CANCELLED, VenueBooking, VenueSlot
from kiosk_venue.slots import booked_counts, starts_in_future


class BookingError(Exception):
    """A booking cannot be made or changed; ``message`` is already translated."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.message = message
        self.status = status


def _new_code(session, station_id: int) -> str:
    for _attempt in range(20):
        code = f"{secrets.randbelow(900000) + 100000}"
        taken = session.scalar(
            select(VenueBooking.id).where(VenueBooking.station_id == station_id, VenueBooking.code == code)
        )
        if taken is None:
            return code
    raise RuntimeError("no free booking code found")


def book(station, slot_id: int, phone: str | None = None) -> tuple[VenueBooking, VenueSlot]:
    """Take one place in a slot; raises :class:`BookingError` when it has begun or is full."""
    with write_transaction() as session:
        slot = session.scalar(
            select(VenueSlot).where(VenueSlot.id == slot_id, VenueSlot.station_id == station.id).with_for_update()
        )
        if slot is None or not starts_in_future(slot):
            raise BookingError(_("This time is no longer available. Please choose another time."))
        if booked_counts(session, [slot.id]).get(slot.id, 0) >= slot.capacity:
            raise BookingError(_("This time has just been fully booked. Please choose another time."))
        booking = VenueBooking(
            station_id=station.id, slot_id=slot.id, code=_new_code(session, station.id), phone=phone, status=ACTIVE
        )
        session.add(booking)
        session.flush()
        audit.record(
            "venue.booked", {"slot": slot.id, "room": slot.room}, station_id=station.id, session=session, commit=False
        )
        # Stored with the booking and pushed when it commits; no personal data in it.
        events.emit("venue.booked", {"slot": slot.id, "room": slot.room}, station_id=station.id, session=session)
        return booking, slot


def find(session, station, code: str) -> tuple[VenueBooking, VenueSlot] | None:
    """The booking with ``code`` at this station and its slot, or None."""
    row = session.execute(
        select(VenueBooking, VenueSlot)
        .join(VenueSlot, VenueSlot.id == VenueBooking.slot_id)
        .where(VenueBooking.station_id == station.id, VenueBooking.code == code)
    ).first()
    return tuple(row) if row else None


def by_id(session, station, booking_id: int) -> tuple[VenueBooking, VenueSlot] | None:
    """The booking with this id at this station and its slot, or None."""
    row = session.execute(
        select(VenueBooking, VenueSlot)
        .join(VenueSlot, VenueSlot.id == VenueBooking.slot_id)
        .where(VenueBooking.station_id == station.id, VenueBooking.id == booking_id)
    ).first()
    return tuple(row) if row else None


def cancel(station, *, code: str | None = None, booking_id: int | None = None) -> VenueBooking:
    """Give a booking's place back (a resident by code, staff by id)."""
    with write_transaction() as session:
        query = select(VenueBooking).where(VenueBooking.station_id == station.id)
        query = (
            query.where(VenueBooking.code == code) if code is not None else query.where(VenueBooking.id == booking_id)
        )
        booking = session.scalar(query.with_for_update())
        if booking is None:
            raise BookingError(_("We could not find this booking code. Please check it or ask the staff."), 404)
        if booking.status == CANCELLED:
            raise BookingError(_("This booking was already cancelled."))
        slot = session.get(VenueSlot, booking.slot_id)
        if not starts_in_future(slot):
            raise BookingError(_("This booking's time has begun; it can no longer be cancelled here."))
        booking.status, booking.cancelled_at = CANCELLED, clock.now()
        audit.record(
            "venue.cancelled",
            {"slot": slot.id, "by": "staff" if booking_id else "resident"},
            station_id=station.id,
            session=session,
            commit=False,
        )
        return booking


def todays(station, session=None) -> list[tuple[VenueBooking, VenueSlot]]:
    """Today's active bookings at the station, by start time."""
    session = session or get_session()
    start, end = clock.day_bounds(station, clock.today(station))
    return [
        tuple(r)
        for r in session.execute(
            select(VenueBooking, VenueSlot)
            .join(VenueSlot, VenueSlot.id == VenueBooking.slot_id)
            .where(
                VenueBooking.station_id == station.id,
                VenueBooking.status == ACTIVE,
                VenueSlot.starts_at >= start,
                VenueSlot.starts_at < end,
            )
            .order_by(VenueSlot.starts_at, VenueBooking.id)
        )
    ]
