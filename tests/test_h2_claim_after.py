"""DbJobStore.claim_after: the printed job's outcome and the next job's claim in one statement (issue 22, point 2).

It must leave the rows as the two statements did (the outcome written whether
or not the claim wins; nothing written when the printed job is gone). SQLite
and PostgreSQL.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event

from kiosk_hardware.job_store import JobState, PrintJob
from kiosk_hardware.receipt import Receipt


def _store(make_app, database_url):
    from kiosk.printing import DbJobStore

    app = make_app(database_url)
    printing = app.extensions["kiosk_printing"]
    printing.queue.stop()  # nothing else claims the jobs of this test
    return app, DbJobStore(app.extensions["db"], printing.store.station_id, printer="default")


class Statements:
    def __init__(self, engine) -> None:
        self.engine, self.count, self.thread = engine, 0, threading.get_ident()

    def _seen(self, *_args) -> None:
        if threading.get_ident() == self.thread:
            self.count += 1

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def test_the_outcome_and_the_claim_land_as_two_statements_left_them(make_app, database_url):
    app, store = _store(make_app, database_url)
    printed, following, other = (PrintJob(receipt=Receipt().text(n), printer="default") for n in ("A1", "A2", "A3"))
    for job in (printed, following, other):
        store.add(job)
    printed = store.claim(printed.id, "me", known=printed)
    assert printed is not None
    printed.state, printed.note, printed.error, printed.error_kind = JobState.DONE, "paper near end", None, None
    printed.updated_at = printed.finished_at = time.time()
    printed.owner = None
    engine = app.extensions["db"].engine
    with Statements(engine) as statements:
        claimed = store.claim_after(printed, following.id, "me", known=following)
    assert claimed is not None and (claimed.state, claimed.attempts, claimed.owner) == (JobState.PRINTING, 1, "me")
    if engine.dialect.update_returning:
        assert statements.count == 1  # one UPDATE; on SQLite the BEGIN IMMEDIATE goes through the driver
    done = store.get(printed.id)
    assert (done.state, done.attempts, done.note, done.owner) == (JobState.DONE, 1, "paper near end", None)
    assert done.finished_at == pytest.approx(printed.finished_at, abs=1e-3)
    assert done.printer == "default" and done.receipt.plain_text() == "A1"
    stored = store.get(following.id)
    assert (stored.state, stored.attempts, stored.owner, stored.finished_at) == (JobState.PRINTING, 1, "me", None)
    assert stored.note == "" and stored.receipt.plain_text() == "A2"
    assert store.get(other.id).state is JobState.QUEUED

    # A claim that loses (the job changed meanwhile) still stores the outcome.
    claimed.state, claimed.owner, claimed.updated_at = JobState.SENT, None, time.time()
    claimed.finished_at, claimed.error_kind, claimed.error = claimed.updated_at, "unconfirmed", "sent, no reply"
    stale = store.get(other.id)
    stale.attempts = 2  # not what the store has
    assert store.claim_after(claimed, other.id, "me", known=stale) is None
    sent = store.get(following.id)
    assert (sent.state, sent.error_kind, sent.error) == (JobState.SENT, "unconfirmed", "sent, no reply")
    assert sent.owner is None
    assert store.get(other.id).state is JobState.QUEUED and store.get(other.id).attempts == 0

    # A printed job no longer stored: KeyError, and the claim is not written either.
    gone = PrintJob(receipt=Receipt().text("X"), printer="default", state=JobState.DONE)
    with pytest.raises(KeyError):
        store.claim_after(gone, other.id, "me", known=store.get(other.id))
    assert store.get(other.id).state is JobState.QUEUED


def _plugin():
    import types

    from kiosk import hookimpl

    mod = types.ModuleType("kiosk_h2_keep_test")

    def build(context):
        return Receipt().title("水贝社区党群服务中心", size=1).text(context["n"], size=4)

    mod.register_receipt_layouts = hookimpl(lambda register: register("h2keep.ticket", build))
    return mod


def test_a_backlog_prints_on_one_kept_connection_given_back_when_the_worker_waits(make_app, database_url):
    """The print worker's writes for receipts back to back share one connection; it goes back to the pool after."""
    from kiosk import printing
    from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

    with FakeNetworkPrinter() as fake:
        app = make_app(
            database_url, EXTRA_PLUGINS={"h2keep": _plugin()}, DEVICES={"printer": fake.printer_config(), "readers": {}}
        )
        queue = app.extensions["kiosk_printing"].queue
        with app.test_request_context("/"):
            first = printing.print_receipt("h2keep.ticket", {"n": "K000"})["job_id"]
        assert queue.wait(first, 10).state is JobState.DONE
        engine = app.extensions["db"].engine
        seen = {"checkouts": 0, "commits": 0}

        def counter(key):
            def count(*_args) -> None:
                if threading.current_thread().name == "print-queue-default":
                    seen[key] += 1

            return count

        on_checkout, on_commit = counter("checkouts"), counter("commits")
        event.listen(engine, "checkout", on_checkout)
        event.listen(engine, "commit", on_commit)
        try:
            printer = app.extensions["kiosk_printing"].printer
            with printer._lock, app.test_request_context("/"):  # busy: the receipts queue up behind it
                ids = [printing.print_receipt("h2keep.ticket", {"n": f"K{i:03d}"})["job_id"] for i in range(1, 11)]
            assert [queue.wait(job_id, 10).state for job_id in ids] == [JobState.DONE] * 10
            assert queue.wait_idle(10)
            # Back in the pool once the worker waits: nothing of the print thread's stays checked out.
            deadline = time.monotonic() + 10
            while engine.pool.checkedout() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert engine.pool.checkedout() == 0
        finally:
            event.remove(engine, "checkout", on_checkout)
            event.remove(engine, "commit", on_commit)
    # Ten receipts: about eleven commits (test_print_one_write), on one or two connections, not one each.
    assert seen["commits"] >= 6
    assert seen["checkouts"] <= 3
