"""Handwriting on a real kiosk page: the pad posts with the page's CSRF token through the rate limit.

tests/test_osk_browser.py checks the pad itself on a bare test page; this one
writes a rider's name with a finger (mouse moves) on the real registration
screen of a station, so the whole path (base.html's token, /handwriting/*
with CSRF and rate limits, the live server) is exercised once.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from kiosk import handwriting
from tests.browser_helpers import gate_until_ready, wait_until_ready

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Chromium: apt-get install chromium"),
    pytest.mark.skipif(not handwriting.status()[0], reason="needs libzinnia0 and tegaki-zinnia-simplified-chinese"),
]
STROKES = json.loads((Path(__file__).parent / "data" / "strokes_zh.json").read_text(encoding="utf-8"))


def test_a_rider_writes_a_character_into_the_real_registration_form(browser_app, live_server, page):
    gate_until_ready(page.context)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(live_server.url + "/k/courier_rest/register")
    wait_until_ready(page)
    page.locator("#name").tap()
    page.locator('#osk [data-key="handwriting"]').tap()
    # The label came from /handwriting/status in the station's language.
    page.locator("#osk .osk-hw-hint").filter(has_text="请在框内写一个字").wait_for()

    box = page.locator("#osk .osk-hw-pad").bounding_box()
    for stroke in STROKES["characters"]["车"]:
        points = [
            (box["x"] + x * box["width"] / STROKES["width"], box["y"] + y * box["height"] / STROKES["height"])
            for x, y in stroke
        ]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=6)
        page.mouse.up()
    page.locator('#osk[data-hw="ready"]').wait_for(state="attached")
    offered = page.locator("#osk [data-hw-candidate]").all_text_contents()
    assert "车" in offered[:5], offered
    page.locator("#osk [data-hw-candidate]").filter(has_text=re.compile("^车$")).tap()
    assert page.locator("#name").input_value() == "车"
    assert errors == []
