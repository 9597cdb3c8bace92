"""A phone page's buttons are a thumb's target: at least 48 × 48 CSS px (helper H5's outside check).

On the 390 × 844 phone a resident opens from a printed QR code, the language buttons of the
core's phone page were 44 px tall and the petition form's photo picker 31–35 px (the browser's
default file input). Both are now at least 48 px, in every language (English is the widest word).
"""

from __future__ import annotations

import pytest

#: Every visible control of the page: (what, width, height).
CONTROLS = """() => {
  const out = [];
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, label:has(input[type=radio])';
  for (const el of document.querySelectorAll(sel)) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(el).visibility === 'hidden') continue;
    if (el.type === 'radio' || el.type === 'checkbox') continue;  // the label around it is the target
    const text = (el.innerText || el.name || '').trim().slice(0, 20);
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' + text + '"';
    out.push([name, r.width, r.height]);
  }
  return out;
}"""


@pytest.mark.parametrize("lang", ["zh_Hant", "en"])
def test_the_petition_phone_form_has_no_control_under_48_px(live_server, chromium, lang):
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, device_scale_factor=1
    )
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(live_server.url + "/m/petitions/")
        with page.expect_navigation():
            page.locator(f'button[name="lang"][value="{lang}"]').tap()
        page.locator("#pt-m-photos").wait_for()
        controls = page.evaluate(CONTROLS)
        assert any(name.startswith("input#pt-m-photos") for name, _w, _h in controls)
        assert sum(name.startswith("button") and "English" in name for name, _w, _h in controls) == 1
        small = [f"{name} {w:.0f}×{h:.0f}" for name, w, h in controls if w < 48 or h < 48]
        assert small == [], small
    finally:
        context.close()
