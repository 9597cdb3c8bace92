"""The idle reset never wipes someone who is typing (issue 19 point 5), and the home screen times out too (19.2).

A resident typing on the on-screen keyboard is "still there" with every key tap and every
handwriting stroke (the keyboard announces both as ``kiosk:activity``); when they stop, the
countdown shows above the keyboard, not hidden under it, and then the screen resets.
"""

import pytest

from kiosk.testing import LiveServer, save_screenshot

IDLE, COUNTDOWN = 3, 2

# Records whether the countdown was ever shown, however briefly, since it was installed.
WATCH_OVERLAY = """() => {
  const overlay = document.getElementById('idle-overlay');
  window.__countdownShown = false;
  new MutationObserver(() => { if (!overlay.hidden) window.__countdownShown = true; })
    .observe(overlay, {attributes: true, attributeFilter: ['hidden']});
}"""


@pytest.fixture
def server(hello_installed, make_app, tmp_path):
    app = make_app("sqlite:///" + str(tmp_path / "idle.db"), IDLE_SECONDS=IDLE, IDLE_COUNTDOWN_SECONDS=COUNTDOWN)
    with LiveServer(app) as live:
        yield live


def test_typing_past_the_idle_limit_wipes_nothing_and_the_countdown_stands_above_the_keyboard(server, page):
    page.goto(server.url + "/k/hello/")
    page.locator("#text").tap()
    page.locator("#osk").wait_for(state="visible")
    page.locator('#osk button[data-key="mode"]').tap()  # ABC: letters go straight into the field
    page.evaluate(WATCH_OVERLAY)
    # Key taps, one every 0.7 s, for longer than the idle limit and the countdown together.
    for key in "helloworld":
        page.locator(f'#osk button[data-key="{key}"]').tap()
        page.wait_for_timeout(700)
    assert page.evaluate("window.__countdownShown") is False
    # Handwriting strokes reach kiosk.js only as the keyboard's announcement: no key, no input event.
    for _ in range(6):
        page.evaluate("window.dispatchEvent(new CustomEvent('kiosk:activity'))")
        page.wait_for_timeout(700)
    assert page.evaluate("window.__countdownShown") is False
    assert page.locator("#text").input_value() == "helloworld"

    # The resident stops: the countdown shows while the keyboard is still open, and on top of it.
    page.locator("#idle-overlay").wait_for(state="visible", timeout=IDLE * 1000 + 4000)
    assert page.locator("#osk").is_visible()
    key = page.locator('#osk button[data-key="h"]').bounding_box()
    on_top = page.evaluate(
        "([x, y]) => document.getElementById('idle-overlay').contains(document.elementFromPoint(x, y))",
        [key["x"] + key["width"] / 2, key["y"] + key["height"] / 2],
    )
    assert on_top, "the keyboard covers the countdown"
    stay = page.locator("#idle-stay").bounding_box()
    assert page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('#idle-stay') !== null",
        [stay["x"] + stay["width"] / 2, stay["y"] + stay["height"] / 2],
    )
    save_screenshot(page, "idle-countdown-over-keyboard")
    # Nobody answers: the screen goes home and the next person finds nothing typed.
    page.wait_for_url(server.url + "/", timeout=COUNTDOWN * 1000 + 5000)
    page.goto(server.url + "/k/hello/")
    assert page.locator("#text").input_value() == ""


def test_a_tap_on_the_dimmed_screen_keeps_the_typing(server, page):
    page.goto(server.url + "/k/hello/")
    page.locator("#text").tap()
    page.locator('#osk button[data-key="mode"]').tap()
    page.locator('#osk button[data-key="o"]').tap()
    page.locator("#idle-overlay").wait_for(state="visible", timeout=IDLE * 1000 + 4000)
    # A tap where the keyboard was lands on the countdown's backdrop: the resident is there.
    key = page.locator('#osk button[data-key="h"]').bounding_box()
    page.touchscreen.tap(key["x"] + key["width"] / 2, key["y"] + key["height"] / 2)
    page.locator("#idle-overlay").wait_for(state="hidden", timeout=2000)
    assert page.locator("#text").input_value() == "o"
    assert page.url == server.url + "/k/hello/"


def test_the_home_screen_starts_the_idle_timer(server, page):
    # A home screen someone used (here: English chosen) times out and forgets the choice.
    page.goto(server.url + "/")
    with page.expect_navigation():
        page.locator('button[name="lang"][value="en"]').tap()
    assert page.locator("body").get_attribute("data-screen") == "home"
    page.locator("#idle-overlay").wait_for(state="visible", timeout=IDLE * 1000 + 4000)
    page.locator("html[lang='zh-CN']").wait_for(state="attached", timeout=COUNTDOWN * 1000 + 5000)
    assert page.url == server.url + "/"
    # Home by its button from a service screen (a rider who left with 首页): the timer runs untouched.
    page.goto(server.url + "/k/hello/")
    with page.expect_navigation():
        page.locator('[data-testid="home"]').tap()
    with page.expect_navigation(timeout=(IDLE + COUNTDOWN) * 1000 + 8000):  # the reset's way home
        page.locator("#idle-overlay").wait_for(state="visible", timeout=IDLE * 1000 + 4000)
    assert page.url == server.url + "/"
    page.locator("html[data-test-scripts='ready']").wait_for(state="attached")
    assert page.evaluate("sessionStorage.getItem('kiosk.used')") is None  # the reset forgot it
    # A clean home screen starts counting at the first touch.
    page.locator("html[data-test-scripts='ready']").wait_for(state="attached")
    page.locator(".station-name").tap()
    page.locator("#idle-overlay").wait_for(state="visible", timeout=IDLE * 1000 + 4000)
