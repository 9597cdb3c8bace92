"""Tracking numbers: ``P240512-0007`` — prefix, the station's local date, a daily sequence.

Numbers are handed out inside the caller's write transaction: on SQLite that
transaction already holds the write lock (``BEGIN IMMEDIATE``); on PostgreSQL
the day's counter row is locked with ``FOR UPDATE``. The unique constraint on
(station, tracking number) backs both.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from kiosk.db import upsert_insert
from kiosk_plugins.petitions.models import TrackingCounter


def local_day(station, at: datetime) -> str:
    """The station's calendar day of ``at`` as ``YYMMDD`` (numbers restart each local day)."""
    return at.astimezone(ZoneInfo(station.timezone or "Asia/Shanghai")).strftime("%y%m%d")


def _ensure_row(session, station_id: int, day: str) -> None:
    insert = upsert_insert(session.get_bind().dialect.name)
    # Two kiosks may open the day at the same moment: the loser's insert is a no-op.
    session.execute(insert(TrackingCounter).values(station_id=station_id, day=day, last=0)
                    .on_conflict_do_nothing(index_elements=["station_id", "day"]))


def next_tracking_no(session, station, at: datetime, prefix: str = "P") -> str:
    """Take the next number for ``station`` on the day of ``at``; call inside a write transaction."""
    day = local_day(station, at)
    _ensure_row(session, station.id, day)
    counter = session.scalar(select(TrackingCounter)
                             .where(TrackingCounter.station_id == station.id, TrackingCounter.day == day)
                             .with_for_update())
    counter.last += 1
    session.flush()
    return f"{prefix}{day}-{counter.last:04d}"
