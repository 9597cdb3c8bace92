"""What only the kiosk's own tests need, on top of the fixture ladder in ``kiosk.testing``.

The ladder itself (``backend`` → ``database_url`` → ``app`` → ``client`` →
``runner``, ``make_app``, ``fresh_database_url``, ``csrf``, ``login``,
``fixed_clock``) is the one plugin authors use: ``kiosk.testing``, loaded by
its ``pytest11`` entry point. Every test that takes ``app`` runs twice: on
SQLite and on PostgreSQL. The PostgreSQL run needs ``KIOSK_TEST_DATABASE_URL``
(``.ci/run`` sets it to the server at 127.0.0.1:5432, database ``test``);
without it those runs skip and say why.

Test modules import helpers from ``kiosk.testing``, never from this file:
pytest imports it as ``conftest``, so a second import under another name
would make a second copy of everything in it.
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from kiosk.testing import Auth, LiveServer, install_into
from tests.browser_helpers import gate_until_ready

# Bytecode is kept even where the environment says PYTHONDONTWRITEBYTECODE (some CI images do):
# without it every xdist worker rewrote and compiled all the test modules again (13 s of CPU
# each, against 3 s), and every `kiosk` process a test starts compiled the kiosk from source.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

HERE = os.path.dirname(__file__)
CHROMIUM = os.environ.get("KIOSK_CHROMIUM", "/usr/bin/chromium")

#: Tests that take 15 s or more on CI's two cores (``pytest --durations``). xdist hands out the
#: groups first, then single tests in collection order: these come first among the single tests,
#: so that at the end of a run three workers do not wait for the fourth to finish a long test it
#: took late (the schema fuzzing alone is 40-95 s a database).
LONG_TESTS = (
    "tests/test_openapi.py::test_every_endpoint_keeps_to_its_description",
    "tests/test_plugin_schema.py::test_uninstalled_plugin_keeps_its_tables_and_the_kiosk_works",
    "tests/test_plugin_schema.py::test_revision_autogenerates_then_downgrade_and_upgrade_again",
    "tests/test_bad_input.py::test_every_post_form_survives_hostile_input",
    "tests/test_parking_browser.py::test_resident_gets_a_voucher_by_touch_and_plate_keyboard",
    "tests/test_courier_rest_browser.py::test_every_screen_in_each_language",
    "tests/test_idle_browser.py::",
    "tests/test_reliability.py::test_sigkill_mid_writes_loses_nothing_acknowledged",
    "tests/test_backup_postgres.py::",
    "tests/test_cli.py::test_demo_sets_up_a_station_with_accounts",
)


def pytest_collection_modifyitems(config, items):
    """The :data:`LONG_TESTS` first, everything else in its order (the sort is stable)."""
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_TESTS))


@pytest.fixture(scope="session")
def sqlite_template(kiosk_database_template):
    """The migrated SQLite file each SQLite test copies (``kiosk_database_template``)."""
    return kiosk_database_template


@pytest.fixture
def auth(app, client):
    """``auth.login("staff")`` logs ``client`` in; ``auth.create(...)`` only adds the account."""
    return Auth(app, client)


# -- the third-party plugin, installed for real --------------------------------
@pytest.fixture(scope="session")
def hello_plugin_path(tmp_path_factory):
    """pip-installs tests/plugin_hello into a private folder on sys.path.

    The kiosk then finds it by its entry point, exactly as it would find a
    plugin an operator installed.
    """
    target = tmp_path_factory.mktemp("site-hello")
    install_into(os.path.join(HERE, "plugin_hello"), str(target))
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
@pytest.fixture
def sqlite_app(make_app, tmp_path, request):
    """An app on SQLite only, for checks that need not run on both databases."""
    shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "single.db")
    return make_app("sqlite:///" + str(tmp_path / "single.db"))


@pytest.fixture
def browser_app(make_app, tmp_path, request):
    """An app for browser tests: SQLite (the HTTP tests cover PostgreSQL).

    The idle reset is ten minutes away: a test that waits for a slow print on a
    busy machine must not be sent home halfway. The idle tests make their own
    app with a short timer (tests/test_shell_browser.py).
    """
    shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "browser.db")
    extra = {"IDLE_SECONDS": 600, "SSE_MAX_SECONDS": 20, **(getattr(request, "param", None) or {})}
    return make_app("sqlite:///" + str(tmp_path / "browser.db"), **extra)


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
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield GatedBrowser(browser)
        browser.close()


class GatedBrowser:
    """The browser, whose every new context and page takes no tap before its page's scripts ran.

    Playwright taps as soon as an element is painted; a kiosk page's deferred
    scripts may not have run yet on a busy machine, and the tap is lost (see
    tests/browser_helpers.py). Every browser test gets the gate, not only the
    ones that once flaked.
    """

    def __init__(self, browser):
        self._browser = browser

    def new_context(self, **options):
        context = self._browser.new_context(**options)
        gate_until_ready(context)
        return context

    def new_page(self, **options):
        return self.new_context(**options).new_page()

    @property
    def ungated(self):
        """The browser itself, for a test that must tap before a page's scripts ran."""
        return self._browser

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture
def page(chromium):
    """A portrait 1080×1920 touch screen, as the kiosk is."""
    context = chromium.new_context(
        viewport={"width": 1080, "height": 1920}, has_touch=True, is_mobile=True, device_scale_factor=1, locale="zh-CN"
    )
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()
