"""Issue 19 point 6 in Chromium: at a kiosk with no scanner, a resident types the receipt's tracking number
on the screen keyboard (capitals, digits and '-', no pinyin) and sees how the request is being handled.
"""

from __future__ import annotations

import os
import re

import pytest
from test_petitions_receipt import file_request

from kiosk.testing import csrf_of, save_screenshot

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Chromium: apt-get install chromium")


def test_a_resident_types_the_tracking_number_on_the_screen_keyboard(browser_app, live_server, page):
    client = browser_app.test_client()
    token, _job = file_request(client, lambda c: csrf_of(c))
    done = client.get(f"/k/petitions/done/{token}").get_data(as_text=True)
    number = re.search(r"P\d{6}-[A-Z0-9]{2,6}-\d{4}", done).group(0)

    page.goto(live_server.url + "/k/petitions/")
    # No reader at this station: the screen offers typing, and says nothing of a scanner.
    check = page.locator(".pt-check").inner_text()
    assert "扫码器" not in check and "输入回执上的受理编号" in check
    page.locator("#pt-no").tap()
    osk = page.locator("#osk")
    osk.wait_for(state="visible")
    assert osk.get_attribute("data-layout") == "code"
    assert page.locator('#osk [data-key="mode"]').count() == 0  # no pinyin: letters go straight in
    typed = number.replace("-", "", 1)  # a resident may leave out a dash
    for char in typed:
        page.locator(f'#osk [data-key="{char}"]').tap()
    assert page.locator("#pt-no").input_value() == typed
    save_screenshot(page, "petitions-typed-number-zh_Hans")
    page.locator('#osk [data-key="done"]').tap()
    with page.expect_navigation():
        page.locator('[data-testid="find"]').tap()
    assert number in page.locator("main").inner_text() and "已受理" in page.locator("main").inner_text()

    # A number that is no request's: said plainly, the field keeps what was typed to correct it.
    page.locator("#pt-no").fill("P000000-ZZZZ-0001")
    with page.expect_navigation():
        page.locator('[data-testid="find"]').tap()
    assert "这里没有这个编号的诉求" in page.locator('[data-testid="find-error"]').inner_text()
    assert page.locator("#pt-no").input_value() == "P000000-ZZZZ-0001"
