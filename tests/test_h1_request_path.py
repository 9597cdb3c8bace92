"""The ticket request path's per-request work (issue 22, point 2): what it still does for every response."""

from __future__ import annotations

from flask import Response

from kiosk.security import SECURITY_HEADERS


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
