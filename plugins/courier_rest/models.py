"""The courier station's tables. Every one starts with ``courier_rest_`` and has a station.

Every rider and visit also has a ``uid``, random and unique across the
district: the district hub and the other stations know a record by it, since
row ids differ from one database to the next (see :mod:`.sync`).

Races between kiosks are settled by unique columns that hold a value only
while something is live: ``Visit.open_rider_id`` (one open check-in per
rider), ``Use.live_slot_id`` (one holder per slot), ``Use.live_holder`` (one
seat and one charging slot per rider) and ``Waiting.live_holder`` (one place
in line per rider). Closing the record sets them back to NULL, which unique
constraints ignore on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base, UTCDateTime, utcnow


def new_uid() -> str:
    """A random id, unique across the district's databases (96 bits)."""
    return secrets.token_urlsafe(12)


class Rider(Base):
    """A courier, rider, driver or sanitation worker, registered at any station of the district.

    A station keeps every rider of the district's registry under its own
    station id (so a rider registered elsewhere checks in here offline); the hub
    keeps the registry under the district's station, one row per phone.
    """

    __tablename__ = "courier_rest_rider"
    __table_args__ = (
        UniqueConstraint("station_id", "phone", name="uq_courier_rest_rider_station_phone"),
        UniqueConstraint("station_id", "card_uid", name="uq_courier_rest_rider_station_card"),
        Index("uq_courier_rest_rider_station_uid", "station_id", "uid", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    # The rider's id across the district (the first registration's, after a merge).
    uid: Mapped[str] = mapped_column(String(32), default=new_uid)
    # The code of the station where the rider registered.
    home_station: Mapped[str] = mapped_column(String(40), default="")
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(20))
    platform: Mapped[str] = mapped_column(String(20))
    vehicle: Mapped[str] = mapped_column(String(20))
    card_uid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The secret in the rider's own QR code (printed, and on their phone).
    pass_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RiderAlias(Base):
    """A rider id merged into another: the same phone registered at two stations while offline.

    The hub keeps the first registration that reached it and makes the other
    an alias; the alias's pass code and card keep working everywhere.
    """

    __tablename__ = "courier_rest_rider_alias"
    __table_args__ = (
        Index("uq_courier_rest_rider_alias_station_uid", "station_id", "uid", unique=True),
        Index("ix_courier_rest_rider_alias_token", "pass_token"),
        Index("ix_courier_rest_rider_alias_card", "station_id", "card_uid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    uid: Mapped[str] = mapped_column(String(32))
    rider_id: Mapped[int] = mapped_column(ForeignKey("courier_rest_rider.id"))
    pass_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    card_uid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Visit(Base):
    """One stay at the station, from check-in to check-out (or the automatic close)."""

    __tablename__ = "courier_rest_visit"
    __table_args__ = (
        Index("ix_courier_rest_visit_station_in", "station_id", "checked_in_at"),
        Index("uq_courier_rest_visit_station_uid", "station_id", "uid", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    uid: Mapped[str] = mapped_column(String(32), default=new_uid)
    rider_id: Mapped[int] = mapped_column(ForeignKey("courier_rest_rider.id"))
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    method_in: Mapped[str] = mapped_column(String(10))
    method_out: Mapped[str] = mapped_column(String(10), default="")
    auto_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The rider's id while the visit is open, NULL after: one open visit per rider.
    # Always NULL at the hub, which only keeps the stations' visits for the record.
    open_rider_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    # At the hub only: the places the visit used, as the station sent them (stations have Use rows).
    uses: Mapped[list | None] = mapped_column(JSON, nullable=True)


class Slot(Base):
    """A numbered place: a seat, a phone-charging slot or an e-bike battery slot."""

    __tablename__ = "courier_rest_slot"
    __table_args__ = (
        UniqueConstraint("station_id", "kind", "number", name="uq_courier_rest_slot_station_kind_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    kind: Mapped[str] = mapped_column(String(10))
    number: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Use(Base):
    """A slot held by a rider: ``held`` for them off the waiting list, ``active``, then closed."""

    __tablename__ = "courier_rest_use"
    __table_args__ = (Index("ix_courier_rest_use_station_started", "station_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    visit_id: Mapped[int] = mapped_column(ForeignKey("courier_rest_visit.id"))
    rider_id: Mapped[int] = mapped_column(ForeignKey("courier_rest_rider.id"))
    slot_id: Mapped[int] = mapped_column(ForeignKey("courier_rest_slot.id"))
    kind: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10))  # held | active | ended | expired
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str] = mapped_column(String(20), default="")
    overstay_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    live_slot_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    live_holder: Mapped[str | None] = mapped_column(String(40), nullable=True, unique=True)


class Waiting(Base):
    """A rider's place in line for a charging slot, numbered per station and day (W01…)."""

    __tablename__ = "courier_rest_waiting"
    __table_args__ = (
        UniqueConstraint("station_id", "day", "number", name="uq_courier_rest_waiting_station_day_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    rider_id: Mapped[int] = mapped_column(ForeignKey("courier_rest_rider.id"))
    visit_id: Mapped[int] = mapped_column(ForeignKey("courier_rest_visit.id"))
    kind: Mapped[str] = mapped_column(String(10))
    day: Mapped[str] = mapped_column(String(10))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10))  # waiting | offered | served | cancelled | expired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    offered_use_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    live_holder: Mapped[str | None] = mapped_column(String(40), nullable=True, unique=True)


class Service(Base):
    """A basic service of the station (饮水, 微波炉, 卫生间 …), edited by staff."""

    __tablename__ = "courier_rest_service"
    __table_args__ = (UniqueConstraint("station_id", "key", name="uq_courier_rest_service_station_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    key: Mapped[str] = mapped_column(String(40))
    icon: Mapped[str] = mapped_column(String(40))
    name_zh_hans: Mapped[str] = mapped_column(String(40))
    name_zh_hant: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(60))
    note_zh_hans: Mapped[str] = mapped_column(String(200), default="")
    note_zh_hant: Mapped[str] = mapped_column(String(200), default="")
    note_en: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ServiceUse(Base):
    """A rider tapped a basic service: counted in the station's use figures."""

    __tablename__ = "courier_rest_service_use"
    __table_args__ = (Index("ix_courier_rest_service_use_station_at", "station_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    rider_id: Mapped[int | None] = mapped_column(ForeignKey("courier_rest_rider.id"), nullable=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("courier_rest_visit.id"), nullable=True)
    service_key: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ServiceRequest(Base):
    """A request for an advanced service (法律援助, 心理疏导, 技能培训) that reaches staff."""

    __tablename__ = "courier_rest_request"
    __table_args__ = (Index("ix_courier_rest_request_station_state", "station_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    rider_id: Mapped[int] = mapped_column(ForeignKey("courier_rest_rider.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("courier_rest_visit.id"), nullable=True)
    service: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(10), default="open")  # open | ticket | done
    ticket: Mapped[str] = mapped_column(String(20), default="")
    ticket_url: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    handled_by: Mapped[int | None] = mapped_column(ForeignKey("kiosk_user.id"), nullable=True)


class Hazard(Base):
    """A 小蜜蜂巡查 hazard report: sent on as a petition, or kept for staff."""

    __tablename__ = "courier_rest_hazard"
    __table_args__ = (Index("ix_courier_rest_hazard_station_created", "station_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    rider_id: Mapped[int | None] = mapped_column(ForeignKey("courier_rest_rider.id"), nullable=True)
    category: Mapped[str] = mapped_column(String(30))
    note: Mapped[str] = mapped_column(String(200))
    # File names under the instance's uploads/courier_rest/ folder.
    photos: Mapped[list] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(10), default="draft")  # draft | sent | kept | handled
    upload_token: Mapped[str] = mapped_column(String(64), unique=True)
    tracking_no: Mapped[str] = mapped_column(String(40), default="")
    status_url: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
