"""Diagnostics that tell the truth (issue 18, points 7 and 9).

``kiosk doctor`` passes a correct station (readers the server will open, a
device-file printer) and fails a broken one; ``/healthz`` and every staff page
(and the district dashboard) show a printer that cannot print; card UIDs that
change at every tap (phones) or are blank never become a rider's card.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_courier_rest_support import Kiosk, courier_app, courier_config, db, kiosk, notice  # noqa: F401
from test_sync_transport import hub, live  # noqa: F401  (fixtures)

from kiosk.cli import cli
from kiosk.db import utcnow
from kiosk.models import DeviceReport
from kiosk.testing import TEST_PASSWORD, create_account, csrf_of
from kiosk_hardware.readers import ReaderEvent, TestReader
from kiosk_hardware.readers.events import utc_now
from kiosk_hardware.readers.uids import BLANK, RANDOM, unusable_uid


def _line(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if re.match(r"\[(ok |!  |FIX)\] " + re.escape(name) + ":", line))


def _doctor(app):
    return app.test_cli_runner().invoke(cli, ["doctor"])


# -- kiosk doctor ------------------------------------------------------------------------------------------


@pytest.fixture
def station_devices(tmp_path):
    """A serial card reader on a pseudo-terminal, a wedge scanner on a FIFO, a file printer: all present."""
    leader, follower = os.openpty()
    fifo = tmp_path / "scanner"
    os.mkfifo(fifo)
    spool = tmp_path / "lp0"
    spool.touch()
    yield {
        "printer": {"type": "file", "path": str(spool)},
        "readers": {
            "card": {"type": "serial", "device": os.ttyname(follower), "baudrate": 9600},
            "scanner": {"type": "wedge", "device": str(fifo), "kind": "code"},
        },
    }
    os.close(leader)
    os.close(follower)


def test_doctor_passes_a_correct_station_whose_server_opens_the_readers(make_app, database_url, station_devices):
    app = make_app(database_url, PUBLIC_URL="https://kiosk.shuibei.example", DEVICES=station_devices)
    result = _doctor(app)
    output = result.output
    printer = _line(output, "printer")
    assert printer.startswith("[ok ]") and "present and writable" in printer, output
    for name in ("card", "scanner"):
        reader = _line(output, f"reader {name}")
        assert reader.startswith("[ok ]") and "not started (the server starts it)" in reader, output
    assert "opens at 9600 baud" in _line(output, "reader card")
    assert not [line for line in output.splitlines() if line.startswith("[FIX]")], output
    assert result.exit_code == 0, output


def test_doctor_says_what_is_missing_on_a_broken_station(make_app, database_url, tmp_path):
    devices = {
        "printer": {"type": "file", "path": str(tmp_path / "usb" / "lp0")},
        "readers": {
            "card": {"type": "serial", "device": str(tmp_path / "ttyACM9")},
            "scanner": {"type": "wedge", "device": str(tmp_path / "event-kbd"), "kind": "code"},
        },
    }
    app = make_app(database_url, DEVICES=devices)
    result = _doctor(app)
    output = result.output
    printer = _line(output, "printer")
    assert printer.startswith("[FIX]") and "not present" in printer and "/dev/usb" in printer
    card = _line(output, "reader card")
    assert card.startswith("[FIX]") and "not present" in card and "/dev/serial/by-id" in card
    scanner = _line(output, "reader scanner")
    assert scanner.startswith("[FIX]") and "/dev/input/by-id" in scanner
    assert result.exit_code != 0


def test_doctor_trusts_the_servers_fresh_report_and_warns_about_phone_uids(make_app, database_url, station_devices):
    app = make_app(database_url, PUBLIC_URL="https://kiosk.shuibei.example", DEVICES=station_devices)
    # The server holds the port exclusively, so the doctor could not open it: its report is what counts.
    reader = TestReader("card")
    reader.start(lambda event: None)
    try:
        assert reader.status().ok or _wait(lambda: reader.status().ok)
        reader.inject("card", "08A1B2C3")
        detail = reader.status().detail
    finally:
        reader.stop()
    with app.extensions["db"].Session() as session:
        session.add(
            DeviceReport(
                station_id=app.extensions["kiosk_station_id"],
                device="card",
                kind="serial",
                state="ok",
                detail=detail,
                updated_at=utcnow(),
            )
        )
        # Only a write tells a device-file printer's faults: what the server saw of it counts.
        session.add(
            DeviceReport(
                station_id=app.extensions["kiosk_station_id"],
                device="printer",
                kind="printer",
                state="error",
                detail="printer offline or in error ([Errno 5] Input/output error)",
                updated_at=utcnow(),
            )
        )
        session.commit()
    output = _doctor(app).output
    printer = _line(output, "printer")
    assert printer.startswith("[FIX]") and "Input/output error" in printer and "as the server saw it" in printer
    assert _line(output, "reader card").startswith("[ok ]") and "as the server reported it" in output
    cards = _line(output, "reader card cards")
    assert cards.startswith("[!  ]") and "random" in cards and "rider code or phone" in cards


def _wait(check, seconds: float = 2.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


# -- /healthz, the staff banner, the district dashboard ----------------------------------------------------


@pytest.fixture
def broken_printer_app(make_app, database_url, tmp_path):
    """A station whose file printer is gone (unplugged): the print worker has just found out."""
    app = make_app(database_url, DEVICES={"printer": {"type": "file", "path": str(tmp_path / "gone" / "lp0")}})
    app.extensions["kiosk_printing"].queues["default"].check_status()
    return app


def test_healthz_fails_with_503_while_a_printer_cannot_print(broken_printer_app):
    response = broken_printer_app.test_client().get("/healthz")
    body = response.get_json()
    assert response.status_code == 503
    assert body["ok"] is False and body["status"] == "degraded" and body["printer_faults"] == ["printer"]
    assert body["database"]["ok"] is True  # the pages still work: only printing is down


def test_healthz_of_another_worker_sees_the_printer_fault_the_printing_process_reported(make_app, database_url):
    """A worker that has not used the printer ("unknown") goes by the fresh report of the one that drives it."""
    app = make_app(database_url)
    client = app.test_client()
    healthy = client.get("/healthz")
    assert healthy.status_code == 200 and healthy.get_json()["status"] == "ok"
    assert healthy.get_json()["printer_faults"] == []
    with app.extensions["db"].Session() as session:
        report = DeviceReport(
            station_id=app.extensions["kiosk_station_id"],
            device="printer",
            kind="printer",
            state="error",
            detail="printer offline, paper out",
            updated_at=utcnow(),
        )
        session.add(report)
        session.commit()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.get_json()["printer_faults"] == ["printer"]


def test_every_staff_page_shows_the_printer_fault_in_the_staffs_language(broken_printer_app):
    app = broken_printer_app
    client = app.test_client()
    assert "data-printer-alert" not in client.get("/").get_data(as_text=True)  # never to the public
    create_account(app, "banner-staff", "staff")
    client.get("/staff/login")
    client.post(
        "/staff/login", data={"username": "banner-staff", "password": TEST_PASSWORD, "csrf_token": csrf_of(client)}
    )
    pages = [
        "/staff/",
        "/staff/petitions/",
        "/staff/parking/redeem",
        "/staff/parking/households",
        "/staff/legal/",
        "/staff/legal/schedule",
        "/staff/courier_rest/",
        "/staff/courier_rest/services",
        "/staff/courier_rest/stats",
    ]
    for path in pages:
        response = client.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert "data-printer-alert" in html, path
        banner = html.split("data-printer-alert", 1)[1].split("</div>", 1)[0]
        assert "打印机故障" in banner and "本站打印机" in banner and "无法连接" in banner, banner
        assert 'href="/staff/#failed-jobs"' in banner and "未能打印的小票" in banner
    client.post("/lang", data={"lang": "en", "next": "/staff/", "csrf_token": csrf_of(client)})
    banner = client.get("/staff/").get_data(as_text=True).split("data-printer-alert", 1)[1].split("</div>", 1)[0]
    assert "Printer fault" in banner and "cannot be reached" in banner and "Receipts that did not print" in banner


def test_a_printer_fault_is_asked_again_within_seconds_so_the_banner_goes_once_it_is_fixed(
    make_app, database_url, monkeypatch
):
    """Paper put back in: the fault leaves /healthz and the staff banner at the next fault poll, not after 30 s."""
    from kiosk import printing
    from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

    monkeypatch.setattr(printing, "FAULT_POLL_SECONDS", 0.3)
    assert printing.STATUS_POLL_SECONDS >= 30  # the ready printer's pace, which the test must not wait for
    with FakeNetworkPrinter("paper_out") as printer:
        app = make_app(database_url, DEVICES={"printer": printer.printer_config(profile="80mm"), "readers": {}})
        client = app.test_client()
        app.extensions["kiosk_printing"].warm()  # the poller's first check need not wait for a first page
        app.extensions["kiosk_printing"].start()
        try:
            deadline = time.monotonic() + 10
            while client.get("/healthz").get_json()["printer_faults"] != ["printer"]:
                assert time.monotonic() < deadline, "the poller never saw the paper out"
                time.sleep(0.05)
            printer.state = "ok"
            deadline = time.monotonic() + 5
            while (response := client.get("/healthz")).status_code != 200:
                assert time.monotonic() < deadline, response.get_json()
                time.sleep(0.05)
            assert response.get_json()["printer_faults"] == []
        finally:
            app.extensions["kiosk_printing"].shutdown()


def test_plugin_staff_pages_extend_the_staff_base_page():
    """The banner is in staff/base.html: every plugin's full staff page must extend it (panels are fragments)."""
    root = Path(__file__).resolve().parents[1] / "plugins"
    pages = [
        p for p in root.glob("*/templates/*/staff_*.html") if "<html" in p.read_text() or "{% block" in p.read_text()
    ]
    assert pages
    for page in pages:
        assert page.read_text().lstrip().startswith('{% extends "staff/base.html" %}'), page


def test_district_dashboard_puts_stations_that_cannot_print_on_top(app, client, login):
    login("district")
    assert "data-printer-alert" not in client.get("/admin/district/").get_data(as_text=True)  # all printing
    with app.extensions["db"].Session() as session:
        session.add(
            DeviceReport(
                station_id=app.extensions["kiosk_station_id"],
                device="hall-2/printer",
                kind="printer",
                state="error",
                detail="unreachable: connection refused",
                updated_at=utcnow(),
            )
        )
        session.commit()
    html = client.get("/admin/district/").get_data(as_text=True)
    banner = html.split("data-printer-alert", 1)[1].split("</div>", 1)[0]
    assert "打印机故障" in banner and 'href="#station-shuibei"' in banner and "hall-2/printer" in banner
    assert 'id="station-shuibei"' in html
    summary = client.get("/admin/district/summary.json").get_json()
    assert [d["device"] for d in summary["stations"][0]["printer_faults"]] == ["hall-2/printer"]


# -- card UIDs that identify no one ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uid", "kind"),
    [
        ("08A1B2C3", RANDOM),  # ISO 14443-3 single-size random ID (a phone's HCE)
        ("08:a1:b2:c3", RANDOM),
        ("00000000", BLANK),
        ("00:00:00:00:00:00:00", BLANK),
        ("FFFFFFFF", BLANK),
        ("04A1B2C3D4E5F6", None),  # a fixed 7-byte NXP UID
        ("0812345678AB", None),  # 08 only means random in a 4-byte UID
        ("1A2B3C4D", None),
        ("0012345678", None),  # a serial reader's decimal card number
    ],
)
def test_unusable_uids(uid, kind):
    assert unusable_uid(uid) == kind


def test_a_random_uid_is_logged_and_noted_in_the_readers_status(caplog):
    reader = TestReader("card")
    seen = []
    reader.start(seen.append)
    try:
        assert _wait(lambda: reader.status().ok)
        with caplog.at_level(logging.WARNING, logger="kiosk_hardware.readers.base"):
            reader.inject("card", "08112233")
        reader.inject("card", "04A1B2C3D4E5F6")
    finally:
        reader.stop()
    assert [e.value for e in seen] == ["08112233", "04A1B2C3D4E5F6"]  # delivered: the plugin says what to do
    assert "random UID" in caplog.text and "cannot identify" in caplog.text
    assert "1 unusable card UIDs read, the last random" in reader.status().detail


def _read(app, screen, value):
    hub = app.extensions["reader_hub"]
    q = hub.subscribe(screen)
    try:
        delivered = hub.publish(ReaderEvent(source="front", kind="card", value=value, at=utc_now()))
        return q.get_nowait() if delivered else None
    finally:
        hub.unsubscribe(q)


@pytest.mark.parametrize(
    ("screen", "uid"), [("courier_rest.checkin", "08:3f:11:a0"), ("courier_rest.link_card", "00000000")]
)
def test_a_phone_or_blank_card_never_becomes_a_riders_card(kiosk, courier_app, uid, screen):  # noqa: F811
    from kiosk_plugins.courier_rest.models import Rider

    kiosk.get("/k/courier_rest/")
    action = _read(courier_app, screen, uid)
    assert action == {"redirect": "/k/courier_rest/?error=card_uid"}
    page = kiosk.get(action["redirect"])
    assert "这张卡无法识别为固定卡号" in notice(page) and "骑手码或输入手机号" in notice(page)
    with db(courier_app) as s:
        assert s.scalar(select(func.count(Rider.id))) == 0
    # The same message in the rider's other languages.
    for lang, words in (("zh_Hant", "無法識別為固定卡號"), ("en", "cannot be recognised by a fixed card number")):
        kiosk.post("/lang", lang=lang, next="/k/courier_rest/")
        assert words in notice(kiosk.get(action["redirect"])), lang


def test_a_stations_printer_fault_reaches_the_hubs_dashboard(make_app, kiosk_database_template, tmp_path, hub, live):  # noqa: F811
    """The station reports its printer upward (sync kind kiosk.device_report); the hub's dashboard leads with it."""
    import shutil

    from test_sync_transport import enrol_token, join

    from kiosk import device_reports
    from kiosk.sync import pusher

    path = tmp_path / "station.db"
    shutil.copy(kiosk_database_template, path)
    station = make_app(
        "sqlite:///" + str(path), DEVICES={"printer": {"type": "file", "path": str(tmp_path / "gone" / "lp0")}}
    )
    station.extensions["kiosk_printing"].queues["default"].check_status()
    assert join(station, live, enrol_token(hub)).exit_code == 0
    device_reports.report(station)
    pusher.sync_once(station)

    client = hub.test_client()
    create_account(hub, "district-watch", "district")
    client.get("/staff/login")
    client.post(
        "/staff/login", data={"username": "district-watch", "password": TEST_PASSWORD, "csrf_token": csrf_of(client)}
    )
    stations = {s["code"]: s for s in client.get("/admin/district/summary.json").get_json()["stations"]}
    assert [d["device"] for d in stations["shuibei"]["printer_faults"]] == ["printer"]
    assert stations["district"]["printer_faults"] == []  # the hub's own station drives no printer here
    html = client.get("/admin/district/").get_data(as_text=True)
    banner = html.split("data-printer-alert", 1)[1].split("</div>", 1)[0]
    assert 'href="#station-shuibei"' in banner and "unreachable" in banner
    assert html.index('id="station-shuibei"') < html.index('id="station-district"')  # printing down comes first
