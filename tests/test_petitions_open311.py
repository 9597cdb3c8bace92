"""Open311 GeoReport v2 at /api/petitions/open311/v2/: the field names and errors the specification gives."""

from __future__ import annotations

from datetime import datetime

import pytest

API = "/api/petitions/open311/v2"
KEY = "open311-test-key"
SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


@pytest.fixture
def api_app(make_app, database_url):
    return make_app(database_url, PLUGINS={"petitions": {"open311": {"api_keys": [KEY]}}})


def post(client, **fields):
    data = {
        "api_key": KEY,
        "service_code": "environment",
        "description": "贝丽北路人行道垃圾堆积",
        "lat": "22.5580",
        "long": "114.1302",
    }
    data.update(fields)
    return client.post(f"{API}/requests.json", data={k: v for k, v in data.items() if v is not None})


def assert_error(response, code):
    assert response.status_code == code
    body = response.get_json()
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}
    assert body[0]["code"] == code and body[0]["description"]
    return body[0]["description"]


def test_services_list_uses_the_spec_fields(api_app):
    client = api_app.test_client()
    services = client.get(f"{API}/services.json").get_json()
    assert {s["service_code"] for s in services} >= {"environment", "safety_hazard", "parking", "noise"}
    for service in services:
        assert set(service) == SERVICE_FIELDS
        assert service["type"] in ("realtime", "batch", "blackbox") and service["metadata"] is True
    hazard = next(s for s in services if s["service_code"] == "safety_hazard")
    assert (hazard["service_name"], hazard["group"]) == ("安全隐患", "应急管理办公室")
    definition = client.get(f"{API}/services/safety_hazard.json").get_json()
    assert definition["service_code"] == "safety_hazard"
    (attribute,) = definition["attributes"]
    assert {
        "variable",
        "code",
        "datatype",
        "required",
        "datatype_description",
        "order",
        "description",
        "values",
    } == set(attribute)
    assert [v["key"] for v in attribute["values"]] == ["complaint", "suggestion", "consultation", "help"]
    assert_error(client.get(f"{API}/services/potholes.json"), 404)
    discovery = client.get(f"{API}/discovery.json").get_json()
    assert discovery["endpoints"][0]["url"].endswith("/api/petitions/open311/v2")


def test_post_then_read_a_request(api_app):
    client = api_app.test_client()
    created = post(
        client,
        first_name="Wing",
        last_name="Chan",
        phone="+852 9123 4567",
        email="wing@example.org",
        **{"attribute[type]": "suggestion"},
    )
    assert created.status_code == 201
    (answer,) = created.get_json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    number = answer["service_request_id"]
    assert "3 天内办理" in answer["service_notice"]

    (one,) = client.get(f"{API}/requests/{number}.json").get_json()
    assert set(one) == REQUEST_FIELDS
    assert (one["service_request_id"], one["status"], one["service_code"], one["service_name"]) == (
        number,
        "open",
        "environment",
        "环境卫生",
    )
    assert (one["lat"], one["long"]) == (22.558, 114.1302)
    assert one["description"] == "贝丽北路人行道垃圾堆积"
    for stamp in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert datetime.fromisoformat(one[stamp]).utcoffset().total_seconds() == 8 * 3600
    text = client.get(f"{API}/requests.json").get_data(as_text=True)
    for secret in ("Wing", "Chan", "9123", "wing@example.org"):
        assert secret not in text, "contact details are stored for staff only"

    from sqlalchemy import select

    from kiosk_plugins.petitions.models import Petition

    with api_app.extensions["db"].Session() as s:
        row = s.scalar(select(Petition))
    assert (row.channel, row.type, row.contact_name, row.contact_phone, row.contact_email) == (
        "open311",
        "suggestion",
        "Wing Chan",
        "85291234567",
        "wing@example.org",
    )


def test_listing_filters_and_status_follow_the_handling(api_app, csrf):
    from kiosk.models import Station
    from kiosk_plugins.petitions import lifecycle
    from kiosk_plugins.petitions.models import Petition

    client = api_app.test_client()
    first = post(client).get_json()[0]["service_request_id"]
    second = post(client, service_code="parking", lat=None, long=None, address_string="泊林花园门口").get_json()[0][
        "service_request_id"
    ]
    from sqlalchemy import select

    with api_app.test_request_context("/"), api_app.extensions["db"].Session() as db:
        station = db.get(Station, api_app.extensions["kiosk_station_id"])
        row = db.scalar(select(Petition).where(Petition.tracking_no == first))
        db.rollback()  # end the read before the changes below take their locks
        lifecycle.change_status(station, row.id, "dispatched", "已转城管执法队。", department="city_management")
        lifecycle.change_status(station, row.id, "resolved", "垃圾已清运。")
    everything = client.get(f"{API}/requests.json").get_json()
    assert [r["service_request_id"] for r in everything] == [second, first], "newest first"
    closed = client.get(f"{API}/requests.json?status=closed").get_json()
    assert [(r["service_request_id"], r["status"], r["status_notes"], r["agency_responsible"]) for r in closed] == [
        (first, "closed", "垃圾已清运。", "城市管理和综合执法队")
    ]
    opened = client.get(f"{API}/requests.json?status=open&service_code=parking").get_json()
    assert [(r["service_request_id"], r["address"], r["lat"]) for r in opened] == [(second, "泊林花园门口", None)]
    by_id = client.get(f"{API}/requests.json?service_request_id={first},{second}&status=open").get_json()
    assert len(by_id) == 2, "with ids given, the other filters are ignored"
    assert (
        client.get(f"{API}/requests.json?start_date=2000-01-01T00:00:00Z&end_date=2000-12-31T00:00:00Z").get_json()
        == []
    )
    assert_error(client.get(f"{API}/requests.json?start_date=yesterday"), 400)
    assert_error(client.get(f"{API}/requests.json?status=pending"), 400)
    assert_error(client.get(f"{API}/requests/P000000-9999.json"), 404)


def test_post_errors_are_json_arrays_and_change_nothing(api_app, make_app, database_url):
    from sqlalchemy import func, select

    from kiosk_plugins.petitions.models import Petition

    client = api_app.test_client()
    assert "api_key" in assert_error(post(client, api_key="wrong"), 403)
    assert_error(post(client, api_key=None), 403)
    assert "service_code" in assert_error(post(client, service_code="potholes"), 400)
    assert "location" in assert_error(post(client, lat=None, long=None), 400)
    assert_error(post(client, lat="95", long="114"), 400)
    assert_error(post(client, description=""), 400)
    assert_error(post(client, media_url="javascript:alert(1)"), 400)
    assert_error(post(client, **{"attribute[type]": "praise"}), 400)
    closed = make_app(database_url).test_client()  # a station without any api key configured
    assert "no api_key" in assert_error(post(closed), 403)
    with api_app.extensions["db"].Session() as s:
        assert s.scalar(select(func.count()).select_from(Petition)) == 0


def test_post_accepts_json_and_a_known_address_id(api_app):
    from kiosk.demo import load_demo

    load_demo(api_app, [])
    client = api_app.test_client()
    created = client.post(
        f"{API}/requests.json",
        json={
            "api_key": KEY,
            "service_code": "noise",
            "description": "深夜装修噪音",
            "address_id": "shenhua_liyuan",
            "media_url": "https://img.example.org/noise.jpg",
            "attribute": {"type": "complaint"},
        },
    )
    assert created.status_code == 201
    number = created.get_json()[0]["service_request_id"]
    (one,) = client.get(f"{API}/requests/{number}.json").get_json()
    assert (one["address"], one["address_id"], one["media_url"]) == (
        "深华丽园",
        "shenhua_liyuan",
        "https://img.example.org/noise.jpg",
    )


def test_api_rate_limit(make_app, database_url):
    app = make_app(
        database_url, PLUGINS={"petitions": {"open311": {"api_keys": [KEY]}, "rate_limit": {"api": [2, 600]}}}
    )
    client = app.test_client()
    assert [post(client).status_code for _ in range(2)] == [201, 201]
    assert "too many" in assert_error(post(client), 429)
