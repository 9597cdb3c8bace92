"""A tour of every kiosk screen: nothing overflows sideways, anywhere (issue 19 point 4 and its proof).

Every screen the app serves to residents (the home screen, every argument-free kiosk and
phone route found in the app's url_map, so a new screen is toured without editing this
file, and the screens that need state: a ticket, a rider's menu and slot, a household's
car, lots and offer, a request's receipt and status)
is opened at 1080×1920 (the portrait kiosk), 1920×1080 (a landscape one) and 390×844 (a
phone), in Simplified Chinese, Traditional Chinese and English, with large text off and
on. At each size the page may not scroll sideways and no visible element may stand
outside the screen left or right. axe-core checks each screen once per language and
mode (layout-independent rules: the viewport does not change them).

Every view is saved to test-artifacts/tour/ (as JPEG) with an index.html for a person to look at.

Time: one browser, one context per language, each screen loaded once per mode and
resized in place; the tour is one test that takes well under a minute.
"""

from __future__ import annotations

import html
import os

import pytest
from test_courier_rest_browser import add_rider
from test_parking_support import add_lot, add_people

AXE = os.path.join(os.path.dirname(__file__), "a11y", "node_modules", "axe-core", "axe.min.js")
LANGS = ("zh_Hans", "zh_Hant", "en")
VIEWPORTS = (("portrait", 1080, 1920), ("landscape", 1920, 1080), ("phone", 390, 844))
SKIP_SUFFIXES = (".json", ".csv", ".wav", ".png", ".svg", ".jpg")
RIDER_PHONES = {"zh_Hans": "13800138001", "zh_Hant": "13800138002", "en": "13800138003"}

#: Visible elements whose box leaves the viewport sideways, and the page's own sideways scroll.
#: Elements clipped away by an ancestor (overflow hidden/clip) or drawn for screen readers
#: only (1×1 px) are not seen, so not counted.
OVERFLOW = """() => {
  const vw = document.documentElement.clientWidth;
  const out = [];
  const clipped = (el) => {
    for (let p = el.parentElement || el.parentNode; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (/(hidden|clip|auto|scroll)/.test(s.overflowX)) {
        const r = p.getBoundingClientRect();
        if (r.left >= -1 && r.right <= vw + 1) return true;
      }
    }
    return false;
  };
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) continue;
    if (r.left >= -1 && r.right <= vw + 1) continue;
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || s.display === 'none' || s.position === 'fixed' && el.hidden) continue;
    if (el.closest('[hidden], [aria-hidden="true"] [hidden]')) continue;
    if (clipped(el)) continue;
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
      + (el.classList.length ? '.' + [...el.classList].join('.') : '');
    out.push(`${name} [${Math.round(r.left)}, ${Math.round(r.right)}] "${(el.innerText || '').trim().slice(0, 20)}"`);
  }
  // Words that overflow their box: the box fits, its text does not.
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim()) continue;
    range.selectNodeContents(n);
    const r = range.getBoundingClientRect();
    if (r.width <= 1 || (r.left >= -1 && r.right <= vw + 1) || clipped(n)) continue;
    const s = getComputedStyle(n.parentElement);
    if (s.visibility === 'hidden' || n.parentElement.closest('[hidden]')) continue;
    out.push(`text "${n.textContent.trim().slice(0, 20)}" [${Math.round(r.left)}, ${Math.round(r.right)}]`);
  }
  const scroll = document.documentElement.scrollWidth;
  if (scroll > vw + 1) out.unshift(`page scrolls sideways: ${scroll} > ${vw}`);
  return out.slice(0, 5);
}"""


def tour_paths(app) -> list[str]:
    """Home, the offline page, then every argument-free GET route of the kiosk (/k/) and phone (/m/) screens."""
    paths = ["/", "/offline"]  # the service worker's page while the server is away
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or "<" in rule.rule or not rule.rule.startswith(("/k/", "/m/")):
            continue
        if not rule.rule.endswith(SKIP_SUFFIXES) and rule.rule not in paths:
            paths.append(rule.rule)
    return paths


def _post(page, path, **form):
    """What a button on a screen posts (tapping through each flow is the plugins' own browser tests)."""
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    origin = "/".join(page.url.split("/", 3)[:3])
    return page.request.post(origin + path, form={**form, "csrf_token": token}, max_redirects=0)


def stateful_screens(page, lang):
    """(name, setup) for screens that need something done first; setup returns the path to open."""

    origin = "/".join(page.url.split("/", 3)[:3])

    def ticket():
        assert _post(page, "/k/legal/take/consultation", priority="elderly", phone="").status == 302
        return "/k/legal/issued"

    def rider_menu():
        page.goto(origin + "/k/courier_rest/")
        assert _post(page, "/k/courier_rest/phone", phone=RIDER_PHONES[lang]).status == 302
        return "/k/courier_rest/menu"

    def rider_slot():
        rider_menu()
        _post(page, "/k/courier_rest/checkout")  # the slot taken in the other text size is given back
        rider_menu()
        _post(page, "/k/courier_rest/take/phone")
        return "/k/courier_rest/result"

    def petition_done():
        page.goto(origin + "/k/petitions/new")
        response = _post(
            page,
            "/k/petitions/new",
            step="4",
            go="submit",
            type="complaint",
            category="noise",
            place="other",
            description="楼下烧烤店每晚营业到凌晨两点，噪音扰民",
            anonymous="0",
            phone="13800138000",
            name="陈大文",
        )
        location = response.headers.get("location", "")
        assert "/k/petitions/done/" in location, (response.status, location)
        return location.split("?")[0]

    def parking_plate():
        page.goto(origin + "/k/parking/")
        assert _post(page, "/k/parking/identify", phone="13800138001").status == 302
        return "/k/parking/plate"

    def parking_lots():
        page.goto(origin + parking_plate())
        with page.expect_navigation():
            page.locator('[data-testid="parking-car"]').first.tap()
        return page.url.removeprefix(origin)

    def parking_confirm():
        page.goto(origin + parking_lots())
        with page.expect_navigation():
            page.locator('[data-testid="parking-offer"]').first.tap()
        return page.url.removeprefix(origin)

    def petition_status():
        return petition_done().replace("/done/", "/status/")

    return [
        ("legal-ticket", ticket),
        ("courier-menu", rider_menu),
        ("courier-slot", rider_slot),
        ("parking-plate", parking_plate),
        ("parking-lots", parking_lots),
        ("parking-confirm", parking_confirm),
        ("petition-done", petition_done),
        ("petition-status", petition_status),
    ]


def _axe(page):
    page.add_script_tag(path=AXE)
    return page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => `${v.id}: ${v.nodes.slice(0, 2).map(n => n.target.join(' ')).join(', ')}`);
    }""")


def _gallery(folder, shots):
    rows = []
    for name, views in shots:
        cells = "".join(
            f'<figure><a href="{html.escape(f)}"><img src="{html.escape(f)}" loading="lazy" alt=""></a>'
            f"<figcaption>{html.escape(v)}</figcaption></figure>"
            for v, f in views
        )
        rows.append(f"<section><h2>{html.escape(name)}</h2>{cells}</section>")
    page = (
        '<!doctype html><meta charset="utf-8"><title>Kiosk tour</title>'
        "<style>body{font-family:sans-serif}section{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}"
        "h2{width:100%}figure{margin:0}img{height:320px;border:1px solid #999}</style>" + "".join(rows)
    )
    with open(os.path.join(folder, "index.html"), "w", encoding="utf-8") as f:
        f.write(page)


def test_tour_of_every_screen_in_three_sizes_three_languages_and_both_text_sizes(
    browser_app, live_server, chromium, request
):
    if not os.path.exists(AXE):
        pytest.skip("axe-core missing: run tools/install-test-deps (npm ci in tests/a11y)")
    folder = os.path.join(str(request.config.rootpath), "test-artifacts", "tour")
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):  # an earlier run's views (PNG before, or screens since gone)
        if old.endswith((".png", ".jpg")):
            os.remove(os.path.join(folder, old))
    for lang, phone in RIDER_PHONES.items():
        add_rider(browser_app, {"zh_Hans": "古霖珊", "zh_Hant": "陳大文", "en": "Li Wei"}[lang], phone)
    add_lot(browser_app, spaces=30, quota=8, windows=[("夜间", "19:00", "08:00", "0123456")])
    add_people(browser_app)
    base = live_server.url
    problems, shots = [], []
    for lang in LANGS:
        # axe is injected as an inline script, which the kiosk's CSP rightly forbids.
        context = chromium.new_context(
            viewport={"width": 1080, "height": 1920},
            has_touch=True,
            bypass_csp=True,
            service_workers="block",
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            page.goto(base + "/")
            _post(page, "/lang", lang=lang)
            for large in (False, True):
                if large:
                    _post(page, "/large-text", next="/")
                mode = "large" if large else "normal"
                screens = [(p.strip("/").replace("/", "-") or "home", p) for p in tour_paths(browser_app)]
                screens += stateful_screens(page, lang)
                seen = set()
                for number, (name, target) in enumerate(screens):
                    path = target() if callable(target) else target
                    page.set_viewport_size({"width": 1080, "height": 1920})
                    response = page.goto(base + path)
                    if response is None or response.status != 200:
                        problems.append(f"{name} {lang} {mode}: status {response.status if response else None}")
                        continue
                    if callable(target):  # its state was made: the screen itself shows, not a way back
                        assert page.url.endswith(path), (name, lang, mode, page.url)
                    # A screen that needs state it lacks sends the resident to one already toured.
                    if page.url in seen:
                        continue
                    seen.add(page.url)
                    assert ("large-text" in (page.locator("body").get_attribute("class") or "")) == large or (
                        page.locator("body.display, body.bare").count()
                    ), (name, lang, mode)
                    views = []
                    for view, width, height in VIEWPORTS:
                        page.set_viewport_size({"width": width, "height": height})
                        for found in page.evaluate(OVERFLOW):
                            problems.append(f"{name} {lang} {mode} {view}: {found}")
                        # JPEG: a PNG of a 1080×1920 screen costs Chromium about twice the CPU to encode,
                        # and the gallery shows each view 320 px high for a person to look at.
                        file = f"{name}-{lang}-{mode}-{view}.jpg"
                        page.screenshot(path=os.path.join(folder, file), type="jpeg", quality=70)
                        views.append((f"{lang} {mode} {view}", file))
                    shots.append((f"{name} ({lang}, {mode})", views))
                    # axe once per screen and mode, in each language in turn (its rules do not
                    # depend on the viewport; the a11y test runs it on every screen per language).
                    if LANGS[(number + large) % len(LANGS)] == lang:
                        for violation in _axe(page):
                            problems.append(f"{name} {lang} {mode} axe: {violation}")
        finally:
            context.close()
    _gallery(folder, shots)
    with open(os.path.join(folder, "problems.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(problems) + "\n")
    assert len(shots) >= 2 * len(LANGS) * 15, len(shots)  # the tour saw the screens it should
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:60])
