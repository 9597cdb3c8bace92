"""The home screen, the large-text switch and 呼叫工作人员 in a real Chromium (issue 19 points 8b, 8c, 10, 11).

One live server: a resident at a portrait kiosk finds the large-text switch
(labelled, ≥ 96 px in large-text mode) and sees queues, hours and notices in
the lower half; focus rings are visible; the landscape home does not overflow;
a tap on 呼叫工作人员 tells the resident staff are coming, and the staff page
and the calling display show the call at once, until staff answer it; the
phone page's language buttons are at least 44×44 px.
"""

from __future__ import annotations

from kiosk.db import session_for
from kiosk.notices import Notice
from kiosk.testing import TEST_PASSWORD, create_account, save_screenshot

BOXES = """(sel) => [...document.querySelectorAll(sel)].map((el) => {
  const r = el.getBoundingClientRect(), s = getComputedStyle(el);
  return {w: r.width, h: r.height, left: r.left, right: r.right, bottom: r.bottom,
          text: el.textContent.trim(), outline: parseFloat(s.outlineWidth), style: s.outlineStyle};
})"""


def _box(page, selector):
    boxes = page.evaluate(BOXES, selector)
    assert boxes, f"nothing matches {selector}"
    return boxes[0]


def test_home_large_text_and_calling_staff(chromium, live_server):
    app = live_server.app
    app.config["STATION"]["hours"] = ["mon-sun 09:00-12:00,14:00-18:00"]
    create_account(app, "desk", "staff")
    with app.app_context(), session_for(app, write=True) as session:
        texts = {"zh_Hans": "12月8日下午有律师值班，欢迎咨询", "en": "A lawyer is on duty on 8 December"}
        session.add(Notice(station_id=app.extensions["kiosk_station_id"], texts=texts))
        session.commit()
    base = live_server.url
    kiosk = chromium.new_context(viewport={"width": 1080, "height": 1920}, has_touch=True, locale="zh-CN")
    staff = chromium.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    try:
        page = kiosk.new_page()
        page.set_default_timeout(10_000)
        page.goto(base + "/")
        # Portrait: the lower half holds what a resident wants before tapping.
        assert _box(page, '[data-testid="home-queues"]')["bottom"] > 960
        assert "09:00–12:00" in page.locator('[data-testid="home-hours"]').inner_text()
        assert "律师值班" in page.locator('[data-testid="home-notices"]').inner_text()
        save_screenshot(page, "home-portrait-zh_Hans")
        help_box = _box(page, '[data-testid="home-large-text"]')
        assert "大字" in help_box["text"] and help_box["h"] >= 96 and help_box["bottom"] <= 1920
        # Focus that can be seen: tiles and buttons get a ring of at least 3 px.
        page.locator('[data-tile="legal.queue"]').focus()
        tile = _box(page, '[data-tile="legal.queue"]')
        assert tile["outline"] >= 3 and tile["style"] == "solid", tile
        page.locator('[data-testid="home-call-staff"]').focus()
        assert _box(page, '[data-testid="home-call-staff"]')["outline"] >= 3
        save_screenshot(page, "home-portrait-zh_Hans")

        # The switch on the home screen turns large text on; the top bar's one is ≥ 96 px then.
        with page.expect_navigation():
            page.locator('[data-testid="home-large-text"]').tap()
        page.locator("body.large-text").wait_for(state="attached")
        for selector in ('[data-testid="large-text"]', '[data-testid="home-large-text"]', '[data-testid="call-staff"]'):
            box = _box(page, selector)
            assert box["h"] >= 96 and box["w"] >= 96, (selector, box)
        assert "大字" in _box(page, '[data-testid="large-text"]')["text"]
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 1080
        save_screenshot(page, "home-portrait-large-zh_Hans")
        # …and on every kiosk screen, in the header.
        page.goto(base + "/k/legal/")
        assert _box(page, '[data-testid="large-text"]')["h"] >= 96
        page.goto(base + "/")
        with page.expect_navigation():
            page.locator('[data-testid="large-text"]').tap()
        page.locator("body:not(.large-text)").wait_for(state="attached")

        # Landscape: tidy, nothing wider than the screen.
        page.set_viewport_size({"width": 1920, "height": 1080})
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 1920
        for card in page.evaluate(BOXES, ".home-card, .home-help-btn, .tile"):
            assert card["left"] >= 0 and card["right"] <= 1920, card
        assert page.evaluate("() => document.documentElement.scrollHeight") <= 1080  # one screen, no scrolling
        save_screenshot(page, "home-landscape-zh_Hans")
        page.set_viewport_size({"width": 1080, "height": 1920})

        # Staff at the counter, and the hall's calling display, both listening.
        desk = staff.new_page()
        desk.goto(base + "/staff/login")
        desk.locator("input[name=username]").fill("desk")
        desk.locator("input[name=password]").fill(TEST_PASSWORD)
        with desk.expect_navigation():
            desk.locator("button.primary").click()
        desk.wait_for_function("() => document.body.dataset.staffCallsLive === '1'")
        assert desk.locator("[data-staff-calls] [data-call]").count() == 0
        board = staff.new_page()
        board.goto(base + "/k/legal/display")
        board.wait_for_function("() => document.body.dataset.live === '1'")
        assert board.locator("#staff-call").is_hidden()

        # The resident, mid-way through a screen, calls staff from the top bar and stays on the page.
        page.goto(base + "/k/legal/")
        page.locator('[data-testid="call-staff"]').tap()
        status = page.locator("#call-staff-status")
        status.wait_for(state="visible")
        assert "工作人员马上就来" in status.inner_text()
        assert page.url.endswith("/k/legal/")
        desk.locator("[data-staff-calls] [data-call]").wait_for()
        banner = desk.locator("[data-staff-calls]").inner_text()
        assert "居民请求帮助" in banner and "法律咨询" in banner  # the service the resident was at, in words
        board.locator("#staff-call").wait_for(state="visible")
        # A board that was away (restarted, reconnected) catches up with the open call.
        board.reload()
        board.wait_for_function("() => document.body.dataset.staffCalls === '1'")
        assert board.locator("#staff-call").is_visible()
        save_screenshot(desk, "staff-call-banner-zh_Hans")

        with desk.expect_navigation():
            desk.locator('[data-testid="ack-call"]').click()
        assert desk.locator("[data-staff-calls] [data-call]").count() == 0
        board.locator("#staff-call").wait_for(state="hidden")
        board.close()

        # A phone page's language buttons are a thumb's size.
        phone = kiosk.new_page()
        phone.set_viewport_size({"width": 412, "height": 915})
        phone.goto(base + "/m/petitions/")
        for button in phone.evaluate(BOXES, ".lang-switch button"):
            assert button["w"] >= 44 and button["h"] >= 44, button
    finally:
        staff.close()
        kiosk.close()
