"""The first page a browser opens logs no error in its console (helper H5's outside check).

Chromium asks every site for /favicon.ico by itself; the kiosk served none, so the home screen,
a phone page opened from a QR code and the staff login each logged "Failed to load resource:
404" on their first load. The pages now link the kiosk's own icon.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("path", "viewport"), [("/", (1080, 1920)), ("/m/petitions/", (390, 844)), ("/staff/login", (1366, 900))]
)
def test_a_first_page_load_logs_no_console_error(live_server, chromium, path, viewport):
    context = chromium.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        # The icon the page links is fetched after the page itself: wait for it, not for a time.
        with page.expect_request_finished(lambda r: "favicon" in r.url):
            page.goto(live_server.url + path)
        page.locator('html[data-test-scripts="ready"]').wait_for(state="attached")
        assert errors == []
    finally:
        context.close()
