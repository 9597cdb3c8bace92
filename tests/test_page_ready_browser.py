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


def hold_back(app, script: str, seconds: float) -> threading.Event:
    """Delay every request for static ``js/<script>`` by ``seconds``; returns an event set once one was served."""
    inner = app.wsgi_app
    served = threading.Event()

    def slow(environ, start_response):
        if environ["PATH_INFO"].endswith("/js/" + script):
            time.sleep(seconds)
            served.set()
        return inner(environ, start_response)

    app.wsgi_app = slow
    return served


def test_the_keyboard_opens_for_a_field_tapped_before_its_script_ran(browser_app, live_server, page):
    served = hold_back(browser_app, "osk.js", 1.5)
    page.goto(live_server.url + PAGE, wait_until="commit")
    field = page.locator("input[data-osk]").first
    field.wait_for()
    assert page.evaluate("typeof window.KioskOSK") == "undefined"  # the tap comes first, as on a busy machine
    field.tap()
    assert not served.is_set()
    page.locator("#osk").wait_for(state="visible")
    assert page.evaluate("document.activeElement === document.querySelector('input[data-osk]')")


def test_a_tap_waits_for_the_pages_scripts_behind_the_ready_gate(browser_app, live_server, page):
    gate_until_ready(page.context)
    hold_back(browser_app, "kiosk.js", 1.5)  # kiosk.js toggles choice buttons
    page.goto(live_server.url + PAGE, wait_until="commit")
    choice = page.locator("[data-choice-group]").first
    choice.wait_for()
    started = time.monotonic()
    choice.tap()
    assert choice.get_attribute("aria-pressed") == "true"
    assert time.monotonic() - started > 0.5  # it waited for the script rather than tapping a dead button
    assert page.locator('html[data-test-scripts="ready"]').count() == 1
