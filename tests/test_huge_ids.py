"""An id in a URL beyond the database's integers is "not found" on every route, never a server error.

SQLite cannot bind a Python int past 64 bits (OverflowError), and PostgreSQL's
INTEGER columns end at 2**31 - 1. Every route with an ``<int:…>`` part gets
such ids, anonymously and as an admin, by GET and POST with the page's token.
"""

from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from kiosk.testing import csrf_of

HUGE = ("99999999999999999999", "9223372036854775808", "2147483648")


def _paths(app, value: str) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if not any(isinstance(c, IntegerConverter) for c in rule._converters.values()):
            continue
        values = {name: (value if isinstance(c, IntegerConverter) else "x") for name, c in rule._converters.items()}
        path = "".join(values[part] if dynamic else part for dynamic, part in rule._trace[1:] if part != "|")
        found.extend((method, path) for method in sorted(rule.methods & {"GET", "POST"}))
    assert found
    return found


def _sweep(app, client) -> list:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client.get("/")
    token = csrf_of(client)
    bad = []
    for value in HUGE:
        for method, path in _paths(app, value):
            response = client.open(path, method=method, data={"csrf_token": token}, headers={"X-CSRF-Token": token})
            if response.status_code >= 500:
                bad.append((method, path, response.status_code))
    return bad


def test_huge_ids_in_urls_are_not_found_anonymously_and_for_an_admin(app, client, auth):
    assert _sweep(app, client) == []
    auth.login("admin", username="huge-admin")
    assert _sweep(app, client) == []


@pytest.mark.parametrize("role", ["hub"])
def test_huge_ids_in_urls_at_the_hub(make_app, database_url, auth, role):
    hub = make_app(database_url, ROLE=role, STATION={"code": "district", "name": "罗湖区", "kind": "party_service"})
    assert _sweep(hub, hub.test_client()) == []
