"""Windows to occurrences: nights across midnight, weekends, the booking horizon, months."""

from datetime import date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from kiosk_plugins.parking import schedule

TZ = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")


def window(start="19:00", end="08:00", days="0123456", wid=1):
    return SimpleNamespace(id=wid, lot_id=1, start_time=start, end_time=end, weekdays=days)


def local(y, m, d, hh, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def test_night_window_ends_the_next_morning_in_utc():
    occ = schedule.occurrence_on(window(), date(2024, 5, 20), TZ)
    assert occ.starts_at == local(2024, 5, 20, 19).astimezone(UTC)
    assert occ.ends_at == local(2024, 5, 21, 8).astimezone(UTC)
    assert occ.starts_at.hour == 11 and occ.ends_at.hour == 0  # UTC+8
    assert occ.key == "1:2024-05-20"


def test_weekend_window_runs_only_on_its_days():
    weekend = window("08:00", "19:00", "56")
    assert schedule.occurrence_on(weekend, date(2024, 5, 24), TZ) is None  # Friday
    sat = schedule.occurrence_on(weekend, date(2024, 5, 25), TZ)
    assert sat.ends_at - sat.starts_at == local(2024, 5, 25, 19) - local(2024, 5, 25, 8)
    days = [o.day.weekday() for o in schedule.occurrences_between(weekend, date(2024, 5, 1), date(2024, 5, 31), TZ)]
    assert days and set(days) == {5, 6} and len(days) == 8


def test_last_nights_window_is_still_bookable_after_midnight():
    now = local(2024, 5, 21, 1, 30).astimezone(UTC)
    found = schedule.bookable(window(), now, TZ, days_ahead=1)
    assert [o.day for o in found] == [date(2024, 5, 20), date(2024, 5, 21), date(2024, 5, 22)]
    after_end = local(2024, 5, 21, 8, 0).astimezone(UTC)
    assert [o.day for o in schedule.bookable(window(), after_end, TZ, 1)] == [date(2024, 5, 21), date(2024, 5, 22)]


def test_booking_horizon():
    now = local(2024, 5, 20, 12).astimezone(UTC)
    assert [o.day for o in schedule.bookable(window(), now, TZ, 0)] == [date(2024, 5, 20)]
    assert len(schedule.bookable(window(), now, TZ, 6)) == 7
    assert schedule.is_bookable(window(), date(2024, 5, 22), now, TZ, 1) is None
    assert schedule.is_bookable(window(), date(2024, 5, 21), now, TZ, 1) is not None
    assert schedule.is_bookable(window(), date(2024, 5, 19), now, TZ, 1) is None  # ended this morning


def test_month_bounds_are_local_midnights():
    start, end = schedule.month_bounds(date(2024, 12, 15), TZ)
    assert start == local(2024, 12, 1, 0).astimezone(UTC)
    assert end == local(2025, 1, 1, 0).astimezone(UTC)


@pytest.mark.parametrize("bad", ["24:00", "7:00", "19:60", "", "1900", "ab:cd"])
def test_bad_times_are_refused(bad):
    with pytest.raises(ValueError):
        schedule.parse_time(bad)


def test_weekdays_are_normalised():
    assert schedule.normalize_weekdays("6505") == "056"
    for bad in ("", "7", "1a"):
        with pytest.raises(ValueError):
            schedule.normalize_weekdays(bad)
