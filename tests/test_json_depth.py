"""A JSON body nested deeper than Python's parser recurses is bad input on every route, never a 500.

``json.loads`` raises ``RecursionError`` (not ``ValueError``) for ``[`` fifty
thousand times; ``request.get_json(silent=True)`` and ``except ValueError``
let it through. Every POST route of a station and of a hub gets such a body,
anonymously and (on the station) as an admin, with the page's CSRF token.
"""

from __future__ import annotations

import pytest

from kiosk.testing import csrf_of

DEEP = "[" * 50_000


def _sample(rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        values[name] = "1" if type(converter).__name__ in ("IntegerConverter", "FloatConverter") else "x"
    path = rule.rule
    for name, value in values.items():
        path = path.replace(f"<{name}>", value)
        for kind in ("int", "string", "path", "float", "any"):
            path = path.replace(f"<{kind}:{name}>", value)
    if "<" in path:  # a converter with arguments, <int(max=…):name>
        for name, value in values.items():
            start = path.find("<")
            end = path.find(f":{name}>", start)
            if start >= 0 and end > start:
                path = path[:start] + value + path[end + len(name) + 2 :]
    return path


def _post_routes(app) -> list[str]:
    paths = sorted({_sample(r) for r in app.url_map.iter_rules() if "POST" in r.methods})
    assert paths and all("<" not in p for p in paths), [p for p in paths if "<" in p]
    return paths


def _sweep(app, client, token: str) -> list[tuple[str, int]]:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    bad = []
    for path in _post_routes(app):
        response = client.post(
            path,
            data=DEEP,
            content_type="application/json",
            headers={"X-CSRF-Token": token, "Kiosk-Sync-Protocol": "1", "Kiosk-Agent-Protocol": "1"},
        )
        if response.status_code in (500, 503):
            bad.append((path, response.status_code))
    return bad


def test_no_station_route_answers_a_deeply_nested_body_with_a_server_error(app, client, auth):
    client.get("/")
    assert _sweep(app, client, csrf_of(client)) == []
    auth.login("admin", username="deep-admin")
    client.get("/staff/")
    assert _sweep(app, client, csrf_of(client)) == []


@pytest.mark.parametrize("role", ["hub"])
def test_no_hub_route_answers_a_deeply_nested_body_with_a_server_error(make_app, database_url, role):
    hub = make_app(database_url, ROLE=role, STATION={"code": "district", "name": "罗湖区", "kind": "party_service"})
    client = hub.test_client()
    client.get("/")
    assert _sweep(hub, client, csrf_of(client)) == []
