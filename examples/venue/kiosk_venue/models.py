"""The plugin's tables: bookable time slots of a room, and residents' bookings of them.

The migration is migrations/venue_0001_initial.py; change both together.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base, UTCDateTime, utcnow

#: A booking holds a place until it is cancelled.
ACTIVE = "booked"
CANCELLED = "cancelled"


class VenueSlot(Base):
    """A room open for booking from ``starts_at`` to ``ends_at``, for ``capacity`` bookings."""

    __tablename__ = "venue_slot"
    __table_args__ = (Index("ix_venue_slot_station_starts", "station_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    room: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VenueBooking(Base):
    """One resident's booking of a slot, known by its six-digit code."""

    __tablename__ = "venue_booking"
    # The code is what a resident quotes or scans, so it must name one booking per station.
    __table_args__ = (
        UniqueConstraint("station_id", "code", name="uq_venue_booking_station_code"),
        Index("ix_venue_booking_slot_status", "slot_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    slot_id: Mapped[int] = mapped_column(ForeignKey("venue_slot.id"))
    code: Mapped[str] = mapped_column(String(8))
    # Optional, for the staff to call if the room becomes unavailable; shown masked on the kiosk.
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
