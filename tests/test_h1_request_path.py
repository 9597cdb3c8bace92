"""The ticket request path's per-request work (issue 22, point 2): what it still does for every response."""

from __future__ import annotations

from flask import Response

from kiosk.security import SECURITY_HEADERS

PATH = "/k/legal/take/consultation"


def test_security_headers_once_each_and_a_views_own_kept(app, client):
    def own():
        # A view's own policy (any case of the name) is left as it is, and not doubled.
        return Response("ok", headers={"content-security-policy": "default-src 'none'", "Cache-Control": "max-age=5"})

    app.add_url_rule("/h1-own-headers", "h1_own_headers", own)
    response = client.get("/h1-own-headers")
    assert response.status_code == 200
    assert response.headers.getlist("Content-Security-Policy") == ["default-src 'none'"]
    assert response.headers.getlist("Cache-Control") == ["max-age=5"]
    for _key, name, value in SECURITY_HEADERS[1:]:
        assert response.headers.getlist(name) == [value], name
    page = client.get("/")
    for _key, name, value in SECURITY_HEADERS:
        assert page.headers.getlist(name) == [value], name
    assert page.headers.getlist("Cache-Control") == ["no-store"]


def test_the_own_base_is_built_once_per_host_and_equals_the_requests_root(app, monkeypatch):
    import kiosk.urls

    kiosk.urls._request_base.cache_clear()
    built = []
    original = kiosk.urls.get_current_url

    def counted(*args):
        built.append(args)
        return original(*args)

    monkeypatch.setattr(kiosk.urls, "get_current_url", counted)
    app.config["PUBLIC_URL"] = ""
    for base in ("http://kiosk.example/", "http://kiosk.example/", "https://other.example:8443/sub/"):
        with app.test_request_context("/", base_url=base):
            from flask import request

            assert kiosk.urls.own_base() == request.url_root.rstrip("/")
    # The second request of the same host asks werkzeug nothing; another host is built anew.
    assert built == [("http", "kiosk.example", ""), ("https", "other.example:8443", "/sub")]
    kiosk.urls._request_base.cache_clear()


def test_a_hook_nobody_implements_answers_without_a_call(app, monkeypatch):
    plugins = app.extensions["kiosk_plugins"]
    hook = next(
        name
        for name in dir(plugins.pm.hook)
        if not name.startswith("_") and not getattr(plugins.pm.hook, name).get_hookimpls()
    )
    first = bool(getattr(plugins.pm.hook, hook).spec.opts.get("firstresult"))

    def no_call(*_args, **_kwargs):
        raise AssertionError("nothing to call")

    monkeypatch.setattr(plugins, "_run", no_call)
    monkeypatch.setattr(plugins, "_left_out", no_call)
    with app.test_request_context("/"):
        assert plugins.call(hook) == (None if first else [])


def test_whether_a_hook_or_view_is_async_is_asked_once_per_function(app, client, monkeypatch):
    import kiosk.app

    asked = []
    real = kiosk.app.iscoroutinefunction

    def counted(func):
        asked.append(func)
        return real(func)

    monkeypatch.setattr(kiosk.app, "iscoroutinefunction", counted)
    app._is_async.clear()
    token = client.get(PATH)
    assert token.status_code == 200
    first = len(asked)
    assert first >= 5  # the before/after-request hooks and the view
    assert client.get(PATH).status_code == 200
    assert len(asked) == first  # the second request asks about none of them again


def test_an_async_function_is_still_handed_to_async_to_sync(app, monkeypatch):
    async def answer():
        return "async"

    def plain():
        return "plain"

    monkeypatch.setattr(app, "async_to_sync", lambda func: ("wrapped", func))
    for _ in range(2):  # asked, then from what was kept
        assert app.ensure_sync(answer) == ("wrapped", answer)
        assert app.ensure_sync(plain) is plain
