"""Time as the legal queue sees it: "now" from the app's clock, days in the station's timezone.

Ticket numbers restart each local day, so "today" is the station's calendar
day, not UTC's (Shenzhen's midnight is 16:00 UTC).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kiosk_plugins.legal.runtime import runtime


def now() -> datetime:
    """The current time (aware, UTC) from the app's replaceable clock."""
    return runtime().clock()


def zone(station) -> ZoneInfo:
    """The station's timezone (zoneinfo caches these, so this is cheap)."""
    return ZoneInfo(station.timezone or "Asia/Shanghai")


def local(station, at: datetime) -> datetime:
    """``at`` on the station's wall clock."""
    return at.astimezone(zone(station))


def local_day(station, at: datetime | None = None) -> date:
    """The station's calendar day at ``at`` (now by default)."""
    return local(station, at or now()).date()


def day_bounds(station, day: date) -> tuple[datetime, datetime]:
    """Start and end of a local day, as aware datetimes."""
    tz = zone(station)
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def at_local(station, day: date, clock_time: time) -> datetime:
    """A wall-clock time on ``day`` at the station, as an aware datetime."""
    return datetime.combine(day, clock_time, tzinfo=zone(station))
