"""A ticket is one write transaction (issue 22): its number, row, sync entry and event, its receipt's
print job and the visitor's "issued" entry commit together, before the response. A ticket rolled back
prints nothing and announces nothing; what waits for a commit (displays, the printer's worker) is not
run when a savepoint inside the transaction is released, only when the transaction commits."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, func, select
from test_legal_support import csrf_token, install_clock

from kiosk import events
from kiosk.db import after_commit, write_transaction
from kiosk.models import KioskEvent, PrintJob
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter
from kiosk_plugins.legal import views
from kiosk_plugins.legal.models import Ticket

PATH = "/k/legal/take/consultation"
WRITES = ("insert", "update", "delete")


class Transactions:
    """This thread's statements, and its transactions that wrote and committed, while inside the block
    (the print worker's own writes are not the request's)."""

    def __init__(self, app):
        self.engine = app.extensions["db"].engine
        self.thread = threading.get_ident()
        self.sent: list[str] = []
        self.committed_writes = 0

    def _statement(self, conn, _cursor, statement, *_args):
        if threading.get_ident() != self.thread:
            return
        self.sent.append(" ".join(statement.split()).lower())
        if statement.lstrip()[:6].lower() in WRITES:
            conn.info["test_wrote"] = True

    def _commit(self, conn):
        if conn.info.pop("test_wrote", False) and threading.get_ident() == self.thread:
            self.committed_writes += 1

    def _rollback(self, conn):
        conn.info.pop("test_wrote", None)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)
        event.listen(self.engine, "rollback", self._rollback)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)
        event.remove(self.engine, "rollback", self._rollback)


@pytest.fixture
def printer():
    with FakeNetworkPrinter() as fake:
        yield fake


@pytest.fixture
def printing_app(make_app, database_url, printer):
    # Rate limits off: their hit is counted in a transaction of its own before the view runs.
    app = make_app(
        database_url,
        DEVICES={"printer": printer.printer_config(profile="80mm"), "readers": {}},
        SECURITY={"rate_limits": False},
    )
    install_clock(app)
    return app


def _count(app, model) -> int:
    with app.extensions["db"].Session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_a_ticket_with_its_receipt_and_visitor_is_one_write_transaction(printing_app, printer):
    client = printing_app.test_client()
    token = csrf_token(client)
    assert client.post(PATH, data={"csrf_token": token}).status_code == 302  # the visitor's row exists now
    printer.wait_for_jobs(1, timeout=10)
    with Transactions(printing_app) as sql:
        assert client.post(PATH, data={"csrf_token": token}).status_code == 302
    assert sql.committed_writes == 1, sql.sent
    written = [s.split(" (")[0] for s in sql.sent if s.startswith(WRITES)]
    assert any(s.startswith("insert into legal_ticket") for s in written), written
    assert any(s.startswith("insert into print_job") for s in written), written
    assert any(s.startswith("update kiosk_visitor") for s in written), written
    # The receipt of the committed ticket is printed, and the issued screen shows it.
    assert len(printer.wait_for_jobs(2, timeout=10)) == 2
    page = client.get("/k/legal/issued").get_data(as_text=True)
    assert "A002" in page


def test_a_ticket_rolled_back_prints_nothing_and_announces_nothing(printing_app, printer, monkeypatch):
    client = printing_app.test_client()
    token = csrf_token(client)
    assert client.post(PATH, data={"csrf_token": token}).status_code == 302
    printer.wait_for_jobs(1, timeout=10)
    published: list[str] = []
    original = events._published
    monkeypatch.setattr(events, "_published", lambda app, ev: (published.append(ev.name), original(app, ev)))
    tickets, jobs, stored_events = (_count(printing_app, m) for m in (Ticket, PrintJob, KioskEvent))

    def fails_after_printing(ticket, job):
        assert job is not None  # the receipt's job is in the transaction when it fails
        raise RuntimeError("the visitor could not be kept")

    monkeypatch.setattr(views, "remember_issued", fails_after_printing)
    printing_app.testing = False  # answered like production: an error page (the plugin failed), not a raise
    assert client.post(PATH, data={"csrf_token": token}).status_code in (500, 503)
    assert (_count(printing_app, Ticket), _count(printing_app, PrintJob)) == (tickets, jobs)
    assert _count(printing_app, KioskEvent) == stored_events
    assert published == []
    printing_app.extensions["kiosk_printing"].queue.wait_idle(5)
    assert len(printer.jobs) == 1  # nothing more came out
    # The number was given back: the next ticket takes it.
    monkeypatch.undo()
    assert client.post(PATH, data={"csrf_token": token}).status_code == 302
    assert "A002" in client.get("/k/legal/issued").get_data(as_text=True)
    assert len(printer.wait_for_jobs(2, timeout=10)) == 2


def test_after_commit_waits_for_the_outer_commit_not_a_savepoint(app):
    calls: list[str] = []
    with app.test_request_context("/"):
        with write_transaction() as session:
            after_commit(session, lambda: calls.append("outer"))
            ev = events.emit(
                "test.ping", {}, channel="test", station_id=app.extensions["kiosk_station_id"], session=session
            )
            with write_transaction() as joined:  # a savepoint of the same transaction
                assert joined is session
                after_commit(joined, lambda: calls.append("joined"))
            with pytest.raises(RuntimeError), write_transaction() as joined:
                after_commit(joined, lambda: calls.append("rolled back"))
                raise RuntimeError("this block is rolled back")
            assert calls == []  # savepoints released or rolled back: nothing committed yet
        assert calls == ["outer", "joined"]
        with write_transaction() as session:
            after_commit(session, lambda: calls.append("never"))
            session.rollback()
        assert "never" not in calls
    with app.extensions["db"].Session() as s:
        assert s.get(KioskEvent, ev.id) is not None
