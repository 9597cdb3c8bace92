"""The calling display fits the called number and counter to any wall screen (issue 19 point 1).

At 1920×1080 the board once showed ``B001`` as ``3001``: the number started at
x = −67 and "号窗口" ran into the recent-calls column. Here a real Chromium
shows short and long calls on a full-HD TV, an old 1366×768 one, a 4K one and
a portrait screen, and every box of the call must lie inside the window and
clear of the recent-calls column.
"""

from __future__ import annotations

from kiosk import events
from kiosk.testing import save_screenshot

SIZES = [(1920, 1080), (1366, 768), (3840, 2160), (1080, 1920)]
#: (ticket, counter): the usual case, and the longest a station's prefixes and counters make.
CALLS = [("B001", 3), ("LA-20481", 128)]

#: Boxes of the call and of the recent-calls column, in viewport pixels.
MEASURE = """() => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height}; };
  const ink = (el) => ({scroll: el.scrollWidth, client: el.clientWidth});
  return {
    ticket: box(document.getElementById('now-ticket')),
    counter: box(document.querySelector('.now-counter')),
    text: box(document.getElementById('now-text')),
    recent: box(document.querySelector('.recent')),
    ticketInk: ink(document.getElementById('now-ticket')),
    counterInk: ink(document.querySelector('.now-counter')),
    fontPx: parseFloat(getComputedStyle(document.getElementById('now-ticket')).fontSize),
    page: {w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight},
  };
}"""


def _overlaps(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def _inside(a: dict, width: int, height: int) -> bool:
    return a["left"] >= 0 and a["top"] >= 0 and a["right"] <= width + 0.5 and a["bottom"] <= height + 0.5


def test_called_number_and_counter_fit_every_screen(chromium, live_server):
    app = live_server.app
    station_id = app.extensions["kiosk_station_id"]
    context = chromium.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = context.new_page()
    try:
        for lang in ("zh_Hans", "en"):
            _fit_in(page, live_server, app, station_id, lang)
    finally:
        context.close()


def _fit_in(page, live_server, app, station_id, lang):
    page.set_viewport_size({"width": 1920, "height": 1080})
    if lang != "zh_Hans":
        page.goto(live_server.url + "/")
        with page.expect_navigation():
            page.locator(f'.lang-switch button[value="{lang}"]').click()
    page.goto(live_server.url + "/k/legal/display")
    page.wait_for_function("() => document.body.dataset.live === '1'", timeout=10_000)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        for ticket, counter in CALLS:
            with app.app_context():
                events.emit(
                    "legal.ticket_called",
                    {"ticket": ticket, "counter": counter, "service": "consultation"},
                    channel="legal",
                    station_id=station_id,
                )
            page.wait_for_function(
                "([t, c]) => document.getElementById('now-ticket').textContent === t"
                " && document.getElementById('now-counter').textContent === c"
                " && document.getElementById('now').dataset.fit === t + '@' + c + '@' + innerWidth + 'x' + innerHeight",
                arg=[ticket, str(counter)],
            )
            m = page.evaluate(MEASURE)
            where = f"{ticket}→{counter} at {width}×{height} ({lang})"
            for name in ("ticket", "counter", "text"):
                assert _inside(m[name], width, height), f"{name} box {m[name]} leaves the screen: {where}"
                assert not _overlaps(m[name], m["recent"]), f"{name} runs into the recent calls: {where}"
            # The glyphs fit their own boxes too (a box inside the screen can still clip its text).
            for name in ("ticketInk", "counterInk"):
                assert m[name]["scroll"] <= m[name]["client"] + 1, f"{name} clipped: {m[name]} {where}"
            assert m["page"]["w"] <= width and m["page"]["h"] <= height, f"the board scrolls: {m['page']} {where}"
            # Still readable across a hall: never shrunk to nothing to make it fit.
            assert m["fontPx"] >= height * 0.07, f"number only {m['fontPx']} px tall: {where}"
            if ticket == CALLS[1][0] and width <= 1920 and (lang == "zh_Hans" or width == 1920):
                save_screenshot(page, f"legal-display-fit-{width}x{height}-{ticket}-{lang}")
