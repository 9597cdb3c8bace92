"""The petition tables. Every row carries ``station_id``; every query filters on it.

The migration ``migrations/petitions_0001_initial.py`` creates exactly these
tables (a suite-wide test compares them with Alembic's autogenerate).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base, UTCDateTime, utcnow


class Petition(Base):
    """One resident's request: what, where, who (optional), and where it stands."""

    __tablename__ = "petitions_request"
    __table_args__ = (
        UniqueConstraint("station_id", "tracking_no", name="uq_petitions_request_tracking"),
        Index("ix_petitions_request_station_status", "station_id", "status"),
        Index("ix_petitions_request_station_created", "station_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    # Sent to the dispatch system: unique across every station of the district,
    # so the receiver can drop a duplicate delivery.
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    # The secret part of the status page URL; tracking numbers are guessable.
    token: Mapped[str] = mapped_column(String(43), unique=True)
    tracking_no: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(50))
    place_key: Mapped[str] = mapped_column(String(64), default="")
    place: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(32))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    contact_email: Mapped[str] = mapped_column(String(200), default="")
    contact_erased_at: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    media_url: Mapped[str] = mapped_column(String(500), default="")
    department: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(20), default="received")
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[object] = mapped_column(UTCDateTime)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)
    # When the other side of the district sync last brought this copy up to date: at a
    # station, the hub's last status; at the hub, the station's last entry. Empty: never.
    synced_at: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def has_contact(self) -> bool:
        return bool(self.contact_name or self.contact_phone or self.contact_email)


class PetitionStep(Base):
    """One line of a request's history; every note here is shown to the resident."""

    __tablename__ = "petitions_step"
    __table_args__ = (Index("ix_petitions_step_request", "request_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    request_id: Mapped[int] = mapped_column(ForeignKey("petitions_request.id"))
    at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    department: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("kiosk_user.id"), nullable=True)


class PetitionPhoto(Base):
    """A photo attached from a phone, stored re-encoded without EXIF."""

    __tablename__ = "petitions_photo"
    __table_args__ = (Index("ix_petitions_photo_request", "request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    request_id: Mapped[int] = mapped_column(ForeignKey("petitions_request.id"))
    token: Mapped[str] = mapped_column(String(43), unique=True)
    filename: Mapped[str] = mapped_column(String(200))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)


class PetitionRating(Base):
    """The resident's verdict on a resolved request (满意 / 基本满意 / 不满意)."""

    __tablename__ = "petitions_rating"
    __table_args__ = (Index("ix_petitions_rating_request", "request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    request_id: Mapped[int] = mapped_column(ForeignKey("petitions_request.id"))
    score: Mapped[str] = mapped_column(String(24))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(Base):
    """A message for the dispatch system, written in the same transaction as the change.

    ``body`` is the exact JSON sent (and signed); retries send the same bytes.
    """

    __tablename__ = "petitions_outbox"
    __table_args__ = (Index("ix_petitions_outbox_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    request_id: Mapped[int] = mapped_column(ForeignKey("petitions_request.id"))
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    event: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[object | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)


class RateHit(Base):
    """One intake attempt by a device or address, kept in the database so every worker counts it."""

    __tablename__ = "petitions_rate_hit"
    __table_args__ = (Index("ix_petitions_rate_hit_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)


class TrackingCounter(Base):
    """The last tracking number handed out per station and local day, before the core's counter.

    No longer written (:mod:`kiosk.numbering` numbers requests now); read once
    per day by :mod:`kiosk_plugins.petitions.numbering`. A later migration may drop it.
    """

    __tablename__ = "petitions_counter"

    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class PetitionPlace(Base):
    """A place on the station's list (community, housing estate, building, road)."""

    __tablename__ = "petitions_place"
    __table_args__ = (UniqueConstraint("station_id", "key", name="uq_petitions_place_station_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    key: Mapped[str] = mapped_column(String(64))
    name_zh_hans: Mapped[str] = mapped_column(String(100))
    name_zh_hant: Mapped[str] = mapped_column(String(100), default="")
    name_en: Mapped[str] = mapped_column(String(100), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
