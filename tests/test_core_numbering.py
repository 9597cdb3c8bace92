"""Per-day numbering (kiosk.numbering): a sequence per station, series and local day, restarting at the
station's midnight, given back on rollback, and never the same number twice when threads or processes of
several kiosks ask at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import textwrap
import threading
from datetime import UTC, date, datetime

from sqlalchemy import func, select

from kiosk import clock, numbering
from kiosk.db import write_transaction
from kiosk.models import DayCounter, Station
from kiosk.testing import run_at_once

UTC = UTC


def _station(app, code: str | None = None) -> Station:
    with app.extensions["db"].Session() as s:
        if code is None:
            return s.get(Station, app.extensions["kiosk_station_id"])
        station = Station(code=code, name=code, kind="party_service", timezone="Asia/Shanghai", disabled_plugins=[])
        s.add(station)
        s.commit()
        s.refresh(station)
        s.expunge(station)
        return station


def _take(app, station, series: str = "test.queue", day: date | None = None, **options) -> int:
    with app.app_context(), write_transaction() as session:
        return numbering.next_number(session, station, series, day, **options)


def test_numbers_follow_on_and_each_series_and_station_has_its_own(app):
    here, there = _station(app), _station(app, "cuizhu")
    day = date(2024, 5, 7)
    assert [_take(app, here, day=day) for _ in range(3)] == [1, 2, 3]
    assert _take(app, here, "test.other", day) == 1
    assert [_take(app, there, day=day) for _ in range(2)] == [1, 2]
    assert _take(app, here, day=day) == 4
    with app.app_context(), app.extensions["db"].Session() as s:
        assert numbering.last_number(s, here, "test.queue", day) == 4
        assert numbering.last_number(s, there, "test.queue", day) == 2
        assert numbering.last_number(s, here, "test.never", day) == 0


def test_numbers_restart_at_the_stations_midnight_not_utcs(app, fixed_clock):
    station = _station(app)
    fixed_clock.set(datetime(2024, 5, 6, 15, 59, 59, tzinfo=UTC))  # 23:59:59 in Shenzhen
    assert [_take(app, station), _take(app, station)] == [1, 2]
    fixed_clock.set(datetime(2024, 5, 6, 16, 0, 0, tzinfo=UTC))  # 00:00 on the 7th; still the 6th in UTC
    assert _take(app, station) == 1
    with app.app_context(), app.extensions["db"].Session() as s:
        rows = s.execute(select(DayCounter.day, DayCounter.last).order_by(DayCounter.day)).all()
    assert rows == [(date(2024, 5, 6), 2), (date(2024, 5, 7), 1)]


def test_a_rolled_back_transaction_gives_its_number_back(app):
    station = _station(app)
    day = date(2024, 5, 7)
    assert _take(app, station, day=day) == 1
    try:
        with app.app_context(), write_transaction() as session:
            assert numbering.next_number(session, station, "test.queue", day) == 2
            raise RuntimeError("the numbered row could not be stored")
    except RuntimeError:
        pass
    assert _take(app, station, day=day) == 2


def test_a_plugins_old_counter_is_asked_once_and_numbering_goes_on_after_it(app):
    station = _station(app)
    asked = []

    def taken() -> int:
        asked.append(1)
        return 41

    day = date(2024, 5, 7)
    assert _take(app, station, day=day, taken=taken) == 42
    assert _take(app, station, day=day, taken=taken) == 43
    assert len(asked) == 1, "asked only when the day's counter is created"


def test_threads_never_share_or_skip_a_number(app):
    station = _station(app)
    day = date(2024, 5, 7)
    got: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def kiosk():
        try:
            start.wait()
            for _ in range(8):
                got.append(_take(app, station, day=day))
        except BaseException as exc:  # reported below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=kiosk) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sorted(got) == list(range(1, 49))


# One kiosk process: its own app on the same database, waiting for the others to be ready.
KIOSK_PROCESS = textwrap.dedent("""
    import sys
    from datetime import date
    from kiosk import numbering
    from kiosk.app import create_app
    from kiosk.db import session_for, write_transaction
    from kiosk.models import Station
    from kiosk.stations import station_id_of
    from kiosk.testing import app_config, start_folder, wait_for_start
    url, count = sys.argv[1], int(sys.argv[2])
    app = create_app(app_config(start_folder(), url, TESTING_NO_LISTENER=True, AUTO_MIGRATE=False))
    with app.app_context():
        with session_for(app) as s:
            station = s.get(Station, station_id_of(app))
        wait_for_start()
        for _ in range(count):
            with write_transaction() as session:
                print(numbering.next_number(session, station, "test.queue", date(2024, 5, 7)))
    app.extensions["db"].dispose()
""")


def test_processes_never_share_or_skip_a_number(app, database_url, tmp_path):
    kiosks, each = 3, 10
    outputs = run_at_once(KIOSK_PROCESS, database_url, str(each), processes=kiosks, folder=tmp_path)
    got = [int(line) for out in outputs for line in out.split()]
    assert sorted(got) == list(range(1, kiosks * each + 1))
    with app.extensions["db"].Session() as s:
        assert s.scalar(select(func.count()).select_from(DayCounter)) == 1


def test_the_default_day_is_the_stations_today(app, fixed_clock):
    station = _station(app)
    fixed_clock.set(datetime(2024, 12, 31, 16, 30, tzinfo=UTC))  # New Year's Day in Shenzhen
    _take(app, station)
    with app.app_context(), app.extensions["db"].Session() as s:
        assert s.scalar(select(DayCounter.day)) == date(2025, 1, 1) == clock.today(station)
