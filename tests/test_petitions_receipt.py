"""The petitions.receipt layout on a (fake TCP) ESC/POS printer: the QR code opens the status page."""

from __future__ import annotations

import re
import time

import pytest
import zxingcpp
from sqlalchemy import select

from kiosk.models import PrintJob
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.render import render_receipt
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

PUBLIC = "https://kiosk.shuibei.example"
PHONE = "13655556666"


@pytest.fixture
def fake_printer():
    with FakeNetworkPrinter() as printer:
        yield printer


def printing_app(make_app, database_url, printer_config):
    return make_app(database_url, DEVICES={"printer": printer_config, "readers": {}}, PUBLIC_URL=PUBLIC)


def file_request(client, csrf, lang=None):
    client.get("/k/petitions/new")
    if lang:
        client.post("/lang", data={"lang": lang, "csrf_token": csrf(client)})
    response = client.post(
        "/k/petitions/new",
        data={
            "csrf_token": csrf(client),
            "step": "4",
            "go": "submit",
            "type": "help",
            "category": "public_facilities",
            "place": "other",
            "description": "碧波小学路段路面破损，下雨积水",
            "anonymous": "0",
            "phone": PHONE,
            "name": "赵敏",
        },
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    token = location.split("/done/")[1].split("?")[0]
    job = re.search(r"job=([A-Za-z0-9]+)", location).group(1)
    return token, job


def wait_state(client, job_id, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/print-jobs/{job_id}").get_json()
        if body["state"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("print job never finished")


def stored(app, job_id) -> Receipt:
    with app.extensions["db"].Session() as s:
        return Receipt.from_dict(s.scalar(select(PrintJob.receipt).where(PrintJob.id == job_id)))


def test_receipt_prints_a_qr_code_of_the_status_page(make_app, database_url, fake_printer, csrf):
    app = printing_app(make_app, database_url, fake_printer.printer_config(profile="80mm"))
    client = app.test_client()
    token, job = file_request(client, csrf)
    assert wait_state(client, job)["state"] == "done"
    printed = fake_printer.wait_for_jobs(1)[-1].parse()
    assert printed.cut
    (url,) = [r.text for r in zxingcpp.read_barcodes(printed.raster().convert("L")) if r.format.name == "QRCode"]
    assert url == f"{PUBLIC}/m/petitions/s/{token}"
    text = stored(app, job).plain_text()
    tracking = re.search(r"P\d{6}-[A-Z2-9]{4}-\d{4}", text).group(0)
    for words in (
        "扫码反映诉求",
        "民有所呼，我有所应",
        "受理编号",
        "求助",
        "道路和公共设施",
        "扫描二维码查看办理进度和结果",
        "水贝社区党群服务中心",
    ):
        assert words in text, words
    for secret in (PHONE, PHONE[-4:], "赵敏", "赵*"):
        assert secret not in text, "a receipt left on the counter shows no contact details"
    phone_page = app.test_client().get(url.removeprefix(PUBLIC)).get_data(as_text=True)
    assert tracking in phone_page and "碧波小学路段" in phone_page


def test_receipt_words_follow_the_residents_language(make_app, database_url, fake_printer, csrf):
    app = printing_app(make_app, database_url, fake_printer.printer_config(profile="58mm"))
    client = app.test_client()
    _token, job = file_request(client, csrf, lang="en")
    assert wait_state(client, job)["state"] == "done"
    text = stored(app, job).plain_text()
    assert "Report a problem" in text and "Tracking number" in text and "Request for help" in text
    assert "Roads and public facilities" in text


def test_a_printer_fault_never_loses_the_request(make_app, database_url, csrf):
    from kiosk_plugins.petitions.models import Petition

    with FakeNetworkPrinter("paper_out") as printer:
        # One attempt: the queue's retries are the hardware layer's business, not this test's.
        app = printing_app(make_app, database_url, printer.printer_config(max_attempts=1))
        client = app.test_client()
        token, job = file_request(client, csrf)
        assert wait_state(client, job)["state"] == "failed"
    with app.extensions["db"].Session() as s:
        assert s.scalar(select(Petition.status).where(Petition.token == token)) == "received"
    done = client.get(f"/k/petitions/done/{token}?job={job}").get_data(as_text=True)
    assert 'data-print-job="' + job + '"' in done and "回执未能打印" in done, "the page can tell the resident"


def test_layout_builds_from_context_alone():
    from kiosk_plugins.petitions.receipts import build

    receipt = build(
        {
            "tracking_no": "P240512-0007",
            "status_url": f"{PUBLIC}/m/petitions/s/abc",
            "type": "投诉",
            "category": "噪音扰民",
            "place": "深华丽园",
            "time": "2024-05-12 21:40",
            "station_name": "水贝社区党群服务中心",
        }
    )
    text = receipt.plain_text()
    assert "受理编号" in text and "P240512-0007" in text and "地点: 深华丽园" in text
    image = render_receipt(receipt, "58mm").convert("L")
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [f"{PUBLIC}/m/petitions/s/abc"]
