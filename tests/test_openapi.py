"""``GET /api/openapi.json`` describes every JSON endpoint, and schemathesis holds the kiosk to it.

The description is checked against the OpenAPI 3.1 meta-schema (schemathesis
validates it), against the URL map (every route that answers JSON is in it),
and against the running kiosk: schemathesis generates requests from it, valid
and invalid, sends them over real HTTP to a live server on each database, and
checks that no answer is a 5xx and every answer has a documented status, the
documented content type and a body that matches the documented schema.
"""

from __future__ import annotations

import inspect
import re

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from kiosk.openapi import description_of
from kiosk.testing import Auth, LiveServer

TOKEN = "district-token-openapi"
OPEN311_KEY = "open311-key-openapi"
API_CONFIG = {
    "PLUGINS": {
        "courier_rest": {"api_token": TOKEN},
        # Enough for every generated request: the limit itself is tested in the petitions tests.
        "petitions": {"open311": {"api_keys": [OPEN311_KEY]}, "rate_limit": {"api": [100000, 60]}},
    },
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Streams of server-sent events: text/event-stream, not JSON.
NOT_JSON = {"events.stream", "readers.reader_stream"}


def answers_json(app, rule) -> bool:
    """A route answers JSON by its URL (``.json``, ``/api/``) or because its view calls ``jsonify``."""
    if rule.endpoint in NOT_JSON or rule.endpoint == "static":
        return False
    if rule.rule.endswith(".json") or rule.rule.startswith("/api/"):
        return True
    view = inspect.unwrap(app.view_functions[rule.endpoint])
    try:
        return "jsonify(" in inspect.getsource(view)
    except (OSError, TypeError):
        return False


def test_every_json_route_is_described(app):
    json_routes = {rule.endpoint for rule in app.url_map.iter_rules() if answers_json(app, rule)}
    # The walk finds the ones known to answer JSON (a sanity check of the walk itself).
    assert {
        "health.healthz",
        "printing.job_status",
        "ime.candidates",
        "courier_rest.print_note",
        "legal_mobile.status_json",
        "petitions_api.create_request",
    } <= json_routes
    assert json_routes - description_of(app).json_endpoints == set()


def test_the_description_is_valid_openapi_public_and_cut_to_the_caller(app):
    client = app.test_client()
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    schemathesis.openapi.from_dict(doc).validate()
    paths = doc["paths"]
    assert "/m/legal/t/{token}.json" in paths and "/k/courier_rest/print/{what}" in paths
    assert paths["/api/courier_rest/stats"]["get"]["security"] == [{"bearer": []}]
    assert paths["/k/courier_rest/print/{what}"]["post"]["security"] == [{"csrf": []}]
    # Plugin schemas are published under the plugin's name, and references follow.
    assert "legal.Board" in doc["components"]["schemas"]
    board = paths["/k/legal/display/state.json"]["get"]["responses"]["200"]
    assert board["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/legal.Board"}
    # The core added the path parameter the plugin did not declare.
    (param,) = paths["/api/petitions/open311/v2/services/{service_code}.json"]["get"]["parameters"]
    assert (param["name"], param["in"], param["required"]) == ("service_code", "path", True)
    # A login-only endpoint is listed only to a caller who holds the role, marked as needing the login.
    assert "/admin/district/summary.json" not in paths
    Auth(app, client).login("district", username="district1")
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert paths["/admin/district/summary.json"]["get"]["security"] == [{"login": []}]


def test_a_plugin_switched_off_for_the_station_is_left_out(app):
    from test_courier_rest_support import switch_off

    switch_off(app, "petitions")
    paths = app.test_client().get("/api/openapi.json").get_json()["paths"]
    assert not [p for p in paths if "open311" in p]
    assert "/k/legal/display/state.json" in paths


def test_errors_of_described_endpoints_are_json_whatever_the_client_accepts(app, csrf):
    client = app.test_client()
    for url in ("/print-jobs/no-such-job", "/m/legal/t/no-such-token.json"):
        response = client.get(url, headers={"Accept": "*/*"})
        assert response.status_code == 404 and response.mimetype == "application/json"
        assert response.get_json() == {"error": "页面不存在。", "status": 404}
    response = client.get("/admin/district/summary.json", headers={"Accept": "application/json"})
    assert response.status_code == 401 and response.get_json()["status"] == 401
    response = client.post("/k/courier_rest/print/pass", json={})  # no CSRF token
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert response.get_json()["error"]
    # HTML pages keep their HTML error page.
    assert client.get("/k/legal/no-such-page").mimetype == "text/html"


# -- schemathesis against a live server ------------------------------------------
@pytest.fixture
def api_server(make_app, database_url):
    """A live kiosk with the district token and an Open311 key configured."""
    server = LiveServer(make_app(database_url, **API_CONFIG))
    yield server
    server.stop()


def _login_over_http(server: LiveServer) -> tuple[requests.Session, str]:
    """A district admin's HTTP session and its CSRF token, as a browser would hold them."""
    Auth(server.app, None).create("district1", "correct-horse", role="district")
    session = requests.Session()
    page = session.get(server.url + "/staff/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    session.post(
        server.url + "/staff/login", data={"username": "district1", "password": "correct-horse", "csrf_token": token}
    )
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', session.get(server.url + "/").text).group(1)
    return session, token


def _sign_up_a_rider(server: LiveServer, session: requests.Session, token: str) -> None:
    """A rider checks in at the kiosk and takes a phone slot, so the print button has notes to print."""
    form = {"csrf_token": token}
    session.post(server.url + "/k/courier_rest/phone", data={**form, "phone": "13812345678"})
    session.post(
        server.url + "/k/courier_rest/register",
        data={**form, "name": "张三明", "phone": "13812345678", "platform": "meituan", "vehicle": "ebike"},
    )
    session.post(server.url + "/k/courier_rest/take/phone", data=form)
    assert session.post(server.url + "/k/courier_rest/print/slot", headers={"X-CSRF-Token": token}).status_code == 200


@pytest.fixture
def http_session(api_server):
    session, token = _login_over_http(api_server)
    _sign_up_a_rider(api_server, session, token)
    return session, token


def _with_open311_key(case) -> None:
    """Filing through Open311 takes the station's key in the body, which schemathesis cannot know."""
    if case.method == "POST" and isinstance(case.body, dict) and isinstance(case.body.get("api_key"), str):
        case.body["api_key"] = OPEN311_KEY


@pytest.fixture
def api_schema(api_server, http_session):
    """The description as the logged-in district admin sees it: every endpoint."""
    session, _token = http_session
    loaded = schemathesis.openapi.from_url(api_server.url + "/api/openapi.json", cookies=session.cookies)
    assert set(loaded.raw_schema["paths"]) == {op.path for op in description_of(api_server.app).operations}
    # The session and the token are sent with every request; schemathesis is not to vary them.
    loaded.config.generation.update(with_security_parameters=False)
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_every_endpoint_keeps_to_its_description(case, http_session):
    """Generated requests, valid and not: no 5xx; documented statuses, content types and bodies."""
    session, token = http_session
    _with_open311_key(case)
    case.call_and_validate(
        session=session, checks=CHECKS, headers={"Authorization": f"Bearer {TOKEN}", "X-CSRF-Token": token}
    )
