"""kiosk.visitors: signed reader tokens, the identified visitor of a kiosk session, and nobody left behind."""

from __future__ import annotations

import time

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from test_courier_rest_support import OTHER_SERVICES, Kiosk, courier_config, db, notice, switch_off
from test_parking_support import add_lot, add_people, csrf_token, get_voucher, next_occurrence, voucher_id_from

from kiosk import visitors
from kiosk.testing import csrf_of
from kiosk_plugins.courier_rest.models import Hazard


# -- signed tokens ----------------------------------------------------------------------------
def test_sign_and_unsign_round_trip(app):
    with app.app_context():
        for value in (7, "04A21B9C", {"m": "card", "c": "04A21B9C"}, [1, 2], 0):
            token = visitors.sign("parking", value)
            assert isinstance(token, str) and token.isascii() and "/" not in token
            assert visitors.unsign("parking", token) == value


def test_a_token_is_for_its_kind_only(app):
    with app.app_context():
        token = visitors.sign("parking", {"h": 3})
        assert visitors.unsign("courier_rest", token) is None
        assert visitors.unsign("parking", token) == {"h": 3}
        # Nor is it a session cookie or anything else signed with the same secret.
        cookie = URLSafeTimedSerializer(app.secret_key, salt="cookie-session").dumps({"h": 3})
        assert visitors.unsign("parking", cookie) is None


def test_tampered_forged_and_junk_tokens_are_refused(app):
    with app.app_context():
        token = visitors.sign("parking", {"h": 3})
        payload, rest = token.split(".", 1)
        other = visitors.sign("parking", {"h": 4}).split(".", 1)[0]
        assert visitors.unsign("parking", other + "." + rest) is None, "another payload under this signature"
        middle = len(token) - 10  # inside the signature (the last character carries padding bits only)
        flipped = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
        assert visitors.unsign("parking", flipped) is None
        forged = URLSafeTimedSerializer("another-secret", salt="kiosk.visitors.parking").dumps({"h": 3})
        assert visitors.unsign("parking", forged) is None
        for junk in (None, "", "x", "a.b.c", "eyJoIjoxfQ.forged.sig", 42):
            assert visitors.unsign("parking", junk) is None
        with pytest.raises(ValueError):
            visitors.sign("parking", None)
        with pytest.raises(ValueError):
            visitors.sign("", 1)


def test_tokens_expire(app, monkeypatch):
    with app.app_context():
        token = visitors.sign("courier_rest", {"m": "qr", "t": "abc"})
        later = time.time() + visitors.TOKEN_MAX_AGE + 2
        with monkeypatch.context() as m:
            m.setattr(time, "time", lambda: later)
            assert visitors.unsign("courier_rest", token) is None
            longer = visitors.TOKEN_MAX_AGE + 60
            assert visitors.unsign("courier_rest", token, max_age=longer) == {"m": "qr", "t": "abc"}
        assert visitors.unsign("courier_rest", token) == {"m": "qr", "t": "abc"}


# -- the identified visitor in the session -----------------------------------------------------
def test_identify_remember_recall_and_forget(app):
    with app.test_request_context("/"):
        assert visitors.identified("parking") is None and visitors.visitor("parking") is None
        visitors.identify("parking", 12, via="card", max_age=300)
        visitors.remember("parking", plate=5, vouchers=[1])
        visitors.identify("courier_rest", 40, via="qr")
        assert visitors.identified("parking") == 12 and visitors.identified("courier_rest") == 40
        found = visitors.visitor("parking")
        assert (found.kind, found.id, found.via, found.data) == ("parking", 12, "card", {"plate": 5, "vouchers": [1]})
        assert visitors.recall("parking", "plate") == 5
        visitors.remember("parking", plate=None)
        assert visitors.recall("parking", "plate", "none") == "none"
        assert visitors.recall("parking", "vouchers", pop=True) == [1]
        assert visitors.recall("parking", "vouchers") is None
        # A new visitor for the kind starts with nothing of the last one's turn.
        visitors.remember("parking", plate=9)
        visitors.identify("parking", 13, via="phone")
        assert visitors.visitor("parking").data == {} and visitors.identified("parking") == 13
        visitors.forget("parking")
        assert visitors.identified("parking") is None and visitors.identified("courier_rest") == 40
        visitors.forget()
        assert visitors.identified("courier_rest") is None
        with pytest.raises(ValueError):
            visitors.identify("parking", None)


def test_what_an_unknown_visitor_typed_is_kept_and_forgotten_with_them(app):
    with app.test_request_context("/"):
        visitors.remember("courier_rest", pending={"phone": "13812345678"})
        assert visitors.identified("courier_rest") is None, "remembering is not identifying"
        assert visitors.recall("courier_rest", "pending") == {"phone": "13812345678"}
        visitors.forget()
        assert visitors.recall("courier_rest", "pending") is None


def test_a_turn_lapses_after_max_age_without_use(app, monkeypatch):
    with app.test_request_context("/"):
        now = [1_000_000.0]
        monkeypatch.setattr(visitors, "_now", lambda: now[0])
        visitors.identify("parking", 12, max_age=300)
        now[0] += 299
        assert visitors.identified("parking") == 12, "still within five minutes"
        now[0] += 299
        assert visitors.identified("parking") == 12, "each use keeps the turn alive"
        visitors.remember("parking", plate=3)
        now[0] += 301
        assert visitors.identified("parking") is None and visitors.recall("parking", "plate") is None
        from flask import session

        assert visitors.SESSION_KEY not in session, "a lapsed turn leaves nothing in the cookie"


# -- the kiosk forgets on the home screen and on the idle reset --------------------------------
def _parking_visitor(app, client):
    ids = add_lot(app)
    add_people(app)
    occ = next_occurrence(app, ids["windows"][0])
    vid = voucher_id_from(get_voucher(client, "13800138001", "粤B12345", occ.window_id, occ.day))
    assert client.get(f"/k/parking/voucher/{vid}").status_code == 200
    assert client.get("/k/parking/plate").status_code == 200
    return vid


def test_home_screen_forgets_the_parking_resident(app, client):
    vid = _parking_visitor(app, client)
    assert client.get("/").status_code == 200
    # The next resident at this kiosk: no plate screen, no voucher of the last one.
    assert client.get("/k/parking/plate").status_code == 302
    assert client.get(f"/k/parking/voucher/{vid}").status_code == 302
    mine = client.get("/k/parking/mine")
    assert mine.status_code == 302 and "粤B" not in mine.get_data(as_text=True)
    with client.session_transaction() as sess:
        assert visitors.SESSION_KEY not in sess


def test_idle_reset_forgets_the_parking_resident(app, client):
    vid = _parking_visitor(app, client)
    response = client.post("/reset", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert client.get("/k/parking/plate").status_code == 302
    assert client.get(f"/k/parking/voucher/{vid}").status_code == 302


def test_a_rider_who_leaves_with_home_is_not_the_next_persons_menu(make_app, database_url):
    """Issue 19 point 2: 首页 instead of 完成, then the next person opens 暖蜂驿站 → 小蜜蜂巡查 → 返回."""
    app = make_app(database_url, **courier_config())
    switch_off(app, *OTHER_SERVICES)
    kiosk = Kiosk(app.test_client())
    kiosk.signup(name="张三明", phone="13812345678")
    assert kiosk.menu().status_code == 200
    kiosk.get("/k/courier_rest/hazard")
    drafted = kiosk.post("/k/courier_rest/hazard", category="safety_hazard", note="井盖松动", action="photo")
    assert kiosk.get(drafted.location).status_code == 200, "the draft is this screen's"
    home = kiosk.get("/")  # 首页
    assert home.status_code == 200
    # The next person.
    kiosk.get("/k/courier_rest/")
    assert kiosk.get("/k/courier_rest/hazard").status_code == 200
    menu = kiosk.menu()
    assert menu.status_code == 302, "the last rider's menu (签退, 归还, 我的骑手码) is gone"
    page = kiosk.follow(menu)
    assert "请先签到" in notice(page) and "张三明" not in page.get_data(as_text=True)
    assert kiosk.get("/k/courier_rest/my-code").status_code == 302
    assert kiosk.get("/k/courier_rest/result").status_code == 302, "nor the last rider's result screen"
    with db(app) as s:
        draft = s.scalar(select(Hazard.id))
    assert kiosk.get(f"/k/courier_rest/hazard/{draft}/photo").status_code == 302, "nor their hazard draft"
    printed = kiosk.post("/k/courier_rest/print/pass")
    assert printed.status_code == 400


def test_an_unknown_riders_phone_is_not_offered_to_the_next_person(make_app, database_url):
    app = make_app(database_url, **courier_config())
    switch_off(app, *OTHER_SERVICES)
    kiosk = Kiosk(app.test_client())
    page = kiosk.phone("13912345678")
    assert page.request.path == "/k/courier_rest/register" and "13912345678" in page.get_data(as_text=True)
    kiosk.get("/")
    form = kiosk.get("/k/courier_rest/register").get_data(as_text=True)
    assert "13912345678" not in form


def test_idle_reset_forgets_the_rider(make_app, database_url):
    app = make_app(database_url, **courier_config())
    switch_off(app, *OTHER_SERVICES)
    kiosk = Kiosk(app.test_client())
    kiosk.signup()
    assert kiosk.menu().status_code == 200
    assert kiosk.client.post("/reset", data={"csrf_token": csrf_of(kiosk.client)}).status_code == 302
    assert kiosk.menu().status_code == 302


def test_language_and_large_text_survive_the_home_screen(app, client):
    """Forgetting the visitor is not forgetting the screen's settings (the reset does that)."""
    client.get("/")
    client.post("/lang", data={"lang": "en", "csrf_token": csrf_token(client)})
    with client.session_transaction() as sess:
        assert sess.get("lang") == "en"
    client.get("/")
    with client.session_transaction() as sess:
        assert sess.get("lang") == "en"


def test_home_screen_forgets_the_legal_ticket_just_taken(app, client):
    from test_legal_support import take_ticket

    taken = take_ticket(client)
    assert taken["ticket"] in client.get("/k/legal/issued").get_data(as_text=True)
    client.get("/")
    assert client.get("/k/legal/issued").status_code == 302, "the next resident does not see the last ticket"


# -- bound to the terminal (issue 16 point 4) -------------------------------------------------
def test_a_visitor_belongs_to_the_terminal_that_identified_them(app):
    from kiosk.terminals import COOKIE
    from kiosk.testing import enrol_terminal

    hall1, hall2 = app.test_client(), app.test_client()
    enrol_terminal(hall1, app, "hall-1")
    enrol_terminal(hall2, app, "hall-2")
    vid = _parking_visitor(app, hall1)
    assert hall1.get("/k/parking/plate").status_code == 200
    # Terminal 1's session cookie carried to terminal 2, or to a browser that is no terminal: nobody identified.
    stolen = hall1.get_cookie("session").value
    for other in (hall2, app.test_client()):
        other.set_cookie("session", stolen)
        assert other.get("/k/parking/plate").status_code == 302
        assert other.get(f"/k/parking/voucher/{vid}").status_code == 302
    # Terminal 1's own screen still has its visitor.
    assert hall1.get("/k/parking/plate").status_code == 200
    # The same browser with its terminal credential taken away is no longer that terminal's screen.
    hall1.delete_cookie(COOKIE)
    assert hall1.get("/k/parking/plate").status_code == 302


def test_a_language_change_at_a_kiosk_terminal_ends_the_visitors_turn(app):
    from kiosk.testing import enrol_terminal

    kiosk = app.test_client()
    enrol_terminal(kiosk, app, "hall-1")
    vid = _parking_visitor(app, kiosk)
    kiosk.post("/lang", data={"lang": "en", "csrf_token": csrf_token(kiosk)})
    assert kiosk.get("/k/parking/plate").status_code == 302
    assert kiosk.get(f"/k/parking/voucher/{vid}").status_code == 302


def test_a_language_change_on_ones_own_phone_keeps_the_turn(app, client):
    vid = _parking_visitor(app, client)
    client.post("/lang", data={"lang": "en", "csrf_token": csrf_token(client)})
    assert client.get("/k/parking/plate").status_code == 200
    assert client.get(f"/k/parking/voucher/{vid}").status_code == 200
