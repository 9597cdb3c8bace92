"""The kiosk never shows a browser error page (issue 19 point 3).

A tap while the server restarts lands on the kiosk's own offline page (kept by the
service worker, /sw.js), in every station language; when the server is back on the
same port, the page goes home by itself. The server here is a real HTTP server that
is stopped (its listening socket closed, so the browser's next connection is
refused, as when gunicorn restarts) and started again on the same port.
"""

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from kiosk.testing import save_screenshot

TITLES = ("正在重新连接…", "正在重新連接…", "Reconnecting…")


class _OneRequestPerConnection(WSGIRequestHandler):
    # HTTP/1.0 closes every connection after its response: a stopped server then
    # really is gone for the browser, with no kept-alive connection still answering.
    protocol_version = "HTTP/1.0"


class RestartableServer:
    """A threaded server around ``app`` that can be stopped and started again on its port."""

    def __init__(self, app):
        self.app = app
        self._serve(0)
        self.url = f"http://127.0.0.1:{self.port}"

    def _serve(self, port):
        self.server = make_server("127.0.0.1", port, self.app, threaded=True, request_handler=_OneRequestPerConnection)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def start(self):
        self._serve(self.port)


def test_service_worker_and_offline_page_are_served_for_the_whole_site(client):
    worker = client.get("/sw.js")
    assert worker.status_code == 200
    assert worker.mimetype == "text/javascript"
    assert worker.headers["Service-Worker-Allowed"] == "/"
    assert worker.headers["Cache-Control"] == "no-cache"
    source = worker.get_data(as_text=True)
    assert "__VERSION__" not in source and "__ASSETS__" not in source
    assert '["/offline", "/static/css/kiosk.css", "/static/css/offline.css", "/static/js/offline.js"]' in source
    # Every file the worker caches is there to cache.
    for path in ("/offline", "/static/css/kiosk.css", "/static/css/offline.css", "/static/js/offline.js"):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()
    page = client.get("/offline").get_data(as_text=True)
    for title in TITLES:
        assert title in page
    assert 'data-health="/healthz"' in page and 'data-home="/"' in page
    # The offline page sets no cookie: it is cached once and shown to anyone.
    assert "Set-Cookie" not in client.get("/offline").headers


def test_a_tap_while_the_server_restarts_shows_the_offline_page_then_home(browser_app, page):
    server = RestartableServer(browser_app)
    try:
        page.goto(server.url + "/")
        assert page.evaluate("navigator.serviceWorker.ready.then(r => r.active.state)") in ("activating", "activated")
        assert page.evaluate("caches.keys().then(k => k.filter(n => n.startsWith('kiosk-offline-')).length)") == 1

        server.stop()
        page.locator(".tile").first.tap()
        page.locator('[data-testid="offline"]').wait_for()
        assert not page.url.startswith("chrome-error://")
        assert page.locator("body").get_attribute("data-screen") == "offline"
        text = page.locator("main").inner_text()
        for title in TITLES:
            assert title in text
        # Styled from the cache (the server is gone): the page's own sheet applies.
        assert page.locator(".offline-spinner").evaluate("el => getComputedStyle(el).borderRadius") == "50%"
        save_screenshot(page, "offline-reconnecting")
        # Its "home" button while the server is still away: the offline page again, no error page.
        with page.expect_navigation():
            page.locator(".offline-home").tap()
        page.locator('[data-testid="offline"]').wait_for()
        assert not page.url.startswith("chrome-error://")

        server.start()
        page.locator('body[data-screen="home"]').wait_for(timeout=15_000)
        assert page.url == server.url + "/"
    finally:
        server.stop()
