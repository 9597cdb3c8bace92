"""Browser-test helpers: act on a kiosk page only once its scripts are wired.

Why: a kiosk page is painted before its ``defer`` scripts run (kiosk.js,
osk.js, the plugin's own), and Playwright taps an element as soon as it is
visible and stable. On a busy machine (a fresh clone building the pinyin
dictionary, xdist workers, a cold browser cache revalidating every script) the
tap can land in between: the on-screen keyboard never hears the focus, a choice
button does not toggle, and the test times out waiting for something that
will never happen ("#osk did not become visible within 10 s").

The readiness signal is the one the browser gives: ``DOMContentLoaded`` fires
after every deferred script has run, and a task queued from its first listener
runs after all the page's own listeners. Until then :data:`READY_GATE` makes
nothing on the page take a pointer, so Playwright's own actionability check
("element receives events") waits and retries instead of tapping too early; no
fixed sleep anywhere. Raw coordinates (``page.mouse``, ``page.touchscreen``)
bypass that check: wait with :func:`wait_until_ready` first.
"""

from __future__ import annotations

#: Installed with ``context.add_init_script``: runs at the start of every document.
#: A constructed style sheet, because the kiosk's CSP refuses inline <style>.
READY_GATE = """
(() => {
  // The document has no <html> element yet when this runs: the sheet goes on the document.
  if (window.__readyGate) return;  // installed twice (context and page)
  const sheet = new CSSStyleSheet();
  sheet.replaceSync('*, *::before, *::after { pointer-events: none !important; }');
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  window.__readyGate = sheet;
  const lift = () => {
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => s !== sheet);
    document.documentElement.dataset.testScripts = 'ready';
  };
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', () => setTimeout(lift, 0), { once: true });
  } else {
    setTimeout(lift, 0);
  }
})();
"""


def gate_until_ready(target) -> None:
    """Make each page of ``target`` (a Playwright ``BrowserContext`` or ``Page``) take no pointer until its scripts ran.

    Call it once when the context or page is made, before the first ``goto``.
    """
    target.add_init_script(READY_GATE)


def wait_until_ready(page, timeout: float | None = None) -> None:
    """Wait until the current document's scripts have run (for raw ``page.mouse``/``touchscreen`` input).

    Needs :func:`gate_until_ready`. After a tap that navigates, first wait for
    something of the new page (``locator.wait_for()``), or this may see the old one.
    """
    page.locator('html[data-test-scripts="ready"]').wait_for(state="attached", timeout=timeout)
