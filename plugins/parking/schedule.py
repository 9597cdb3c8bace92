"""From a lot's windows to concrete occurrences (tonight 19:00 → tomorrow 08:00).

Times are wall-clock times at the station; an occurrence is stored in UTC.
A window that ends at or before it starts runs into the next morning, so the
night that began yesterday evening is still bookable at 01:00.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kiosk import clock

TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
ALL_DAYS = "0123456"


@dataclass(frozen=True)
class Occurrence:
    """One concrete period of a window: the window on the local date it starts."""

    window_id: int
    lot_id: int
    day: date
    starts_at: datetime
    ends_at: datetime

    @property
    def key(self) -> str:
        """``"<window id>:<YYYY-MM-DD>"``: how forms name an occurrence."""
        return f"{self.window_id}:{self.day.isoformat()}"


def parse_time(value: str) -> time:
    """``"19:00"`` → ``time(19, 0)``; ValueError for anything else."""
    match = TIME_RE.match((value or "").strip())
    if not match:
        raise ValueError(f"not a time of day (HH:MM): {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


def normalize_weekdays(value: str) -> str:
    """Sorted, de-duplicated weekday digits (Monday = 0); ValueError if none or bad."""
    digits = sorted(set(value or ""))
    if not digits or any(d not in ALL_DAYS for d in digits):
        raise ValueError(f"weekdays must be digits 0-6, not {value!r}")
    return "".join(digits)


def crosses_midnight(window) -> bool:
    """True when the window ends the next morning."""
    return parse_time(window.end_time) <= parse_time(window.start_time)


def occurrence_on(window, day: date, tz: ZoneInfo) -> Occurrence | None:
    """The window's occurrence starting on ``day``, or None if it does not run that day."""
    if str(day.weekday()) not in window.weekdays:
        return None
    end_day = day + timedelta(days=1) if crosses_midnight(window) else day
    return Occurrence(
        window_id=window.id,
        lot_id=window.lot_id,
        day=day,
        starts_at=clock.at_local(tz, day, parse_time(window.start_time)),
        ends_at=clock.at_local(tz, end_day, parse_time(window.end_time)),
    )


def bookable(window, now: datetime, tz: ZoneInfo, days_ahead: int) -> list[Occurrence]:
    """Occurrences not yet over that start no later than ``days_ahead`` days from today."""
    today = clock.today(tz, now)
    found = []
    # Yesterday's night may still be running this morning.
    for offset in range(-1, max(days_ahead, 0) + 1):
        occ = occurrence_on(window, today + timedelta(days=offset), tz)
        if occ is not None and occ.ends_at > now:
            found.append(occ)
    return found


def is_bookable(window, day: date, now: datetime, tz: ZoneInfo, days_ahead: int) -> Occurrence | None:
    """The occurrence of ``window`` on ``day`` if a resident may book it now, else None."""
    return next((o for o in bookable(window, now, tz, days_ahead) if o.day == day), None)


def occurrences_between(window, first: date, last: date, tz: ZoneInfo) -> list[Occurrence]:
    """Every occurrence starting on a local date from ``first`` to ``last`` inclusive."""
    out = []
    day = first
    while day <= last:
        occ = occurrence_on(window, day, tz)
        if occ is not None:
            out.append(occ)
        day += timedelta(days=1)
    return out


def month_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local calendar month holding ``day``, as UTC instants [start, end)."""
    return clock.month_bounds(tz, day.year, day.month)
