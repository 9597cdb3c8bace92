"""The on-screen keyboard in a real Chromium with touch: typing, limits, layouts, key sizes.

A tiny Flask app serves the real kiosk/static files, the real /ime/candidates
and /handwriting endpoints and a test page (tests/osk_page/) under a CSP that
forbids inline script. Playwright drives Debian's /usr/bin/chromium with taps,
and draws on the handwriting pad with mouse moves.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest
from flask import Flask, render_template, request, send_from_directory
from playwright.sync_api import expect
from werkzeug.serving import make_server

from kiosk import handwriting, handwriting_views, i18n, ime

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Chromium: apt-get install chromium")

ROOT = Path(__file__).resolve().parent.parent
KIOSK_STATIC = ROOT / "kiosk" / "static"
PAGE_DIR = Path(__file__).resolve().parent / "osk_page"
PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

# Runs before the page's own scripts (injected by the browser, so the CSP does
# not apply to it): records CSP violations and the events the keyboard sends.
RECORDER = """
window.__csp = [];
window.__events = [];
window.__activity = 0;
window.addEventListener('kiosk:activity', () => { window.__activity += 1; });
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
for (const type of ['input', 'change']) {
  document.addEventListener(type, (e) => {
    window.__events.push(type + ':' + (e.target.id || '?') + ':' + e.target.value);
  });
}
"""

# Every visible button of the keyboard with its box, font size and colours.
KEY_REPORT = """
() => Array.from(document.querySelectorAll('#osk button'))
  .filter((b) => b.getClientRects().length > 0)
  .map((b) => {
    const r = b.getBoundingClientRect();
    const cs = getComputedStyle(b);
    return {
      name: b.dataset.key !== undefined ? b.dataset.key : 'candidate ' + b.dataset.candidate,
      width: r.width, height: r.height, font: parseFloat(cs.fontSize),
      color: cs.color, background: cs.backgroundColor, disabled: b.disabled,
      type: b.getAttribute('type'), aria: b.getAttribute('aria-label'),
      fn: b.classList.contains('osk-fn'),
    };
  })
"""


@pytest.fixture(scope="session")
def ime_cache_dir(tmp_path_factory) -> Path:
    """One cache folder per test process, shared with test_ime.py so the real build runs once."""
    path = tmp_path_factory.getbasetemp() / "ime-cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def server(ime_cache_dir):
    """Serve the test page, the real static files and the real IME endpoint on a free port."""
    instance = ime_cache_dir
    app = Flask(
        "osk_page",
        static_folder=str(KIOSK_STATIC),
        template_folder=str(PAGE_DIR),
        instance_path=str(instance),
    )
    holder = ime.init_app(app)
    app.register_blueprint(ime.bp)
    # The pad's endpoints answer in the station's language; no database here, so no rate limits.
    app.config.update(STATION={"languages": ["zh_Hans", "zh_Hant", "en"]}, SECURITY={"rate_limits": False})
    app.secret_key = "osk-page-test"
    i18n.init_app(app, [])
    app.register_blueprint(handwriting_views.bp)

    @app.get("/")
    def page():
        return render_template(
            "osk_page.html",
            lang=request.args.get("lang", "zh_Hans"),
            body_class=request.args.get("body", ""),
        )

    @app.get("/page-static/<path:filename>", endpoint="osk_page_static")
    def page_static(filename):
        return send_from_directory(PAGE_DIR, filename)

    @app.after_request
    def forbid_inline_script(response):
        response.headers["Content-Security-Policy"] = CSP
        return response

    # Wait for the build here: it holds the GIL, and Playwright's sync API
    # shares this process, so overlapping them slows both.
    holder.get()
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(chromium):
    """The suite's one Chromium (tests/conftest.py): Playwright's sync API allows one driver per process."""
    return chromium


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """Where layout screenshots go: $KIOSK_SCREENSHOT_DIR or test-artifacts/screenshots/."""
    folder = Path(os.environ.get("KIOSK_SCREENSHOT_DIR") or ROOT / "test-artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser, server, viewport=PORTRAIT, query=""):
    """A fresh touch context and page; returns (context, page, console errors)."""
    context = browser.new_context(viewport=viewport, has_touch=True, is_mobile=True)
    context.add_init_script(RECORDER)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(server + "/" + query)
    return context, page, errors


@pytest.fixture(scope="module")
def portrait(browser, server):
    """One portrait touch context for the module; each test navigates afresh in it."""
    context, page, errors = open_page(browser, server)
    yield page, errors
    context.close()


@pytest.fixture
def page(portrait, server):
    """A freshly loaded test page; fails the test on a script error or a CSP violation."""
    page, errors = portrait
    errors.clear()
    page.goto(server + "/")
    yield page
    assert page.evaluate("window.__csp") == []
    assert errors == [], errors


def key(page, value):
    """The keyboard key with ``data-key=value``."""
    return page.locator(f'#osk [data-key="{value}"]')


def tap_keys(page, values):
    """Tap each key in turn, the way a finger would."""
    for value in values:
        key(page, value).tap()


def candidate(page, text):
    """The candidate button showing exactly ``text``."""
    return page.locator("#osk [data-candidate]").filter(has_text=re.compile(f"^{re.escape(text)}$"))


def wait_candidates(page, letters):
    """Wait until the candidate row answers exactly ``letters`` (not an earlier prefix)."""
    page.locator(f'#osk[data-ime="ready"][data-ime-for="{letters}"]').wait_for(state="attached")


def value_of(page, selector):
    return page.locator(selector).input_value()


def composition(page):
    return key(page, "compose").text_content()


def events(page):
    return page.evaluate("window.__events")


STROKES = json.loads((Path(__file__).parent / "data" / "strokes_zh.json").read_text(encoding="utf-8"))
needs_zinnia = pytest.mark.skipif(
    not handwriting.status()[0], reason="needs libzinnia0 and tegaki-zinnia-simplified-chinese"
)


def write_on_pad(page, char):
    """Draw ``char``'s strokes (tests/data/strokes_zh.json) on the pad with the mouse, scaled to its size."""
    box = page.locator("#osk .osk-hw-pad").bounding_box()
    scale_x, scale_y = box["width"] / STROKES["width"], box["height"] / STROKES["height"]
    for stroke in STROKES["characters"][char]:
        points = [(box["x"] + x * scale_x, box["y"] + y * scale_y) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=6)
        page.mouse.up()
    page.locator('#osk[data-hw="ready"]').wait_for(state="attached")


def written(page):
    """The handwriting candidates shown, in order."""
    return page.locator("#osk [data-hw-candidate]").all_text_contents()


def focused_id(page):
    return page.evaluate("document.activeElement && document.activeElement.id")


# --- pinyin ------------------------------------------------------------------


def test_pinyin_letters_compose_and_a_candidate_fills_the_input(page):
    osk = page.locator("#osk")
    assert osk.is_hidden()
    page.locator("#name").tap()
    expect(osk).to_be_visible()
    assert osk.get_attribute("data-layout") == "text"
    assert osk.get_attribute("data-mode") == "zh"

    tap_keys(page, "shenzhen")
    assert composition(page) == "shenzhen"
    assert value_of(page, "#name") == "", "letters stay in the composition bar"
    wait_candidates(page, "shenzhen")
    assert page.locator('#osk [data-candidate="0"]').text_content() == "深圳"
    candidate(page, "深圳").tap()

    assert value_of(page, "#name") == "深圳"
    assert composition(page) == ""
    assert focused_id(page) == "name", "keys must not steal focus"
    assert "input:name:深圳" in events(page)


def test_picking_a_word_keeps_the_remaining_letters_composing(page):
    page.locator("#name").tap()
    tap_keys(page, "shenzhenlvshi")
    wait_candidates(page, "shenzhenlvshi")
    candidate(page, "深圳").tap()
    assert composition(page) == "lvshi"
    wait_candidates(page, "lvshi")
    assert page.locator('#osk [data-candidate="0"]').text_content() == "律师"
    key(page, "space").tap()  # space picks the first candidate while composing
    assert value_of(page, "#name") == "深圳律师"
    assert composition(page) == ""


def test_space_right_after_typing_picks_the_first_candidate_once_it_arrives(page):
    page.locator("#name").tap()
    tap_keys(page, ["n", "i", "h", "a", "o", "space"])
    expect(page.locator("#name")).to_have_value("你好")
    assert composition(page) == ""


def test_candidate_paging_shows_further_candidates(page):
    page.locator("#name").tap()
    tap_keys(page, "shi")
    wait_candidates(page, "shi")
    first_page = page.locator("#osk [data-candidate]").all_text_contents()
    assert len(first_page) >= 4
    assert key(page, "candidates-prev").is_disabled()
    key(page, "candidates-more").tap()
    second_page = page.locator("#osk [data-candidate]").all_text_contents()
    assert second_page and not set(second_page) & set(first_page)
    key(page, "candidates-prev").tap()
    assert page.locator("#osk [data-candidate]").all_text_contents() == first_page


def test_backspace_removes_composition_letters_first_then_characters(page):
    page.locator("#name").tap()
    tap_keys(page, "ni")
    wait_candidates(page, "ni")
    candidate(page, "你").tap()
    tap_keys(page, "ha")
    key(page, "backspace").tap()
    assert composition(page) == "h"
    assert value_of(page, "#name") == "你"
    key(page, "backspace").tap()
    assert composition(page) == ""
    key(page, "backspace").tap()
    assert value_of(page, "#name") == ""
    tap_keys(page, "ni")
    wait_candidates(page, "ni")
    candidate(page, "你").tap()
    key(page, "clear").tap()
    assert value_of(page, "#name") == ""


def test_english_mode_symbols_and_shift(page):
    page.locator("#name").tap()
    key(page, "mode").tap()
    assert page.locator("#osk").get_attribute("data-mode") == "en"
    assert page.locator("#osk [data-key=compose]").is_hidden()
    tap_keys(page, "hi")
    key(page, "shift").tap()
    assert key(page, "a").text_content() == "A"
    key(page, "a").tap()
    key(page, "space").tap()
    key(page, "symbols").tap()
    for mark in "，。？！、：":
        assert key(page, mark).is_visible(), mark
    tap_keys(page, ["，", "1"])
    key(page, "letters").tap()
    assert value_of(page, "#name") == "hiA ，1"


def test_done_commits_unpicked_pinyin_and_fires_change_once(page):
    page.locator("#name").tap()
    tap_keys(page, "ab")
    key(page, "done").tap()
    assert page.locator("#osk").is_hidden()
    assert value_of(page, "#name") == "ab"
    assert [e for e in events(page) if e.startswith("change")] == ["change:name:ab"]
    assert focused_id(page) != "name"


def test_maxlength_is_respected(page):
    page.locator("#short").tap()
    key(page, "mode").tap()
    tap_keys(page, "abcdef")
    assert value_of(page, "#short") == "abcd"
    key(page, "mode").tap()
    key(page, "clear").tap()
    tap_keys(page, "falvzixun")
    wait_candidates(page, "falvzixun")
    candidate(page, "法律咨询").tap()
    tap_keys(page, "a")
    # 4 characters fit exactly; nothing more goes in.
    key(page, "done").tap()
    assert value_of(page, "#short") == "法律咨询"


# --- keypads -------------------------------------------------------------------


def test_phone_keypad_caps_at_eleven_digits(page):
    page.locator("#phone").tap()
    osk = page.locator("#osk")
    assert osk.get_attribute("data-layout") == "phone"
    assert key(page, "a").count() == 0
    for name in ["1", "9", "0", "clear", "backspace", "done"]:
        assert key(page, name).is_visible(), name
    tap_keys(page, "1380013800099")
    assert value_of(page, "#phone") == "13800138000"
    key(page, "backspace").tap()
    assert value_of(page, "#phone") == "1380013800"
    key(page, "clear").tap()
    assert value_of(page, "#phone") == ""
    tap_keys(page, "139")
    page.locator("#outside").tap()
    assert osk.is_hidden()
    assert "change:phone:139" in events(page)


def test_plate_keyboard_enters_a_plate(page):
    page.locator("#plate").tap()
    osk = page.locator("#osk")
    assert osk.get_attribute("data-page") == "provinces"
    shown = "".join(page.locator("#osk .osk-row button:not(.osk-fn)").all_text_contents())
    assert shown == PROVINCES
    key(page, "粤").tap()
    assert osk.get_attribute("data-page") == "plate", "switches to letters/digits after the province"
    assert key(page, "I").count() == 0 and key(page, "O").count() == 0
    assert key(page, "B").is_visible()
    tap_keys(page, "B12345")
    assert value_of(page, "#plate") == "粤B12345"
    tap_keys(page, "678")
    assert value_of(page, "#plate") == "粤B123456", "a plate has at most 8 characters"
    for _ in range(8):
        key(page, "backspace").tap()
    assert value_of(page, "#plate") == ""
    assert osk.get_attribute("data-page") == "provinces"


# --- open / close / API ------------------------------------------------------------


def test_switching_inputs_and_tapping_outside(page):
    osk = page.locator("#osk")
    page.locator("#name").tap()
    page.locator("#phone").tap()
    expect(osk).to_be_visible()
    assert osk.get_attribute("data-layout") == "phone"
    page.locator("#outside").tap()
    assert osk.is_hidden()
    page.locator("#phone").tap()
    expect(osk).to_be_visible()


def test_inputs_added_later_open_the_keyboard(page):
    page.evaluate(
        """() => {
          const input = document.createElement('input');
          input.id = 'late'; input.dataset.osk = 'digits'; input.inputMode = 'none';
          document.querySelector('main').prepend(input);
        }"""
    )
    page.locator("#late").tap()
    assert page.locator("#osk").get_attribute("data-layout") == "digits"
    tap_keys(page, "0755")
    assert value_of(page, "#late") == "0755"


def test_reset_drops_the_composition_and_hides(page):
    page.locator("#name").tap()
    tap_keys(page, "zhong")
    page.evaluate("window.KioskOSK.reset()")
    assert page.locator("#osk").is_hidden()
    assert value_of(page, "#name") == "", "reset must not type the pending letters"
    page.evaluate("window.KioskOSK.open(document.getElementById('name'))")
    expect(page.locator("#osk")).to_be_visible()
    assert composition(page) == ""
    page.evaluate("window.KioskOSK.close()")
    assert page.locator("#osk").is_hidden()


def test_english_page_language_starts_in_english(browser, server):
    context, page, errors = open_page(browser, server, query="?lang=en")
    try:
        page.locator("#name").tap()
        assert page.locator("#osk").get_attribute("data-mode") == "en"
        tap_keys(page, "ok")
        assert value_of(page, "#name") == "ok"
    finally:
        context.close()
    assert errors == []


# --- handwriting (手写) and the idle timer's activity ------------------------------------


@needs_zinnia
def test_drawing_on_the_pad_offers_the_character_and_picks_it_into_the_field(page):
    page.locator("#name").tap()
    tap_keys(page, "ni")
    wait_candidates(page, "ni")
    key(page, "handwriting").tap()
    # Unpicked pinyin is typed as letters, as on a mode switch; the pad replaces the letters.
    assert value_of(page, "#name") == "ni"
    assert page.locator("#osk").get_attribute("data-page") == "handwriting"
    expect(page.locator("#osk .osk-hw-hint")).to_have_text("请在框内写一个字")
    write_on_pad(page, "停")
    assert "停" in written(page)[:5], written(page)
    page.locator("#osk [data-hw-candidate]").filter(has_text=re.compile("^停$")).tap()
    assert value_of(page, "#name") == "ni停"
    assert written(page) == []  # the pad is empty for the next character

    write_on_pad(page, "社")
    assert "社" in written(page)[:5], written(page)
    key(page, "hw-undo").tap()
    page.locator('#osk[data-hw="ready"]').wait_for(state="attached")
    assert "社" not in written(page)[:1]  # one stroke short of 社
    key(page, "hw-clear").tap()
    assert written(page) == []
    expect(page.locator("#osk .osk-hw-hint")).to_be_visible()
    key(page, "backspace").tap()
    assert value_of(page, "#name") == "ni"
    key(page, "letters").tap()
    assert page.locator("#osk").get_attribute("data-page") == "letters"


@needs_zinnia
def test_every_tap_and_stroke_counts_as_activity(page):
    page.locator("#name").tap()
    before = page.evaluate("window.__activity")
    tap_keys(page, "abc")
    assert page.evaluate("window.__activity") == before + 3
    key(page, "handwriting").tap()
    write_on_pad(page, "车")
    # 4 strokes and the tap on 手写.
    assert page.evaluate("window.__activity") == before + 3 + 1 + 4


def test_pad_without_the_model_says_so_and_does_not_draw(browser, server):
    context, page, errors = open_page(browser, server)
    message = "本机暂不能手写输入。请用拼音输入，或请工作人员帮忙。"
    page.route(
        "**/handwriting/status",
        lambda route: route.fulfill(
            json={"available": False, "message": message, "labels": {"handwriting": "手写", "undo": "撤销"}}
        ),
    )
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    try:
        page.goto(server + "/")
        page.locator("#name").tap()
        key(page, "handwriting").tap()
        expect(page.locator("#osk .osk-hw-hint")).to_have_text(message)
        assert page.locator("#osk .osk-hw").get_attribute("class").split().count("osk-hw-off") == 1
        assert key(page, "hw-undo").is_disabled() and key(page, "hw-clear").is_disabled()
        box = page.locator("#osk .osk-hw-pad").bounding_box()
        page.mouse.move(box["x"] + 20, box["y"] + 20)
        page.mouse.down()
        page.mouse.move(box["x"] + 200, box["y"] + 200, steps=5)
        page.mouse.up()
        assert posts == []  # nothing sent to a server that cannot read it
        key(page, "letters").tap()  # pinyin still works
        tap_keys(page, "ni")
        wait_candidates(page, "ni")
        candidate(page, "你").tap()
        assert value_of(page, "#name") == "你"
    finally:
        context.close()
    assert errors == []


# --- size, contrast, screenshots -------------------------------------------------------


def _channels(css_color: str) -> tuple[float, float, float]:
    """RGB in 0..1 from a computed colour: ``rgb(...)``, ``rgba(...)`` or ``color(srgb ...)``."""
    numbers = [float(n) for n in re.findall(r"[\d.]+", css_color)]
    if css_color.startswith("color(srgb"):
        return numbers[0], numbers[1], numbers[2]
    return numbers[0] / 255, numbers[1] / 255, numbers[2] / 255


def _luminance(rgb: tuple[float, float, float]) -> float:
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two computed colours."""
    a, b = sorted((_luminance(_channels(fg)), _luminance(_channels(bg))), reverse=True)
    return (a + 0.05) / (b + 0.05)


def check_keys(page, label: str, min_size: float = 64) -> int:
    """Assert every visible key is big, legible and high-contrast; return how many were checked."""
    keys = page.evaluate(KEY_REPORT)
    assert keys, label
    for k in keys:
        where = f"{label}: key {k['name']!r}"
        assert k["type"] == "button", where
        if k["fn"]:
            assert k["aria"], f"{where} needs an aria-label"
        assert k["width"] >= min_size and k["height"] >= min_size, f"{where} is {k['width']}x{k['height']}"
        assert k["font"] >= 28, f"{where} font {k['font']}px"
        if not k["disabled"]:
            ratio = contrast(k["color"], k["background"])
            assert ratio >= 4.5, f"{where} contrast {ratio:.2f} ({k['color']} on {k['background']})"
    box = page.locator("#osk").bounding_box()
    viewport = page.viewport_size
    assert box["x"] == 0 and box["width"] == viewport["width"], f"{label}: full width"
    assert abs(box["y"] + box["height"] - viewport["height"]) < 1, f"{label}: fixed to the bottom"
    return len(keys)


def show_candidates(page, letters):
    tap_keys(page, letters)
    wait_candidates(page, letters)


def visit_every_layout(page, shoot, prefix):
    """Open each layout in turn, check its keys and screenshot it."""
    checked = 0
    page.locator("#name").tap()
    show_candidates(page, "shenzhen")
    checked += shoot(f"{prefix}text-pinyin")
    key(page, "symbols").tap()
    checked += shoot(f"{prefix}text-symbols")
    key(page, "letters").tap()
    if handwriting.status()[0]:
        key(page, "handwriting").tap()
        write_on_pad(page, "车")
        checked += shoot(f"{prefix}text-handwriting")
        key(page, "letters").tap()
    key(page, "mode").tap()
    key(page, "shift").tap()
    checked += shoot(f"{prefix}text-english")
    key(page, "done").tap()
    page.locator("#phone").tap()
    checked += shoot(f"{prefix}phone")
    page.locator("#plate").tap()
    checked += shoot(f"{prefix}plate-provinces")
    key(page, "粤").tap()
    checked += shoot(f"{prefix}plate-letters")
    return checked


@pytest.mark.parametrize(
    ("viewport", "query", "prefix", "min_size", "pictures"),
    [
        (PORTRAIT, "", "portrait-", 64, "all"),
        (LANDSCAPE, "", "landscape-", 64, "text-pinyin phone plate-letters"),
        (PORTRAIT, "?body=large-text", "large-text-", 80, "text-english text-handwriting plate-provinces"),
    ],
)
def test_every_key_is_big_and_legible_in_every_layout(
    browser, server, screenshots, viewport, query, prefix, min_size, pictures
):
    context, page, errors = open_page(browser, server, viewport=viewport, query=query)
    try:

        def shoot(name):
            count = check_keys(page, name, min_size)
            # PNG encoding is the slow part; the variants keep a few pictures each.
            if pictures == "all" or name.removeprefix(prefix) in pictures.split():
                page.screenshot(path=str(screenshots / f"osk-{name}.png"))
            return count

        assert visit_every_layout(page, shoot, prefix) > 100
        assert page.evaluate("window.__csp") == []
    finally:
        context.close()
    assert errors == []
