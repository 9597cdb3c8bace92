"""A rider identified at a kiosk terminal is gone for the next person (issue 16 point 4, issue 19 point 2).

Real Chromium on an enrolled kiosk terminal: the rider taps their card (the
read reaches this terminal's page as a single-use claim), reaches their menu
and leaves with 首页 instead of 完成. The next person opens 暖蜂驿站 →
小蜜蜂巡查 → 返回 and must see the check-in screen, not the rider's menu.
"""

from __future__ import annotations

import secrets
import shutil
import time
from datetime import UTC, datetime

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_courier_rest_support import OTHER_SERVICES, courier_config, db, station_id, switch_off

from kiosk.testing import LiveServer
from kiosk_hardware.readers import ReaderEvent
from kiosk_plugins.courier_rest.models import Rider
from tests.browser_helpers import wait_until_ready

CONFIG = {**courier_config(), "IDLE_SECONDS": 600, "SSE_MAX_SECONDS": 20}
CARD = "04A21B9C"


@pytest.fixture
def courier_server(make_app, tmp_path, sqlite_template):
    shutil.copy(sqlite_template, tmp_path / "browser.db")
    app = make_app("sqlite:///" + str(tmp_path / "browser.db"), **CONFIG)
    switch_off(app, *OTHER_SERVICES)
    with db(app) as s:
        s.add(
            Rider(
                station_id=station_id(app),
                name="古霖珊",
                phone="13800138000",
                platform="meituan",
                vehicle="ebike",
                card_uid=CARD,
                pass_token=secrets.token_urlsafe(18),
            )
        )
        s.commit()
    server = LiveServer(app)
    yield server
    server.stop()


def _identify_by_card(page, server) -> None:
    page.goto(server.url + "/")
    page.locator('[data-tile="courier_rest.checkin"]').tap()
    page.wait_for_url("**/k/courier_rest/")
    # Lay the card on kiosk-1's reader until this page's reader stream (not only the last page's) took it.
    hub = server.app.extensions["reader_hub"]
    deadline = time.monotonic() + 10
    while "/menu" not in page.url:
        assert time.monotonic() < deadline, "the check-in screen never received the card"
        hub.publish(ReaderEvent("front", "card", CARD, datetime.now(UTC)), terminal="kiosk-1")
        try:
            page.wait_for_url("**/k/courier_rest/menu", timeout=1000)
        except PlaywrightTimeout:
            pass
    assert "古*珊" in page.locator('[data-testid="who"]').inner_text()


def _next_visitor_sees_the_check_in_screen(page, server) -> None:
    page.locator('[data-tile="courier_rest.checkin"]').tap()
    page.wait_for_url("**/k/courier_rest/")
    page.locator('[data-testid="hazard"]').tap()
    page.wait_for_url("**/hazard**")
    with page.expect_navigation():
        page.locator('[data-testid="back"]').tap()
    assert page.url == server.url + "/k/courier_rest/"
    assert page.locator('[data-testid="checkout"]').count() == 0
    assert page.locator('[data-testid="who"]').count() == 0
    assert "古*珊" not in page.content()


def test_a_rider_who_leaves_with_home_is_not_the_next_visitors_menu(courier_server, page):
    courier_server.enrol(page, "kiosk-1")
    _identify_by_card(page, courier_server)
    assert page.locator("body").get_attribute("data-terminal") == "kiosk-1"
    page.locator('[data-testid="home"]').tap()  # 首页, not 完成
    page.wait_for_url(courier_server.url + "/")
    _next_visitor_sees_the_check_in_screen(page, courier_server)

    # A language change ends the turn too.
    _identify_by_card(page, courier_server)
    with page.expect_navigation():
        page.locator('button.lang-btn[value="zh_Hant"]').tap()
    page.goto(courier_server.url + "/")
    _next_visitor_sees_the_check_in_screen(page, courier_server)


#: Installed before the page's scripts: every EventSource a page opens is noted in ``window.__streams``.
NOTE_STREAMS = """
(() => {
  const Real = window.EventSource;
  window.__streams = [];
  window.EventSource = function (url, options) { window.__streams.push(String(url)); return new Real(url, options); };
  window.EventSource.prototype = Real.prototype;
})();
"""


def test_a_browser_that_is_not_a_terminal_gets_no_reads(courier_server, page):
    page.add_init_script(NOTE_STREAMS)
    page.goto(courier_server.url + "/k/courier_rest/")
    assert page.locator("body").get_attribute("data-terminal") == ""
    hub = courier_server.app.extensions["reader_hub"]
    # The page's scripts have run, and with them every stream they open (kiosk.js opens it at once or never).
    wait_until_ready(page)
    assert page.evaluate("Array.isArray(window.__streams)"), "the note of streams was not installed"
    assert [url for url in page.evaluate("window.__streams") if "/events/reader" in url] == []
    assert not any(binding.terminal_id is not None for binding in hub._bindings.values())
    assert hub.publish(ReaderEvent("front", "card", CARD, datetime.now(UTC)), terminal="kiosk-1") == 0


def test_a_display_terminal_never_resets_on_idle_a_kiosk_does(make_app, tmp_path, sqlite_template, chromium):
    shutil.copy(sqlite_template, tmp_path / "idle.db")
    app = make_app("sqlite:///" + str(tmp_path / "idle.db"), IDLE_SECONDS=2, IDLE_COUNTDOWN_SECONDS=1)
    server = LiveServer(app)
    pages = []
    try:
        for name, kind in (("wall", "display"), ("hall-1", "kiosk")):
            context = chromium.new_context(viewport={"width": 1080, "height": 1920}, has_touch=True)
            page = context.new_page()
            server.enrol(page, name, kind)
            page.goto(server.url + "/k/petitions/new")
            assert page.locator("body").get_attribute("data-terminal-kind") == kind
            pages.append(page)
        wall, kiosk = pages
        kiosk.wait_for_url(server.url + "/", timeout=15000)  # the kiosk screen went home on its own
        assert wall.url == server.url + "/k/petitions/new", "the display stayed where it was"
        assert wall.locator("#idle-overlay").is_hidden()
    finally:
        for page in pages:
            page.context.close()
        server.stop()
