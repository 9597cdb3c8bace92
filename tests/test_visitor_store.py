"""No personal data in cookies (issue 17 point 8): the kiosk's visitor lives on the server.

The session cookie is signed, not encrypted: whoever holds it (a shared
browser profile, a proxy's log, the next person at the kiosk) can read it. After
every step of the rider's and the household's flows the cookie is decoded with
the app's key and searched for the phone, name and plate just typed; what the
plugin remembered is found in the ``kiosk_visitor`` row instead.
"""

from __future__ import annotations

import base64
import json
import zlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from test_courier_rest_support import Kiosk, courier_app, kiosk  # noqa: F401
from test_parking_support import add_lot, add_people, choose_plate, identify, issue, next_occurrence

from kiosk import visitors
from kiosk.db import session_for

PHONE, NAME = "13812345678", "张三明"
PERSONAL = (PHONE, "138 1234", NAME, "粤B12345", "粤b 12345", "13800138001", "王建国", "B12345")


def cookie_of(app, client) -> tuple[dict, str]:
    """The session cookie decoded with the app's key, and its payload as text (compressed or not)."""
    cookie = client.get_cookie("session")
    if cookie is None:
        return {}, ""
    data = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    payload = cookie.value.split(".")[1 if cookie.value.startswith(".") else 0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    if cookie.value.startswith("."):
        raw = zlib.decompress(raw)
    return data, raw.decode("utf-8", "replace") + json.dumps(data, ensure_ascii=False)


def assert_clean(app, client, step: str) -> dict:
    data, text = cookie_of(app, client)
    for value in PERSONAL:
        assert value not in text, f"{value!r} is in the session cookie after {step}"
    token = data.get(visitors.SESSION_KEY)
    assert token is None or (isinstance(token, str) and len(token) >= 40), "only a random id"
    return data


def test_the_rider_flow_keeps_nothing_personal_in_the_cookie(courier_app, kiosk):  # noqa: F811
    client = kiosk.client
    kiosk.get("/k/courier_rest/")
    assert_clean(courier_app, client, "the start screen")
    page = kiosk.phone(PHONE)
    assert 'value="13812345678"' in page.get_data(as_text=True), "the typed phone is still kept for the form"
    data = assert_clean(courier_app, client, "typing an unknown phone")
    # … on the server, with the visitor's row, where it lapses with the turn.
    kept = visitors.entries(data[visitors.SESSION_KEY], courier_app)
    assert kept["courier_rest"]["data"]["pending"]["phone"] == PHONE
    kiosk.register(name=NAME, phone=PHONE)
    assert_clean(courier_app, client, "registering")
    assert NAME[0] in kiosk.menu().get_data(as_text=True)
    assert_clean(courier_app, client, "the menu")
    kiosk.take("seat")
    assert_clean(courier_app, client, "taking a seat")
    kiosk.get("/k/courier_rest/my-code")
    assert_clean(courier_app, client, "my code")
    kiosk.checkout()
    assert_clean(courier_app, client, "checking out")
    kiosk.phone(PHONE)
    kiosk.finish()
    data = assert_clean(courier_app, client, "done")
    assert visitors.SESSION_KEY not in data, "done: the cookie no longer points at a turn"
    with session_for(courier_app) as s:
        assert s.scalar(select(func.count()).select_from(visitors.VisitorRow)) == 0, "and the row is gone"


def test_the_household_flow_keeps_nothing_personal_in_the_cookie(app, client):
    ids = add_lot(app, spaces=3)
    add_people(app)
    occ = next_occurrence(app, ids["windows"][0])
    lapsed = {"courier_rest": {"id": None, "data": {"pending": {"phone": "13912345678"}}}}
    with session_for(app, write=True) as s:
        s.add(visitors.VisitorRow(key="f" * 64, data=lapsed, expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        s.commit()
    client.get("/k/parking/")
    assert identify(client, "13800138001").status_code == 302
    assert_clean(app, client, "identifying by phone")
    with session_for(app) as s:
        keys = list(s.scalars(select(visitors.VisitorRow.key)))
    assert len(keys) == 1 and keys[0] != "f" * 64, "a lapsed turn is deleted on the way, not only by the daily job"
    client.get("/k/parking/plate")
    assert choose_plate(client, "粤b 12345").status_code == 302
    assert_clean(app, client, "choosing a plate")
    assert choose_plate(client, "粤B 1").status_code in (200, 400)  # a wrong plate is shown again, not kept
    assert_clean(app, client, "a mistyped plate")
    client.get("/k/parking/lots")
    client.get(f"/k/parking/confirm?window={occ.window_id}&day={occ.day}")
    response = issue(client, occ.window_id, occ.day)
    assert response.status_code == 302
    assert "粤B***45" in client.get(response.headers["Location"]).get_data(as_text=True)
    data = assert_clean(app, client, "the voucher")
    assert visitors.entries(data[visitors.SESSION_KEY], app)["parking"]["id"], "the household is kept server-side"
    client.get("/")
    assert visitors.SESSION_KEY not in assert_clean(app, client, "the home screen")
