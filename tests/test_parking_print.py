"""The printed voucher: real ESC/POS bytes to a TCP printer, its QR decoded and redeemed.

The voucher is issued through the kiosk screens; the core's print queue sends
it to :class:`FakeNetworkPrinter` on 127.0.0.1; the raster is rebuilt from the
bytes with the ESC/POS parser and the QR code read back with zxing-cpp. The
code it holds is then typed into the attendant's page, which lets the car in.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import zxingcpp
from test_parking_support import (
    add_lot,
    add_people,
    csrf_token,
    get_voucher,
    next_occurrence,
    shift_voucher_times,
    text_of,
    voucher_id_from,
    vouchers,
)

from kiosk.models import PrintJob
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter
from kiosk_plugins.parking import codes
from kiosk_plugins.parking.receipts import build_voucher


@pytest.fixture
def fake_printer():
    with FakeNetworkPrinter() as printer:
        yield printer


def _wait_state(client, job_id, timeout=15.0):
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        body = client.get(f"/print-jobs/{job_id}").get_json()
        if body["state"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    return body


def test_printed_qr_decodes_to_a_code_that_redeems(make_app, database_url, fake_printer, csrf):
    app = make_app(database_url, DEVICES={"printer": fake_printer.printer_config(profile="80mm"), "readers": {}})
    ids = add_lot(app)
    add_people(app)
    occ = next_occurrence(app, ids["windows"][0])
    resident = app.test_client()
    response = get_voucher(resident, "13800138001", "粤B12345", occ.window_id, occ.day)
    job_id = re.search(r"job=([0-9a-f]+)", response.headers["Location"]).group(1)
    page = resident.get(response.headers["Location"])
    assert f'data-print-job="{job_id}"' in page.get_data(as_text=True)
    assert _wait_state(resident, job_id)["state"] == "done"

    received = fake_printer.wait_for_jobs(1)[0].parse()
    assert received.names[0] == "ESC @" and received.cut
    decoded = [r.text for r in zxingcpp.read_barcodes(received.raster().convert("L"))]
    assert len(decoded) == 1
    code = codes.extract_code(decoded[0])
    [voucher] = vouchers(app)
    assert code == voucher.code

    # What the paper says: masked plate, never the full one.
    with app.app_context():
        session = app.extensions["db"].Session()
        job = session.get(PrintJob, job_id)
        printed = Receipt.from_dict(job.receipt).plain_text()
        session.close()
    assert job.layout == "parking.voucher"
    assert "粤B***45" in printed and "粤B12345" not in printed
    assert codes.display_code(code) in printed and "共享停车券" in printed

    # The attendant types what the QR said.
    shift_voucher_times(app, voucher.id, datetime.now(UTC) - timedelta(hours=1) - voucher.starts_at)
    attendant = app.test_client()
    from kiosk.testing import Auth

    Auth(app, attendant).login("staff")
    ok = attendant.post(
        "/staff/parking/redeem", data={"lot": str(ids["lot"]), "code": decoded[0], "csrf_token": csrf(attendant)}
    )
    assert ok.status_code == 200 and "核验通过" in text_of(ok)
    assert vouchers(app)[0].status == "used"


def test_public_url_makes_the_qr_open_the_attendant_page(make_app, database_url, fake_printer):
    app = make_app(
        database_url,
        DEVICES={"printer": fake_printer.printer_config(), "readers": {}},
        PUBLIC_URL="https://shuibei.example.cn/",
    )
    ids = add_lot(app)
    add_people(app)
    occ = next_occurrence(app, ids["windows"][0])
    resident = app.test_client()
    response = get_voucher(resident, "13800138001", "粤B12345", occ.window_id, occ.day)
    job_id = re.search(r"job=([0-9a-f]+)", response.headers["Location"]).group(1)
    assert _wait_state(resident, job_id)["state"] == "done"
    [text] = [r.text for r in zxingcpp.read_barcodes(fake_printer.wait_for_jobs(1)[0].parse().raster().convert("L"))]
    assert text.startswith("https://shuibei.example.cn/staff/parking/redeem?code=")
    assert codes.extract_code(text) == vouchers(app)[0].code


def test_printer_down_keeps_the_voucher_and_says_so(make_app, database_url):
    with FakeNetworkPrinter(state="offline") as printer:
        app = make_app(
            database_url, DEVICES={"printer": printer.printer_config(max_attempts=1, retry_delay=0.05), "readers": {}}
        )
        ids = add_lot(app)
        add_people(app)
        occ = next_occurrence(app, ids["windows"][0])
        resident = app.test_client()
        response = get_voucher(resident, "13800138001", "粤B12345", occ.window_id, occ.day)
        assert response.status_code == 302
        job_id = re.search(r"job=([0-9a-f]+)", response.headers["Location"]).group(1)
        assert _wait_state(resident, job_id)["state"] == "failed"
        page = resident.get(response.headers["Location"])
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert 'data-text-failed="停车券未能打印' in html, "the page can tell the resident"
        assert codes.display_code(vouchers(app)[0].code) in html, "the QR and code are still on screen"
        # Reprint is offered a limited number of times.
        vid = voucher_id_from(response)
        for _ in range(2):
            assert (
                resident.post(f"/k/parking/voucher/{vid}/print", data={"csrf_token": csrf_token(resident)}).status_code
                == 302
            )
        refused = resident.post(f"/k/parking/voucher/{vid}/print", data={"csrf_token": csrf_token(resident)})
        follow = resident.get(refused.headers["Location"])
        assert "不能再次打印" in text_of(follow)


def test_layout_in_each_language(app):
    context = {
        "lot": "水贝万山珠宝产业园停车场",
        "address": "罗湖区翠竹街道水贝社区",
        "plate": "粤B***45",
        "window": "今天 5月20日周一 19:00 – 次日 08:00",
        "valid_until": "5月21日周二 08:00",
        "price": "10 元",
        "code": "K7QM-3XPA",
        "qr": "PARKING:K7QM3XPA",
        "station": "水贝社区党群服务中心",
    }
    for lang, title in (("zh_Hans", "共享停车券"), ("zh_Hant", "共享停車券"), ("en", "Shared parking voucher")):
        with app.test_request_context("/"):
            from flask import session

            session["lang"] = lang
            receipt = build_voucher(context)
        text = receipt.plain_text()
        assert text.splitlines()[0] == title
        assert "[qr: PARKING:K7QM3XPA]" in text and "K7QM-3XPA" in text and "粤B***45" in text
    with app.test_request_context("/"), pytest.raises(KeyError, match="plate"):
        build_voucher({k: v for k, v in context.items() if k != "plate"})
