"""Accessibility of every kiosk screen, in Chromium, in all three languages and large text.

axe-core comes from the npm registry through tests/a11y/package-lock.json
(installed by tools/install-test-deps) and is injected by Playwright only
for the check; the kiosk itself never serves it. Each screen is saved as a
screenshot for a person to look at.
"""

import os

import pytest

from kiosk.testing import LiveServer, save_screenshot

AXE = os.path.join(os.path.dirname(__file__), "a11y", "node_modules", "axe-core", "axe.min.js")
LANGS = ("zh_Hans", "zh_Hant", "en")
MIN_TARGET = 64


def kiosk_screens(app):
    """Every kiosk and mobile screen reachable without arguments, home first."""
    paths = ["/"]
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or "<" in rule.rule:
            continue
        if rule.rule.startswith(("/k/", "/m/")) and not rule.rule.endswith((".json", ".csv", ".wav", ".png", ".svg")):
            paths.append(rule.rule)
    return sorted(set(paths), key=paths.index)


@pytest.fixture
def a11y_page(chromium):
    if not os.path.exists(AXE):
        pytest.skip("axe-core missing: run tools/install-test-deps (npm ci in tests/a11y)")
    # axe is injected as an inline script, which the kiosk's CSP rightly forbids.
    context = chromium.new_context(
        viewport={"width": 1080, "height": 1920}, has_touch=True, is_mobile=True, bypass_csp=True, locale="zh-CN"
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def _axe(page):
    page.add_script_tag(path=AXE)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def _small_targets(page):
    return page.evaluate(f"""() => Array.from(document.querySelectorAll(
            'main a, main button, main input:not([type=hidden]), main select, main textarea, '
            + '.topbar a, .topbar button'))
        .filter(el => el.offsetParent !== null)
        .map(el => {{ const r = el.getBoundingClientRect();
                     return {{tag: el.tagName, text: (el.innerText || el.name || '').slice(0, 30),
                              w: r.width, h: r.height}}; }})
        .filter(t => t.w < {MIN_TARGET} || t.h < {MIN_TARGET})""")


@pytest.mark.parametrize(
    "lang,large", [("zh_Hans", False), ("zh_Hans", True), ("zh_Hant", False), ("en", False), ("en", True)]
)
def test_every_kiosk_screen_is_accessible(browser_app, a11y_page, lang, large):
    """axe (serious/critical), touch targets, and a screenshot of every screen."""
    server = LiveServer(browser_app)
    page = a11y_page
    problems = []
    try:
        page.goto(server.url + "/")
        with page.expect_navigation():
            page.locator(f'button[name="lang"][value="{lang}"]').tap()
        if large:
            with page.expect_navigation():
                page.locator('[data-testid="large-text"]').tap()
        for path in kiosk_screens(browser_app):
            response = page.goto(server.url + path)
            if response is None or response.status != 200:
                problems.append((path, "status", response.status if response else None))
                continue
            name = (path.strip("/").replace("/", "-") or "home") + f"-{lang}" + ("-large" if large else "")
            save_screenshot(page, f"screen-{name}")
            for violation in _axe(page):
                problems.append((path, violation["id"], violation["help"], violation["nodes"]))
            if not path.startswith("/m/"):
                for target in _small_targets(page):
                    problems.append((path, "small target", target))
    finally:
        server.stop()
    assert not problems, "\n".join(map(str, problems[:40]))
