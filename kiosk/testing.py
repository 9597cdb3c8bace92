"""The kiosk's pytest fixture ladder, for the kiosk's own tests and for plugin authors.

These fixtures are a pytest plugin: the ``pytest11`` entry point
``kiosk.testing`` loads them in every pytest run once the kiosk is installed,
and ``-p kiosk.testing`` (the scaffold puts it in the plugin's ``addopts``)
loads them explicitly; both name the plugin ``kiosk.testing``, so pytest loads
it once either way. The kiosk's own ``tests/conftest.py`` adds only what is
particular to that repository (its browser, its test plugin package).

The ladder, each rung built on the one before:

- ``backend``: ``"sqlite"`` or ``"postgresql"``; every test that climbs the
  ladder runs once on each. PostgreSQL comes from ``KIOSK_TEST_DATABASE_URL``
  (for example ``postgresql+psycopg://postgres@127.0.0.1:5432/test``); without
  it the PostgreSQL runs are skipped and say so;
- ``database_url``: a clean, migrated database for one test: on SQLite a copy
  of a file migrated once per run, on PostgreSQL one database per test worker
  (``pytest -n``-safe), emptied before each test;
- ``make_app``: ``make_app(url, **config)`` builds another app on a database
  (a second kiosk on the same database, a fleet server), closed at the end;
- ``app``: a kiosk app on ``database_url`` with every installed plugin loaded
  (so the plugin under test, once ``pip install``-ed, is there as an operator
  would have it);
- ``client``: its Flask test client; ``runner``: its CLI runner;
- ``csrf``: ``csrf(client)`` gives the token a form must send;
- ``login``: ``login("staff")`` (or ``"admin"``, ``"district"``) creates an
  account with that role and logs ``client`` in;
- ``fixed_clock``: the app's clock stopped at the test's start, to be set or
  moved by hand (see :class:`FixedClock`);
- ``fresh_database_url``: an empty, unmigrated database on the backend;
- ``terminal_client``: a second test client of ``app`` enrolled as the
  station's kiosk terminal ``kiosk-1`` (the one the station file's readers
  belong to): card taps published with ``reader_hub.publish(event)`` reach
  its ``/events/reader`` stream, and what they hand its pages it can post back.

Override ``kiosk_config`` in a ``conftest.py`` to add settings (for example
``{"PLUGINS": {"venue": {"booking_days": 3}}}``), ``kiosk_extra_plugins`` to
load a plugin module that is not installed (``{"venue": kiosk_venue}``), or
``backend`` (``@pytest.fixture(params=["sqlite"])``) to run on SQLite only.

Helpers for test bodies: :func:`count_rows`, :func:`printed_receipts`,
:func:`csrf_of`, :func:`enrol_terminal` (a test client becomes a terminal),
:func:`terminal_credential` (the cookie for a browser or a raw HTTP client),
:class:`Auth`, :class:`LiveServer` (a real HTTP server) and
:class:`EventStream` (a server-sent-events stream read once it is open).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

__all__ = [
    "BACKENDS",
    "IME_CACHE_DIR",
    "PG_SKIP",
    "PG_URL",
    "TEST_PASSWORD",
    "TEST_SECRET_KEY",
    "Auth",
    "EventStream",
    "FixedClock",
    "LiveServer",
    "app_config",
    "close_app",
    "count_rows",
    "create_account",
    "create_pg_database",
    "csrf_of",
    "enrol_terminal",
    "drop_pg_database",
    "free_port",
    "install_into",
    "printed_receipts",
    "run_at_once",
    "save_screenshot",
    "start_folder",
    "terminal_credential",
    "wait_for",
    "wait_for_start",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a server a test starts)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], object], seconds: float, what: str, every: float = 0.1):
    """Call ``check()`` until it returns something true, and return that; fail naming ``what`` after ``seconds``.

    For what another process or thread does in its own time (a server that
    starts, a sync that lands): the bound is generous, the poll short.
    """
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds} s waiting for {what}")
        time.sleep(every)


#: Not a secret: tests only. The app refuses the built-in default key.
TEST_SECRET_KEY = "test-secret-key-not-for-production"
#: The password of the accounts :func:`create_account`, :class:`Auth` and ``login`` make.
TEST_PASSWORD = "correct-horse"
#: One pinyin dictionary cache for every test run on the machine instead of a build per app.
IME_CACHE_DIR = os.path.join(tempfile.gettempdir(), "kiosk-test-ime-cache")
#: One folder of compiled templates and parsed catalogs for every app of a test run, keyed by each
#: source's checksum (an installed station keeps them in its instance's ``cache``): a test's
#: app compiled each template it rendered again, some 10 ms apiece.
_TEMPLATE_CACHE_DIR = os.path.join(tempfile.gettempdir(), "kiosk-test-template-cache")
#: The values of the ``backend`` fixture: every test on the ladder runs on each.
BACKENDS = ("sqlite", "postgresql")
#: The PostgreSQL server the tests may create databases on (empty: PostgreSQL runs are skipped).
PG_URL = os.environ.get("KIOSK_TEST_DATABASE_URL", "")
#: Why a PostgreSQL run was skipped.
PG_SKIP = (
    "PostgreSQL tests need KIOSK_TEST_DATABASE_URL, e.g. "
    "postgresql+psycopg://postgres@127.0.0.1:5432/test (.ci/run sets it)"
)
#: The station every test app is, unless a test's config names another.
TEST_STATION = {"code": "shuibei", "name": "水贝社区党群服务中心", "kind": "party_service"}


#: Where :func:`save_screenshot` writes: ``KIOSK_SCREENSHOT_DIR``, else test-artifacts/screenshots
#: under pytest's root folder (set when pytest starts; the working folder before that).
_screenshot_dir = os.environ.get("KIOSK_SCREENSHOT_DIR") or os.path.join(os.getcwd(), "test-artifacts", "screenshots")


#: Password hashes made by tests: scrypt at a cost a test can afford (N=1024 instead of 32768).
TEST_HASH_METHOD = "scrypt:1024:8:1"


def pytest_configure(config) -> None:
    """Aim screenshots at the run's root folder; hash test passwords cheaply.

    Every login in a test would otherwise spend a production scrypt (hundreds of
    milliseconds) creating the account and as much again checking it.
    """
    from kiosk import auth

    auth.HASH_METHOD = TEST_HASH_METHOD
    global _screenshot_dir
    if not os.environ.get("KIOSK_SCREENSHOT_DIR"):
        _screenshot_dir = os.path.join(str(config.rootpath), "test-artifacts", "screenshots")


# -- configs and apps ------------------------------------------------------------
def _merged(config: dict, extra: dict) -> dict:
    """``config`` with ``extra`` on top; a dict setting (``DEVICES``, ``PLUGINS``) is merged one level deep."""
    merged = dict(config)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def app_config(instance_path: str, database_url: str, **extra) -> dict:
    """The config of a test app: no station file, no devices, no scheduler, a preview printer.

    ``extra`` settings go on top; a dict setting such as ``DEVICES`` or
    ``STATION`` is merged with the default one key deep.
    """
    config = {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": instance_path,
        # An operator's station file or KIOSK_* settings must not leak into a test.
        "STATION_FILE": "",
        "START_DEVICES": False,
        "RUN_JOBS": False,
        "IME_PRELOAD": False,
        "IME_CACHE_DIR": IME_CACHE_DIR,
        "CACHE_DIR": _TEMPLATE_CACHE_DIR,
        # A station gives up on a connection after 3 s and then answers 503 for a moment (a hung
        # database); a test machine running four workers, browsers and PostgreSQL on two cores has
        # been seen taking that long to open one, which failed a test that had nothing to do with it.
        "DATABASE_CONNECT_TIMEOUT": 10.0,
        "STATION": dict(TEST_STATION),
        "DEVICES": {"printer": {"type": "preview", "folder": os.path.join(instance_path, "receipts")}, "readers": {}},
    }
    return _merged(config, extra)


def close_app(app) -> None:
    """Stop what an app started (push listener, print worker, card readers) and close its database."""
    from kiosk.app import close_app as close

    close(app)


# -- PostgreSQL databases ----------------------------------------------------------
def _admin_engine():
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    return create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")


def create_pg_database(name: str) -> str:
    """Create an empty database ``name`` on ``KIOSK_TEST_DATABASE_URL``'s server (dropping a leftover one).

    Returns its URL. Skips the test when no PostgreSQL server is configured.
    """
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    if not PG_URL:
        pytest.skip(PG_SKIP)
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(name: str) -> None:
    """Drop the database ``name`` made by :func:`create_pg_database`, closing its connections."""
    from sqlalchemy import text

    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def _empty_tables(url: str) -> None:
    """Empty every table but alembic's, so the next test starts on a migrated, empty database.

    Only the tables that hold rows are emptied, and only the sequences that were
    used are restarted: after a test most of the sixty-odd tables are still
    empty, and a ``TRUNCATE`` of them all (each gets new files) cost about a
    second a test. Rows go with ``DELETE`` under ``session_replication_role =
    replica`` (no foreign-key or other trigger fires, so the order does not
    matter, as with ``TRUNCATE ... CASCADE``); a server role that may not set it
    gets the ``TRUNCATE`` of every table instead.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with _cleaner(url).begin() as conn:
        # The database belongs to this test worker and the last test is over: a
        # connection still open (a server thread winding down, an idle transaction)
        # would block the lock on its tables, so end it first.
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                # A role that is no superuser may end its own sessions only.
                "AND (usename = current_user OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))"
            )
        )
        conn.execute(text("SET LOCAL lock_timeout = '20s'"))
        tables = [
            row[0]
            for row in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
            )
        ]
        if not tables:
            return
        # The tables' own sequences (serial and identity columns, what RESTART IDENTITY
        # restarts) that were read since their last restart.
        sequences = [
            row[0]
            for row in conn.execute(
                text(
                    "SELECT s.relname FROM pg_class s "
                    "JOIN pg_namespace n ON n.oid = s.relnamespace AND n.nspname = 'public' "
                    "JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid "
                    "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
                    "JOIN pg_class t ON t.oid = d.refobjid AND t.relname <> 'alembic_version' "
                    "WHERE s.relkind = 'S' "
                    "AND CASE WHEN s.relkind = 'S' THEN pg_sequence_last_value(s.oid) END IS NOT NULL"
                )
            )
        ]
        holding = [
            row[0]
            for row in conn.execute(
                text(
                    " UNION ALL ".join(
                        f'(SELECT CAST(:t{k} AS text) FROM "{table}" LIMIT 1)' for k, table in enumerate(tables)
                    )
                ),
                {f"t{k}": table for k, table in enumerate(tables)},
            )
        ]
        try:
            with conn.begin_nested():
                conn.execute(text("SET LOCAL session_replication_role = replica"))
        except DBAPIError:  # not a superuser: empty them all the slow way
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            return
        for table in holding:
            conn.execute(text(f'DELETE FROM "{table}"'))
        for sequence in sequences:
            conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
        conn.execute(text("SET LOCAL session_replication_role = DEFAULT"))


#: One engine per worker database for :func:`_empty_tables`, kept between tests (a new
#: engine asks the server its version and settings again on its first connection).
_cleaners: dict = {}


def _cleaner(url: str):
    engine = _cleaners.get(url)
    if engine is None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        # No pool: no connection of its own stays open into the test (tests count them).
        engine = _cleaners[url] = create_engine(url, poolclass=NullPool)
    return engine


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


# -- the ladder --------------------------------------------------------------------
@pytest.fixture
def kiosk_config() -> dict:
    """Extra config for every app the ladder builds; override it in a conftest.py."""
    return {}


@pytest.fixture
def kiosk_extra_plugins() -> dict:
    """Plugin modules to load besides the installed ones (name → module); override to use."""
    return {}


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """``"sqlite"`` or ``"postgresql"``: the database of this run of the test."""
    return request.param


@pytest.fixture(scope="session")
def kiosk_database_template(tmp_path_factory) -> str:
    """A SQLite file migrated once per run with the installed plugins; each SQLite test gets a copy."""
    from kiosk.app import create_app

    folder = tmp_path_factory.mktemp("kiosk-template")
    path = folder / "kiosk.db"
    close_app(create_app(app_config(str(folder), "sqlite:///" + str(path))))
    return str(path)


@pytest.fixture(scope="session")
def pg_worker_url() -> Iterator[str]:
    """One PostgreSQL database per test process (each ``pytest -n`` worker has its own), migrated by its first app."""
    if not PG_URL:
        pytest.skip(PG_SKIP)
    name = f"kiosk_t_{_worker()}_{os.getpid()}"
    url = create_pg_database(name)
    yield url
    cleaner = _cleaners.pop(url, None)
    if cleaner is not None:
        cleaner.dispose()
    drop_pg_database(name)


@pytest.fixture
def database_url(backend, tmp_path, request) -> str:
    """A clean, migrated database for one test, on this run's backend."""
    if backend == "sqlite":
        path = tmp_path / "kiosk.db"
        # Copying a migrated file is much faster than migrating again; the app still
        # applies whatever the template lacks (an extra plugin's branch) at start.
        shutil.copy(request.getfixturevalue("kiosk_database_template"), path)
        return "sqlite:///" + str(path)
    url = request.getfixturevalue("pg_worker_url")
    _empty_tables(url)
    return url


@pytest.fixture
def fresh_database_url(backend, tmp_path) -> Iterator[str]:
    """An empty, unmigrated database on this run's backend (for migration tests)."""
    if backend == "sqlite":
        yield "sqlite:///" + str(tmp_path / "fresh.db")
        return
    name = f"kiosk_f_{uuid.uuid4().hex[:12]}"
    url = create_pg_database(name)
    yield url
    drop_pg_database(name)


@pytest.fixture
def make_app(tmp_path, kiosk_config, kiosk_extra_plugins):
    """``make_app(url, **config)`` → a new app on ``url``, with ``kiosk_config`` and then ``config`` on top.

    Every app made is closed when the test ends. ``EXTRA_PLUGINS`` given here
    is added to ``kiosk_extra_plugins``.
    """
    from kiosk.app import create_app

    made = []

    def factory(url: str, **extra):
        instance = tmp_path / f"instance-{len(made)}"
        instance.mkdir()
        config = app_config(str(instance), url, **kiosk_config)
        plugins = {**kiosk_extra_plugins, **extra.pop("EXTRA_PLUGINS", {})}
        if plugins:
            extra["EXTRA_PLUGINS"] = plugins
        made.append(create_app(_merged(config, extra)))
        return made[-1]

    yield factory
    for app in made:
        close_app(app)


@pytest.fixture
def app(make_app, database_url):
    """A migrated kiosk app on this test's clean database, with every installed plugin loaded."""
    return make_app(database_url)


@pytest.fixture
def client(app):
    """The app's test client."""
    return app.test_client()


@pytest.fixture
def terminal_client(app):
    """A test client of ``app`` enrolled as the kiosk terminal ``kiosk-1``, through its enrolment link."""
    terminal_client = app.test_client()
    enrol_terminal(terminal_client, app)
    return terminal_client


@pytest.fixture
def runner(app):
    """The app's CLI runner: ``runner.invoke(args=["db", "current"])``."""
    return app.test_cli_runner()


@pytest.fixture
def csrf():
    """``csrf(client)`` → the token to send with a form or as ``X-CSRF-Token``."""
    return csrf_of


@pytest.fixture
def login(app, client):
    """``login(role="staff")`` creates an account with ``role`` and logs ``client`` in.

    Returns the login response (a redirect to the staff console when it worked).
    """
    made: set[str] = set()

    def log_in(role: str = "staff", username: str | None = None, password: str = TEST_PASSWORD):
        username = username or f"test-{role}"
        if username not in made:
            create_account(app, username, role, password)
            made.add(username)
        client.get("/staff/login")
        return client.post(
            "/staff/login", data={"username": username, "password": password, "csrf_token": csrf_of(client)}
        )

    return log_in


@pytest.fixture
def fixed_clock(app) -> Iterator[FixedClock]:
    """The app's clock, stopped at the test's start: ``fixed_clock.set(…)``, ``fixed_clock.advance(minutes=5)``."""
    from kiosk import clock

    stopped = FixedClock(datetime.now(UTC))
    clock.set_clock(app, stopped)
    yield stopped
    clock.set_clock(app, None)


# -- helpers for test bodies ----------------------------------------------------------
def csrf_of(client) -> str:
    """The CSRF token of ``client``'s session, loading the home page first if it has none."""
    with client.session_transaction() as session:
        token = session.get("_csrf")
    if not token:
        client.get("/")
        with client.session_transaction() as session:
            token = session.get("_csrf")
    return token


def enrol_terminal(client, app, name: str = "kiosk-1", kind: str = "kiosk") -> str:
    """Add terminal ``name`` to the app's station and open its enrolment link with ``client``; returns its name.

    ``client`` then holds the terminal's credential cookie, as the terminal's
    browser would.
    """
    from kiosk.terminals import add, enrolment_path

    with app.app_context():
        from kiosk.db import session_for

        with session_for(app, write=True) as session:
            _terminal, token = add(session, app.extensions["kiosk_station_id"], name, kind)
            session.commit()
    response = client.get(enrolment_path(token))
    if response.status_code != 302:
        raise AssertionError(f"enrolling terminal {name} answered {response.status_code}")
    return name


def terminal_credential(app, name: str = "kiosk-1", kind: str = "kiosk") -> str:
    """Add and enrol terminal ``name`` directly; returns the value of its credential cookie (``kiosk_terminal``).

    For a browser (``LiveServer.enrol``) or a raw HTTP client
    (``EventStream(..., headers={"Cookie": f"kiosk_terminal={value}"})``).
    """
    from kiosk.terminals import add, enrol

    with app.app_context():
        from kiosk.db import session_for

        with session_for(app, write=True) as session:
            _terminal, token = add(session, app.extensions["kiosk_station_id"], name, kind)
            enrolled = enrol(session, token)
            session.commit()
    assert enrolled is not None, "a fresh enrolment token always enrols"
    return enrolled[1]


def create_account(app, username: str, role: str = "staff", password: str = TEST_PASSWORD) -> None:
    """Add an account of ``role`` at the app's station."""
    from kiosk.auth import create_user
    from kiosk.db import session_for

    with app.app_context(), session_for(app) as session:
        create_user(session, username, password, role=role, station_id=app.extensions["kiosk_station_id"])
        session.commit()


class Auth:
    """Logs any test client of ``app`` in as staff, admin or district, creating the account first."""

    def __init__(self, app, client):
        self.app, self.client = app, client

    def create(self, username: str = "staff1", password: str = TEST_PASSWORD, role: str = "staff"):
        """Add the account; returns ``(username, password)``."""
        create_account(self.app, username, role, password)
        return username, password

    def login(self, role: str = "staff", username: str | None = None, password: str = TEST_PASSWORD):
        """Create ``username`` (``<role>1`` by default) and log the client in; returns the login response."""
        username = username or f"{role}1"
        self.create(username, password, role)
        self.client.get("/staff/login")
        return self.client.post(
            "/staff/login",
            data={
                "username": username,
                "password": password,
                "csrf_token": csrf_of(self.client),
            },
        )


def install_into(source, target, timeout: float = 300.0) -> str:
    """``pip install`` the plugin package at ``source`` into the folder ``target``; returns ``target``.

    Put the folder on ``sys.path`` (or ``PYTHONPATH`` for a child process) and
    the kiosk finds the plugin by its entry point, as it would once an
    operator installed it. No dependencies and no build isolation: it works
    offline and takes a second. The package is built from a private copy of
    ``source``: setuptools writes its ``build`` and ``*.egg-info`` folders
    into the tree it builds, so two test processes installing one plugin at
    the same moment (pytest-xdist) broke each other's build.
    """
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    with tempfile.TemporaryDirectory(prefix="kiosk-plugin-source-") as scratch:
        copy = os.path.join(scratch, os.path.basename(os.path.normpath(str(source))))
        shutil.copytree(str(source), copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        subprocess.run([*command, "--target", str(target), copy], check=True, capture_output=True, timeout=timeout)
    return str(target)


def run_at_once(script: str, *args: str, processes: int, folder, timeout: float = 60.0) -> list[str]:
    """Run ``script`` (Python source) in ``processes`` child processes that start their work together.

    The way to prove that something is claimed once or numbered without gaps
    across kiosks: every child builds its app first, then waits until all are
    ready, so the work races for real. In the child, ``sys.argv[1:]`` is
    ``args``; call :func:`wait_for_start` once set up, and print what you
    want back. Each child gets a folder of its own for its instance
    (:func:`wait_for_start` returns it). Returns each child's standard output;
    a child that fails fails the test with its error output.
    """
    go = os.path.join(str(folder), "go")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    procs, ready = [], []
    for k in range(processes):
        instance = os.path.join(str(folder), f"process-{k}")
        os.makedirs(instance, exist_ok=True)
        ready.append(os.path.join(str(folder), f"ready-{k}"))
        env_k = dict(env, KIOSK_TEST_START=os.pathsep.join((instance, ready[-1], go)))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", script, *args], env=env_k, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        )
    try:
        deadline = time.monotonic() + timeout
        while not all(os.path.exists(r) for r in ready):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            assert not failed, [p.communicate()[1].decode()[-2000:] for p in failed]
            assert time.monotonic() < deadline, "the processes did not get ready in time"
            time.sleep(0.02)
        open(go, "w").close()  # an empty file is the signal
        out = []
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, stderr.decode()[-3000:]
            out.append(stdout.decode())
        return out
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def wait_for_start() -> str:
    """In a child of :func:`run_at_once`: say this one is ready, wait for the others; its instance folder.

    Call it after the app is built and logged in, just before the work that
    must race.
    """
    instance, ready, go = os.environ["KIOSK_TEST_START"].split(os.pathsep)
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.005)
    return instance


def start_folder() -> str:
    """In a child of :func:`run_at_once`: its own instance folder (before :func:`wait_for_start`)."""
    return os.environ["KIOSK_TEST_START"].split(os.pathsep)[0]


def count_rows(app, model, *where) -> int:
    """How many rows of ``model`` (a model class or table) match the ``where`` conditions.

    ``count_rows(app, VenueBooking, VenueBooking.status == "booked")``
    """
    from sqlalchemy import func, select

    from kiosk.db import session_for

    with app.app_context(), session_for(app) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def printed_receipts(app, layout: str | None = None, timeout: float = 10.0) -> list:
    """The receipts the app's (preview) printer has printed, oldest first, as ``Receipt`` objects.

    Waits up to ``timeout`` seconds for queued jobs to finish first; ``layout``
    (``"venue.slip"``) keeps that layout's only. Read one with
    ``receipt.plain_text()``; a failed job is not among them.
    """
    from sqlalchemy import select

    from kiosk.db import session_for
    from kiosk.models import PrintJob
    from kiosk_hardware.receipt import Receipt

    query = select(PrintJob).where(PrintJob.station_id == app.extensions["kiosk_station_id"])
    if layout is not None:
        query = query.where(PrintJob.layout == layout)
    deadline = time.monotonic() + timeout
    with app.app_context():
        while True:
            with session_for(app) as session:
                jobs = session.scalars(query.order_by(PrintJob.created_at, PrintJob.id)).all()
            busy = any(job.state in ("queued", "printing") for job in jobs)
            if not busy or time.monotonic() > deadline:
                return [Receipt.from_dict(job.receipt) for job in jobs if job.state == "done"]
            time.sleep(0.05)


def save_screenshot(page, name: str) -> str:
    """Save a full-page screenshot of a Playwright ``page`` as ``<name>.png`` for a person to look at.

    It goes to ``KIOSK_SCREENSHOT_DIR``, else test-artifacts/screenshots/ under
    pytest's root folder; returns the file's path.
    """
    os.makedirs(_screenshot_dir, exist_ok=True)
    path = os.path.join(_screenshot_dir, f"{name}.png")
    page.screenshot(path=path, full_page=True)
    return path


class FixedClock:
    """A clock that stands still until told: give it to ``kiosk.clock.set_clock(app, …)``.

    The ``fixed_clock`` fixture installs one on ``app``. ``set`` accepts an
    aware datetime (or a naive one, read as UTC).
    """

    def __init__(self, at: datetime):
        self.at = self._aware(at)

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> datetime:
        """Stop the clock at ``at``; returns it, aware."""
        self.at = self._aware(at)
        return self.at

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move the clock on by ``delta`` or by ``timedelta(**parts)`` (``minutes=5``); returns the new time."""
        self.at = self.at + (delta or timedelta(**parts))
        return self.at

    @staticmethod
    def _aware(at: datetime) -> datetime:
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class LiveServer:
    """A real HTTP server (werkzeug, threaded) around an app on a free port: ``url``, ``port``, ``stop()``.

    For what the test client cannot do: a browser, a server-sent-events stream.
    Use it as a context manager, or call ``stop()`` in a ``finally``.
    """

    def __init__(self, app):
        from werkzeug.serving import make_server

        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def enrol(self, target, name: str = "kiosk-1", kind: str = "kiosk") -> str:
        """Make a Playwright page's (or context's) browser terminal ``name`` of this server's station.

        Card taps published for that terminal (``reader_hub.publish(event)``
        for ``kiosk-1``, the station's own) then reach its kiosk pages.
        Returns the credential.
        """
        from kiosk.terminals import COOKIE

        credential = terminal_credential(self.app, name, kind)
        context = getattr(target, "context", target)
        context.add_cookies([{"name": COOKIE, "value": credential, "url": self.url, "httpOnly": True}])
        return credential

    def stop(self) -> None:
        """Stop serving (open streams end on their own when their connection closes)."""
        self.server.shutdown()

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class EventStream:
    """A server-sent-events stream (``/events/stream?channel=…``, ``/events/reader?screen=…``) read in a thread.

    The constructor returns once the stream's first line has arrived: by then
    the server has taken its starting point (or subscribed the screen), so
    whatever the test does next is delivered; no sleeping "until it is open".
    ``events`` holds ``(monotonic time, name, data)`` as they come. ::

        with EventStream(server.url, "/events/stream?channel=venue") as stream:
            client.post(...)
            data = stream.wait_for("venue.booked", timeout=5)
    """

    def __init__(self, base_url: str, path: str, timeout: float = 10.0, headers: dict | None = None):
        host, _, port = base_url.removeprefix("http://").partition(":")
        self.events: list[tuple[float, str, dict]] = []
        self.conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout + 20)
        self._open = threading.Event()
        self._error: BaseException | None = None
        self._closed = False
        self._headers = dict(headers or {})
        self.thread = threading.Thread(target=self._read, args=(path,), daemon=True)
        self.thread.start()
        if not self._open.wait(timeout):
            self.close()
            raise AssertionError(f"{path} sent nothing in {timeout} s")
        if self._error is not None:
            raise AssertionError(f"{path} did not open: {self._error}")

    def _read(self, path: str) -> None:
        try:
            self.conn.request("GET", path, headers={"Accept": "text/event-stream", **self._headers})
            response = self.conn.getresponse()
            if response.status != 200 or not (response.getheader("Content-Type") or "").startswith("text/event-stream"):
                raise AssertionError(f"answered {response.status} {response.getheader('Content-Type')}")
            name = None
            first = True
            while not self._closed:
                raw = response.readline()
                if not raw:
                    return
                if first:
                    first = False
                    self._open.set()
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name:
                    self.events.append((time.monotonic(), name, json.loads(line[6:])))
                    name = None
        except Exception as exc:  # noqa: BLE001 - hanging up mid-read fails in many ways; only report others
            if not self._closed:
                self._error = exc
        finally:
            self._open.set()

    def wait_for(self, name: str, timeout: float = 5.0, where: Callable[[dict], bool] | None = None):
        """The data of the first event called ``name`` (and matching ``where``), or None after ``timeout`` s."""
        found = self.wait_at(name, timeout, where)
        return found[1] if found else None

    def wait_at(self, name: str, timeout: float = 5.0, where: Callable[[dict], bool] | None = None):
        """``(monotonic time it arrived, data)`` of the first such event, or None after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            for at, event, data in list(self.events):
                if event == name and (where is None or where(data)):
                    return at, data
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)

    def collect(self, want: int, timeout: float = 5.0) -> list[tuple[str, dict]]:
        """``(name, data)`` of the first ``want`` events, or of fewer once ``timeout`` s have passed."""
        deadline = time.monotonic() + timeout
        while len(self.events) < want and time.monotonic() < deadline:
            time.sleep(0.01)
        return [(name, data) for _at, name, data in self.events[:want]]

    def close(self) -> None:
        """Hang up; the server's generator ends at its next write."""
        self._closed = True
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(2)
            except OSError:
                pass
        self.conn.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
