"""Issue 19 point 7 (chips): tap, not type. The description screen offers the category's common phrases
(路灯不亮, 占道经营, 噪音扰民…) as big chips that write them into the description, in a real Chromium.

The lists come with defaults per category and may be replaced per category in
``[plugins.petitions.phrases]`` (a phrase is text or a table of the three languages).
"""

from __future__ import annotations

import os

import pytest

from kiosk.settings import SettingError
from kiosk.testing import save_screenshot
from kiosk_plugins.petitions.settings import from_config

CHROMIUM = "/usr/bin/chromium"
NOISE = ["噪音扰民", {"zh_Hans": "广场舞音响太大", "zh_Hant": "廣場舞音響太大", "en": "Loud square dancing"}]


def test_phrases_have_defaults_and_a_station_replaces_one_categorys_list():
    defaults = from_config({}).phrases
    assert {"public_facilities", "noise", "environment"} <= set(defaults)
    configured = from_config({"phrases": {"noise": NOISE}}).phrases
    assert configured["noise"] == tuple(NOISE)
    assert configured["public_facilities"] == defaults["public_facilities"]  # the others keep theirs
    with pytest.raises(SettingError) as refused:
        from_config({"phrases": {"noise": [{"en": "Loud"}]}})  # no Simplified Chinese
    assert "phrases.noise[0]" in str(refused.value)


def _to_description(page, url: str, category: str) -> None:
    page.goto(url + "/k/petitions/new")
    page.locator('[data-choice-group="type"][data-value="complaint"]').tap()
    page.locator(f'[data-choice-group="category"][data-value="{category}"]').tap()
    page.locator('[data-testid="next"]').tap()
    page.locator('[data-choice-group="place"][data-value="other"]').tap()
    page.locator('[data-testid="next"]').tap()
    page.locator("#pt-description").wait_for()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Chromium: apt-get install chromium")
@pytest.mark.parametrize("browser_app", [{"PLUGINS": {"petitions": {"phrases": {"noise": NOISE}}}}], indirect=True)
def test_a_resident_writes_the_description_with_phrase_chips(browser_app, live_server, page):
    _to_description(page, live_server.url, "public_facilities")
    chips = page.locator('[data-testid="phrase"]')
    assert chips.all_inner_texts() == ["路灯不亮", "占道经营", "路面破损", "下雨积水"]
    box = chips.first.bounding_box()
    assert box["height"] >= 72 and box["width"] >= 72  # a finger's target
    chips.nth(0).tap()
    chips.nth(1).tap()
    chips.nth(0).tap()  # a second tap does not write it twice
    description = page.locator("#pt-description")
    assert description.input_value() == "路灯不亮，占道经营"
    save_screenshot(page, "petitions-phrases-zh_Hans")
    page.locator('[data-testid="next"]').tap()
    assert page.locator(".pt-review .pt-desc").inner_text() == "路灯不亮，占道经营"  # it is what is sent

    # The station's own list for noise, in Traditional Chinese; typed words stay and the phrase follows.
    page.goto(live_server.url + "/")
    with page.expect_navigation():
        page.locator('.lang-switch button[value="zh_Hant"]').tap()
    _to_description(page, live_server.url, "noise")
    # Plain text is shown as the station wrote it; a table in the reader's language.
    assert page.locator('[data-testid="phrase"]').all_inner_texts() == ["噪音扰民", "廣場舞音響太大"]
    description.fill("每晚九點後")
    page.locator('[data-testid="phrase"]').nth(1).tap()
    assert description.input_value() == "每晚九點後，廣場舞音響太大"
