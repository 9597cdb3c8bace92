"""Basic services staff edit, advanced-service requests (legal queue or staff), 小蜜蜂 hazard reports."""

from __future__ import annotations

import io
import os
import types

from PIL import Image
from sqlalchemy import func, select
from test_courier_rest_support import OTHER_SERVICES, Kiosk, courier_app, courier_config, db, kiosk, notice, switch_off  # noqa: F401

from kiosk import hookimpl
from kiosk.models import AuditLog
from kiosk.testing import Auth, csrf_of
from kiosk_plugins.courier_rest.models import Hazard, Service, ServiceRequest, ServiceUse


def fake_plugin(name, answers):
    """A throwaway plugin that answers ``request_service`` and records what it was asked."""
    module = types.ModuleType(name)
    module.calls = []

    @hookimpl
    def request_service(kind, payload, station):
        if kind not in answers:
            return None
        module.calls.append((kind, dict(payload), station.code))
        return answers[kind]

    module.request_service = request_service
    return module


def test_basic_services_are_listed_counted_and_edited_by_staff(kiosk, courier_app):
    kiosk.signup()
    menu = kiosk.menu().get_data(as_text=True)
    for name in ("饮水", "微波炉", "卫生间", "修车", "急救箱"):
        assert name in menu
    page = kiosk.follow(kiosk.post("/k/courier_rest/service/water"))
    assert "冷热饮水免费自取" in page.get_data(as_text=True)
    kiosk.follow(kiosk.post("/k/courier_rest/service/water"))  # a second tap right away counts once
    page = kiosk.follow(kiosk.post("/k/courier_rest/service/sauna"))
    assert "本站没有这项服务" in notice(page)
    with db(courier_app) as s:
        assert s.scalar(select(func.count(ServiceUse.id))) == 1

    staff = courier_app.test_client()
    Auth(courier_app, staff).login("staff")
    assert "微波炉" in staff.get("/staff/courier_rest/services").get_data(as_text=True)
    token = csrf_of(staff)
    bad = staff.post("/staff/courier_rest/services", data={"csrf_token": token, "key": "Fridge!", "name_zh_hans": ""})
    assert bad.status_code == 400 and "代码须为" in bad.get_data(as_text=True)
    staff.post(
        "/staff/courier_rest/services",
        data={
            "csrf_token": token,
            "key": "umbrella",
            "icon": "umbrella",
            "name_zh_hans": "借雨伞",
            "name_zh_hant": "借雨傘",
            "name_en": "Borrow an umbrella",
            "note_zh_hans": "下雨天可借用,用完请归还",
            "position": "5",
        },
    )
    with db(courier_app) as s:
        microwave = s.scalar(select(Service).where(Service.key == "microwave"))
    staff.post(f"/staff/courier_rest/services/{microwave.id}/toggle", data={"csrf_token": token})
    menu = kiosk.menu().get_data(as_text=True)
    assert "借雨伞" in menu and "微波炉" not in menu
    assert menu.index("饮水") < menu.index("借雨伞") < menu.index("卫生间")  # positions 0 < 5 < 20
    kiosk.client.post("/lang", data={"lang": "en", "csrf_token": csrf_of(kiosk.client)})
    assert "Borrow an umbrella" in kiosk.menu().get_data(as_text=True)
    with db(courier_app) as s:
        actions = set(s.scalars(select(AuditLog.action)))
    assert {"courier_rest.service_added", "courier_rest.service_hidden"} <= actions


def test_advanced_services_reach_staff_when_no_legal_queue_answers(kiosk, courier_app):
    kiosk.signup()
    page = kiosk.follow(kiosk.post("/k/courier_rest/advanced/legal_aid"))
    html = page.get_data(as_text=True)
    assert "法律援助" in html and "打电话" in html and 'data-testid="ticket"' not in html
    again = kiosk.follow(kiosk.post("/k/courier_rest/advanced/legal_aid")).get_data(as_text=True)
    assert "已交给工作人员" in again
    kiosk.follow(kiosk.post("/k/courier_rest/advanced/counselling"))
    assert "本站没有" in notice(kiosk.follow(kiosk.post("/k/courier_rest/advanced/massage")))
    with db(courier_app) as s:
        rows = s.execute(select(ServiceRequest.service, ServiceRequest.state)).all()
    assert sorted(rows) == [("counselling", "open"), ("legal_aid", "open")]
    staff = courier_app.test_client()
    Auth(courier_app, staff).login("staff")
    page = staff.get("/staff/courier_rest/").get_data(as_text=True)
    assert "心理疏导" in page and "13812345678" in page  # staff call the rider back
    with db(courier_app) as s:
        request_id = s.scalar(select(ServiceRequest.id).where(ServiceRequest.service == "counselling"))
    staff.post(f"/staff/courier_rest/requests/{request_id}/done", data={"csrf_token": csrf_of(staff)})
    with db(courier_app) as s:
        assert s.scalar(select(ServiceRequest.state).where(ServiceRequest.id == request_id)) == "done"


def test_legal_aid_gets_a_ticket_from_the_plugin_that_runs_the_queue(make_app, database_url):
    legal = fake_plugin(
        "fake_legal",
        {
            "queue_ticket": {
                "ticket": "F012",
                "ticket_id": 12,
                "service": "法律援助",
                "ahead": 3,
                "status_url": "/m/legal/t/abc",
            }
        },
    )
    app = make_app(database_url, EXTRA_PLUGINS={"fake_legal": legal}, **courier_config())
    switch_off(app, *OTHER_SERVICES)
    kiosk = Kiosk(app.test_client())
    kiosk.signup()
    page = kiosk.follow(kiosk.post("/k/courier_rest/advanced/legal_aid")).get_data(as_text=True)
    assert 'data-testid="ticket">F012<' in page and "前面还有 3 人" in page and "<svg" in page
    assert legal.calls == [("queue_ticket", {"service": "legal_aid", "source": "courier_rest"}, "sungang-nf")]
    with db(app) as s:
        row = s.scalar(select(ServiceRequest))
        assert (row.state, row.ticket, row.ticket_url) == ("ticket", "F012", "/m/legal/t/abc")


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "RiderPhone"  # camera make
    exif[0x0112] = 6  # orientation: the camera was turned
    exif[0x8825] = {1: "N", 2: (22.0, 32.0, 10.0), 3: "E", 4: (114.0, 3.0, 20.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the test photo really carries GPS
    return data


def test_hazard_with_a_phone_photo_becomes_a_petition(make_app, database_url):
    petitions = fake_plugin(
        "fake_petitions", {"civic_request": {"tracking_no": "SZ20240501-0007", "status_url": "/m/petitions/s/xyz"}}
    )
    app = make_app(database_url, EXTRA_PLUGINS={"fake_petitions": petitions}, **courier_config())
    switch_off(app, *OTHER_SERVICES)
    kiosk = Kiosk(app.test_client())
    kiosk.get("/k/courier_rest/hazard")
    response = kiosk.post("/k/courier_rest/hazard", category="safety_hazard", note="笋岗路井盖松动", action="photo")
    page = kiosk.follow(response)
    assert "<svg" in page.get_data(as_text=True) and "已收到照片：0 / 3 张" in page.get_data(as_text=True)
    with db(app) as s:
        token = s.scalar(select(Hazard.upload_token))
    phone = app.test_client()
    phone.get(f"/m/courier_rest/hazard/{token}")
    big = b"\xff\xd8" + b"0" * (5 * 1024 * 1024 + 10)
    too_large = phone.post(
        f"/m/courier_rest/hazard/{token}",
        content_type="multipart/form-data",
        data={"csrf_token": csrf_of(phone), "photo": (io.BytesIO(big), "big.jpg")},
    )
    assert too_large.status_code == 400 and "照片太大" in too_large.get_data(as_text=True)
    not_image = phone.post(
        f"/m/courier_rest/hazard/{token}",
        content_type="multipart/form-data",
        data={"csrf_token": csrf_of(phone), "photo": (io.BytesIO(b"%PDF-1.4 hello"), "x.jpg")},
    )
    assert not_image.status_code == 400 and "不是照片" in not_image.get_data(as_text=True)
    ok = phone.post(
        f"/m/courier_rest/hazard/{token}",
        content_type="multipart/form-data",
        data={"csrf_token": csrf_of(phone), "photo": (io.BytesIO(jpeg_with_gps()), "IMG_0001.jpg")},
    )
    assert ok.status_code == 302
    assert "照片已添加" in phone.get(ok.location).get_data(as_text=True)
    assert "已收到照片：1 / 3 张" in kiosk.get(response.location).get_data(as_text=True)

    page = kiosk.follow(kiosk.post(response.location.replace("/photo", "/send")))
    assert 'data-testid="tracking">SZ20240501-0007<' in page.get_data(as_text=True)
    ((kind, payload, code),) = petitions.calls
    assert kind == "civic_request" and code == "sungang-nf"
    assert payload["type"] == "complaint" and payload["category"] == "safety_hazard"
    assert payload["description"] == "【小蜜蜂巡查·安全隐患】笋岗路井盖松动"
    assert payload["source"] == "courier_rest" and payload["place"] == ""
    (path,) = payload["photos"]
    assert path.startswith(os.path.join(app.instance_path, "uploads")) and os.path.exists(path)
    with open(path, "rb") as fh:
        stored = fh.read()
    clean = Image.open(io.BytesIO(stored))
    assert clean.format == "JPEG" and clean.size == (48, 64)  # turned upright before the tag was dropped
    assert not clean.getexif() and b"Exif" not in stored and b"RiderPhone" not in stored
    # Sent: the phone cannot add more, and a second "send" makes no second petition.
    phone.post(f"/m/courier_rest/hazard/{token}/send", data={"csrf_token": csrf_of(phone)})
    assert len(petitions.calls) == 1
    assert "SZ20240501-0007" in phone.get(f"/m/courier_rest/hazard/{token}").get_data(as_text=True)


def test_hazard_is_kept_for_staff_when_no_petitions_plugin_answers(kiosk, courier_app):
    kiosk.get("/k/courier_rest/hazard")
    bad = kiosk.post("/k/courier_rest/hazard", category="", note="")
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert "请点选您看到的问题类别" in html and "请简单写几个字" in html
    page = kiosk.follow(
        kiosk.post("/k/courier_rest/hazard", category="bulky_waste", note="桥下堆了旧沙发", action="send")
    )
    assert "驿站工作人员会查看" in page.get_data(as_text=True)
    with db(courier_app) as s:
        assert s.scalar(select(Hazard.state)) == "kept"
    staff = courier_app.test_client()
    Auth(courier_app, staff).login("staff")
    assert "桥下堆了旧沙发" in staff.get("/staff/courier_rest/").get_data(as_text=True)
