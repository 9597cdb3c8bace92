"""The printed ticket on a real (fake TCP) ESC/POS printer, and what happens when the printer fails."""

from __future__ import annotations

import base64
import io
import re
import time

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select
from test_legal_support import install_clock, login, take_ticket

from kiosk.models import PrintJob
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter
from kiosk_plugins.legal.receipts import build_booking, build_ticket


@pytest.fixture
def fake_printer():
    with FakeNetworkPrinter() as printer:
        yield printer


def _printing_app(make_app, database_url, printer_config):
    app = make_app(
        database_url, DEVICES={"printer": printer_config, "readers": {}}, PUBLIC_URL="https://kiosk.shuibei.example"
    )
    install_clock(app)
    return app


def _wait_state(client, job_id, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        body = client.get(f"/print-jobs/{job_id}").get_json()
        if body["state"] in want:
            return body
        time.sleep(0.05)
    return body


def _stored_receipt(app, job_id) -> Receipt:
    session = app.extensions["db"].Session()
    try:
        return Receipt.from_dict(session.scalar(select(PrintJob.receipt).where(PrintJob.id == job_id)))
    finally:
        session.close()


def test_ticket_prints_with_a_qr_code_that_opens_the_live_page(make_app, database_url, fake_printer):
    app = _printing_app(make_app, database_url, fake_printer.printer_config(profile="80mm"))
    take_ticket(app.test_client(), "mediation")
    client = app.test_client()
    issued = take_ticket(client, "mediation", phone="13812345678", priority="elderly")
    assert issued["ticket"] == "B002" and issued["job"]
    assert _wait_state(client, issued["job"], ("done", "failed"))["state"] == "done"
    printed = fake_printer.wait_for_jobs(2)[-1].parse()
    assert printed.cut
    (url,) = [r.text for r in zxingcpp.read_barcodes(printed.raster().convert("L")) if r.format.name == "QRCode"]
    assert url == f"https://kiosk.shuibei.example/m/legal/t/{issued['token']}"
    # The URL carries the unguessable token, never the ticket's row id (and,
    # off a fleet, no station: one server is one station).
    assert re.search(r"/t/[A-Za-z0-9_-]{24}$", url)
    path = url.split("https://kiosk.shuibei.example", 1)[1]
    phone_page = app.test_client().get(path).get_data(as_text=True)
    assert "B002" in phone_page and "人民调解" in phone_page

    text = _stored_receipt(app, issued["job"]).plain_text()
    with app.test_request_context("/k/legal/"):
        from kiosk.i18n import _

        phone_label = _("Phone")  # the plugin's own wording on its pages (the core's may differ)
    for words in (
        "水贝社区党群服务中心",
        "人民调解",
        "B002",
        "前面等候人数: 0",
        "预计等候: 下一个就是您",
        "取号时间: 2024-05-06 10:00",
        "60 岁以上老人",
        f"{phone_label}: 138****5678",
        "扫码查看排队进度",
    ):
        assert words in text, words
    assert "13812345678" not in text


@pytest.mark.parametrize("fault", ["paper_out", "closed"])
def test_printer_failure_still_issues_the_ticket_and_tells_staff(make_app, database_url, fault):
    printer = FakeNetworkPrinter("paper_out" if fault == "paper_out" else "ok").start()
    config = printer.printer_config(profile="58mm", retry_delay=0.05, max_attempts=2)
    if fault == "closed":
        printer.close()  # nothing listens on the port any more
    try:
        app = _printing_app(make_app, database_url, config)
        client = app.test_client()
        issued = take_ticket(client, "consultation")
        assert issued["ticket"] == "A001"
        # The ticket screen already shows the number and its own QR code.
        qr = re.search(r'src="data:image/png;base64,([^"]+)" alt="[^"]*" width="300"', issued["html"]).group(1)
        decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(qr))))]
        assert decoded == [f"https://kiosk.shuibei.example/m/legal/t/{issued['token']}"]
        assert _wait_state(client, issued["job"], ("failed",))["state"] == "failed"
        # The page's script shows the failure text it carries for this case.
        assert "您的号仍然有效" in issued["html"]
        staff = login(app, "staff")
        console = staff.get("/staff/").get_data(as_text=True)
        assert issued["job"] in console and "legal.ticket" in console
        # The queue goes on: the ticket can be called.
        from test_legal_support import call_next

        assert call_next(staff, 1) == "A001"
    finally:
        printer.close()


def test_receipt_builders_mask_the_phone_even_if_given_in_full():
    labels = {
        "ahead": "前面等候人数",
        "wait": "预计等候",
        "time": "取号时间",
        "phone": "手机",
        "scan": "扫码",
        "keep": "请保管好此票",
    }
    receipt = build_ticket(
        {
            "station": "水贝社区党群服务中心",
            "service": "法律咨询",
            "ticket": "A012",
            "priority": "",
            "ahead": 3,
            "wait": "约 45 分钟（估计）",
            "time": "2024-05-06 10:00",
            "phone": "13812345678",
            "url": "https://k.example/m/legal/t/x",
            "labels": labels,
        }
    )
    text = receipt.plain_text()
    assert "手机: 138****5678" in text and "13812345678" not in text
    assert "[qr: https://k.example/m/legal/t/x]" in text and "A012" in text
    booking = build_booking(
        {
            "station": "水贝",
            "service": "公证",
            "code": "482913",
            "time": "2024-05-08 14:00–16:00",
            "lawyer": "周*静 公证处水贝办事点",
            "phone": "13912345678",
            "labels": {
                "title": "预约成功",
                "code": "预约码",
                "time": "时间",
                "lawyer": "值班律师",
                "phone": "手机",
                "how": "凭码签到",
            },
        }
    ).plain_text()
    assert "预约码: 482913" in booking and "[qr: legal-booking:482913]" in booking
    assert "139****5678" in booking and "13912345678" not in booking
