"""The core's receipt status in a real Chromium: ``data-print-job`` watched by kiosk.js.

Receipts go to a fake network printer, so a test can make one come out or
fail: the page shows its own translated words for either, a "print" button
(the rider's note) uses the same watcher, and leaving the page stops it.
"""

from __future__ import annotations

import shutil

import pytest

from kiosk.testing import LiveServer
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter


@pytest.fixture
def printer():
    with FakeNetworkPrinter() as fake:
        yield fake


@pytest.fixture
def server(make_app, tmp_path, sqlite_template, printer):
    """Every plugin on SQLite, receipts to the fake printer, one attempt per receipt."""
    shutil.copy(sqlite_template, tmp_path / "print.db")
    app = make_app(
        "sqlite:///" + str(tmp_path / "print.db"),
        DEVICES={"printer": printer.printer_config(max_attempts=1), "readers": {}},
    )
    live = LiveServer(app)
    yield live
    live.stop()


def _csrf(page) -> str:
    return page.locator('meta[name="csrf-token"]').get_attribute("content")


def _take_ticket(page, server) -> None:
    page.goto(server.url + "/k/legal/take/consultation")
    response = page.request.post(
        server.url + "/k/legal/take/consultation", form={"csrf_token": _csrf(page), "phone": "", "priority": ""}
    )
    assert response.ok
    page.goto(server.url + "/k/legal/issued")


def _settled(page, selector: str) -> dict:
    """Wait until the watcher says done or failed; returns what the element shows."""
    page.wait_for_selector(f'{selector}[data-state="done"], {selector}[data-state="failed"]', timeout=15_000)
    return page.locator(selector).evaluate(
        "el => ({state: el.dataset.state, text: el.textContent.trim(), classes: el.className,"
        " done: el.dataset.textDone, failed: el.dataset.textFailed})"
    )


def test_a_printed_ticket_and_a_failed_one_say_so_in_the_pages_words(page, server, printer):
    _take_ticket(page, server)
    shown = _settled(page, "#print-status")
    assert shown["state"] == "done" and shown["text"] == shown["done"] and "取走" in shown["text"]
    assert "done" in shown["classes"].split() and "failed" not in shown["classes"].split()

    printer.state = "paper_out"
    _take_ticket(page, server)
    shown = _settled(page, "#print-status")
    assert shown["state"] == "failed" and shown["text"] == shown["failed"] and "仍然有效" in shown["text"]
    assert "failed" in shown["classes"].split()


def test_a_ticket_the_printer_never_confirmed_says_sent_in_the_residents_words(page, server, printer):
    printer.state = "silent"  # takes the ticket, never answers the question after it
    _take_ticket(page, server)
    page.wait_for_selector('#print-status[data-state="sent"]', timeout=15_000)
    shown = page.locator("#print-status").evaluate(
        "el => ({text: el.textContent.trim(), sent: el.dataset.textSent, classes: el.className})"
    )
    assert shown["text"] == shown["sent"] and "已发送到打印机" in shown["text"] and "如未出票" in shown["text"]
    assert "sent" in shown["classes"].split() and "done" not in shown["classes"].split()


def test_the_riders_print_button_uses_the_same_watch_and_may_try_again(page, server, printer):
    page.goto(server.url + "/k/courier_rest/")
    assert page.request.post(
        server.url + "/k/courier_rest/phone", form={"csrf_token": _csrf(page), "phone": "13600136000"}
    ).ok
    assert page.request.post(
        server.url + "/k/courier_rest/register",
        form={
            "csrf_token": _csrf(page),
            "name": "古霖珊",
            "phone": "13600136000",
            "platform": "meituan",
            "vehicle": "ebike",
        },
    ).ok
    page.goto(server.url + "/k/courier_rest/my-code")
    button = page.locator('[data-testid="print"]')

    printer.state = "paper_out"
    button.tap()
    shown = _settled(page, "[data-print-state]")
    assert shown["state"] == "failed" and shown["text"] == shown["failed"]
    assert button.is_enabled(), "a note that did not come out can be printed again"

    printer.state = "ok"
    button.tap()
    page.wait_for_selector('[data-print-state][data-state="done"]', timeout=15_000)
    shown = _settled(page, "[data-print-state]")
    assert shown["state"] == "done" and shown["text"] == shown["done"] and "取走" in shown["text"]
    assert button.is_disabled()


def test_leaving_the_page_stops_the_watch(page, server):
    _take_ticket(page, server)
    outcome = page.evaluate("""() => {
        const box = document.createElement("p");
        box.dataset.printJob = document.getElementById("print-status").dataset.printJob;
        box.dataset.textPrinting = "…";
        document.body.appendChild(box);
        const watched = window.Kiosk.watchPrint(box);
        window.dispatchEvent(new Event("pagehide"));
        return watched;
    }""")
    assert outcome == "stopped"
