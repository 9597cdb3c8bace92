"""The hub on PostgreSQL as a district runs it: behind PgBouncer, with a bounded pool, LISTEN on its own.

PgBouncer in transaction mode hands each transaction to whichever server
connection is free. psycopg's server-side prepared statements live on one
server connection, so behind it they fail ("prepared statement … does not
exist") unless ``database_prepare_threshold = "none"``; and a LISTEN through
it is lost with its server connection, so ``database_listen_url`` points
LISTEN straight at PostgreSQL. These tests start a real PgBouncer (the Debian
package ``pgbouncer``, which tools/install-test-deps installs).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests
from sqlalchemy.engine import make_url

from kiosk.events import emit
from kiosk.testing import PG_SKIP, PG_URL, EventStream, LiveServer, create_account

PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: The example an operator installs as /etc/pgbouncer/pgbouncer.ini: the tests run PgBouncer from it.
EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "deploy", "pgbouncer", "pgbouncer.ini.example")


def pgbouncer_ini(port: int, server: str, **overrides: str) -> str:
    """deploy/pgbouncer/pgbouncer.ini.example with this machine's addresses, files and ``overrides``.

    Everything else (transaction pooling, the pool sizes, the timeouts) is the
    example's own, so PgBouncer reading it at all is a check of the example.
    """
    import configparser

    ini = configparser.ConfigParser(comment_prefixes=(";",), interpolation=None)
    ini.read(EXAMPLE, encoding="utf-8")
    ini["databases"] = {"*": server}
    bouncer = ini["pgbouncer"]
    for key in ("auth_file", "logfile", "pidfile"):
        bouncer.pop(key, None)
    bouncer.update(
        listen_addr="127.0.0.1",
        listen_port=str(port),
        unix_socket_dir="",
        auth_type="any",  # every client logs in as the server user named above: no password file
        **overrides,
    )
    return "".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in ini[name].items()) for name in ini.sections())


class PgBouncer:
    """PgBouncer (transaction mode, from the deploy example) in front of ``KIOSK_TEST_DATABASE_URL``'s server."""

    def __init__(self, folder, pool_size: int = 6):
        target = make_url(PG_URL)
        self.port = _free_port()
        server = f"host={target.host or '127.0.0.1'} port={target.port or 5432} user={target.username or 'postgres'}"
        if target.password:
            server += f" password={target.password}"
        os.chmod(folder, 0o755)  # readable by the user it drops to when started as root
        self.ini = folder / "pgbouncer.ini"
        self.ini.write_text(pgbouncer_ini(self.port, server, default_pool_size=str(pool_size)), encoding="utf-8")
        os.chmod(self.ini, 0o644)
        command = [PGBOUNCER, str(self.ini)]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "nobody"]  # PgBouncer refuses to run as root
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"pgbouncer stopped: {self.proc.stdout.read() if self.proc.stdout else ''}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "pgbouncer did not listen within 15 s"
                time.sleep(0.1)

    def url_for(self, direct_url: str) -> str:
        """``direct_url``'s database, reached through this PgBouncer."""
        return (
            make_url(direct_url)
            .set(host="127.0.0.1", port=self.port, password=None)
            .render_as_string(hide_password=False)
        )

    def stop(self) -> str:
        self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out or ""


def _require_pgbouncer() -> None:
    """Skip, saying why, where PostgreSQL or PgBouncer is missing."""
    if not PG_URL:
        pytest.skip(PG_SKIP)
    if PGBOUNCER is None:
        pytest.skip("pgbouncer not found: apt-get install pgbouncer (tools/install-test-deps installs it)")


@pytest.fixture
def pgbouncer(tmp_path):
    _require_pgbouncer()
    folder = tmp_path / "pgbouncer"
    folder.mkdir()
    bouncer = PgBouncer(folder)
    yield bouncer
    bouncer.stop()


@pytest.fixture(params=["postgresql"])
def backend(request):
    """PgBouncer and advisory locks are PostgreSQL's: these tests run on it alone."""
    return request.param


def _hub(make_app, database_url, pgbouncer, **extra):
    return make_app(
        pgbouncer.url_for(database_url),
        ROLE="hub",
        STATION={"code": "district", "name": "罗湖区", "kind": "party_service"},
        DATABASE_LISTEN_URL=database_url,
        DATABASE_CONNECTIONS=12,
        **extra,
    )


def _busy_district_admin(base: str, rounds: int, errors: list, statuses: list) -> None:
    """One browser of a district admin: log in, then read the dashboard again and again."""
    http = requests.Session()
    try:
        page = http.get(base + "/staff/login", timeout=30).text
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        http.post(
            base + "/staff/login",
            data={"username": "district1", "password": "pass-word-123", "csrf_token": token},
            timeout=30,
        )
        for _ in range(rounds):
            for path in ("/admin/district/", "/admin/district/summary.json", "/healthz"):
                statuses.append((path, http.get(base + path, timeout=30).status_code))
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def _run_busy(base: str, browsers: int = 4, rounds: int = 12) -> tuple[list, list]:
    errors: list = []
    statuses: list = []
    threads = [
        threading.Thread(target=_busy_district_admin, args=(base, rounds, errors, statuses)) for _ in range(browsers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return errors, statuses


def test_a_hub_behind_pgbouncer_in_transaction_mode_serves_and_pushes(make_app, database_url, pgbouncer, caplog):
    app = _hub(make_app, database_url, pgbouncer, DATABASE_PREPARE_THRESHOLD="none")
    assert app.extensions["db"].engine.url.port == pgbouncer.port  # really through PgBouncer
    notifier = app.extensions["kiosk_notifier"]
    deadline = time.monotonic() + 10
    while not notifier.listening and time.monotonic() < deadline:
        time.sleep(0.05)
    assert notifier.listening, "LISTEN on the direct URL never connected"
    create_account(app, "district1", "district", "pass-word-123")
    with caplog.at_level(logging.WARNING), LiveServer(app) as server:
        with EventStream(server.url, "/events/stream?channel=legal") as display:
            busy = threading.Thread(target=lambda: results.append(_run_busy(server.url)))
            results: list = []
            busy.start()
            with app.test_request_context("/"):
                for n in range(30):
                    emit("legal.ticket_called", {"ticket": f"A{n:03d}", "counter": 1}, channel="legal")
            busy.join(timeout=300)
            got = display.collect(30, timeout=15)
    errors, statuses = results[0]
    assert errors == []
    assert len(statuses) == 4 * 12 * 3
    assert {code for _path, code in statuses} == {200}, [s for s in statuses if s[1] != 200][:5]
    assert [data["ticket"] for _name, data in got] == [f"A{n:03d}" for n in range(30)]
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "prepared statement" not in said and "database unavailable" not in said


def test_with_server_side_prepared_statements_pgbouncer_breaks(make_app, database_url, pgbouncer, caplog):
    """Why the setting exists: the same load, each statement prepared on the server connection it ran on.

    Threshold 0 prepares at the first run; psycopg's default (5) does the same
    a little later, on whichever connection ran a statement five times.
    """
    app = _hub(make_app, database_url, pgbouncer, TESTING_NO_LISTENER=True, DATABASE_PREPARE_THRESHOLD=0)
    create_account(app, "district1", "district", "pass-word-123")
    with caplog.at_level(logging.WARNING), LiveServer(app) as server:
        errors, statuses = _run_busy(server.url)
    said = " ".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    broken = [s for s in statuses if s[1] != 200]
    assert errors or broken, "PgBouncer served psycopg's prepared statements: this test no longer shows anything"
    assert "prepared statement" in said or "DuplicatePreparedStatement" in said or "InvalidSqlStatementName" in said


def test_a_listen_through_pgbouncer_would_be_lost_so_it_goes_direct(make_app, database_url, pgbouncer):
    """Events emitted through PgBouncer wake a stream whose worker LISTENs on the direct URL, across apps."""
    display_app = _hub(make_app, database_url, pgbouncer, DATABASE_PREPARE_THRESHOLD="none")
    counter_app = _hub(make_app, database_url, pgbouncer, DATABASE_PREPARE_THRESHOLD="none", TESTING_NO_LISTENER=True)
    from kiosk.events import listen_url

    assert make_url(listen_url(display_app)).port == make_url(database_url).port != pgbouncer.port
    notifier = display_app.extensions["kiosk_notifier"]
    deadline = time.monotonic() + 10
    while not notifier.listening and time.monotonic() < deadline:
        time.sleep(0.05)
    with LiveServer(display_app) as server, EventStream(server.url, "/events/stream?channel=legal") as display:
        started = time.monotonic()
        with counter_app.test_request_context("/"):
            emit("legal.ticket_called", {"ticket": "B007", "counter": 2}, channel="legal")
        arrived = display.wait_at("legal.ticket_called", timeout=10)
    assert arrived is not None and arrived[1]["ticket"] == "B007"
    # Woken by the notification, not found by the 30-second safety read.
    assert arrived[0] - started < 5


@pytest.mark.parametrize("value", ["sometimes", "-1", 2.5])
def test_a_wrong_prepare_threshold_is_refused_with_a_message(make_app, database_url, value):
    from kiosk.config import ConfigError

    with pytest.raises(ConfigError, match="database_prepare_threshold"):
        make_app(database_url, DATABASE_PREPARE_THRESHOLD=value)


def test_the_prepare_threshold_reaches_psycopg(make_app, database_url):
    from sqlalchemy import text

    for value, expected in (("none", None), ("", None), (0, 0), ("7", 7)):
        app = make_app(database_url, DATABASE_PREPARE_THRESHOLD=value)
        with app.extensions["db"].engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
            assert conn.connection.dbapi_connection.prepare_threshold == expected
    default = make_app(database_url)
    with default.extensions["db"].engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        assert conn.connection.dbapi_connection.prepare_threshold == 5  # psycopg's own


def test_one_bounded_pool_per_process_and_a_503_when_it_is_exhausted(make_app, database_url, monkeypatch):
    """However many stations the hub holds, a worker opens at most DATABASE_CONNECTIONS; past that, 503."""
    from kiosk import db as kiosk_db
    from kiosk.models import Station

    monkeypatch.setattr(kiosk_db, "POOL_WAIT", 1)
    app = make_app(database_url, ROLE="hub", DATABASE_CONNECTIONS=3)
    engine = app.extensions["db"].engine
    assert engine.pool.size() + engine.pool._max_overflow == 3
    session = app.extensions["db"].Session()
    session.add_all(
        Station(
            code=f"s{n:03d}", name=f"站点{n}", kind="courier_station", timezone="Asia/Shanghai", disabled_plugins=[]
        )
        for n in range(140)
    )
    session.commit()
    session.close()
    held = [engine.connect() for _ in range(3)]
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
    finally:
        for conn in held:
            conn.close()
    assert app.test_client().get("/healthz").status_code == 200
    assert engine.pool.checkedout() == 0


# -- boot while the database is away -------------------------------------------------------
def test_a_server_whose_database_is_away_at_boot_keeps_trying_with_a_growing_pause(monkeypatch, tmp_path, caplog):
    """Never exits (systemd would give up), one log line per try, 2-4-8-15 s apart, then hands over."""
    from kiosk import server

    refused = f"postgresql+psycopg://kiosk@127.0.0.1:{_free_port()}/kiosk"  # nothing listens there
    monkeypatch.setenv("KIOSK_SECRET_KEY", "boot-while-away-" * 4)
    monkeypatch.setenv("KIOSK_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("KIOSK_STATION_FILE", str(tmp_path / "no-station.toml"))
    monkeypatch.setenv("KIOSK_DATABASE_URL", refused)
    built = []

    def ready(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"kiosk"]

    def factory():
        built.append(True)
        return ready

    waiting = server.WaitingForDatabase(factory, "OperationalError: connection refused")
    pauses: list[float] = []

    def pause(seconds):
        pauses.append(seconds)
        if len(pauses) == 5:  # the database comes back during the fifth pause
            waiting.url = "sqlite:///" + str(tmp_path / "back.db")

    waiting.sleep = pause
    answered = []
    body = waiting({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda status, headers: answered.append(status))
    assert answered == ["503 SERVICE UNAVAILABLE"] and b"temporarily unavailable" in b"".join(body)
    with caplog.at_level(logging.WARNING, logger="kiosk.server"):
        waiting.keep_trying()
    assert pauses == [2, 4, 8, 15, 15]
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(":")[0] for line in lines[:4]] == [
        f"still waiting for the database (attempt {n}" for n in (2, 3, 4, 5)
    ]
    assert "OperationalError" in lines[0] and lines[-1] == "the database answers after 6 attempts: the kiosk is ready"
    assert len(lines) == 5 and built == [True]
    answered.clear()
    assert waiting({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda s, h: answered.append(s)) == [b"kiosk"]


# -- a hub serving many stations' streams ----------------------------------------------------
def test_a_hub_wakes_each_stations_streams_only_and_its_connections_do_not_grow(make_app, database_url):
    """Twelve stations × 3 phones on one hub worker: each event rings that station's 3 streams, and
    the worker's PostgreSQL connections stay within its pool (plus LISTEN) however many streams are open."""
    from sqlalchemy import text

    from kiosk.models import Station

    # 36 phones from one test address: the per-client stream cap (8) is for real clients, not this one.
    app = make_app(
        database_url,
        ROLE="hub",
        STATION={"code": "district", "name": "罗湖区", "kind": "party_service"},
        STREAMS_PER_CLIENT=100,
    )
    connections = app.config["DATABASE_CONNECTIONS"]
    notifier = app.extensions["kiosk_notifier"]
    deadline = time.monotonic() + 10
    while not notifier.listening and time.monotonic() < deadline:
        time.sleep(0.05)
    session = app.extensions["db"].Session()
    rows = [
        Station(
            code=f"st{n:02d}", name=f"站点{n}", kind="courier_station", timezone="Asia/Shanghai", disabled_plugins=[]
        )
        for n in range(12)
    ]
    session.add_all(rows)
    session.commit()
    ids = {row.code: row.id for row in rows}
    session.close()
    probe = app.extensions["db"].engine.connect()  # this test's own reads of pg_stat_activity
    streams: dict[str, list[EventStream]] = {}
    try:
        with LiveServer(app) as server:
            for code in ids:
                streams[code] = [
                    EventStream(server.url, f"/events/stream?channel=legal&station={code}") for _ in range(3)
                ]
            assert notifier.streams == 36
            time.sleep(0.5)  # the streams' first reads are over
            rings = notifier.rings
            with app.test_request_context("/"):
                for code, station_id in ids.items():
                    emit("legal.ticket_called", {"ticket": code.upper()}, channel="legal", station_id=station_id)
            for code, phones in streams.items():
                for phone in phones:
                    got = phone.wait_for("legal.ticket_called", timeout=10)
                    assert got is not None and got["ticket"] == code.upper()
            assert notifier.rings - rings == 12 * 3  # each event: its station's 3 streams, nobody else
            for phones in streams.values():
                assert [len(p.events) for p in phones] == [1, 1, 1]  # nobody got another station's call
            opened = probe.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
            assert opened <= connections + 1, (opened, connections)  # the pool, and LISTEN
    finally:
        for phones in streams.values():
            for phone in phones:
                phone.close()
        probe.close()


def test_a_request_queued_in_pgbouncer_for_a_server_connection_is_served_not_cut(make_app, database_url, tmp_path):
    """Behind PgBouncer a kept connection's check waits in PgBouncer's queue while every server
    connection is in another transaction: a busy pool, not a hung database. The request is served
    once a server connection is free (within the connect timeout), not answered "unavailable"
    (seen in CI: a district admin's page got a 503 while other admins' requests kept the pool busy)."""
    import psycopg

    _require_pgbouncer()
    folder = tmp_path / "pgbouncer-one"
    folder.mkdir()
    bouncer = PgBouncer(folder, pool_size=1)
    try:
        app = _hub(make_app, database_url, bouncer, DATABASE_PREPARE_THRESHOLD="none", DATABASE_CONNECT_TIMEOUT=6.0)
        client = app.test_client()
        assert client.get("/healthz").status_code == 200  # a connection kept in the app's pool
        holding = threading.Event()

        libpq_url = make_url(bouncer.url_for(database_url)).set(drivername="postgresql")

        def hold_the_only_server_connection():
            with psycopg.connect(libpq_url.render_as_string(hide_password=False)) as conn:
                with conn.transaction():
                    conn.execute("SELECT 1")
                    holding.set()
                    time.sleep(2.5)

        holder = threading.Thread(target=hold_the_only_server_connection)
        holder.start()
        assert holding.wait(10)
        started = time.monotonic()
        response = client.get("/healthz")
        took = time.monotonic() - started
        holder.join(10)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        assert 1.5 < took < 6.0, f"{took:.1f} s"  # it really waited for the other transaction
        assert app.extensions["db"]._stalled_until == 0.0  # and nobody took the wait for a stall
    finally:
        bouncer.stop()
