"""The station clock: "now" from a clock tests can replace, days and times on the station's wall.

Everything is stored in UTC; residents, staff and the district read the
station's local time (Shenzhen's midnight is 16:00 UTC, so "today" is the
station's calendar day, not UTC's). Every function takes the station first
(anything with a ``timezone`` attribute, a ``tzinfo``, or ``None`` for the
default zone) and every datetime it returns is **aware and in UTC**;
:func:`local` is the one exception, since turning a moment into wall-clock
time is its whole job.

"Now" comes from the app's clock, so a test that freezes or moves time does it
for the core and every plugin at once::

    from kiosk import clock
    clock.set_clock(app, lambda: datetime(2024, 5, 6, 16, 1, tzinfo=timezone.utc))

A station whose ``timezone`` is not a known zone name is read as
:data:`DEFAULT_ZONE` and a warning is logged once per name: a typo in one
station's row must not turn every page of that station into an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from kiosk.db import utcnow

__all__ = [
    "DEFAULT_ZONE",
    "at_local",
    "day_bounds",
    "hhmm",
    "last_boundary",
    "local",
    "local_text",
    "month_bounds",
    "now",
    "set_clock",
    "today",
    "zone",
]

log = logging.getLogger(__name__)

#: The zone of a station that names none (or names one this machine does not know).
DEFAULT_ZONE = "Asia/Shanghai"

_EXTENSION = "kiosk_clock"


def set_clock(app, clock: Callable[[], datetime] | None) -> None:
    """Make ``clock`` the source of :func:`now` for ``app`` (``None`` restores the system clock).

    ``clock`` is called with no arguments and returns an aware datetime. Meant
    for tests: a hand-moved clock crosses midnight without touching the system time.
    """
    if clock is None:
        app.extensions.pop(_EXTENSION, None)
    else:
        app.extensions[_EXTENSION] = clock


def now() -> datetime:
    """The current time, aware, in UTC: the app's clock (see :func:`set_clock`) or the system's."""
    clock = current_app.extensions.get(_EXTENSION) if has_app_context() else None
    if clock is None:
        return utcnow()
    value = clock()
    if value.tzinfo is None:
        raise ValueError("the app's clock returned a naive datetime; give it a timezone")
    return value.astimezone(UTC)


@lru_cache(maxsize=64)
def _zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # unknown name, or a path-like one zoneinfo refuses
        log.warning("station timezone %r is not a known zone; using %s", name, DEFAULT_ZONE)
        return ZoneInfo(DEFAULT_ZONE)


def zone(station) -> tzinfo:
    """The station's time zone: its ``timezone``, else :data:`DEFAULT_ZONE` (also for an unknown name).

    A ``tzinfo`` is returned as it is, so code that already holds the zone can
    hand it to the other functions in place of the station; a zone's name (the
    station file's ``timezone``) is looked up the same way as a station's.
    """
    if isinstance(station, tzinfo):
        return station
    if isinstance(station, str):
        return _zone_named(station or DEFAULT_ZONE)
    name = getattr(station, "timezone", None) or DEFAULT_ZONE
    return _zone_named(str(name))


def local(station, at: datetime | None = None) -> datetime:
    """``at`` (now by default) on the station's wall clock, aware in the station's zone."""
    return (at or now()).astimezone(zone(station))


def today(station, at: datetime | None = None) -> date:
    """The station's calendar day at ``at`` (now by default)."""
    return local(station, at).date()


def at_local(station, day: date, clock_time: time) -> datetime:
    """The moment the station's wall clock shows ``clock_time`` on ``day``, aware in UTC.

    A wall time skipped by a daylight-saving change is read with the offset
    before the change (PEP 495, ``fold=0``); a repeated one is its first occurrence.
    """
    return datetime.combine(day, clock_time, tzinfo=zone(station)).astimezone(UTC)


def day_bounds(station, day: date) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of the station's local ``day``, aware in UTC.

    A day with a daylight-saving change is 23 or 25 hours long; query with
    ``start <= t < end``.
    """
    return at_local(station, day, time(0)), at_local(station, day + timedelta(days=1), time(0))


def month_bounds(station, year: int, month: int) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of a local calendar month, aware in UTC."""
    following = date(year + (month == 12), month % 12 + 1, 1)
    return at_local(station, date(year, month, 1), time(0)), at_local(station, following, time(0))


def last_boundary(station, clock_time: time, at: datetime | None = None) -> datetime:
    """The latest moment at or before ``at`` (now by default) when the station's clock showed ``clock_time``, in UTC.

    For jobs that run "after 03:00 each day": compare the last run with this.
    """
    moment = at or now()
    boundary = at_local(station, today(station, moment), clock_time)
    if boundary > moment:
        boundary = at_local(station, today(station, moment) - timedelta(days=1), clock_time)
    return boundary


def local_text(station, moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``moment`` on the station's wall clock formatted with ``fmt``; empty for no moment."""
    return local(station, moment).strftime(fmt) if moment is not None else ""


def hhmm(station, moment: datetime | None) -> str:
    """``14:30`` on the station's wall clock; empty for no moment."""
    return local_text(station, moment, "%H:%M")
