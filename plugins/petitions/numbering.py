"""Tracking numbers: ``P240512-0007`` — prefix, the station's local date, a daily sequence.

The sequence is the core's per-day counter (:mod:`kiosk.numbering`, series
``petitions.tracking``), taken inside the caller's write transaction; the
unique constraint on (station, tracking number) is the backstop.

Until then this plugin kept its own counter (``petitions_counter``). That
table is no longer written; it is read once per day, when the core's counter
for the day is created, so a kiosk upgraded during the day goes on from the
day's last number instead of handing out -0001 again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from kiosk import clock, numbering
from kiosk_plugins.petitions.models import TrackingCounter

SERIES = "petitions.tracking"


def next_tracking_no(session, station, at: datetime, prefix: str = "P") -> str:
    """Take the next number for ``station`` on the local day of ``at``; call inside a write transaction."""
    day = clock.today(station, at)
    stamp = day.strftime("%y%m%d")

    def taken() -> int:
        return (
            session.scalar(
                select(TrackingCounter.last).where(
                    TrackingCounter.station_id == station.id, TrackingCounter.day == stamp
                )
            )
            or 0
        )

    number = numbering.next_number(session, station, SERIES, day, taken=taken)
    return f"{prefix}{stamp}-{number:04d}"
