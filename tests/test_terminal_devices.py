"""Devices per terminal: each terminal's own printer and readers, from the station file's [terminals.*] tables.

Two kiosk terminals at one station, each with its own fake TCP printer: a
ticket taken at terminal 1 prints only at printer 1; a card tapped at
terminal 2's reader reaches only terminal 2's page; staff reprint a failed
receipt on the printer they choose.
"""

from __future__ import annotations

import re
import time
import types

import pytest
import zxingcpp
from sqlalchemy import select
from test_legal_support import install_clock, take_ticket

from kiosk import hookimpl
from kiosk.config import ConfigError
from kiosk.models import PrintJob
from kiosk.testing import Auth, EventStream, LiveServer, csrf_of, enrol_terminal, terminal_credential
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter


@pytest.fixture
def printers():
    with FakeNetworkPrinter() as one, FakeNetworkPrinter() as two:
        yield one, two


def _two_terminal_app(make_app, database_url, one, two, **extra):
    app = make_app(
        database_url,
        PUBLIC_URL="https://kiosk.shuibei.example",
        TERMINALS={
            "hall-1": {"kind": "kiosk", "printer": one.printer_config(retry_delay=0.05)},
            "hall-2": {"kind": "kiosk", "label": "二号机", "printer": two.printer_config(retry_delay=0.05)},
        },
        **extra,
    )
    install_clock(app)
    return app


def _row(app, job_id: str) -> PrintJob:
    with app.extensions["db"].Session() as session:
        row = session.get(PrintJob, job_id)
        assert row is not None
        session.expunge(row)
        return row


def _wait_done(app, job_id: str, timeout: float = 10.0) -> PrintJob:
    deadline = time.monotonic() + timeout
    while True:
        row = _row(app, job_id)
        if row.state in ("done", "failed") or time.monotonic() > deadline:
            return row
        time.sleep(0.05)


def _qr_texts(job) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(job.parse().raster().convert("L"))]


def test_a_ticket_prints_only_at_the_printer_of_the_terminal_where_it_was_taken(make_app, database_url, printers):
    one, two = printers
    app = _two_terminal_app(make_app, database_url, one, two)
    hall1, hall2, phone = app.test_client(), app.test_client(), app.test_client()
    enrol_terminal(hall1, app, "hall-1")
    enrol_terminal(hall2, app, "hall-2")

    first = take_ticket(hall1, "mediation")
    assert _wait_done(app, first["job"]).state == "done"
    assert len(one.wait_for_jobs(1)) == 1
    assert two.jobs == []  # nothing at the other kiosk

    second = take_ticket(hall2, "mediation")
    assert _wait_done(app, second["job"]).state == "done"
    assert len(two.wait_for_jobs(1)) == 1
    assert len(one.jobs) == 1

    # Each printer printed its own resident's ticket: the QR code opens that ticket's page.
    assert any(first["token"] in text for text in _qr_texts(one.completed_jobs[0]))
    assert any(second["token"] in text for text in _qr_texts(two.completed_jobs[0]))
    assert (_row(app, first["job"]).printer, _row(app, first["job"]).terminal) == ("hall-1", "hall-1")
    assert (_row(app, second["job"]).printer, _row(app, second["job"]).terminal) == ("hall-2", "hall-2")

    # Not a terminal (a phone, an unenrolled browser): the station's default printer, never a kiosk's.
    third = take_ticket(phone, "mediation")
    row = _wait_done(app, third["job"])
    assert (row.state, row.printer, row.terminal) == ("done", "default", None)
    assert len(one.jobs) == 1 and len(two.jobs) == 1


def test_a_terminal_without_a_printer_of_its_own_prints_at_the_station_printer(make_app, database_url, printers):
    one, two = printers
    app = make_app(
        database_url,
        PUBLIC_URL="https://kiosk.shuibei.example",
        DEVICES={"printer": one.printer_config(), "readers": {}},
        TERMINALS={"hall-2": {"printer": two.printer_config()}, "desk-1": {"kind": "counter"}},
    )
    install_clock(app)
    desk = app.test_client()
    enrol_terminal(desk, app, "desk-1", kind="counter")
    ticket = take_ticket(desk, "mediation")
    row = _wait_done(app, ticket["job"])
    assert (row.state, row.printer, row.terminal) == ("done", "default", "desk-1")
    assert len(one.wait_for_jobs(1)) == 1 and two.jobs == []


def test_staff_reprint_a_failed_receipt_on_the_printer_they_choose(make_app, database_url, printers):
    one, two = printers
    one.state = "paper_out"
    app = _two_terminal_app(make_app, database_url, one, two)
    hall1 = app.test_client()
    enrol_terminal(hall1, app, "hall-1")
    ticket = take_ticket(hall1, "mediation")
    assert _wait_done(app, ticket["job"]).state == "failed"

    staff = app.test_client()
    Auth(app, staff).login("staff")
    page = staff.get("/staff/").get_data(as_text=True)
    row_html = re.search(rf'<tr data-job="{ticket["job"]}">.*?</tr>', page, re.S).group(0)
    assert "hall-1" in row_html
    assert '<option value="hall-1" selected>' in row_html and 'value="hall-2"' in row_html and "二号机" in row_html

    # A printer that is not the station's: refused with a message, the job stays failed.
    answer = staff.post(
        f"/staff/print-jobs/{ticket['job']}/reprint",
        data={"csrf_token": csrf_of(staff), "printer": "hall-9"},
        follow_redirects=True,
    )
    assert answer.status_code == 200
    assert _row(app, ticket["job"]).state == "failed" and two.jobs == []

    staff.post(f"/staff/print-jobs/{ticket['job']}/reprint", data={"csrf_token": csrf_of(staff), "printer": "hall-2"})
    row = _wait_done(app, ticket["job"])
    assert (row.state, row.printer, row.terminal) == ("done", "hall-2", "hall-1")
    assert len(two.wait_for_jobs(1)) == 1
    assert any(ticket["token"] in text for text in _qr_texts(two.completed_jobs[0]))
    assert one.completed_jobs == []


def _tapper():
    mod = types.ModuleType("kiosk_tapper_terminals_test")

    def handle_reader_event(event, screen, station):
        if screen == "tapper.checkin":
            return {"fill": {"card": event.value}}
        return None

    mod.handle_reader_event = hookimpl(handle_reader_event)
    return mod


def test_a_card_at_terminal_2s_reader_reaches_only_terminal_2s_page(make_app, database_url):
    app = make_app(
        database_url,
        EXTRA_PLUGINS={"tapper": _tapper()},
        START_DEVICES=True,
        TERMINALS={
            "hall-1": {"readers": {"card": {"type": "test"}}},
            "hall-2": {"readers": {"card": {"type": "test"}}},
        },
    )
    devices = app.extensions["kiosk_devices"]
    server = LiveServer(app)
    try:
        one = terminal_credential(app, "hall-1")
        two = terminal_credential(app, "hall-2")
        path = "/events/reader?screen=tapper.checkin"
        with (
            EventStream(server.url, path, headers={"Cookie": f"kiosk_terminal={one}"}) as page1,
            EventStream(server.url, path, headers={"Cookie": f"kiosk_terminal={two}"}) as page2,
        ):
            reader = devices.reader("hall-2", "card")
            deadline = time.monotonic() + 5
            while not reader.running and time.monotonic() < deadline:
                time.sleep(0.02)
            assert reader.inject("card", "04A1B2C3D4") is not None
            got = page2.collect(1, timeout=5)
            missed = page1.collect(1, timeout=1)
        health = app.test_client().get("/healthz").get_json()
    finally:
        server.stop()
        devices.stop()
    assert [name for name, _ in got] == ["reader"] and "card" in got[0][1]["fill"]
    assert missed == []
    assert health["devices"]["hall-1/card"]["state"] == "ok"
    assert health["devices"]["hall-2/card"]["state"] == "ok"


def test_a_terminal_in_the_file_but_not_enrolled_still_starts_its_devices(make_app, database_url):
    app = make_app(database_url, START_DEVICES=True, TERMINALS={"hall-9": {"readers": {"card": {"type": "test"}}}})
    devices = app.extensions["kiosk_devices"]
    try:
        reader = devices.reader("hall-9", "card")
        deadline = time.monotonic() + 5
        # Running first, open a moment later (its thread opens the device): a read before that is lost.
        while not (reader.running and reader.status().state == "ok") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reader.running and reader.status().state == "ok"
        # Its reads are refused (no such enrolled terminal yet), not delivered to another screen.
        assert reader.inject("card", "04A1B2C3D4") is not None
    finally:
        devices.stop()


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"Hall 1": {}}, "[terminals.Hall 1]: a terminal name is 1 to 32 of a-z"),
        ({"hall-1": {"printr": {"type": "preview"}}}, "[terminals.hall-1] unknown keys ['printr']"),
        ({"hall-1": {"kind": "tablet"}}, "[terminals.hall-1] kind must be one of kiosk, display, counter"),
        ({"hall-1": {"agent": "yes"}}, "[terminals.hall-1] agent must be true or false"),
        ({"hall-1": {"printer": {"type": "network"}}}, "[terminals.hall-1.printer] a network printer needs host"),
        (
            {"hall-1": {"printer": {"type": "network", "host": "10.0.0.5", "colour": "red"}}},
            "[terminals.hall-1.printer] unknown keys ['colour']",
        ),
        (
            {"hall-1": {"agent": True, "printer": {"type": "usb", "vendor": "0x0416"}}},
            "[terminals.hall-1.printer] a usb printer needs product",
        ),
        ({"hall-1": {"readers": {"card": {"type": "nfc"}}}}, "[terminals.hall-1.readers.card] type must be one of"),
        (
            {"hall-1": {"readers": {"card": {"type": "serial", "device": "/dev/ttyACM0", "speed": 9}}}},
            "[terminals.hall-1.readers.card] unknown keys ['speed']",
        ),
        ({"hall-1": "kiosk"}, "[terminals.hall-1] must be a table"),
    ],
)
def test_bad_terminal_tables_are_refused_at_start_naming_the_table(make_app, database_url, tables, message):
    with pytest.raises(ConfigError) as refused:
        make_app(database_url, TERMINALS=tables)
    assert message in str(refused.value)


def test_the_station_file_terminal_tables_load_from_toml(make_app, database_url, tmp_path, printers):
    one, _two = printers
    station_file = tmp_path / "station.toml"
    station_file.write_text(
        f"""
[terminals.hall-1]
kind = "kiosk"

[terminals.hall-1.printer]
type = "network"
host = "127.0.0.1"
port = {one.port}
retry_delay = 0.05

[terminals.hall-2]
agent = true

[terminals.hall-2.printer]
type = "usb"
vendor = "0x0416"
product = "0x5011"
""",
        encoding="utf-8",
    )
    app = make_app(database_url, STATION_FILE=str(station_file))
    printing = app.extensions["kiosk_printing"]
    assert set(printing.queues) == {"default", "hall-1"}
    assert set(printing.agent_printers) == {"hall-2"}  # its USB printer is opened by its agent, not here
    with app.extensions["db"].Session() as session:
        assert session.scalars(select(PrintJob)).all() == []


def test_the_station_examples_terminal_tables_load_once_switched_on():
    """deploy/station.toml.example shows the tables commented out: switched on, they are what the node accepts."""
    import tomllib
    from pathlib import Path

    from kiosk.device_config import terminal_tables

    example = (Path(__file__).resolve().parent.parent / "deploy" / "station.toml.example").read_text("utf-8")
    part = example.split("# --- terminals:")[1].split("# --- legal")[0]
    switched_on = "\n".join(
        line[1:] for line in part.splitlines() if line.startswith("#") and not line.startswith("# ")
    )
    tables = terminal_tables({"TERMINALS": tomllib.loads(switched_on)["terminals"]})
    assert set(tables) == {"hall-1", "hall-2"}
    assert tables["hall-1"].printer["type"] == "network" and not tables["hall-1"].agent
    assert tables["hall-2"].agent and tables["hall-2"].printer["type"] == "usb" and "card" in tables["hall-2"].readers


def test_jobs_of_a_printer_gone_from_the_station_file_are_left_failed_for_staff(make_app, database_url, printers):
    from kiosk import printing
    from kiosk.printing import DbJobStore
    from kiosk_hardware.job_store import PrintJob as HwJob
    from kiosk_hardware.receipt import Receipt

    one, _two = printers
    app = make_app(database_url, DEVICES={"printer": one.printer_config(), "readers": {}})
    store = DbJobStore(app.extensions["db"], app.extensions["kiosk_station_id"])
    gone = HwJob(receipt=Receipt().title("旧机器的小票"), printer="hall-7", label="test.slip", terminal="hall-7")
    store.add(gone)
    app.extensions["kiosk_printing"].start()
    row = _row(app, gone.id)
    assert row.state == "failed" and "hall-7 is no longer in the station file" in row.error

    with app.test_request_context("/"):
        assert printing.reprint(gone.id, app.extensions["kiosk_station_id"], "default")
    assert _wait_done(app, gone.id).state == "done"
    assert len(one.wait_for_jobs(1)) == 1
