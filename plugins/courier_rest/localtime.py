"""The station's local clock: times shown to riders, days and months for the figures.

Everything is stored in UTC; riders, staff and the district read Shenzhen time
(or whatever zone the station is in).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


def zone(station) -> ZoneInfo:
    """The station's time zone (Asia/Shanghai unless configured otherwise)."""
    try:
        return ZoneInfo(getattr(station, "timezone", None) or "Asia/Shanghai")
    except (KeyError, ValueError):
        return ZoneInfo("Asia/Shanghai")


def hhmm(moment: datetime | None, tz: ZoneInfo) -> str:
    """``14:30`` in the station's zone; empty for no time."""
    return moment.astimezone(tz).strftime("%H:%M") if moment else ""


def local_day(moment: datetime, tz: ZoneInfo) -> str:
    """The station's calendar day of ``moment``, as ``2024-05-01``."""
    return moment.astimezone(tz).date().isoformat()


def last_boundary(now: datetime, tz: ZoneInfo, hour: int, minute: int) -> datetime:
    """The latest local ``hour:minute`` at or before ``now``, in UTC."""
    local_now = now.astimezone(tz)
    today = datetime.combine(local_now.date(), time(hour, minute), tzinfo=tz)
    if today > local_now:
        today = datetime.combine(local_now.date() - timedelta(days=1), time(hour, minute), tzinfo=tz)
    return today.astimezone(timezone.utc)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC start (inclusive) and end (exclusive) of a local day."""
    start = datetime.combine(day, time(0, 0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def month_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC start and end of a local calendar month."""
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return (datetime.combine(first, time(0, 0), tzinfo=tz).astimezone(timezone.utc),
            datetime.combine(following, time(0, 0), tzinfo=tz).astimezone(timezone.utc))
