"""A rider in a real Chromium on the 1080×1920 touch screen, by tapping only.

Checks in by typing the phone number on the page's own keypad, takes a
charging slot, checks out. Then every courier screen (and the two phone
pages) is photographed in the three languages for a person to look at
(test-artifacts/screenshots/courier_rest-*.png).
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select
from test_courier_rest_support import OTHER_SERVICES, courier_config, db, station_id, switch_off

from kiosk.db import utcnow
from kiosk.testing import LiveServer, save_screenshot
from kiosk_plugins.courier_rest.models import Hazard, Rider, Slot, Use, Visit

# A long idle timer: the screenshots must not catch the "are you still there?" overlay.
CONFIG = {**courier_config(phone_slots=2, battery_slots=1), "IDLE_SECONDS": 600, "SSE_MAX_SECONDS": 20}
PHONE = "13800138000"


def add_rider(app, name, phone):
    with db(app) as s:
        rider = Rider(
            station_id=station_id(app),
            name=name,
            phone=phone,
            platform="meituan",
            vehicle="ebike",
            pass_token=secrets.token_urlsafe(18),
        )
        s.add(rider)
        s.commit()
        return rider.id, rider.pass_token


def occupy_battery(app, rider_id):
    """Another rider charging the only battery, so the waiting list shows."""
    with db(app) as s:
        visit = Visit(
            station_id=station_id(app),
            rider_id=rider_id,
            checked_in_at=utcnow(),
            method_in="card",
            method_out="",
            auto_closed=False,
            open_rider_id=rider_id,
        )
        s.add(visit)
        s.flush()
        slot = s.scalar(select(Slot).where(Slot.kind == "battery", Slot.station_id == station_id(app)))
        s.add(
            Use(
                station_id=station_id(app),
                visit_id=visit.id,
                rider_id=rider_id,
                slot_id=slot.id,
                kind="battery",
                state="active",
                started_at=utcnow(),
                due_at=utcnow() + timedelta(minutes=120),
                end_reason="",
                live_slot_id=slot.id,
                live_holder=f"{rider_id}:charge",
            )
        )
        s.commit()


@pytest.fixture
def browser_app(make_app, tmp_path, sqlite_template):
    """A courier station on SQLite (the HTTP tests cover PostgreSQL) with its other plugins off."""
    import shutil

    shutil.copy(sqlite_template, tmp_path / "browser.db")
    app = make_app("sqlite:///" + str(tmp_path / "browser.db"), **CONFIG)
    switch_off(app, *OTHER_SERVICES)
    return app


@pytest.fixture
def live_server(browser_app):
    server = LiveServer(browser_app)
    yield server
    server.stop()


def tap_digits(page, digits):
    for d in digits:
        page.locator(f'#osk button[data-key="{d}"]').tap()


def test_rider_checks_in_by_phone_takes_a_slot_and_checks_out_by_tapping(page, live_server, browser_app):
    add_rider(browser_app, "古霖珊", PHONE)
    page.goto(live_server.url + "/")
    page.locator('[data-tile="courier_rest.checkin"]').tap()
    page.wait_for_url("**/k/courier_rest/")
    page.locator("#phone").tap()
    assert page.locator("#osk").get_attribute("data-layout") == "phone"
    tap_digits(page, PHONE)
    assert page.locator("#phone").input_value() == PHONE
    page.locator('#osk button[data-key="done"]').tap()
    page.locator('[data-testid="phone-go"]').tap()
    page.wait_for_url("**/k/courier_rest/menu")
    assert "古*珊" in page.locator('[data-testid="who"]').inner_text()
    assert PHONE not in page.content()
    # Big enough for a gloved finger: the main buttons are at least 130 px tall.
    box = page.locator('[data-testid="take-phone"]').bounding_box()
    assert box["height"] >= 130 and box["width"] >= 250
    # A second kiosk shows the check-in screen; its free count follows by push, without reloading.
    board = page.context.browser.new_context(viewport={"width": 1080, "height": 1920}, has_touch=True).new_page()
    board.goto(live_server.url + "/k/courier_rest/")
    assert board.locator('[data-free="phone"]').inner_text() == "2"
    board.evaluate("window.__same_page = true")
    page.locator('[data-testid="take-phone"]').tap()
    page.wait_for_url("**/k/courier_rest/result")
    assert page.locator('[data-testid="slot-number"]').inner_text() == "1"
    board.wait_for_function("document.querySelector('[data-free=\"phone\"]').textContent === '1'")
    assert board.evaluate("window.__same_page === true")
    board.context.close()
    page.locator('[data-testid="back-menu"]').tap()
    page.wait_for_url("**/k/courier_rest/menu")
    assert page.locator('[data-need="phone"][data-state="have"]').count() == 1
    page.locator('[data-testid="checkout"]').tap()
    page.wait_for_url("**/k/courier_rest/result")
    assert page.locator('[data-result="checkout"]').count() == 1
    page.locator('[data-testid="finish"]').tap()
    page.wait_for_url(live_server.url + "/")
    with db(browser_app) as s:
        visit = s.scalar(select(Visit))
        assert (visit.method_in, visit.method_out, visit.open_rider_id) == ("phone", "phone", None)
        assert s.scalar(select(Use.live_slot_id)) is None


def _post(page, base, path, **form):
    """What a button on the page posts (the taps themselves are covered by the test above)."""
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    response = page.request.post(base + path, form={**form, "csrf_token": token})
    assert response.ok, (path, response.status)


def _shoot(page, url, name, lang):
    page.goto(url)
    save_screenshot(page, f"courier_rest-{name}-{lang}")
    # Nothing may hang off the side of the portrait screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1080, (name, lang, width)


@pytest.mark.parametrize("lang", ["zh_Hans", "zh_Hant", "en"])
def test_every_screen_in_each_language(page, live_server, browser_app, chromium, lang):
    base = live_server.url
    page.goto(base + "/k/courier_rest/")  # creates the station's places
    other_id, _ = add_rider(browser_app, "李建国", "13900139000")
    occupy_battery(browser_app, other_id)  # the only battery slot: the waiting list shows
    _rider_id, token = add_rider(browser_app, "古霖珊", PHONE)
    phone_ctx = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = phone_ctx.new_page()
    k = base + "/k/courier_rest"
    try:
        _post(page, base, "/lang", lang=lang)
        _shoot(page, k + "/", "checkin", lang)
        _shoot(page, k + "/register", "register", lang)
        _post(page, base, "/k/courier_rest/phone", phone=PHONE)
        _shoot(page, k + "/menu", "menu", lang)
        _post(page, base, "/k/courier_rest/wait/battery")
        _shoot(page, k + "/result", "waiting", lang)
        assert re.fullmatch(r"W\d\d", page.locator('[data-testid="waiting-number"]').inner_text())
        _shoot(page, k + "/menu", "menu-waiting", lang)
        _post(page, base, "/k/courier_rest/take/battery")  # the last slot went to another kiosk
        _shoot(page, k + "/result", "full", lang)
        phone.goto(base + f"/m/courier_rest/r/{token}")
        phone.request.post(
            base + "/lang",
            form={"lang": lang, "csrf_token": phone.locator('input[name="csrf_token"]').first.get_attribute("value")},
        )
        phone.goto(base + f"/m/courier_rest/r/{token}")
        save_screenshot(phone, f"courier_rest-mobile-status-{lang}")
        _post(page, base, "/k/courier_rest/take/phone")
        _shoot(page, k + "/result", "slot", lang)
        _shoot(page, k + "/menu", "menu-charging", lang)
        _post(page, base, "/k/courier_rest/service/water")
        _shoot(page, k + "/result", "service", lang)
        _post(page, base, "/k/courier_rest/advanced/counselling")
        _shoot(page, k + "/result", "request", lang)
        _shoot(page, k + "/my-code", "my-code", lang)
        _shoot(page, k + "/link-card", "link-card", lang)
        _shoot(page, k + "/hazard", "hazard", lang)
        _post(page, base, "/k/courier_rest/hazard", category="safety_hazard", note="笋岗路井盖松动", action="photo")
        with db(browser_app) as s:
            report_id, upload = s.execute(select(Hazard.id, Hazard.upload_token).order_by(Hazard.id.desc())).first()
        _shoot(page, k + f"/hazard/{report_id}/photo", "hazard-photo", lang)
        phone.goto(base + f"/m/courier_rest/hazard/{upload}")
        save_screenshot(phone, f"courier_rest-mobile-upload-{lang}")
        _post(page, base, f"/k/courier_rest/hazard/{report_id}/send")
        _shoot(page, k + "/result", "hazard-sent", lang)
        _post(page, base, "/k/courier_rest/checkout")
        _shoot(page, k + "/result", "goodbye", lang)
    finally:
        phone_ctx.close()
    with db(browser_app) as s:
        assert [h.state for h in s.scalars(select(Hazard))] == ["kept"]
