"""The parking tables: partner lots and their windows, the household whitelist, vouchers.

A *window* is a recurring time range in which residents may park at a lot
(nights 19:00–08:00 every day, weekend days 08:00–19:00); one concrete night
of a window is an *occurrence*, keyed by the window and the local date it
starts on. ``parking_slot`` holds one row per occurrence that has vouchers:
issuing locks that row, so two kiosks never sell the same last space.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base, UTCDateTime, utcnow

#: Voucher states. ``issued`` vouchers past their ``expires_at`` count as expired
#: even before the clean-up job has marked them.
ISSUED, USED, CANCELLED, EXPIRED = "issued", "used", "cancelled", "expired"
STATUSES = (ISSUED, USED, CANCELLED, EXPIRED)

#: Ids are 32-bit integers on PostgreSQL: a larger number from a URL or form must
#: be refused before it reaches a query (where it would be a database error).
MAX_ID = 2**31 - 1
#: The URL converter for row ids, e.g. ``f"/voucher/<{ID_CONVERTER}:voucher_id>"``.
ID_CONVERTER = f"int(max={MAX_ID})"


class Lot(Base):
    """A partner car park that shares spaces with the community (共享停车协议)."""

    __tablename__ = "parking_lot"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200))
    spaces: Mapped[int] = mapped_column(Integer)
    #: Price per use in fen (1 yuan = 100 fen), so sums never round.
    price_cents: Mapped[int] = mapped_column(Integer)
    #: Vouchers one household may hold per calendar month at this lot; 0 = no limit.
    quota_per_month: Mapped[int] = mapped_column(Integer)
    #: How many days ahead a night can be booked (0 = today only).
    reserve_days: Mapped[int] = mapped_column(Integer)
    #: Minutes after the window opens (or after issue, if later) by which the car
    #: must arrive; later the voucher expires and its space goes back. 0 = until the end.
    hold_minutes: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Window(Base):
    """When residents may park at a lot: a daily time range on some weekdays.

    ``weekdays`` lists the days the window *starts* on (``"0123456"``, Monday = 0);
    an end at or before the start means the next morning.
    """

    __tablename__ = "parking_window"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("parking_lot.id"), index=True)
    label: Mapped[str] = mapped_column(String(50))
    start_time: Mapped[str] = mapped_column(String(5))
    end_time: Mapped[str] = mapped_column(String(5))
    weekdays: Mapped[str] = mapped_column(String(7))
    active: Mapped[bool] = mapped_column(Boolean)


class Household(Base):
    """A registered household on the whitelist kept by staff (imported from CSV)."""

    __tablename__ = "parking_household"
    __table_args__ = (
        UniqueConstraint("station_id", "unit", name="uq_parking_household_unit"),
        UniqueConstraint("station_id", "phone", name="uq_parking_household_phone"),
        UniqueConstraint("station_id", "card_uid", name="uq_parking_household_card"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    #: The home address that identifies the household (贝丽花园3栋1201).
    unit: Mapped[str] = mapped_column(String(100))
    contact_name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(20))
    card_uid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Plate(Base):
    """A car registered to a household; a plate belongs to one household only."""

    __tablename__ = "parking_plate"
    __table_args__ = (UniqueConstraint("station_id", "plate", name="uq_parking_plate_plate"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    household_id: Mapped[int] = mapped_column(ForeignKey("parking_household.id"), index=True)
    plate: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(12))


class Slot(Base):
    """One occurrence of a window (a window on one local date): the row issuing locks."""

    __tablename__ = "parking_slot"
    __table_args__ = (UniqueConstraint("window_id", "day", name="uq_parking_slot_window_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("parking_lot.id"), index=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("parking_window.id"))
    day: Mapped[date] = mapped_column(Date)


class Voucher(Base):
    """A per-use right for one car at one lot in one occurrence of a window."""

    __tablename__ = "parking_voucher"
    __table_args__ = (
        Index("ix_parking_voucher_station_code", "station_id", "code"),
        Index("ix_parking_voucher_slot_status", "slot_id", "status"),
        Index("ix_parking_voucher_household_starts", "household_id", "starts_at"),
        Index("ix_parking_voucher_lot_starts", "lot_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("parking_lot.id"))
    window_id: Mapped[int] = mapped_column(ForeignKey("parking_window.id"))
    slot_id: Mapped[int] = mapped_column(ForeignKey("parking_slot.id"))
    household_id: Mapped[int] = mapped_column(ForeignKey("parking_household.id"))
    #: The full plate: shown to the lot's attendant (a staff page), masked elsewhere.
    plate: Mapped[str] = mapped_column(String(8))
    #: The code on the voucher (see codes.py): 8 characters before the district, up to 24 now.
    code: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12))
    price_cents: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_by: Mapped[int | None] = mapped_column(ForeignKey("kiosk_user.id"), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# --- the district hub's copies (role "hub") ------------------------------------------------------
#
# A station's own tables above hold ids of its own database (lot, window, household), so
# the hub keeps what it needs in tables of its own, keyed by the station's hub row and
# the station's numbers (``ref``, ``serial``): never by the station's row ids as ids here.


class HubLot(Base):
    """A station's car park as the hub knows it (synced as ``parking.lot``)."""

    __tablename__ = "parking_hub_lot"
    __table_args__ = (UniqueConstraint("station_id", "ref", name="uq_parking_hub_lot_station_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    #: The lot's number at its station (the number inside the station's voucher codes).
    ref: Mapped[int] = mapped_column(Integer)
    #: The station's tag as the station itself uses it in codes.
    tag: Mapped[str] = mapped_column(String(16), default="")
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200), default="")
    spaces: Mapped[int] = mapped_column(Integer, default=0)
    price_cents: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubVoucher(Base):
    """A station's voucher as it last synced (``parking.voucher``): what settlement counts.

    No household: the hub needs the plate (the attendant checks the car), the
    lot, the times and the price, nothing more about the resident.
    """

    __tablename__ = "parking_hub_voucher"
    __table_args__ = (
        UniqueConstraint("station_id", "serial", name="uq_parking_hub_voucher_station_serial"),
        Index("ix_parking_hub_voucher_station_code", "station_id", "code"),
        Index("ix_parking_hub_voucher_station_starts", "station_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    #: The voucher's number at its station.
    serial: Mapped[int] = mapped_column(Integer)
    lot_ref: Mapped[int] = mapped_column(Integer)
    plate: Mapped[str] = mapped_column(String(8))
    code: Mapped[str] = mapped_column(String(32))
    #: As the station last reported it; ``used`` once the hub has redeemed it, whatever arrives later.
    status: Mapped[str] = mapped_column(String(12))
    price_cents: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Redemption(Base):
    """A voucher let in at a car park, checked on the hub's attendant page: once per (station, serial).

    Written from the code alone, before the voucher's record may have reached
    the hub; the unique constraint is what makes a second phone's check fail,
    across every hub process.
    """

    __tablename__ = "parking_redemption"
    __table_args__ = (UniqueConstraint("station_id", "serial", name="uq_parking_redemption_station_serial"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    serial: Mapped[int] = mapped_column(Integer)
    lot_ref: Mapped[int] = mapped_column(Integer)
    valid_until: Mapped[date] = mapped_column(Date)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_by: Mapped[int | None] = mapped_column(ForeignKey("kiosk_user.id"), nullable=True)
