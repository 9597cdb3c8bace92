"""A resident gets a parking voucher in a real Chromium, by touch only; the attendant checks it on a phone.

Screens are saved in zh_Hans, zh_Hant and en under test-artifacts/screenshots/
for a person to look at (parking-<screen>-<lang>.png).
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest
from test_parking_support import add_lot, add_people, shift_voucher_times, vouchers

from kiosk.testing import LiveServer, save_screenshot
from kiosk_hardware.readers import ReaderEvent

LANGS = ("zh_Hans", "zh_Hant", "en")


@pytest.fixture
def parking_server(make_app, tmp_path, request):
    """The kiosk with two partner lots and the demo households, served on a free port."""
    shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "parking.db")
    app = make_app("sqlite:///" + str(tmp_path / "parking.db"), IDLE_SECONDS=120, SSE_MAX_SECONDS=30)
    ids = add_lot(
        app, spaces=30, quota=8, windows=[("夜间", "19:00", "08:00", "0123456"), ("周末白天", "08:00", "19:00", "56")]
    )
    add_lot(app, name="周边商场共享车位", spaces=1, windows=[("夜间", "19:00", "08:00", "0123456")])
    add_people(app)
    server = LiveServer(app)
    server.ids = ids
    yield server
    server.stop()


def _tap_nav(page, locator):
    with page.expect_navigation():
        locator.tap()


def _shoot_all(page, screen: str) -> None:
    """Screenshot the current screen in every language, ending in Simplified Chinese."""
    for lang in LANGS:
        if page.locator("html").get_attribute("lang") != {"zh_Hans": "zh-CN", "zh_Hant": "zh-HK", "en": "en"}[lang]:
            _tap_nav(page, page.locator(f'button.lang-btn[value="{lang}"]'))
        save_screenshot(page, f"parking-{screen}-{lang}")
    _tap_nav(page, page.locator('button.lang-btn[value="zh_Hans"]'))


def _type(page, keys):
    for key in keys:
        page.locator(f'#osk button[data-key="{key}"]').tap()


def _tap_card(app, page, uid: str) -> None:
    """Tap a card on the reader once the page's reader stream is connected."""
    hub = app.extensions["reader_hub"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if hub.publish(ReaderEvent("card", "card", uid, datetime.now(UTC))):
            return
        time.sleep(0.1)
    raise AssertionError("the identify screen never connected its reader stream")


def _no_horizontal_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_resident_gets_a_voucher_by_touch_and_plate_keyboard(parking_server, page):
    app = parking_server.app
    page.goto(parking_server.url + "/")
    _tap_nav(page, page.locator('[data-tile="parking.parking"]'))
    assert page.locator("body").get_attribute("data-screen") == "parking.identify"
    _shoot_all(page, "identify")

    # A mobile number that is not on the list: the screen says what to do.
    page.locator("#parking-phone").tap()
    _type(page, "13700137000")
    page.locator('#osk button[data-key="done"]').tap()
    _tap_nav(page, page.locator('[data-testid="parking-phone-submit"]'))
    assert "工作人员" in page.locator(".parking-error").inner_text()
    save_screenshot(page, "parking-identify-error-zh_Hans")

    # The registered number, typed on the on-screen keypad (the wrong one is kept to correct: cleared first).
    page.locator("#parking-phone").tap()
    assert page.locator("#osk").get_attribute("data-layout") == "phone"
    assert page.locator("#parking-phone").input_value() == "13700137000"
    page.locator('#osk button[data-key="clear"]').tap()
    _type(page, "13800138001")
    assert page.locator("#parking-phone").input_value() == "13800138001"
    page.locator('#osk button[data-key="done"]').tap()
    _tap_nav(page, page.locator('[data-testid="parking-phone-submit"]'))
    assert page.locator("body").get_attribute("data-screen") == "parking.plate"
    assert page.locator('[data-testid="parking-car"]').inner_text().strip() == "粤B***45"
    _shoot_all(page, "plate")

    # The plate typed on the plate keyboard: province first, then letters and digits.
    page.locator("#parking-plate").tap()
    assert page.locator("#osk").get_attribute("data-page") == "provinces"
    save_screenshot(page, "parking-plate-keyboard-zh_Hans")
    _type(page, ["粤", "B", "1", "2", "3", "4", "5"])
    assert page.locator("#parking-plate").input_value() == "粤B12345"
    page.locator('#osk button[data-key="done"]').tap()
    _tap_nav(page, page.locator('[data-testid="parking-plate-submit"]'))
    assert page.locator("body").get_attribute("data-screen") == "parking.lots"
    offers = page.locator('[data-testid="parking-offer"]')
    assert offers.count() >= 2
    box = offers.first.bounding_box()
    assert box["height"] >= 64 and box["width"] >= 300, "offers are big touch targets"
    _shoot_all(page, "lots")

    _tap_nav(page, offers.first)
    assert page.locator("body").get_attribute("data-screen") == "parking.confirm"
    _shoot_all(page, "confirm")
    _tap_nav(page, page.locator('[data-testid="parking-issue"]'))
    assert page.locator("body").get_attribute("data-screen") == "parking.voucher"
    [voucher] = vouchers(app)
    shown = page.locator('[data-testid="parking-code"]').inner_text()
    assert shown == "-".join(voucher.code[i : i + 4] for i in range(0, len(voucher.code), 4))
    page.locator('#parking-print-status[data-state="done"]').wait_for(timeout=10000)
    qr = page.locator("img.parking-qr").bounding_box()
    assert qr["width"] >= 400, "the on-screen QR code is large enough to photograph"
    assert "粤B12345" not in page.content()
    _shoot_all(page, "voucher")

    _tap_nav(page, page.locator('a.btn.big[href="/k/parking/mine"]'))
    assert page.locator('[data-testid="parking-mine-item"]').count() == 1
    _shoot_all(page, "mine")
    _tap_nav(page, page.locator('[data-testid="parking-cancel"]'))
    _shoot_all(page, "cancel")
    _tap_nav(page, page.locator('[data-testid="parking-cancel-confirm"]'))
    assert page.locator('[data-testid="parking-mine-item"]').count() == 0
    assert [v.status for v in vouchers(app)] == ["cancelled"]


def test_card_tap_and_a_full_lot_then_the_attendant_on_a_phone(parking_server, page, chromium):
    app = parking_server.app
    parking_server.enrol(page)  # the kiosk's screen is the station's terminal: card taps reach it (issue 16)
    page.goto(parking_server.url + "/k/parking/")
    with page.expect_navigation():
        _tap_card(app, page, "04A1B2C3")
    assert page.locator("body").get_attribute("data-screen") == "parking.plate"
    _tap_nav(page, page.locator('[data-testid="parking-car"]').first)
    # Take the only space of the small lot, then see it full for the next resident.
    small = page.locator(".parking-lot", has_text="周边商场共享车位")
    _tap_nav(page, small.locator('[data-testid="parking-offer"]').first)
    _tap_nav(page, page.locator('[data-testid="parking-issue"]'))
    _tap_nav(page, page.locator('[data-testid="parking-done"]'))
    page.goto(parking_server.url + "/k/parking/")
    page.locator("#parking-phone").tap()
    _type(page, "13900139003")
    page.locator('#osk button[data-key="done"]').tap()
    _tap_nav(page, page.locator('[data-testid="parking-phone-submit"]'))
    _tap_nav(page, page.locator('[data-testid="parking-car"]').first)
    full = page.locator(".parking-lot", has_text="周边商场共享车位").locator(".parking-offer.full").first
    assert "已满" in full.inner_text()
    save_screenshot(page, "parking-lots-full-zh_Hans")

    # The attendant at the gate, on a phone.
    [voucher] = vouchers(app)
    shift_voucher_times(app, voucher.id, datetime.now(UTC) - timedelta(hours=1) - voucher.starts_at)
    from kiosk.testing import Auth

    Auth(app, app.test_client()).create("attendant", "correct-horse", "staff")
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, device_scale_factor=2, locale="zh-CN"
    )
    phone = context.new_page()
    phone.set_default_timeout(10_000)
    try:
        phone.goto(parking_server.url + "/staff/parking/redeem")
        phone.locator('input[name="username"]').press_sequentially("attendant")
        phone.locator('input[name="password"]').press_sequentially("correct-horse")
        with phone.expect_navigation():
            phone.locator("button.primary").tap()
        assert phone.url.endswith("/staff/parking/redeem")
        phone.locator("select[name=lot]").select_option(label="周边商场共享车位")
        phone.locator("input[name=code]").press_sequentially(voucher.code.lower())
        with phone.expect_navigation():
            phone.locator(".pk-submit").tap()
        result = phone.locator('[data-testid="pk-result"]')
        assert result.get_attribute("data-reason") == "ok"
        assert "粤B12345" in result.inner_text(), "the attendant sees the full plate to compare with the car"
        assert _no_horizontal_scroll(phone), "the attendant page fits a phone"
        save_screenshot(phone, "parking-attendant-ok-zh_Hans")
        phone.locator("input[name=code]").press_sequentially(voucher.code)
        with phone.expect_navigation():
            phone.locator(".pk-submit").tap()
        assert phone.locator('[data-testid="pk-result"]').get_attribute("data-reason") == "used"
        for lang in ("zh_Hant", "en"):
            with phone.expect_navigation():
                phone.locator(f'form.lang button[value="{lang}"]').tap()
            assert _no_horizontal_scroll(phone)
            save_screenshot(phone, f"parking-attendant-{lang}")
    finally:
        context.close()
