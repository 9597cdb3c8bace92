"""The sync tables: the station's outbox and state, the hub's peers, down-log and parked entries.

A station node writes :class:`SyncOutbox` rows in the same transaction as the
change they record; its pusher gives each committed row the next sequence
number and sends them to the hub in order. The hub keeps one
:class:`SyncPeer` per enrolled station (credentials, the last sequence number
applied) and writes what stations must learn into :class:`SyncDown`, which
stations pull.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base, UTCDateTime, utcnow

#: Session key (hub): how far the hub's clock is ahead of the pushing station's (kiosk.sync.views.clock_offset).
CLOCK_OFFSET = "kiosk_sync_clock_offset"


class SyncOutbox(Base):
    """One change at this station, waiting to reach the hub (station side).

    ``seq`` is empty until the pusher sequences the row: only committed rows are
    sequenced, in id order, so a transaction that commits late gets a later
    number instead of being skipped.
    """

    __tablename__ = "sync_outbox"
    __table_args__ = (
        UniqueConstraint("station_id", "seq", name="uq_sync_outbox_station_seq"),
        Index("ix_sync_outbox_station_sent", "station_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SyncState(Base):
    """This station's link to its hub (station side; one row per station served)."""

    __tablename__ = "sync_state"

    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"), primary_key=True)
    hub_url: Mapped[str] = mapped_column(String(500), default="")
    hub_public_url: Mapped[str] = mapped_column(String(500), default="")
    station_key: Mapped[str] = mapped_column(String(200), default="")
    # Signs codes the hub must verify before their record arrives (parking vouchers).
    signing_key: Mapped[str] = mapped_column(String(200), default="")
    tag: Mapped[str] = mapped_column(String(16), default="")
    protocol: Mapped[int] = mapped_column(Integer, default=0)
    acked_seq: Mapped[int] = mapped_column(Integer, default=0)
    pulled_id: Mapped[int] = mapped_column(Integer, default=0)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class SyncPeer(Base):
    """An enrolled (or enrolling) station, as the hub knows it (hub side)."""

    __tablename__ = "sync_peer"

    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(128), default="")
    token_hash: Mapped[str] = mapped_column(String(128), default="")
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    signing_key: Mapped[str] = mapped_column(String(200), default="")
    tag: Mapped[str] = mapped_column(String(16), default="")
    protocol: Mapped[int] = mapped_column(Integer, default=0)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    # The down-log entry the station has pulled up to (what it asked after), so older ones can go.
    pulled_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class SyncDown(Base):
    """Something a station must learn from the hub (hub side); ``station_id`` empty: every station."""

    __tablename__ = "sync_down"
    __table_args__ = (Index("ix_sync_down_station_id", "station_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncParked(Base):
    """An entry the hub received but could not apply (a kind no installed plugin declares)."""

    __tablename__ = "sync_parked"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncFigures(Base):
    """A station's district figures for one of its days, as it last synced them (hub side).

    Labels are kept as the plugins gave them (a message id or a dict of
    locale → text) so the hub's dashboard shows them in each viewer's language.
    """

    __tablename__ = "sync_figures"
    __table_args__ = (UniqueConstraint("station_id", "day", name="uq_sync_figures_station_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    day: Mapped[date] = mapped_column(Date)
    figures: Mapped[list] = mapped_column(JSON, default=list)
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
