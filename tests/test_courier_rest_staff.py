"""The staff pages (logged in, full details) and personal data everywhere else (masked, never logged)."""

from __future__ import annotations

import logging
import re

from sqlalchemy import select
from test_courier_rest_support import Kiosk, courier_app, db, kiosk  # noqa: F401

from kiosk.models import AuditLog, KioskEvent
from kiosk.testing import Auth, csrf_of
from kiosk_plugins.courier_rest.models import Rider, Use, Visit


def test_staff_pages_need_a_login(courier_app):
    client = courier_app.test_client()
    for path in (
        "/staff/courier_rest/",
        "/staff/courier_rest/services",
        "/staff/courier_rest/stats",
        "/staff/courier_rest/stats.csv",
    ):
        response = client.get(path)
        assert response.status_code == 302 and "/staff/login" in response.location, path


def test_staff_see_who_is_in_and_free_places(kiosk, courier_app):
    kiosk.signup(name="张三明", phone="13812345678", platform="sf")
    kiosk.take("phone")
    kiosk.take("seat")
    staff = courier_app.test_client()
    Auth(courier_app, staff).login("staff")
    page = staff.get("/staff/courier_rest/").get_data(as_text=True)
    assert "张三明" in page and "13812345678" in page and "顺丰" in page
    assert "当前在站人员 (1)" in page and "使用中的位置 (2)" in page
    with db(courier_app) as s:
        visit_id = s.scalar(select(Visit.id))
        seat_use = s.scalar(select(Use.id).where(Use.kind == "seat"))
    staff.post(f"/staff/courier_rest/uses/{seat_use}/release", data={"csrf_token": csrf_of(staff)})
    staff.post(f"/staff/courier_rest/visits/{visit_id}/checkout", data={"csrf_token": csrf_of(staff)})
    again = staff.post(f"/staff/courier_rest/visits/{visit_id}/checkout", data={"csrf_token": csrf_of(staff)})
    assert "该骑手已不在站" in staff.get(again.location).get_data(as_text=True)
    with db(courier_app) as s:
        visit = s.get(Visit, visit_id)
        assert visit.method_out == "staff" and visit.open_rider_id is None
        audit = s.execute(
            select(AuditLog.action, AuditLog.detail, AuditLog.user_id).where(AuditLog.action.like("courier_rest.%"))
        ).all()
    assert [(a, d) for a, d, _ in audit] == [
        ("courier_rest.staff_release", {"use": seat_use}),
        ("courier_rest.staff_checkout", {"visit": visit_id}),
    ]
    assert all(user for _, _, user in audit)
    console = staff.get("/staff/").get_data(as_text=True)
    assert "在站骑手" in console and "打开暖蜂驿站管理页" in console
    # The rider's screen is told the truth after staff checked them out.
    menu = kiosk.menu().get_data(as_text=True)
    assert 'data-testid="checkin"' in menu


def test_personal_data_is_masked_on_public_pages_and_never_logged(kiosk, courier_app, caplog):
    caplog.set_level(logging.DEBUG)
    name, phone = "欧阳明华", "13712349876"
    kiosk.signup(name=name, phone=phone, platform="jd", vehicle="motorbike")
    kiosk.take("phone")
    pages = [
        kiosk.menu(),
        kiosk.get("/k/courier_rest/result"),
        kiosk.get("/k/courier_rest/my-code"),
        kiosk.get("/k/courier_rest/"),
        kiosk.get("/k/courier_rest/board.json"),
    ]
    with db(courier_app) as s:
        token = s.scalar(select(Rider.pass_token))
        events = s.scalars(select(KioskEvent.payload)).all()
        audit = s.scalars(select(AuditLog.detail)).all()
    pages.append(kiosk.get(f"/m/courier_rest/r/{token}"))
    for page in pages:
        text = page.get_data(as_text=True)
        assert phone not in text and name not in text, page.request.path
    assert "欧**华" in pages[0].get_data(as_text=True) and "137****9876" in pages[0].get_data(as_text=True)
    kiosk.checkout()
    for blob in [repr(events), repr(audit), caplog.text]:
        assert phone not in blob and name not in blob and "9876" not in blob


def test_every_courier_page_renders_in_every_language(kiosk, courier_app):
    kiosk.signup()
    kiosk.take("phone")
    staff = courier_app.test_client()
    Auth(courier_app, staff).login("staff")
    with db(courier_app) as s:
        token = s.scalar(select(Rider.pass_token))
    for lang, word in (("zh_Hans", "签退"), ("zh_Hant", "簽退"), ("en", "Check out")):
        for client in (kiosk.client, staff):
            client.post("/lang", data={"lang": lang, "csrf_token": csrf_of(client)})
        for client, path in (
            (kiosk.client, "/k/courier_rest/menu"),
            (kiosk.client, "/k/courier_rest/"),
            (kiosk.client, "/k/courier_rest/hazard"),
            (kiosk.client, f"/m/courier_rest/r/{token}"),
            (staff, "/staff/courier_rest/"),
            (staff, "/staff/courier_rest/stats"),
            (staff, "/staff/courier_rest/services"),
        ):
            response = client.get(path)
            assert response.status_code == 200, (lang, path)
            text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
            if lang != "en":
                assert not re.search(r"\b(Please|Check in|Waiting list|Phone charging)\b", text), (lang, path)
        assert word in kiosk.menu().get_data(as_text=True)
