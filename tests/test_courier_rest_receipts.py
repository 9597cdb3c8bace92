"""Receipts: the rider's code and a charging-slot note, printed on a fake network printer for real."""

from __future__ import annotations

import time

import zxingcpp
from sqlalchemy import select
from test_courier_rest_support import OTHER_SERVICES, Kiosk, courier_config, db, switch_off

from kiosk.models import PrintJob
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter
from kiosk_plugins.courier_rest.models import Rider
from kiosk_plugins.courier_rest.receipts import build_pass, build_slot


def qr_texts(job) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(job.parse().raster().convert("L")) if r.format.name == "QRCode"]


def wait_done(kiosk, job):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        state = kiosk.get(job["poll"]).get_json()
        if state["state"] in ("done", "failed"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"print job {job} did not finish")


def test_rider_code_and_slot_note_print_masked_with_working_qr_codes(make_app, database_url):
    with FakeNetworkPrinter() as printer:
        app = make_app(
            database_url,
            DEVICES={
                "printer": {"type": "network", "host": "127.0.0.1", "port": printer.port, "profile": "80mm"},
                "readers": {},
            },
            PUBLIC_URL="https://nf.sungang.example.cn",
            **courier_config(),
        )
        switch_off(app, *OTHER_SERVICES)
        kiosk = Kiosk(app.test_client())
        kiosk.signup(name="张三明", phone="13812345678")
        job = kiosk.post("/k/courier_rest/print/pass").get_json()
        assert set(job) >= {"job_id", "state", "poll"}
        assert wait_done(kiosk, job)["state"] == "done"
        kiosk.take("phone")
        job = kiosk.post("/k/courier_rest/print/slot").get_json()
        assert wait_done(kiosk, job)["state"] == "done"
        rider_code, slot_note = printer.wait_for_jobs(2, timeout=10)
        with db(app) as s:
            token = s.scalar(select(Rider.pass_token))
        expected = f"https://nf.sungang.example.cn/m/courier_rest/r/{token}"
        assert qr_texts(rider_code) == [expected]
        assert qr_texts(slot_note) == [expected]
        assert rider_code.parse().cut and slot_note.parse().cut
        # The words are printed as a raster (CJK glyphs); read them from the document that was rendered.
        with db(app) as s:
            documents = {
                row.layout: Receipt.from_dict(row.receipt).plain_text()
                for row in s.scalars(select(PrintJob).order_by(PrintJob.created_at))
            }
        assert set(documents) == {"courier_rest.pass", "courier_rest.slot"}
        for text in documents.values():
            assert "138****5678" in text and "13812345678" not in text and "张三明" not in text
        assert "张*明" in documents["courier_rest.pass"]
        assert "暖蜂驿站" in documents["courier_rest.slot"] and "手机充电" in documents["courier_rest.slot"]
        # A layout masks the number itself, even when a caller hands it the full one.
        with app.test_request_context("/"):
            note = build_slot(
                {
                    "station": "笋岗暖蜂驿站",
                    "kind_label": "电池充电",
                    "slot": 3,
                    "since": "10:00",
                    "until": "12:00",
                    "phone": "13812345678",
                    "status_url": expected,
                }
            ).plain_text()
            code = build_pass(
                {"station": "笋岗暖蜂驿站", "name": "张*明", "phone": "13812345678", "pass_url": expected}
            ).plain_text()
        for text in (note, code):
            assert "138****5678" in text and "13812345678" not in text and f"[qr: {expected}]" in text


def test_print_without_a_slot_or_rider_says_why(make_app, database_url):
    app = make_app(database_url, **courier_config())
    kiosk = Kiosk(app.test_client())
    kiosk.get("/k/courier_rest/")
    response = kiosk.post("/k/courier_rest/print/pass")
    assert response.status_code == 400 and "请先签到" in response.get_json()["error"]
    kiosk.signup()
    response = kiosk.post("/k/courier_rest/print/slot")
    assert response.status_code == 400 and "您现在没有充电位" in response.get_json()["error"]
