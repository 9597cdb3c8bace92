"""Outside check (H6) of plugin pages: forged numbers and ids get a clear refusal, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from test_courier_rest_support import courier_app, courier_config, db  # noqa: F401

from kiosk import clock
from kiosk.testing import Auth, FixedClock, csrf_of
from kiosk_plugins.courier_rest.models import Service


def test_a_service_position_beyond_the_databases_integers_is_refused(courier_app):  # noqa: F811
    staff = courier_app.test_client()
    Auth(courier_app, staff).login("staff")
    assert staff.get("/staff/courier_rest/services").status_code == 200  # makes the station's services
    token = csrf_of(staff)
    with db(courier_app) as s:
        water = s.scalar(select(Service).where(Service.key == "water"))
        before = water.position
    form = {
        "csrf_token": token,
        "icon": water.icon,
        "name_zh_hans": water.name_zh_hans,
        "name_zh_hant": water.name_zh_hant,
        "name_en": water.name_en,
        "position": "99999999999999999999",
    }
    response = staff.post(f"/staff/courier_rest/services/{water.id}", data=form)
    assert response.status_code == 400
    with db(courier_app) as s:
        assert s.get(Service, water.id).position == before


OPEN311 = "/api/petitions/open311/v2"
FILING_KEY = "operator-chosen-filing-key"


def test_wrong_open311_keys_are_slowed_down_on_reads_and_filings(make_app, database_url):
    # A read answered 200 for the filing key and 403 for anything else, at full speed and without
    # limit: anyone could try an operator's filing key until it matched (filing itself is limited).
    app = make_app(database_url, PLUGINS={"petitions": {"open311": {"api_keys": [FILING_KEY]}}})
    clock.set_clock(app, FixedClock(datetime.now(UTC)))  # the waits hold however slow the machine
    client = app.test_client()
    for attempt in range(5):
        response = client.get(f"{OPEN311}/requests.json", headers={"X-Api-Key": f"guess-{attempt}"})
        assert response.status_code == 403, attempt
    refused = client.get(f"{OPEN311}/requests.json", headers={"X-Api-Key": "guess-5"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.get_json()[0]["code"] == 429  # Open311's error format
    # While it waits, even the right key tells this client nothing, reading or filing.
    assert client.get(f"{OPEN311}/requests.json", headers={"X-Api-Key": FILING_KEY}).status_code == 429
    filed = client.post(f"{OPEN311}/requests.json", data={"api_key": FILING_KEY, "service_code": "x"})
    assert filed.status_code == 429
    # Reading without a key is not a guess and goes on.
    assert client.get(f"{OPEN311}/requests.json").status_code == 200


def test_a_deeply_nested_json_body_is_refused_as_open311_error_not_a_plugin_fault(make_app, database_url):
    # "[" * 50000 made the JSON parser raise RecursionError, which get_json(silent=True) does not
    # catch: a 503 and a plugin fault, so /healthz said "degraded" after one anonymous request.
    app = make_app(database_url, PLUGINS={"petitions": {"open311": {"api_keys": [FILING_KEY]}}})
    client = app.test_client()
    for body in ("[" * 50000, '{"a":' * 50000):
        response = client.post(f"{OPEN311}/requests.json", data=body, content_type="application/json")
        assert response.status_code == 400, response.status_code
        assert response.get_json()[0]["description"] == "the body must be a JSON object"
    assert app.extensions["kiosk_plugins"].infos["petitions"].faults == 0


def test_a_hazard_photo_is_never_kept_in_the_staff_browsers_cache(courier_app):  # noqa: F811
    # send_from_directory(max_age=0) answered "no-cache, max-age=0": the browser of a shared staff PC
    # stores the rider's photo on disk (no-cache only asks it to check before reuse).
    import os
    import secrets

    from kiosk_plugins.courier_rest import hazards
    from kiosk_plugins.courier_rest.models import Hazard

    sid = courier_app.extensions["kiosk_station_id"]
    folder = hazards.photo_folder(courier_app, sid)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "h6.jpg"), "wb") as fh:
        fh.write(b"\xff\xd8\xff\xe0 a photo \xff\xd9")
    with db(courier_app) as s:
        row = Hazard(
            station_id=sid,
            category="traffic",
            note="路口红绿灯不亮",
            photos=["h6.jpg"],
            state="kept",
            upload_token=secrets.token_urlsafe(18),
        )
        s.add(row)
        s.commit()
        report_id = row.id
    staff = courier_app.test_client()
    Auth(courier_app, staff).login("staff")
    photo = staff.get(f"/staff/courier_rest/hazards/{report_id}/photos/h6.jpg")
    assert photo.status_code == 200 and photo.data.startswith(b"\xff\xd8")
    assert "no-store" in photo.headers["Cache-Control"]
    assert staff.get(f"/staff/courier_rest/hazards/{report_id}/photos/..%2fh6.jpg").status_code == 404


def test_a_petition_photo_is_never_kept_in_the_browsers_cache(make_app, database_url):
    from test_petitions_open311 import FULL, KEY, add_photo, post, read_keys

    app = make_app(database_url, PLUGINS={"petitions": {"open311": {"api_keys": [KEY], "read_keys": read_keys()}}})
    client = app.test_client()
    ((filed,),) = [post(client).get_json()]
    token = add_photo(app, filed["service_request_id"])
    photo = client.get(f"/m/petitions/media/{token}.jpg", headers=FULL)
    assert photo.status_code == 200
    assert "no-store" in photo.headers["Cache-Control"]


def test_a_households_file_in_neither_utf8_nor_gb18030_is_refused_with_a_message(app, client, auth, csrf):
    # An .xlsx or a picture chosen by mistake: decoding it as GB18030 raised UnicodeDecodeError,
    # a 503 "service unavailable" and a plugin fault instead of saying the file cannot be read.
    import io

    from sqlalchemy import func, select

    from kiosk_plugins.parking.models import Household

    auth.login("staff")
    for data in (b"\x00\xff\xfe" * 1000, b"PK\x03\x04\x14\x00\x06\x00\xff\xfe\x80"):
        response = client.post(
            "/staff/parking/households/import",
            content_type="multipart/form-data",
            data={"file": (io.BytesIO(data), "households.csv"), "csrf_token": csrf(client)},
        )
        assert response.status_code == 400, response.status_code
        assert "无法读取该 CSV 文件" in response.get_data(as_text=True)
    assert app.extensions["kiosk_plugins"].infos["parking"].faults == 0
    with app.app_context():
        session = app.extensions["db"].Session()
        assert session.scalar(select(func.count()).select_from(Household)) == 0
        session.close()


def test_a_pasted_tracking_number_with_invisible_marks_is_found(make_app, database_url):
    from test_petitions_open311 import KEY, post

    app = make_app(database_url, PLUGINS={"petitions": {"open311": {"api_keys": [KEY]}}})
    client = app.test_client()
    ((filed,),) = [post(client).get_json()]
    number = filed["service_request_id"]
    assert client.get("/m/petitions/find", query_string={"no": number}).status_code == 200
    for pasted in ("\u200b" + number, number + "\u200e", "\u2068" + number + "\u2069"):
        assert client.get("/m/petitions/find", query_string={"no": pasted}).status_code == 200, repr(pasted)


def test_a_forged_ticket_id_beyond_the_databases_integers_is_no_no_show(app, client, auth):
    # The counter's "call again" form names the no-show ticket by id; a forged huge id overflowed
    # SQLite's parameter binding at the query (OverflowError: 503 and a legal plugin fault).
    from kiosk.testing import csrf_of

    auth.login("staff")
    token = csrf_of(client)
    for ticket in ("99999999999999999999", "-99999999999999999999", "0", "x"):
        response = client.post("/staff/legal/counter/1/recall-no-show", data={"csrf_token": token, "ticket": ticket})
        assert response.status_code == 302, (ticket, response.status_code)
    assert app.extensions["kiosk_plugins"].infos["legal"].faults == 0
