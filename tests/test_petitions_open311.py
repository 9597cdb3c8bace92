"""Open311 GeoReport v2 at /api/petitions/open311/v2/: the field names and errors the specification gives."""

from __future__ import annotations

import os
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


#: Read keys: all scopes, and the description only. The station file keeps only their SHA-256.
FULL_KEY = "full-reader-key-0123456789abcdef0123456789"
DETAILS_KEY = "details-reader-key-0123456789abcdef012345"
FULL = {"X-Api-Key": FULL_KEY}
DETAILS = {"X-Api-Key": DETAILS_KEY}


def read_keys():
    from kiosk_plugins.petitions.apikeys import hash_key

    return [
        {"name": "full", "sha256": hash_key(FULL_KEY), "scopes": ["read:details", "read:location", "read:photos"]},
        {"name": "details", "sha256": hash_key(DETAILS_KEY).upper(), "scopes": ["read:details"]},
    ]


@pytest.fixture
def api_app(make_app, database_url):
    return make_app(database_url, PLUGINS={"petitions": {"open311": {"api_keys": [KEY], "read_keys": read_keys()}}})


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

    (one,) = client.get(f"{API}/requests/{number}.json", headers=FULL).get_json()
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
    text = client.get(f"{API}/requests.json", headers=FULL).get_data(as_text=True)
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
    everything = client.get(f"{API}/requests.json", headers=DETAILS).get_json()
    assert [r["service_request_id"] for r in everything] == [second, first], "newest first"
    closed = client.get(f"{API}/requests.json?status=closed", headers=DETAILS).get_json()
    assert [(r["service_request_id"], r["status"], r["status_notes"], r["agency_responsible"]) for r in closed] == [
        (first, "closed", "垃圾已清运。", "城市管理和综合执法队")
    ]
    opened = client.get(f"{API}/requests.json?status=open&service_code=parking", headers=FULL).get_json()
    assert [(r["service_request_id"], r["address"], r["lat"]) for r in opened] == [(second, "泊林花园门口", None)]
    by_id = client.get(f"{API}/requests.json?service_request_id={first},{second}&status=open", headers=FULL).get_json()
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
    (one,) = client.get(f"{API}/requests/{number}.json", headers=FULL).get_json()
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


# -- what anonymous readers get, and what a read key adds (issue 17, point 2) -----------------
PRIVATE = {
    "first_name": "王",
    "last_name": "秀英",
    "phone": "13912345678",
    "description": "王秀英报：泊林花园3栋1202门口垃圾，电话139 1234 5678",
    "lat": "22.558134",
    "long": "114.130271",
    "address_string": "泊林花园3栋1202",
}


def add_photo(app, number: str) -> str:
    """Attach a stored photo to request ``number`` as the phone form would; returns its token."""
    from sqlalchemy import select

    from kiosk_plugins.petitions import photos
    from kiosk_plugins.petitions.models import Petition, PetitionPhoto

    with app.extensions["db"].Session() as s:
        row = s.scalar(select(Petition).where(Petition.tracking_no == number))
        token = f"photo-token-{row.id}-abcdefghijklmnopqrstuvwxyz"[:43]
        with open(os.path.join(photos.folder(app.instance_path, row.station_id), token + ".jpg"), "wb") as fh:
            fh.write(b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9")
        s.add(
            PetitionPhoto(
                station_id=row.station_id,
                request_id=row.id,
                token=token,
                filename=token + ".jpg",
                width=1,
                height=1,
                size_bytes=30,
            )
        )
        s.commit()
    return token


def test_anonymous_readers_get_no_personal_data_and_no_photos(api_app):
    client = api_app.test_client()
    number = post(client, service_code="environment", **PRIVATE).get_json()[0]["service_request_id"]
    token = add_photo(api_app, number)
    listed = client.get(f"{API}/requests.json")
    assert listed.status_code == 200
    (one,) = listed.get_json()
    assert set(one) == REQUEST_FIELDS
    assert (one["status"], one["service_code"], one["service_name"]) == ("open", "environment", "环境卫生")
    assert one["requested_datetime"] and one["expected_datetime"]
    for field in ("description", "status_notes", "media_url", "address"):
        assert one[field] is None, field
    # ~500 m grid: 22.558134 → 22.56, 114.130271 → 114.13
    assert (one["lat"], one["long"]) == (22.56, 114.13)
    raw = listed.get_data(as_text=True) + client.get(f"{API}/requests/{one['service_request_id']}.json").get_data(
        as_text=True
    )
    for secret in ("秀英", "5678", "3栋1202", "22.558134", "114.130271", token, "/media/", number):
        assert secret not in raw, secret
    # The photo itself: not for anonymous readers, nor for a key without read:photos.
    assert client.get(f"/m/petitions/media/{token}.jpg").status_code == 404
    assert client.get(f"/m/petitions/media/{token}.jpg", headers=DETAILS).status_code == 404
    assert client.get(f"/m/petitions/media/{token}.jpg", headers={"X-Api-Key": "guess"}).status_code == 404

    # read:details: the tracking number and the description, masked; no exact place, no photo.
    (detailed,) = client.get(f"{API}/requests.json", headers=DETAILS).get_json()
    assert detailed["service_request_id"] == number
    assert "139****5678" in detailed["description"] and "王*英" in detailed["description"]
    assert "秀英" not in detailed["description"] and "1234 5678" not in detailed["description"]
    assert (detailed["lat"], detailed["media_url"], detailed["address"]) == (22.56, None, None)

    # Every scope: exact position and address, and a photo link that works with the key only.
    (full,) = client.get(f"{API}/requests/{number}.json?api_key={FULL_KEY}").get_json()
    assert (full["lat"], full["long"], full["address"]) == (22.558134, 114.130271, "泊林花园3栋1202")
    assert full["media_url"].endswith(f"/m/petitions/media/{token}.jpg")
    path = full["media_url"].split("://", 1)[-1].split("/", 1)[1]
    assert client.get("/" + path).status_code == 404
    photo = client.get("/" + path, headers=FULL)
    assert photo.status_code == 200 and photo.data.startswith(b"\xff\xd8")

    # Staff see photos while logged in (the staff detail page shows them), not after logging out.
    from kiosk.testing import TEST_PASSWORD, create_account, csrf_of

    staff = api_app.test_client()
    create_account(api_app, "photo-staff", "staff")
    staff.get("/staff/login")
    staff.post(
        "/staff/login", data={"username": "photo-staff", "password": TEST_PASSWORD, "csrf_token": csrf_of(staff)}
    )
    assert staff.get(f"/m/petitions/media/{token}.jpg").status_code == 200
    staff.post("/staff/logout", data={"csrf_token": csrf_of(staff)})
    assert staff.get(f"/m/petitions/media/{token}.jpg").status_code == 404


def test_public_ids_cannot_be_walked_and_wrong_keys_are_refused(api_app):
    from kiosk_plugins.petitions import apikeys

    client = api_app.test_client()
    numbers = [post(client).get_json()[0]["service_request_id"] for _ in range(3)]
    public = [r["service_request_id"] for r in client.get(f"{API}/requests.json").get_json()]
    assert len(set(public)) == 3 and all(apikeys.PUBLIC_ID_RE.match(p) for p in public)
    # Neighbouring requests have unrelated public ids (no shared prefix, no small difference).
    as_ints = sorted(int(p, 16) for p in public)
    assert min(b - a for a, b in zip(as_ints, as_ints[1:], strict=False)) > 2**20
    for one in public:
        (found,) = client.get(f"{API}/requests/{one}.json").get_json()
        assert found["service_request_id"] == one
    # Tracking numbers are sequential: anonymously they find nothing, not even in the listing filter.
    for number in numbers:
        assert_error(client.get(f"{API}/requests/{number}.json"), 404)
    assert client.get(f"{API}/requests.json?service_request_id={','.join(numbers)}").get_json() == []
    # A made-up public id, one that decodes past any row id, or junk: 404 (never a 500).
    for made_up in ("0123456789abcdef", "ffffffffffffffff", "0" * 16, "x" * 300, "%00"):
        assert_error(client.get(f"{API}/requests/{made_up}.json"), 404)
    # A key that matches none is refused, not read as anonymous.
    assert "api_key" in assert_error(client.get(f"{API}/requests.json", headers={"X-Api-Key": "nope"}), 403)
    # The filing key (clients send it with every call) reads what anyone reads.
    assert {r["service_request_id"] for r in client.get(f"{API}/requests.json?api_key={KEY}").get_json()} == set(public)
    # The opaque id round-trips inside the app, and decodes nothing for other ids.
    with api_app.app_context():
        assert all(apikeys.id_from_public(apikeys.public_id(n)) == n for n in (1, 2, 77, 2**31 - 1))
        assert apikeys.public_id(1) != apikeys.public_id(2)


def test_read_keys_in_the_station_file_are_checked():
    from kiosk_plugins.petitions.apikeys import main
    from kiosk_plugins.petitions.settings import from_config

    with pytest.raises(Exception, match="sha256"):
        from_config({"open311": {"read_keys": [{"name": "x", "sha256": "plain-key", "scopes": ["read:details"]}]}})
    with pytest.raises(Exception, match="scopes"):
        from_config({"open311": {"read_keys": [{"name": "x", "sha256": "a" * 64, "scopes": ["write:all"]}]}})
    assert main(["--scope", "write:all"]) == 2


def test_a_lookup_by_tracking_number_shows_where_it_stands_only(api_app):
    client = api_app.test_client()
    number = post(client, **PRIVATE).get_json()[0]["service_request_id"]
    for path in ("/m/petitions/find", "/k/petitions/find"):
        page = client.get(f"{path}?no={number}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert number in text and "已受理" in text and "环境卫生" in text
        for private in ("3栋1202", "泊林花园", "垃圾", "5678", "秀英"):
            assert private not in text, (path, private)
