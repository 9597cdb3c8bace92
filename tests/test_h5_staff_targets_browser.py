"""A counter's staff pages are tapped too: their bar, buttons, fields and page links are 48 px tall.

Helper H5's outside check tapped through the staff pages as counter staff on a touch screen: the
staff bar's links were 27 px tall, its buttons and every button and field 44 px, the rider
station's page links 26 px and the petition filters 43 px.
"""

from __future__ import annotations

from kiosk.testing import TEST_PASSWORD, create_account

#: Controls of the page's chrome and navigation (not links inside a sentence): (what, height).
SELECTOR = ", ".join(
    [
        ".staff-bar nav a",
        ".staff-bar button",
        "main button",
        "main a.button",
        "main input:not([type=hidden]):not([type=checkbox]):not([type=radio])",
        "main select",
        ".cr-nav a",
        ".pt-filters a",
    ]
)
HEIGHTS = """(selector) => [...document.querySelectorAll(selector)]
  .filter((el) => el.getBoundingClientRect().height > 0)
  .map((el) => [
    el.tagName.toLowerCase() + ' "' + (el.innerText || el.name || '').trim().slice(0, 20) + '"',
    el.getBoundingClientRect().height,
  ])"""


def test_staff_pages_have_no_control_under_48_px(browser_app, live_server, chromium):
    create_account(browser_app, "counter-admin", "admin", TEST_PASSWORD)
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, has_touch=True)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(live_server.url + "/staff/login")
        page.locator('input[name="username"]').fill("counter-admin")
        page.locator('input[name="password"]').fill(TEST_PASSWORD)
        with page.expect_navigation():
            page.locator('form:has(input[name="password"]) button').last.tap()
        small, seen = [], 0
        for path in ("/staff/", "/staff/courier_rest/", "/staff/petitions/?show=open", "/staff/legal/counter/1"):
            page.goto(live_server.url + path)
            controls = page.evaluate(HEIGHTS, SELECTOR)
            seen += len(controls)
            small += [f"{path} {name} {height:.0f}px" for name, height in controls if height < 48]
        assert seen > 40  # the bar, the console's panels, the rider and petition navigation, a counter's buttons
        assert small == [], small
    finally:
        context.close()
