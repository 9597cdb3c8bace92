"""No leftover visitor (issue 19 point 2), in a real Chromium at the 1080×1920 kiosk.

A rider checks in and leaves with 首页 instead of 完成; the next person opens
暖蜂驿站 → 小蜜蜂巡查 → 返回 and must land on the anonymous check-in screen,
never in the previous rider's menu (签退, 归还, 我的骑手码). The server has
forgotten the rider by then: the visitor's row is gone.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from test_courier_rest_browser import PHONE, add_rider, tap_digits
from test_courier_rest_support import OTHER_SERVICES, courier_config, db, switch_off

from kiosk.testing import LiveServer
from kiosk.visitors import VisitorRow


@pytest.fixture
def browser_app(make_app, tmp_path, sqlite_template):
    import shutil

    shutil.copy(sqlite_template, tmp_path / "visitor.db")
    app = make_app(
        "sqlite:///" + str(tmp_path / "visitor.db"), **courier_config(), IDLE_SECONDS=600, SSE_MAX_SECONDS=20
    )
    switch_off(app, *OTHER_SERVICES)
    return app


@pytest.fixture
def live_server(browser_app):
    server = LiveServer(browser_app)
    yield server
    server.stop()


def rows(app) -> int:
    with db(app) as s:
        return s.scalar(select(func.count()).select_from(VisitorRow))


def check_in(page, base):
    page.goto(base + "/")
    page.locator('[data-tile="courier_rest.checkin"]').tap()
    page.wait_for_url("**/k/courier_rest/")
    page.locator("#phone").tap()
    tap_digits(page, PHONE)
    page.locator('#osk button[data-key="done"]').tap()
    page.locator('[data-testid="phone-go"]').tap()
    page.wait_for_url("**/k/courier_rest/menu")
    assert page.locator('[data-testid="checkout"]').count() == 1


def next_person_reports_a_hazard_and_goes_back(page):
    page.locator('[data-tile="courier_rest.checkin"]').tap()
    page.wait_for_url("**/k/courier_rest/")
    page.locator('[data-testid="hazard"]').tap()
    page.wait_for_url("**/k/courier_rest/hazard")
    page.locator('[data-testid="back"]').tap()
    page.wait_for_url("**/k/courier_rest/")
    assert page.locator('[data-testid="checkout"]').count() == 0, "the previous rider's 签退 is not offered"
    assert page.locator("#phone").count() == 1, "the anonymous check-in screen"
    assert "古*珊" not in page.content()


def test_a_rider_who_leaves_with_home_is_forgotten_for_the_next_person(page, live_server, browser_app):
    add_rider(browser_app, "古霖珊", PHONE)
    base = live_server.url
    check_in(page, base)
    assert rows(browser_app) == 1
    page.locator('[data-testid="home"]').tap()
    page.wait_for_url(base + "/")
    assert rows(browser_app) == 0, "going home forgot the rider on the server"
    next_person_reports_a_hazard_and_goes_back(page)

    # The idle reset forgets too: the rider walks away from the menu and the timer runs out.
    check_in(page, base)
    page.evaluate(
        "() => { const f = document.createElement('form'); f.method = 'post'; f.action = '/reset';"
        " const t = document.createElement('input'); t.type = 'hidden'; t.name = 'csrf_token';"
        " t.value = document.querySelector('meta[name=\"csrf-token\"]').content; f.append(t);"
        " document.body.append(f); f.submit(); }"
    )
    page.wait_for_url(base + "/")
    assert rows(browser_app) == 0, "the idle reset forgot the rider on the server"
    next_person_reports_a_hazard_and_goes_back(page)
