"""A tap that lands before a page's scripts have run: never lost, never raced.

The README's test command once failed on a fresh clone because ``#osk`` did
not become visible within 10 s: Playwright tapped the petitions description as
soon as it was painted, before the deferred osk.js had run, so the keyboard
never heard the focus. Here the server holds a script back on purpose, which
makes that window as wide as a busy machine does.
"""

from __future__ import annotations

import threading
import time

from tests.browser_helpers import gate_until_ready

PAGE = "/k/courier_rest/register"  # a kiosk page with keyboard inputs and choice buttons


def hold_back(app, script: str) -> threading.Event:
    """Hold every request for static ``js/<script>`` until the returned event is set (30 s at most)."""
    inner = app.wsgi_app
    release = threading.Event()

    def held(environ, start_response):
        if environ["PATH_INFO"].endswith("/js/" + script):
            release.wait(30)
        return inner(environ, start_response)

    app.wsgi_app = held
    return release


def test_the_keyboard_opens_for_a_field_tapped_before_its_script_ran(browser_app, live_server, chromium):
    # Without the suite's ready gate: this is the resident's early tap itself.
    context = chromium.ungated.new_context(
        viewport={"width": 1080, "height": 1920}, has_touch=True, is_mobile=True, locale="zh-CN"
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    release = hold_back(browser_app, "osk.js")
    page.goto(live_server.url + PAGE, wait_until="commit")
    field = page.locator("input[data-osk]").first
    field.tap()  # the page is painted, its keyboard script is still on its way
    assert page.evaluate(
        "[typeof window.KioskOSK, document.activeElement === document.querySelector('input[data-osk]')]"
    ) == ["undefined", True]
    release.set()
    page.locator("#osk").wait_for(state="visible")
    context.close()


def test_a_tap_waits_for_the_pages_scripts_behind_the_ready_gate(browser_app, live_server, page):
    gate_until_ready(page.context)
    release = hold_back(browser_app, "kiosk.js")  # kiosk.js toggles choice buttons
    page.goto(live_server.url + PAGE, wait_until="commit")
    choice = page.locator("[data-choice-group]").first
    choice.wait_for()
    assert page.evaluate("typeof window.Kiosk") == "undefined"
    threading.Timer(1.0, release.set).start()  # the tap below cannot return before this
    started = time.monotonic()
    choice.tap()
    assert time.monotonic() - started >= 0.9  # it waited for the script rather than tapping a dead button
    assert choice.get_attribute("aria-pressed") == "true"
    assert page.locator('html[data-test-scripts="ready"]').count() == 1
