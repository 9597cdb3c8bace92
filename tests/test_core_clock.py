"""The station clock (kiosk.clock): local days and bounds in a zone with and without daylight saving,
midnight edges, a station with a bad zone, and one replaceable clock that every plugin reads."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from kiosk import clock
from kiosk.models import Station

UTC = UTC
SHENZHEN = SimpleNamespace(timezone="Asia/Shanghai")
BERLIN = SimpleNamespace(timezone="Europe/Berlin")


def test_a_zone_without_daylight_saving_starts_its_day_at_16_utc():
    start, end = clock.day_bounds(SHENZHEN, date(2024, 5, 7))
    assert (start, end) == (datetime(2024, 5, 6, 16, tzinfo=UTC), datetime(2024, 5, 7, 16, tzinfo=UTC))
    assert start.tzinfo == UTC and end.tzinfo == UTC  # one return type: aware, in UTC
    # Midnight edges: the last second of the 6th and the first of the 7th in Shenzhen.
    assert clock.today(SHENZHEN, datetime(2024, 5, 6, 15, 59, 59, tzinfo=UTC)) == date(2024, 5, 6)
    assert clock.today(SHENZHEN, datetime(2024, 5, 6, 16, 0, 0, tzinfo=UTC)) == date(2024, 5, 7)
    assert clock.today(None, datetime(2024, 5, 6, 16, tzinfo=UTC)) == date(2024, 5, 7)  # the default zone
    assert clock.at_local(SHENZHEN, date(2024, 5, 7), time(9, 30)) == datetime(2024, 5, 7, 1, 30, tzinfo=UTC)
    assert clock.hhmm(SHENZHEN, datetime(2024, 5, 6, 16, 5, tzinfo=UTC)) == "00:05"
    assert clock.local_text(SHENZHEN, datetime(2024, 5, 6, 16, 5, tzinfo=UTC), "%m-%d %H:%M") == "05-07 00:05"
    assert clock.hhmm(SHENZHEN, None) == "" and clock.local_text(SHENZHEN, None) == ""


def test_month_bounds_cross_the_year_in_local_time():
    assert clock.month_bounds(SHENZHEN, 2024, 12) == (
        datetime(2024, 11, 30, 16, tzinfo=UTC),
        datetime(2024, 12, 31, 16, tzinfo=UTC),
    )
    assert clock.month_bounds(SHENZHEN, 2024, 2)[1] - clock.month_bounds(SHENZHEN, 2024, 2)[0] == timedelta(days=29)


def test_a_zone_with_daylight_saving_has_23_and_25_hour_days():
    spring = clock.day_bounds(BERLIN, date(2024, 3, 31))
    autumn = clock.day_bounds(BERLIN, date(2024, 10, 27))
    assert spring[1] - spring[0] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)
    assert spring[0] == datetime(2024, 3, 30, 23, tzinfo=UTC) and autumn[1] == datetime(2024, 10, 27, 23, tzinfo=UTC)
    # A wall time the spring change skips is read with the winter offset (PEP 495 fold=0).
    assert clock.at_local(BERLIN, date(2024, 3, 31), time(2, 30)) == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    # March in Berlin starts at UTC+1 and ends at UTC+2.
    assert clock.month_bounds(BERLIN, 2024, 3) == (
        datetime(2024, 2, 29, 23, tzinfo=UTC),
        datetime(2024, 3, 31, 22, tzinfo=UTC),
    )
    # Midnight edges on both sides of the summer offset.
    assert clock.today(BERLIN, datetime(2024, 7, 1, 21, 59, tzinfo=UTC)) == date(2024, 7, 1)
    assert clock.today(BERLIN, datetime(2024, 7, 1, 22, 0, tzinfo=UTC)) == date(2024, 7, 2)


def test_last_boundary_is_the_latest_local_time_at_or_before_now():
    at = datetime(2024, 5, 1, 15, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert clock.last_boundary(SHENZHEN, time(23, 30), at) == datetime(2024, 4, 30, 15, 30, tzinfo=UTC)
    at = datetime(2024, 5, 1, 23, 45, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert clock.last_boundary(SHENZHEN, time(23, 30), at) == datetime(2024, 5, 1, 15, 30, tzinfo=UTC)
    exact = datetime(2024, 5, 1, 15, 30, tzinfo=UTC)
    assert clock.last_boundary(SHENZHEN, time(23, 30), exact) == exact
    # Across the autumn change: 03:00 on the 27th in Berlin is 02:00 UTC (winter time again).
    assert clock.last_boundary(BERLIN, time(3), datetime(2024, 10, 27, 12, tzinfo=UTC)) == datetime(
        2024, 10, 27, 2, tzinfo=UTC
    )


def test_a_zone_in_hand_stands_in_for_the_station():
    tz = ZoneInfo("Europe/Berlin")
    assert clock.zone(tz) is tz
    assert clock.day_bounds(tz, date(2024, 3, 31)) == clock.day_bounds(BERLIN, date(2024, 3, 31))


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "../../etc/passwd", "Asia/Shang hai"])
def test_a_bad_zone_is_read_as_shanghai_with_a_warning(name, caplog):
    with caplog.at_level(logging.WARNING, logger="kiosk.clock"):
        bad = SimpleNamespace(timezone=name)
        assert clock.zone(bad) == ZoneInfo("Asia/Shanghai")
        assert clock.day_bounds(bad, date(2024, 5, 7)) == clock.day_bounds(SHENZHEN, date(2024, 5, 7))
    # Warned once per name, however often the station is read.
    warnings = [r.getMessage() for r in caplog.records if r.name == "kiosk.clock"]
    assert warnings == [f"station timezone {name!r} is not a known zone; using Asia/Shanghai"]


def test_a_station_with_a_bad_zone_still_serves_its_pages(app):
    with app.extensions["db"].WriteSession() as s:
        s.execute(update(Station).values(timezone="Not/A_Zone"))
        s.commit()
    client = app.test_client()
    for path in ("/k/legal/", "/k/courier_rest/"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    assert client.get("/healthz").status_code == 200


def test_outside_an_app_now_is_the_system_clock():
    before = datetime.now(UTC)
    got = clock.now()
    assert got.tzinfo == UTC and before <= got <= datetime.now(UTC)


def test_a_replaced_clock_is_every_plugins_now(app):
    frozen = datetime(2024, 5, 6, 16, 1, tzinfo=UTC)  # 00:01 on the 7th in Shenzhen
    clock.set_clock(app, lambda: frozen)
    try:
        with app.app_context():
            assert clock.now() == frozen
            assert clock.today(SHENZHEN) == date(2024, 5, 7)
            # Petitions: a request due between the frozen time and the real one is not yet overdue.
            from kiosk_plugins.petitions import routing

            petition = SimpleNamespace(status="accepted", due_at=frozen + timedelta(days=1))
            assert routing.is_overdue(petition) is False
        # Legal: a ticket taken over HTTP is issued at the frozen time, on the frozen local day.
        client = app.test_client()
        client.get("/")
        with client.session_transaction() as sess:
            token = sess["_csrf"]
        response = client.post("/k/legal/take/consultation", data={"csrf_token": token, "phone": "", "priority": ""})
        assert response.status_code == 302
        from kiosk_plugins.legal.models import Ticket

        with app.extensions["db"].Session() as s:
            ticket = s.scalars(select(Ticket)).one()
            assert (ticket.issued_at, ticket.day, ticket.code) == (frozen, date(2024, 5, 7), "A001")
    finally:
        clock.set_clock(app, None)
    with app.app_context():
        assert clock.now() - datetime.now(UTC) < timedelta(seconds=5)


def test_a_clock_giving_naive_times_is_refused(app):
    clock.set_clock(app, lambda: datetime(2024, 5, 6, 12, 0))
    try:
        with app.app_context(), pytest.raises(ValueError, match="naive"):
            clock.now()
    finally:
        clock.set_clock(app, None)


def test_every_returned_moment_is_utc():
    results = [
        clock.at_local(BERLIN, date(2024, 7, 1), time(12)),
        *clock.day_bounds(BERLIN, date(2024, 7, 1)),
        *clock.month_bounds(BERLIN, 2024, 7),
        clock.last_boundary(BERLIN, time(3), clock.now()),
    ]
    assert all(r.tzinfo == UTC for r in results)
    assert re.fullmatch(r"\d\d:\d\d", clock.hhmm(BERLIN, clock.now()))


def test_scheduled_jobs_still_run_when_the_station_files_zone_is_unknown(make_app, database_url):
    """The job runner reads the zone from the station file: a bad one must not stop the day's jobs."""
    from kiosk.jobs import run_due

    app = make_app(database_url, STATION={"timezone": "Not/A_Zone"})
    ran = []
    app.extensions["kiosk_jobs"] = [
        {"plugin": "kiosk", "name": "t.close", "func": lambda app: ran.append(1), "every": None, "at": "00:00"}
    ]
    assert run_due(app) == ["t.close"]
    assert ran == [1]
    assert clock.zone("Not/A_Zone") == ZoneInfo("Asia/Shanghai")
