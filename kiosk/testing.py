"""Pytest fixtures for testing a kiosk plugin from the plugin's own folder.

A plugin made by ``kiosk plugins new`` tests itself with these. They are a
pytest plugin: the ``pytest11`` entry point ``kiosk.testing`` loads them in
every pytest run once the kiosk is installed, and ``-p kiosk.testing`` (the
scaffold puts it in the plugin's ``addopts``) loads them explicitly; both
name the plugin ``kiosk.testing``, so pytest loads it once either way.

The fixture ladder is the project's own:

- ``app``: a kiosk app on a new SQLite database in the test's temporary
  folder, migrated, with every installed plugin loaded (so the plugin under
  test, once ``pip install``-ed, is there as an operator would have it);
- ``client``: its Flask test client;
- ``csrf``: ``csrf(client)`` gives the token a form must send;
- ``login``: ``login("staff")`` (or ``"admin"``, ``"district"``) creates an
  account with that role and logs ``client`` in.

Override ``kiosk_config`` in a ``conftest.py`` to add settings (for example
``{"PLUGINS": {"venue": {"booking_days": 3}}}``), or ``kiosk_extra_plugins``
to load a plugin module that is not installed (``{"venue": kiosk_venue}``).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

#: Not a secret: tests only. The app refuses the built-in default key.
TEST_SECRET_KEY = "kiosk-plugin-tests-secret-key-not-for-production"
TEST_PASSWORD = "plugin-test-password"
#: One pinyin dictionary cache for every test run on the machine instead of a build per app.
IME_CACHE_DIR = os.path.join(tempfile.gettempdir(), "kiosk-test-ime-cache")


def app_config(instance_path: str, database_url: str, **extra) -> dict:
    """The config of a test app: no station file, no devices, no scheduler, a preview printer."""
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
        "STATION": {"code": "test-station", "name": "水贝社区党群服务中心", "kind": "party_service"},
        "DEVICES": {"printer": {"type": "preview", "folder": os.path.join(instance_path, "receipts")},
                    "readers": {}},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def close_app(app) -> None:
    """Stop what an app started (push listener, print worker) and close its database."""
    stop = app.extensions.get("kiosk_listener_stop")
    if stop is not None:
        stop.set()
    printing = app.extensions.get("kiosk_printing")
    if printing is not None:
        printing.shutdown()
    app.extensions["db"].dispose()


def csrf_token_of(client) -> str:
    """The CSRF token of ``client``'s session, loading the home page first if it has none."""
    with client.session_transaction() as session:
        token = session.get("_csrf")
    if not token:
        client.get("/")
        with client.session_transaction() as session:
            token = session.get("_csrf")
    return token


def create_account(app, username: str, role: str = "staff", password: str = TEST_PASSWORD) -> None:
    """Add an account of ``role`` at the app's station."""
    from kiosk.auth import create_user

    with app.app_context():
        session = app.extensions["db"].Session()
        try:
            create_user(session, username, password, role=role,
                        station_id=app.extensions["kiosk_station_id"])
            session.commit()
        finally:
            session.close()


@pytest.fixture
def kiosk_config() -> dict:
    """Extra config for the ``app`` fixture; override it in a conftest.py."""
    return {}


@pytest.fixture
def kiosk_extra_plugins() -> dict:
    """Plugin modules to load besides the installed ones (name → module); override to use."""
    return {}


@pytest.fixture(scope="session")
def kiosk_database_template(tmp_path_factory) -> str:
    """A SQLite file migrated once per run with the installed plugins; each ``app`` gets a copy."""
    from kiosk.app import create_app

    folder = tmp_path_factory.mktemp("kiosk-template")
    path = folder / "kiosk.db"
    close_app(create_app(app_config(str(folder), "sqlite:///" + str(path))))
    return str(path)


@pytest.fixture
def app(tmp_path, kiosk_database_template, kiosk_config, kiosk_extra_plugins):
    """A migrated kiosk app on its own SQLite file, with every installed plugin loaded."""
    from kiosk.app import create_app

    instance = tmp_path / "kiosk-instance"
    instance.mkdir()
    database = instance / "kiosk.db"
    # Copying a migrated file is much faster than migrating again; the app still
    # applies whatever the template lacks (an extra plugin's branch) at start.
    shutil.copy(kiosk_database_template, database)
    extra = dict(kiosk_config)
    if kiosk_extra_plugins:
        extra["EXTRA_PLUGINS"] = dict(kiosk_extra_plugins)
    made = create_app(app_config(str(instance), "sqlite:///" + str(database), **extra))
    yield made
    close_app(made)


@pytest.fixture
def client(app):
    """The app's test client."""
    return app.test_client()


@pytest.fixture
def csrf():
    """``csrf(client)`` → the token to send with a form or as ``X-CSRF-Token``."""
    return csrf_token_of


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
        return client.post("/staff/login", data={"username": username, "password": password,
                                                 "csrf_token": csrf_token_of(client)})

    return log_in
