"""The fixture ladder: database → app → client → runner, plus logins and plugins.

Every test that takes ``app`` runs twice: on SQLite and on PostgreSQL. The
PostgreSQL run needs ``KIOSK_TEST_DATABASE_URL`` (``.ci/run`` sets it to the
server at 127.0.0.1:5432, database ``test``); without it those runs skip and
say why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("KIOSK_TEST_DATABASE_URL", "")
PG_SKIP = (
    "PostgreSQL tests need KIOSK_TEST_DATABASE_URL, e.g. "
    "postgresql+psycopg://postgres@127.0.0.1:5432/test (.ci/run sets it)"
)
HERE = os.path.dirname(__file__)

BACKENDS = ["sqlite", "postgresql"]
IME_CACHE_DIR = os.path.join(tempfile.gettempdir(), "kiosk-test-ime-cache")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


# -- PostgreSQL databases ---------------------------------------------------
def _admin_engine():
    return create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")


def create_pg_database(name: str) -> str:
    """Create an empty PostgreSQL database (dropping a leftover one); returns its URL."""
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(name: str) -> None:
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def pg_worker_url():
    """One PostgreSQL database per test worker, migrated by the first app."""
    if not PG_URL:
        pytest.skip(PG_SKIP)
    name = f"kiosk_t_{_worker()}_{os.getpid()}"
    url = create_pg_database(name)
    yield url
    drop_pg_database(name)


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        # The database belongs to this test worker and the last test is over: a
        # connection still open (a server thread winding down, an idle transaction)
        # would block TRUNCATE's lock, so end it first.
        conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ))
        conn.execute(text("SET LOCAL lock_timeout = '20s'"))
        tables = [
            r[0]
            for r in conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            ))
        ]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file, copied for each test instead of migrating again."""
    from kiosk.app import create_app

    folder = tmp_path_factory.mktemp("sqlite-template")
    app = create_app(_base_config(str(folder), "sqlite:///" + str(folder / "kiosk.db")))
    app.extensions["db"].dispose()
    return str(folder / "kiosk.db")


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def database_url(backend, tmp_path, request):
    """A clean database for one test, on the backend of this run."""
    if backend == "sqlite":
        path = tmp_path / "kiosk.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return "sqlite:///" + str(path)
    url = request.getfixturevalue("pg_worker_url")
    _truncate_all(url)
    return url


@pytest.fixture
def fresh_database_url(backend, tmp_path):
    """An empty, unmigrated database (for migration tests and extra plugins)."""
    if backend == "sqlite":
        yield "sqlite:///" + str(tmp_path / "fresh.db")
        return
    if not PG_URL:
        pytest.skip(PG_SKIP)
    name = f"kiosk_f_{uuid.uuid4().hex[:12]}"
    url = create_pg_database(name)
    yield url
    drop_pg_database(name)


# -- apps -------------------------------------------------------------------
def _base_config(instance: str, url: str, **extra) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "DATABASE_URL": url,
        "INSTANCE_PATH": instance,
        "STATION_FILE": "",
        "START_DEVICES": False,
        "RUN_JOBS": False,
        "TESTING_NO_LISTENER": False,
        "IME_PRELOAD": False,
        # One pinyin dictionary cache for the whole run instead of a build per app.
        "IME_CACHE_DIR": IME_CACHE_DIR,
        "STATION": {"code": "shuibei", "name": "水贝社区党群服务中心", "kind": "party_service"},
        "DEVICES": {"printer": {"type": "preview", "folder": os.path.join(instance, "receipts")}, "readers": {}},
    }
    config.update(extra)
    return config


@pytest.fixture
def make_app(tmp_path):
    """Build an app with extra config; closes its database at the end."""
    from kiosk.app import create_app

    made = []

    def factory(url: str, **extra):
        instance = tmp_path / f"instance-{len(made)}"
        instance.mkdir()
        app = create_app(_base_config(str(instance), url, **extra))
        made.append(app)
        return app

    yield factory
    for app in made:
        stop = app.extensions.get("kiosk_listener_stop")
        if stop is not None:
            stop.set()
        printing = app.extensions.get("kiosk_printing")
        if printing is not None:
            printing.shutdown()
        app.extensions["db"].dispose()


@pytest.fixture
def app(make_app, database_url):
    return make_app(database_url)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Auth:
    """Logs a test client in as staff or admin, creating the account first."""

    def __init__(self, app, client):
        self.app, self.client = app, client

    def create(self, username="staff1", password="correct-horse", role="staff"):
        from kiosk.auth import create_user

        with self.app.app_context():
            session = self.app.extensions["db"].Session()
            create_user(session, username, password, role=role,
                        station_id=self.app.extensions["kiosk_station_id"])
            session.commit()
            session.close()
        return username, password

    def login(self, role="staff", username=None, password="correct-horse"):
        username = username or f"{role}1"
        self.create(username, password, role)
        self.client.get("/staff/login")
        return self.client.post("/staff/login", data={
            "username": username, "password": password, "csrf_token": csrf_of(self.client),
        })


@pytest.fixture
def auth(app, client):
    return Auth(app, client)


def csrf_of(client) -> str:
    """The CSRF token of the client's session (after it loaded any page)."""
    with client.session_transaction() as sess:
        token = sess.get("_csrf")
    if not token:
        client.get("/")
        with client.session_transaction() as sess:
            token = sess.get("_csrf")
    return token


@pytest.fixture
def csrf():
    return csrf_of


# -- the third-party plugin, installed for real --------------------------------
@pytest.fixture(scope="session")
def hello_plugin_path(tmp_path_factory):
    """pip-installs tests/plugin_hello into a private folder on sys.path.

    The kiosk then finds it by its entry point, exactly as it would find a
    plugin an operator installed.
    """
    target = tmp_path_factory.mktemp("site-hello")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), os.path.join(HERE, "plugin_hello")],
        check=True,
        capture_output=True,
    )
    return str(target)


@pytest.fixture
def hello_installed(hello_plugin_path):
    sys.path.insert(0, hello_plugin_path)
    try:
        yield hello_plugin_path
    finally:
        # Off the path, its entry point is gone for the next app; the imported
        # module stays cached because its table is defined on the shared metadata.
        sys.path.remove(hello_plugin_path)


# -- a real browser ------------------------------------------------------------
CHROMIUM = os.environ.get("KIOSK_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT_DIR = os.environ.get("KIOSK_SCREENSHOT_DIR") or os.path.join(
    os.path.dirname(HERE), "test-artifacts", "screenshots")


class LiveServer:
    """A real HTTP server (werkzeug, threaded) around an app, on a free port."""

    def __init__(self, app):
        import threading

        from werkzeug.serving import make_server

        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def sqlite_app(make_app, tmp_path, request):
    """An app on SQLite only, for checks that need not run on both databases."""
    shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "single.db")
    return make_app("sqlite:///" + str(tmp_path / "single.db"))


@pytest.fixture
def browser_app(make_app, tmp_path, request):
    """An app for browser tests: SQLite (the HTTP tests cover PostgreSQL), short idle timer."""
    shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "browser.db")
    extra = getattr(request, "param", None) or {}
    return make_app("sqlite:///" + str(tmp_path / "browser.db"), IDLE_SECONDS=3, IDLE_COUNTDOWN_SECONDS=2,
                    SSE_MAX_SECONDS=20, **extra)


@pytest.fixture
def live_server(browser_app):
    server = LiveServer(browser_app)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright's bundled driver (no browser download)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync",
                  "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A portrait 1080×1920 touch screen, as the kiosk is."""
    context = chromium.new_context(viewport={"width": 1080, "height": 1920}, has_touch=True, is_mobile=True,
                                   device_scale_factor=1, locale="zh-CN")
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


def save_screenshot(page, name: str) -> str:
    """Save a screenshot under the run's screenshot folder for a person to look at."""
    os.makedirs(SCREENSHOT_DIR, exist_ok=True)
    path = os.path.join(SCREENSHOT_DIR, f"{name}.png")
    page.screenshot(path=path, full_page=True)
    return path
