"""Printing that never lies (issue 18) through the station: two processes on one database, the
resident's page and the staff list, expiry, and ``kiosk printer test``. SQLite and PostgreSQL.

Two apps on one database stand for two server processes (gunicorn workers,
or two servers): each has its own engine, print queues and owner name, and
they meet only in the database, as processes do.
"""

from __future__ import annotations

import time
import types
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from kiosk import hookimpl
from kiosk.testing import Auth, close_app, csrf_of
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

WAIT = 10.0


def _ticket_plugin():
    mod = types.ModuleType("kiosk_truth_test")

    def build(context):
        return Receipt().title("水贝社区党群服务中心", size=1).text("法律咨询", size=2).text(context["n"], size=4)

    mod.register_receipt_layouts = hookimpl(lambda register: register("truth.ticket", build))
    return mod


def _app(make_app, url, fake, **queue):
    return make_app(
        url,
        EXTRA_PLUGINS={"truth": _ticket_plugin()},
        DEVICES={"printer": fake.printer_config(**{"retry_delay": 0.01, **queue}), "readers": {}},
    )


def _print(app, number, **kw):
    from kiosk import printing

    with app.test_request_context("/"):
        return printing.print_receipt("truth.ticket", {"n": number}, **kw)["job_id"]


def _state(app, job_id, want=("done", "sent", "failed")):
    client = app.test_client()
    deadline = time.monotonic() + WAIT
    while True:
        body = client.get(f"/print-jobs/{job_id}").get_json()
        if body["state"] in want or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


def _numbers(fake):
    return [job.parse().text.split()[-1] for job in fake.completed_jobs]


@pytest.fixture
def fake():
    with FakeNetworkPrinter() as printer:
        yield printer


def test_two_processes_on_one_database_print_every_ticket_once(make_app, database_url, fake):
    from kiosk.models import PrinterLease

    one, two = _app(make_app, database_url, fake), _app(make_app, database_url, fake)
    jobs = [_print(one if i % 2 else two, f"A{i:03d}") for i in range(6)]
    assert [_state(one, job)["state"] for job in jobs] == ["done"] * 6
    # Both started their queues; exactly one holds the printer and sent everything.
    drivers = [app.extensions["kiosk_printing"] for app in (one, two)]
    assert sorted(p.queues["default"].holds() for p in drivers) == [False, True]
    with one.app_context():
        from kiosk.db import get_session

        (lease,) = get_session().scalars(select(PrinterLease)).all()
    assert lease.owner in {p.owner for p in drivers} and lease.printer == "default"
    assert sorted(_numbers(fake)) == [f"A{i:03d}" for i in range(6)]

    # The driver stops (a worker recycled): the other takes the printer over and prints what comes.
    holder = one if drivers[0].queues["default"].holds() else two
    other = two if holder is one else one
    close_app(holder)
    late = _print(other, "A100")
    assert _state(other, late)["state"] == "done"
    assert sorted(_numbers(fake)) == [f"A{i:03d}" for i in range(6)] + ["A100"]


def test_a_ticket_a_dead_process_was_printing_is_left_for_staff_not_printed_again(make_app, database_url, fake):
    from kiosk.models import PrinterLease, PrintJob

    first = _app(make_app, database_url, fake, poll_status=False)
    job = _print(first, "B001", expire_after=0)
    assert _state(first, job)["state"] == "done"
    close_app(first)
    # As a process killed mid-job leaves it: printing, claimed by it, its lease still running.
    second = _app(make_app, database_url, fake)
    station_id = second.extensions["kiosk_station_id"]
    with second.app_context():
        from kiosk.db import session_for, utcnow

        with session_for(second, write=True) as session:
            session.execute(update(PrintJob).where(PrintJob.id == job).values(state="printing", lease_owner="dead"))
            lapses = utcnow() + timedelta(seconds=0.2)
            session.merge(PrinterLease(station_id=station_id, printer="default", owner="dead", lease_until=lapses))
            session.commit()
    second.config["PRINT_LEASE_SECONDS"] = 0.5
    printing = second.extensions["kiosk_printing"]
    printing.queues["default"].lease_seconds = 0.3
    printing.start()
    body = _state(second, job, ("failed",))
    assert body["state"] == "failed" and "may have printed" in body["error"]
    assert _numbers(fake) == ["B001"]  # once, from before the crash

    client = second.test_client()
    Auth(second, client).login("staff")
    console = client.get("/staff/").get_data(as_text=True)
    assert "法律咨询 B001" in console and "小票可能已打出" in console
    # The resident has it: staff say so and it leaves the list, printed by nobody again.
    client.post(f"/staff/print-jobs/{job}/printed", data={"csrf_token": csrf_of(client)})
    assert f'data-job="{job}"' not in client.get("/staff/").get_data(as_text=True)
    assert _state(second, job)["state"] == "done" and _numbers(fake) == ["B001"]


def test_a_silent_printer_makes_the_ticket_sent_for_the_resident_and_listed_for_staff(make_app, database_url, csrf):
    with FakeNetworkPrinter("silent") as fake:
        app = _app(make_app, database_url, fake, status_timeout=0.05)
        job = _print(app, "C007")
        body = _state(app, job)
        assert (body["state"], body["printed"]) == ("sent", False)
        assert fake.wait_for_jobs(1)[0].complete  # it went out; nothing says it came out

        client = app.test_client()
        Auth(app, client).login("staff")
        console = client.get("/staff/").get_data(as_text=True)
        row = console[console.index(f'data-job="{job}"') :].split("</tr>")[0]
        assert 'data-state="sent"' in row and "法律咨询 C007" in row and ">truth.ticket<" not in row
        assert "打印机没有确认收到" in row
        from kiosk import clock

        with app.app_context():
            from kiosk.db import get_session
            from kiosk.models import PrintJob

            created = get_session().get(PrintJob, job).created_at
        assert clock.local(None, created).strftime("%H:%M:%S") in row  # the station's wall clock, not UTC
        assert "已打出" in row  # staff can say it came out after all

        fake.state = "ok"
        client.post(f"/staff/print-jobs/{job}/reprint", data={"csrf_token": csrf(client)})
        deadline = time.monotonic() + WAIT
        while len(fake.completed_jobs) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _numbers(fake) == ["C007", "C007"]
        assert f'data-job="{job}"' not in client.get("/staff/").get_data(as_text=True)


def test_receipts_expire_per_layout(make_app, database_url, fake):
    app = _app(make_app, database_url, fake)
    app.config["PRINT_EXPIRE_AFTER"] = {"truth.ticket": 120, "*": 900}
    printing = app.extensions["kiosk_printing"]
    assert (printing.expire_after("truth.ticket"), printing.expire_after("other.slip")) == (120, 900)
    app.config["PRINT_EXPIRE_AFTER"] = 0
    assert printing.expire_after("truth.ticket") is None
    app.config.pop("PRINT_EXPIRE_AFTER")
    assert printing.expire_after("truth.ticket") == 300 and printing.expire_after("kiosk.test_page") == 60

    app.config["PRINT_EXPIRE_AFTER"] = {"truth.ticket": 120}
    job = _print(app, "D001")
    assert _state(app, job)["state"] == "done"
    with app.app_context():
        from kiosk.db import get_session
        from kiosk.models import PrintJob

        row = get_session().get(PrintJob, job)
        assert (row.expires_at - row.created_at).total_seconds() == pytest.approx(120, abs=1)


def test_printer_test_that_did_not_print_in_time_does_not_print_at_the_next_start(make_app, database_url):
    from kiosk.cli import cli

    with FakeNetworkPrinter("paper_out") as fake:
        app = _app(make_app, database_url, fake, retry_delay=30)
        result = app.test_cli_runner().invoke(cli, ["printer", "test", "--wait", "0.5"])
        assert result.exit_code != 0 and "withdrawn" in result.output
        close_app(app)
        fake.state = "ok"  # the paper is back; the server starts again
        again = _app(make_app, database_url, fake)
        again.extensions["kiosk_printing"].start()
        # The next ticket prints, the forgotten test page does not.
        assert _state(again, _print(again, "E001"))["state"] == "done"
        time.sleep(0.3)
    assert _numbers(fake) == ["E001"]


def test_the_staff_label_is_the_number_a_resident_holds():
    from kiosk.printing import receipt_summary
    from kiosk_plugins.legal import receipts

    labels = dict.fromkeys(("ahead", "wait", "time", "phone", "scan", "keep", "title", "code", "lawyer", "how"), "x")
    ticket = receipts.build_ticket(
        {"station": "水贝", "service": "法律咨询", "ticket": "A012", "ahead": 2, "wait": "5", "time": "9:00"}
        | {"url": "https://k.example/t", "labels": labels}
    )
    booking = receipts.build_booking(
        {"station": "水贝", "service": "劳动仲裁", "code": "K7Q2", "time": "9:00", "labels": labels | {"title": "预约"}}
    )
    assert receipt_summary(ticket.to_dict(), "legal.ticket") == "法律咨询 A012"
    assert receipt_summary(booking.to_dict(), "legal.booking") == "预约 x K7Q2"
    assert receipt_summary({"blocks": []}, "legal.ticket") == "legal.ticket"
