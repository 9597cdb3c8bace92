"""Printing through the core: layouts, the queue, faults shown to staff, reprint, preview."""

import os
import time
import types

import pytest
import zxingcpp

from kiosk import hookimpl
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter


def _ticket_plugin():
    mod = types.ModuleType("kiosk_ticketer_test")

    def build(context):
        return (
            Receipt()
            .title("法律咨询")
            .text(context["number"], size=3, align="center")
            .kv("前面等候", str(context["ahead"]))
            .qr(context["url"])
        )

    def register_receipt_layouts(register):
        register("ticketer.ticket", build)

    mod.register_receipt_layouts = hookimpl(register_receipt_layouts)
    return mod


@pytest.fixture
def fake_printer():
    with FakeNetworkPrinter() as printer:
        yield printer


def _wait_state(client, job_id, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        body = client.get(f"/print-jobs/{job_id}").get_json()
        if body["state"] in want:
            return body
        time.sleep(0.05)
    return body


def test_receipt_reaches_a_tcp_printer_as_escpos_with_a_readable_qr(make_app, database_url, fake_printer):
    app = make_app(
        database_url,
        EXTRA_PLUGINS={"ticketer": _ticket_plugin()},
        DEVICES={"printer": fake_printer.printer_config(profile="80mm"), "readers": {}},
    )
    from kiosk import printing

    client = app.test_client()
    with app.test_request_context("/"):
        job = printing.print_receipt(
            "ticketer.ticket", {"number": "A012", "ahead": 3, "url": "https://k.example/t/abc"}
        )
    assert job["state"] == "queued"
    assert _wait_state(client, job["job_id"], ("done", "failed"))["state"] == "done"
    received = fake_printer.wait_for_jobs(1)[0].parse()
    assert received.names[0] == "ESC @" and received.cut
    decoded = [r.text for r in zxingcpp.read_barcodes(received.raster().convert("L"))]
    assert decoded == ["https://k.example/t/abc"]


def test_paper_out_fails_the_job_staff_see_it_and_reprint_after_refill(make_app, database_url, fake_printer, csrf):
    from kiosk.testing import Auth

    fake_printer.state = "paper_out"
    app = make_app(
        database_url,
        EXTRA_PLUGINS={"ticketer": _ticket_plugin()},
        DEVICES={"printer": fake_printer.printer_config(profile="58mm", retry_delay=0.05), "readers": {}},
    )
    from kiosk import printing

    client = app.test_client()
    with app.test_request_context("/"):
        job = printing.print_receipt("ticketer.ticket", {"number": "B003", "ahead": 0, "url": "x"})
    state = _wait_state(client, job["job_id"], ("failed",))
    assert state["state"] == "failed" and state["attempts"] >= 1
    Auth(app, client).login("staff")
    console = client.get("/staff/").get_data(as_text=True)
    assert job["job_id"] in console and ">ticketer.ticket<" not in console  # the key stays in data-layout only
    # The number staff call out, what went wrong in their words, and their own wall clock.
    assert "法律咨询 B003" in console and "打印机缺纸" in console
    preview = client.get(f"/staff/print-jobs/{job['job_id']}/preview.png")
    assert preview.status_code == 200 and preview.data[:8] == b"\x89PNG\r\n\x1a\n"
    # It never went out, so staff cannot mark it printed (only sent or cut-off jobs can be).
    client.post(f"/staff/print-jobs/{job['job_id']}/printed", data={"csrf_token": csrf(client)})
    assert client.get(f"/print-jobs/{job['job_id']}").get_json()["state"] == "failed"
    fake_printer.state = "ok"
    client.post(f"/staff/print-jobs/{job['job_id']}/reprint", data={"csrf_token": csrf(client)})
    assert _wait_state(client, job["job_id"], ("done",))["state"] == "done"
    assert len(fake_printer.completed_jobs) == 1
    assert job["job_id"] not in client.get("/staff/").get_data(as_text=True)
    # Putting a resident's receipt on paper again is a staff action the audit log keeps.
    from kiosk.models import AuditLog
    from kiosk.testing import count_rows

    assert count_rows(app, AuditLog, AuditLog.action == "print.reprint") == 1


def test_preview_printer_writes_png_files(make_app, database_url, tmp_path):
    folder = tmp_path / "previews"
    app = make_app(
        database_url,
        EXTRA_PLUGINS={"ticketer": _ticket_plugin()},
        DEVICES={"printer": {"type": "preview", "folder": str(folder)}, "readers": {}},
    )
    from kiosk import printing

    with app.test_request_context("/"):
        job = printing.print_receipt("ticketer.ticket", {"number": "C001", "ahead": 1, "url": "preview-url"})
    assert _wait_state(app.test_client(), job["job_id"], ("done",))["state"] == "done"
    files = os.listdir(folder)
    assert len(files) == 1 and files[0].endswith(".png")
    from PIL import Image

    assert [r.text for r in zxingcpp.read_barcodes(Image.open(folder / files[0]))] == ["preview-url"]


def test_the_staff_preview_is_as_wide_as_the_configured_models_paper(make_app, database_url, fake_printer):
    # A TM-T88V prints 512 dots on 80 mm paper, not the 576 of a generic 80 mm printer.
    import io

    from PIL import Image

    from kiosk import printing

    app = make_app(database_url, DEVICES={"printer": fake_printer.printer_config(model="TM-T88V"), "readers": {}})
    with app.test_request_context("/"):
        receipt = Receipt().title("法律咨询").text("A012").qr("https://example.org/t/A012")
        job = printing.submit(receipt, "test.slip")
        png = printing.preview_png(job["job_id"], app.extensions["kiosk_station_id"])
    assert Image.open(io.BytesIO(png)).width == 512


def test_print_job_status_is_per_station(app, client):
    assert client.get("/print-jobs/does-not-exist").status_code == 404


def test_printer_test_command(make_app, database_url, fake_printer):
    from kiosk.cli import cli

    app = make_app(database_url, DEVICES={"printer": fake_printer.printer_config(), "readers": {}})
    result = app.test_cli_runner().invoke(cli, ["printer", "test", "--wait", "10"])
    assert result.exit_code == 0, result.output
    page = fake_printer.wait_for_jobs(1)[0].parse()
    assert page.cut
    assert zxingcpp.read_barcodes(page.raster().convert("L")), "the test page's QR code must scan"


def test_printer_test_on_a_printer_that_never_confirms_says_to_check_the_paper(make_app, database_url):
    from kiosk.cli import cli

    with FakeNetworkPrinter("silent") as silent:
        app = make_app(database_url, DEVICES={"printer": silent.printer_config(), "readers": {}})
        result = app.test_cli_runner().invoke(cli, ["printer", "test", "--wait", "10"])
    assert result.exit_code != 0
    assert "did not confirm it: check that the page came out" in result.output
