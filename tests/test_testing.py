"""kiosk.testing, the fixture ladder plugin authors and the kiosk's own tests share.

The ladder is tested here the way a plugin author meets it: a plugin folder of
its own (pytester), with a conftest that overrides ``kiosk_config`` and
``kiosk_extra_plugins``, run in a new pytest process on both backends.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from kiosk import clock, printing
from kiosk.events import emit
from kiosk.models import KioskEvent, PrintJob, User
from kiosk.testing import PG_SKIP, PG_URL, EventStream, LiveServer, count_rows, printed_receipts
from kiosk_hardware.receipt import Receipt

pytest_plugins = ["pytester"]

AUTHOR_CONFTEST = """
import types

import pytest

from kiosk import hookimpl

probe = types.ModuleType("kiosk_probe_for_ladder")
probe.register_tiles = hookimpl(lambda station: [])
probe.register_tiles.__name__ = "register_tiles"


@pytest.fixture
def kiosk_config():
    return {"IDLE_SECONDS": 42}


@pytest.fixture
def kiosk_extra_plugins():
    return {"probe": probe}
"""

AUTHOR_TESTS = """
from kiosk.models import KioskEvent
from kiosk.testing import count_rows


def test_the_app_has_the_settings_and_the_plugin(app, backend, make_app, database_url):
    assert app.extensions["db"].dialect == backend
    assert app.config["IDLE_SECONDS"] == 42
    assert app.extensions["kiosk_plugins"].infos["probe"].state == "enabled"
    # A second app made in the test gets the same settings and plugins.
    assert make_app(database_url).config["IDLE_SECONDS"] == 42


def test_a_test_writes_to_its_database(app, login):
    assert count_rows(app, KioskEvent) == 0
    assert login("staff").status_code == 302
    from kiosk.events import emit
    with app.test_request_context("/"):
        emit("probe.noted", {}, channel="probe")
    assert count_rows(app, KioskEvent) == 1


def test_the_next_test_starts_on_an_empty_database(app):
    # On PostgreSQL this is the same per-worker database the test above wrote to.
    assert count_rows(app, KioskEvent) == 0
"""


def _author_folder(pytester):
    pytester.makeconftest(AUTHOR_CONFTEST)
    pytester.makepyfile(test_probe=AUTHOR_TESTS)


def test_a_plugin_authors_suite_runs_on_sqlite_and_says_why_postgresql_is_skipped(pytester, monkeypatch):
    monkeypatch.delenv("KIOSK_TEST_DATABASE_URL", raising=False)
    _author_folder(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=3, skipped=3)
    assert "KIOSK_TEST_DATABASE_URL" in result.stdout.str()


@pytest.mark.skipif(not PG_URL, reason=PG_SKIP)
def test_a_plugin_authors_suite_runs_on_postgresql_with_the_same_fixtures(pytester):
    _author_folder(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=6)
    assert len(re.findall(r"\[postgresql\] PASSED", result.stdout.str())) == 3


def test_the_app_is_on_this_runs_backend_with_nothing_in_it(app, backend):
    assert app.extensions["db"].dialect == backend
    assert count_rows(app, User) == 0
    assert count_rows(app, PrintJob) == 0


def test_count_rows_counts_what_matches(app, login):
    login("staff")
    login("admin")
    assert count_rows(app, User) == 2
    assert count_rows(app, User, User.role == "admin") == 1
    assert count_rows(app, User.__table__, User.username == "nobody") == 0


def test_printed_receipts_waits_for_the_preview_printer_and_reads_what_it_printed(app):
    with app.test_request_context("/"):
        first = printing.submit(Receipt().title("水贝 A001").text("请到 1 号窗口"), "test.slip")
        printing.submit(Receipt().title("另一张"), "other.slip")
    receipts = printed_receipts(app)
    assert [r.plain_text().splitlines()[0] for r in receipts] == ["水贝 A001", "另一张"]
    (slip,) = printed_receipts(app, layout="test.slip")
    assert "请到 1 号窗口" in slip.plain_text()
    # What the preview printer wrote: one picture per receipt, named by its job.
    pictures = os.listdir(os.path.join(app.instance_path, "receipts"))
    assert len(pictures) == 2 and any(first["job_id"] in name for name in pictures)


def test_fixed_clock_stops_and_moves_the_apps_time(app, fixed_clock):
    with app.app_context():
        assert abs(clock.now() - datetime.now(UTC)) < timedelta(minutes=1)
        fixed_clock.set(datetime(2024, 5, 6, 15, 59, tzinfo=UTC))
        assert clock.now() == datetime(2024, 5, 6, 15, 59, tzinfo=UTC)
        assert clock.today(None) == date(2024, 5, 6)
        fixed_clock.advance(minutes=2)  # Shenzhen's midnight is 16:00 UTC
        assert clock.today(None) == date(2024, 5, 7)
        fixed_clock.set(datetime(2024, 5, 6, 12, 0))  # naive: read as UTC
        assert clock.now().tzinfo is not None and clock.now().hour == 12


def test_event_stream_is_open_when_made_and_refuses_a_page_that_is_no_stream(app):
    with LiveServer(app) as server:
        with EventStream(server.url, "/events/stream?channel=probe") as stream:
            with app.test_request_context("/"):
                emit("probe.noted", {"n": 1}, channel="probe")
            assert stream.wait_for("probe.noted", timeout=5) == {"name": "probe.noted", "channel": "probe", "n": 1}
        with pytest.raises(AssertionError, match="did not open"):
            EventStream(server.url, "/no-such-stream", timeout=5)
    assert count_rows(app, KioskEvent, KioskEvent.name == "probe.noted") == 1


@pytest.mark.skipif(not PG_URL, reason=PG_SKIP)
@pytest.mark.parametrize("superuser", [True, False], ids=["superuser", "owner"])
def test_a_postgresql_database_is_emptied_for_the_next_test_and_its_ids_start_again(make_app, pg_worker_url, superuser):
    """What ``database_url`` does between two tests on a worker's database: every row goes
    (rows that others point at too), the migrations stay, numbering starts at 1 again.
    As the superuser it deletes the rows that are there; as a plain owner it truncates every table."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from kiosk.testing import _empty_tables, close_app, create_account

    def written():
        with create_engine(pg_worker_url, poolclass=NullPool).connect() as conn:
            tables = conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).all()
            counts = {t: conn.scalar(text(f'SELECT count(*) FROM "{t}"')) for t in tables}
        return {t: n for t, n in counts.items() if n}

    _empty_tables(pg_worker_url)
    app = make_app(pg_worker_url)
    create_account(app, "staff1")
    create_account(app, "staff2")
    with app.test_request_context("/"):
        emit("probe.noted", {}, channel="probe")
    close_app(app)
    rows = written()
    assert rows["kiosk_user"] == 2 and rows["station"] == 1 and rows["kiosk_event"] >= 1
    url, role = pg_worker_url, f"kiosk_t_owner_{os.getpid()}"
    admin = create_engine(pg_worker_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        if not superuser:  # the tables' owner, as a plugin author's database role may be
            with admin.connect() as conn:
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
                conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER'))
                for table in conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")):
                    conn.execute(text(f'ALTER TABLE "{table}" OWNER TO "{role}"'))
            url = make_url(pg_worker_url).set(username=role, password=None).render_as_string(hide_password=False)
        _empty_tables(url)
    finally:
        if not superuser:
            with admin.connect() as conn:
                conn.execute(text(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER'))
                conn.execute(text(f'DROP OWNED BY "{role}"'))
                conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()
    assert list(written()) == ["alembic_version"]
    again = make_app(pg_worker_url)
    create_account(again, "staff9")
    with again.app_context():
        assert again.extensions["kiosk_station_id"] == 1
        from kiosk.db import session_for

        with session_for(again) as session:
            assert session.scalar(text("SELECT id FROM kiosk_user WHERE username = 'staff9'")) == 1


def test_install_into_builds_one_plugin_for_several_processes_at_once(tmp_path):
    """Test processes of pytest-xdist install the same plugin at the same moment: each gets it whole.

    setuptools builds in the source tree (``build``, ``*.egg-info``): two builds of one tree at once
    failed ("Could not build wheels for kiosk-hello", a fresh-clone run of the whole suite). Nothing is
    left in the source tree either."""
    import threading

    from kiosk.testing import install_into

    source = os.path.join(os.path.dirname(__file__), "plugin_hello")
    before = sorted(os.listdir(source))
    start, failures = threading.Barrier(3), []

    def install(index: int) -> None:
        start.wait()
        try:
            install_into(source, str(tmp_path / f"site{index}"))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(repr(exc))

    threads = [threading.Thread(target=install, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert failures == []
    for index in range(3):
        installed = os.listdir(tmp_path / f"site{index}")
        assert any(name.endswith(".dist-info") for name in installed), installed
    assert sorted(os.listdir(source)) == before
