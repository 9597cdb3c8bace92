"""A resident files a request at the kiosk in a real Chromium, by tapping and typing pinyin on the screen keyboard.

Every petitions screen is saved as a screenshot in zh_Hans, zh_Hant and en
(test-artifacts/screenshots/petitions-*.png) for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
from sqlalchemy import select

from kiosk.testing import save_screenshot
from tests.browser_helpers import gate_until_ready

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Chromium: apt-get install chromium")

# Records script errors and CSP violations before the page's own scripts run.
RECORDER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture(scope="session")
def ime_cache(tmp_path_factory):
    """The pinyin dictionary, built once per worker and copied into each app's instance folder."""
    from kiosk.ime import CACHE_FILE, DictionaryHolder

    folder = tmp_path_factory.mktemp("ime-cache")
    DictionaryHolder(folder).get()
    return folder / CACHE_FILE


@pytest.fixture
def kiosk(browser_app, live_server, page, ime_cache):
    """The demo station in the browser; the idle reset is slowed so a loaded machine does not trip it."""
    from kiosk.demo import load_demo

    shutil.copy(ime_cache, os.path.join(browser_app.instance_path, ime_cache.name))
    browser_app.config["IDLE_SECONDS"] = 600
    load_demo(browser_app, [])
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The browser asks every site for /favicon.ico on its own; the kiosk has none.
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}") if r.status >= 400 and not r.url.endswith("/favicon.ico") else None
        ),
    )
    page.context.add_init_script(RECORDER)
    # Every step is a new page: a tap must not land before its scripts (osk.js, kiosk.js) have run.
    gate_until_ready(page.context)
    yield page
    assert page.evaluate("window.__csp || []") == []
    assert errors == []


def key(page, value):
    return page.locator(f'#osk [data-key="{value}"]')


def type_pinyin(page, letters: str, word: str) -> None:
    """Tap the letters, then the candidate showing ``word``."""
    for letter in letters:
        key(page, letter).tap()
    candidate = page.locator("#osk [data-candidate]").filter(has_text=re.compile(f"^{re.escape(word)}$"))
    candidate.first.wait_for()
    candidate.first.tap()


def choose(page, group: str, value: str) -> None:
    button = page.locator(f'[data-choice-group="{group}"][data-value="{value}"]')
    button.tap()
    assert button.get_attribute("aria-pressed") == "true"


def switch_language(page, lang: str) -> None:
    with page.expect_navigation():
        page.locator(f'.lang-switch button[value="{lang}"]').tap()


def walk_to_status(page, app, lang: str, describe) -> str:
    """Home → form → done → status, screenshot at every screen; returns the request's token."""
    page.locator('[data-tile="petitions.report"]').tap()
    page.locator('[data-testid="start"]').wait_for()
    save_screenshot(page, f"petitions-index-{lang}")
    page.locator('[data-testid="start"]').tap()
    choose(page, "type", "complaint")
    choose(page, "category", "environment")
    save_screenshot(page, f"petitions-step1-{lang}")
    page.locator('[data-testid="next"]').tap()
    choose(page, "place", "beili_garden")
    save_screenshot(page, f"petitions-step2-{lang}")
    page.locator('[data-testid="next"]').tap()
    page.locator("#pt-description").tap()
    page.locator("#osk").wait_for(state="visible")
    describe(page)
    save_screenshot(page, f"petitions-step3-{lang}")
    key(page, "done").tap()
    page.locator('[data-testid="next"]').tap()
    page.locator('[data-testid="leave-contact"]').tap()
    page.locator("#pt-contact").wait_for(state="visible")
    for digit in "13800138000":
        key(page, digit).tap()
    key(page, "done").tap()
    save_screenshot(page, f"petitions-step4-{lang}")
    page.locator('[data-testid="submit"]').tap()
    tracking = page.locator('[data-testid="tracking-no"]')
    tracking.wait_for()
    assert re.fullmatch(r"P\d{6}-[A-Z2-9]{4}-\d{4}", tracking.text_content().strip())
    page.locator('#pt-print[data-state="done"]').wait_for(timeout=15_000)  # the preview printer rendered the receipt
    assert "13800138000" not in page.content() and "8000" not in page.content()
    save_screenshot(page, f"petitions-done-{lang}")
    token = page.url.split("/done/")[1].split("?")[0]
    page.goto(page.url.split("/k/")[0] + f"/k/petitions/status/{token}")
    save_screenshot(page, f"petitions-status-{lang}")
    return token


def resolve(app, token: str) -> None:
    from kiosk.models import Station
    from kiosk_plugins.petitions import lifecycle
    from kiosk_plugins.petitions.models import Petition

    with app.test_request_context("/"), app.extensions["db"].Session() as db:
        station = db.get(Station, app.extensions["kiosk_station_id"])
        petition_id = db.scalar(select(Petition.id).where(Petition.token == token))
        db.rollback()  # end the read: on SQLite the changes below write from their own connection
        lifecycle.change_status(station, petition_id, "dispatched", "已转城管执法队。", department="city_management")
        lifecycle.change_status(station, petition_id, "resolved", "楼道垃圾已清运，已督促物业每日清理。")


def test_resident_files_a_request_by_tapping_and_pinyin(kiosk, browser_app, live_server):
    from kiosk_plugins.petitions.models import Petition

    page = kiosk
    page.goto(live_server.url + "/")

    def describe(page):
        type_pinyin(page, "loudao", "楼道")
        type_pinyin(page, "laji", "垃圾")
        type_pinyin(page, "duifang", "堆放")
        assert page.locator("#pt-description").input_value() == "楼道垃圾堆放"

    token = walk_to_status(page, browser_app, "zh_Hans", describe)
    with browser_app.extensions["db"].Session() as s:
        petition = s.scalar(select(Petition).where(Petition.token == token))
    assert (petition.type, petition.category, petition.place, petition.description) == (
        "complaint",
        "environment",
        "贝丽花园",
        "楼道垃圾堆放",
    )
    assert petition.contact_phone == "13800138000" and petition.channel == "kiosk"
    assert "已受理" in page.content()

    resolve(browser_app, token)
    page.reload()
    page.locator(".pt-radio", has_text="满意").first.tap()
    save_screenshot(page, "petitions-rate-zh_Hans")
    page.locator('[data-testid="rate"]').tap()
    page.locator(".pt-thanks").wait_for()
    with browser_app.extensions["db"].Session() as s:
        from kiosk_plugins.petitions.models import PetitionRating

        assert s.scalar(select(PetitionRating.score)) == "satisfied"


@pytest.mark.parametrize("lang", ["zh_Hant", "en"])
def test_screens_in_traditional_chinese_and_english(kiosk, browser_app, live_server, lang):
    page = kiosk
    page.goto(live_server.url + "/")
    switch_language(page, lang)

    def describe(page):
        if lang == "en":
            for letter in "lamp":
                key(page, letter).tap()
            assert page.locator("#pt-description").input_value() == "lamp"
        else:
            type_pinyin(page, "ludeng", "路灯")
            type_pinyin(page, "huaile", "坏")

    token = walk_to_status(page, browser_app, lang, describe)
    resolve(browser_app, token)
    page.reload()
    save_screenshot(page, f"petitions-rate-{lang}")
    words = {"zh_Hant": "您對辦理結果滿意嗎", "en": "How satisfied are you with the handling?"}[lang]
    assert words in page.content()


def test_phone_pages(chromium, browser_app, live_server):
    """The form and status page as a resident's phone shows them (a 390 px wide portrait screen)."""
    from kiosk.demo import load_demo

    load_demo(browser_app, [])
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, device_scale_factor=2
    )
    page = context.new_page()
    try:
        for lang in ("zh_Hans", "zh_Hant", "en"):
            page.goto(live_server.url + "/m/petitions/")
            with page.expect_navigation():
                page.locator(f'.lang-switch button[value="{lang}"]').tap()
            assert page.locator(f'.lang-switch button[value="{lang}"]').get_attribute("aria-pressed") == "true"
            save_screenshot(page, f"petitions-mobile-form-{lang}")
            page.locator('label.pt-m-option:has(input[name="type"][value="suggestion"])').tap()
            page.locator('label.pt-m-option:has(input[name="category"][value="parking"])').tap()
            page.locator("#pt-m-description").tap()
            page.locator("#pt-m-description").press_sequentially("Shared parking per use")
            page.locator(".pt-m-submit").tap()
            page.locator('[data-testid="tracking-no"]').wait_for()
            assert "/m/petitions/s/" in page.url
            save_screenshot(page, f"petitions-mobile-status-{lang}")
    finally:
        context.close()
