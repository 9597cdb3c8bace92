"""The station's wall clock: slots are entered and shown in the station's time zone, stored in UTC."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kiosk.db import utcnow


def zone(station) -> ZoneInfo:
    """The station's time zone (Asia/Shanghai unless configured otherwise)."""
    return ZoneInfo(station.timezone or "Asia/Shanghai")


def today(station) -> date:
    """The station's local date now."""
    return utcnow().astimezone(zone(station)).date()


def local(station, at: datetime) -> datetime:
    """A stored (UTC) time on the station's clock."""
    return at.astimezone(zone(station))


def at(station, day: date, clock: time) -> datetime:
    """A local date and time at the station, as an aware datetime."""
    return datetime.combine(day, clock, zone(station))


def day_bounds(station, day: date) -> tuple[datetime, datetime]:
    """The start of ``day`` and of the next day at the station."""
    start = at(station, day, time(0))
    return start, at(station, day + timedelta(days=1), time(0))
