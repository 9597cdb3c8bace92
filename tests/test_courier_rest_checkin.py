"""Checking in and out by phone, by card (reader hub and a configured TestReader) and by QR code."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select
from test_courier_rest_support import Kiosk, courier_app, courier_config, db, kiosk, notice, station_id  # noqa: F401

from kiosk_hardware.readers import ReaderEvent
from kiosk_hardware.readers.events import utc_now
from kiosk_plugins.courier_rest.models import Rider, Visit


def _visits(app):
    with db(app) as s:
        return s.execute(
            select(Visit.method_in, Visit.method_out, Visit.checked_out_at.is_not(None), Visit.open_rider_id).order_by(
                Visit.id
            )
        ).all()


def test_first_time_rider_registers_by_phone_and_is_checked_in(kiosk, courier_app):
    page = kiosk.phone("138 1234 5678")
    html = page.get_data(as_text=True)
    assert page.request.path == "/k/courier_rest/register"
    assert 'value="13812345678"' in html  # the number just typed is kept for the form
    page = kiosk.register(name="张三明", phone="13812345678", platform="meituan", vehicle="ebike")
    assert page.request.path == "/k/courier_rest/result"
    html = page.get_data(as_text=True)
    assert 'data-result="registered"' in html
    assert "<svg" in html and "/m/courier_rest/r/" not in html  # the QR is drawn, the address is not printed
    menu = kiosk.menu().get_data(as_text=True)
    assert "张*明" in menu and "138****5678" in menu
    assert "张三明" not in menu and "13812345678" not in menu
    assert _visits(courier_app) == [("phone", "", False, _visits(courier_app)[0][3])]
    with db(courier_app) as s:
        rider = s.scalar(select(Rider))
        assert (rider.name, rider.phone, rider.platform, rider.vehicle) == ("张三明", "13812345678", "meituan", "ebike")
        assert len(rider.pass_token) >= 16


def test_registration_refuses_bad_input_and_writes_nothing(kiosk, courier_app):
    kiosk.phone("13812345678")
    page = kiosk.register(name="", phone="12345", platform="uber", vehicle="")
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "请输入您的姓名" in html
    assert "11 位手机号码" in html
    assert "请点选您所在的平台" in html
    assert "请点选您的出行方式" in html
    with db(courier_app) as s:
        assert s.scalar(select(func.count(Rider.id))) == 0
        assert s.scalar(select(func.count(Visit.id))) == 0


def test_a_phone_number_registers_once(kiosk, courier_app, csrf):
    kiosk.signup(phone="13812345678")
    kiosk.finish()
    other = Kiosk(courier_app.test_client())
    other.get("/k/courier_rest/")
    page = other.post("/k/courier_rest/register", name="李四", phone="13812345678", platform="eleme", vehicle="ebike")
    assert page.status_code == 400
    assert "已经登记" in page.get_data(as_text=True)
    with db(courier_app) as s:
        assert s.scalar(select(func.count(Rider.id))) == 1


def test_bad_phone_on_the_keypad_says_what_to_do(kiosk):
    page = kiosk.phone("1381234")
    assert page.request.path == "/k/courier_rest/"
    assert "11 位手机号码" in notice(page)


def test_check_in_again_while_checked_in_keeps_one_visit_and_check_out_by_phone(kiosk, courier_app):
    kiosk.signup()
    kiosk.finish()
    menu = kiosk.phone("13812345678")
    assert menu.request.path == "/k/courier_rest/menu"
    assert "签到时间" in menu.get_data(as_text=True)
    assert len(_visits(courier_app)) == 1
    page = kiosk.checkout()
    assert 'data-result="checkout"' in page.get_data(as_text=True)
    method_in, method_out, closed, open_id = _visits(courier_app)[0]
    assert (method_in, method_out, closed, open_id) == ("phone", "phone", True, None)
    # Identified again after leaving: a new visit.
    kiosk.phone("13812345678")
    assert len(_visits(courier_app)) == 2


def _read(app, screen, kind, value):
    """Offer one read to a page open on ``screen``; returns what the page was told."""
    hub = app.extensions["reader_hub"]
    q = hub.subscribe(screen)
    try:
        delivered = hub.publish(ReaderEvent(source="front", kind=kind, value=value, at=utc_now()))
        return q.get_nowait() if delivered else None
    finally:
        hub.unsubscribe(q)


def test_unknown_card_registers_with_the_card_then_the_card_checks_in_and_out(kiosk, courier_app):
    kiosk.get("/k/courier_rest/")
    action = _read(courier_app, "courier_rest.checkin", "card", "04:a2:1b:9c")
    assert set(action) == {"redirect"} and action["redirect"].startswith("/k/courier_rest/id/")
    page = kiosk.follow(kiosk.get(action["redirect"]))
    assert page.request.path == "/k/courier_rest/register"
    assert "卡将与您绑定" in page.get_data(as_text=True)
    page = kiosk.register(name="王小燕", phone="13900000001", platform="eleme")
    assert page.status_code == 200
    with db(courier_app) as s:
        assert s.scalar(select(Rider.card_uid)) == "04A21B9C"
    kiosk.finish()
    # The same card, read with a different format by another reader, opens the menu at once.
    action = _read(courier_app, "courier_rest.menu", "card", "04A21B9C")
    menu = kiosk.follow(kiosk.get(action["redirect"]))
    assert menu.request.path == "/k/courier_rest/menu"
    assert "王*燕" in menu.get_data(as_text=True)
    kiosk.checkout()
    assert _visits(courier_app)[0][:3] == ("card", "card", True)


def test_rider_qr_code_checks_in_from_the_scanner(kiosk, courier_app):
    kiosk.signup(phone="13900000002")
    kiosk.checkout()
    with db(courier_app) as s:
        token = s.scalar(select(Rider.pass_token))
    action = _read(courier_app, "courier_rest.checkin", "code", f"https://station.example.org/m/courier_rest/r/{token}")
    menu = kiosk.follow(kiosk.get(action["redirect"]))
    assert menu.request.path == "/k/courier_rest/menu"
    assert "欢迎" in notice(menu)
    assert _visits(courier_app)[-1][0] == "qr"


def test_other_codes_and_reads_elsewhere(kiosk, courier_app, make_app, database_url):
    # A QR code that is not a rider code: the rider is told what to do instead.
    action = _read(courier_app, "courier_rest.checkin", "code", "https://weixin.qq.com/x/abc")
    page = kiosk.get(action["redirect"])
    assert "不是骑手码" in page.get_data(as_text=True)
    # Other plugins' screens are left alone; on a courier station's home screen a card checks in.
    assert _read(courier_app, "legal.index", "card", "04A21B9C") is None
    assert _read(courier_app, "home", "card", "04A21B9C")["redirect"].startswith("/k/courier_rest/id/")
    assert _read(courier_app, "home", "code", "https://weixin.qq.com/x/abc") is None
    # At a party service centre the home screen's reads belong to nobody here.
    centre = make_app(database_url)
    assert _read(centre, "home", "card", "04A21B9C") is None


def test_an_old_reader_address_identifies_nobody(kiosk, courier_app):
    from itsdangerous import URLSafeTimedSerializer

    from kiosk import visitors

    with courier_app.test_request_context():
        real = visitors.sign("courier_rest", {"m": "card", "c": "04A21B9C"})
        # Made before the reader tokens moved to kiosk.visitors: refused like an expired one.
        before_the_move = URLSafeTimedSerializer(courier_app.secret_key, salt="courier_rest.reader").dumps(
            {"m": "card", "c": "04A21B9C"}
        )
        for_parking = visitors.sign("parking", {"m": "card", "c": "04A21B9C"})
    forged = URLSafeTimedSerializer("another-secret", salt="kiosk.visitors.courier_rest").dumps({"m": "card", "c": "X"})
    time.sleep(0.01)
    for refused in (forged, before_the_move, for_parking):
        page = kiosk.follow(kiosk.get(f"/k/courier_rest/id/{refused}"))
        assert page.request.path == "/k/courier_rest/" and "太久" in notice(page)
    # A real token still works inside its minute.
    page = kiosk.follow(kiosk.get(f"/k/courier_rest/id/{real}"))
    assert page.request.path == "/k/courier_rest/register"


def test_card_through_a_configured_test_reader(make_app, database_url):
    config = courier_config()
    app = make_app(
        database_url,
        START_DEVICES=True,
        DEVICES={"printer": {"type": "preview"}, "readers": {"card": {"type": "test"}}},
        **config,
    )
    devices = app.extensions["kiosk_devices"]
    try:
        reader = devices.manager.reader("card")
        deadline = time.monotonic() + 5
        while not reader.running and time.monotonic() < deadline:
            time.sleep(0.02)
        kiosk = Kiosk(app.test_client())
        kiosk.signup(name="陈志强", phone="13900000003")
        with db(app) as s:
            rider = s.scalar(select(Rider))
            rider.card_uid = "E004010012345678"
            s.commit()
        kiosk.checkout()
        hub = app.extensions["reader_hub"]
        q = hub.subscribe("courier_rest.checkin")
        try:
            assert reader.inject("card", "e0 04 01 00 12 34 56 78") is not None
            action = q.get(timeout=5)
        finally:
            hub.unsubscribe(q)
        menu = kiosk.follow(kiosk.get(action["redirect"]))
        assert "陈*强" in menu.get_data(as_text=True)
        assert _visits(app)[-1][0] == "card"
    finally:
        devices.stop()


def test_link_a_card_from_the_menu(make_app, database_url):
    # Offered only where a card reader is (issue 19 point 6): this station has one.
    courier_app = make_app(database_url, DEVICES={"readers": {"card": {"type": "test"}}}, **courier_config())
    kiosk = Kiosk(courier_app.test_client())
    kiosk.signup(phone="13900000004")
    assert 'data-testid="link-card"' in kiosk.menu().get_data(as_text=True)
    kiosk.get("/k/courier_rest/link-card")
    action = _read(courier_app, "courier_rest.link_card", "card", "abcd1234")
    assert "/k/courier_rest/link/" in action["redirect"]
    menu = kiosk.follow(kiosk.get(action["redirect"]))
    assert "卡已绑定" in notice(menu)
    with db(courier_app) as s:
        assert s.scalar(select(Rider.card_uid)) == "ABCD1234"
    # The same card cannot be linked to a second rider.
    other = Kiosk(courier_app.test_client())
    other.signup(name="李四", phone="13900000005")
    action = _read(courier_app, "courier_rest.link_card", "card", "ABCD1234")
    menu = other.follow(other.get(action["redirect"]))
    assert "其他骑手" in notice(menu)


def test_menu_without_identifying_sends_the_rider_back_with_a_reason(kiosk):
    page = kiosk.follow(kiosk.menu())
    assert page.request.path == "/k/courier_rest/"
    assert "请先签到" in notice(page)
    page = kiosk.follow(kiosk.post("/k/courier_rest/take/phone"))
    assert "请先签到" in notice(page)


def test_done_forgets_the_rider_on_the_screen(kiosk):
    kiosk.signup()
    response = kiosk.finish()
    assert response.location.endswith("/")
    with kiosk.client.session_transaction() as sess:
        assert not any(k.startswith("courier_rest") for k in sess)
    assert kiosk.menu().status_code == 302


def test_check_in_screen_shows_no_personal_data(kiosk):
    kiosk.signup(name="张三明", phone="13812345678")
    kiosk.finish()
    html = kiosk.get("/k/courier_rest/").get_data(as_text=True)
    assert not re.search(r"1[3-9]\d{9}", html) and "张" not in html


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # wording by the station's readers; no query of note
def test_no_word_of_a_scanner_where_the_kiosk_has_none(make_app, database_url):
    from test_courier_rest_support import OTHER_SERVICES, switch_off

    from kiosk.models import PrintJob
    from kiosk_hardware.receipt import Receipt

    card = {"card": {"type": "test", "kind": "card"}}
    both = {**card, "scan": {"type": "test", "kind": "code"}}
    for phone, readers, scanner in (("13812345670", card, False), ("13812345671", both, True)):
        app = make_app(database_url, DEVICES={"printer": {"type": "preview"}, "readers": readers}, **courier_config())
        switch_off(app, *OTHER_SERVICES)
        kiosk = Kiosk(app.test_client())
        register = kiosk.phone(phone).get_data(as_text=True).split('class="lead">', 1)[1].split("</p>", 1)[0]
        assert "刷卡" in register and ("扫码" in register) == scanner, register
        expired = notice(kiosk.follow(kiosk.get("/k/courier_rest/id/not-a-token")))
        assert "刷卡" in expired and ("扫码" in expired) == scanner, expired
        unreadable = kiosk.get("/k/courier_rest/?error=card_uid").get_data(as_text=True)
        assert "输入手机号" in unreadable and ("扫描骑手码" in unreadable) == scanner
        kiosk.register(name="张三明", phone=phone)
        assert kiosk.post("/k/courier_rest/print/pass").status_code == 200
        with db(app) as s:
            token = s.scalar(select(Rider.pass_token).where(Rider.phone == phone))
            printed = Receipt.from_dict(
                s.scalar(select(PrintJob.receipt).order_by(PrintJob.created_at.desc()))
            ).plain_text()
        assert ("扫码器" in printed) == scanner and ("用手机扫码保存" in printed) != scanner, printed
        phone_page = kiosk.get(f"/m/courier_rest/r/{token}").get_data(as_text=True)
        used = phone_page.split('data-testid="pass-use">', 1)[1].split("</p>", 1)[0]
        assert ("扫码器" in used) == scanner and "请保存本页面" in used, used
