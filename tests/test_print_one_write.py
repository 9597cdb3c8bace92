"""A print worker working through a backlog stores each receipt's outcome with the next one's claim.

Two write transactions per receipt (the claim, then "done") were over half of
the print thread's CPU per receipt (py-spy --gil, issue 22). Printed back to
back, job N's outcome and job N+1's claim are one transaction; the last
outcome is stored before the worker waits. Nothing else changes: every job
ends done, in the store and for its waiters, in order. SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import types

from sqlalchemy import event

from kiosk import hookimpl
from kiosk_hardware.job_store import InMemoryJobStore, JobState
from kiosk_hardware.print_queue import PrintQueue
from kiosk_hardware.printers import printer_from_config
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

WAIT = 10.0


class CountingStore(InMemoryJobStore):
    def __init__(self) -> None:
        super().__init__()
        self.together = 0

    def claim_after(self, finished, job_id, owner, known=None):
        self.together += 1
        return super().claim_after(finished, job_id, owner, known)


def test_a_backlog_stores_each_outcome_with_the_next_claim_and_the_last_before_waiting():
    store = CountingStore()
    with FakeNetworkPrinter() as fake:
        printer = printer_from_config(fake.printer_config(status_timeout=0.2))
        before_start = PrintQueue({"counter": printer}, store=store)  # never started: its jobs wait in the store
        left = [before_start.submit(Receipt().text(f"A{i:03d}")).id for i in range(12)]
        seen: list[tuple[str, JobState]] = []
        queue = PrintQueue({"counter": printer}, store=store, poll_interval=60.0)
        queue.add_listener(lambda job: seen.append((job.id, job.state)) if job.finished else None)
        with queue:
            assert [queue.wait(job_id, WAIT).state for job_id in left] == [JobState.DONE] * 12
            assert queue.wait_idle(WAIT)
        texts = [job.parse().text for job in fake.completed_jobs]
    # Read STORE_BATCH at a time: all but the last of a read go with the next claim; the store is up to date
    # before each read.
    assert store.together >= 9
    assert all(store.get(job_id).state is JobState.DONE for job_id in left)
    assert seen == [(job_id, JobState.DONE) for job_id in left]
    assert [f"A{i:03d}" in text for i, text in enumerate(texts)] == [True] * 12


def _plugin():
    mod = types.ModuleType("kiosk_one_write_test")

    def build(context):
        return Receipt().title("水贝社区党群服务中心", size=1).text(context["n"], size=4)

    mod.register_receipt_layouts = hookimpl(lambda register: register("onewrite.ticket", build))
    return mod


def test_receipts_printed_back_to_back_cost_one_commit_each(make_app, database_url):
    from kiosk import printing

    with FakeNetworkPrinter() as fake:
        app = make_app(
            database_url,
            EXTRA_PLUGINS={"onewrite": _plugin()},
            DEVICES={"printer": fake.printer_config(), "readers": {}},
        )
        queue = app.extensions["kiosk_printing"].queue
        with app.test_request_context("/"):
            first = printing.print_receipt("onewrite.ticket", {"n": "B000"})["job_id"]
        assert queue.wait(first, WAIT).state is JobState.DONE  # printing started, the lease taken
        commits = [0]

        def count(_conn) -> None:
            if threading.current_thread().name == "print-queue-default":
                commits[0] += 1

        engine = app.extensions["db"].engine
        event.listen(engine, "commit", count)
        try:
            printer = app.extensions["kiosk_printing"].printer
            # The printer is busy: the next receipts queue up behind the first.
            with printer._lock, app.test_request_context("/"):
                ids = [printing.print_receipt("onewrite.ticket", {"n": f"B{i:03d}"})["job_id"] for i in range(1, 11)]
            assert [queue.wait(job_id, WAIT).state for job_id in ids] == [JobState.DONE] * 10
            assert queue.wait_idle(WAIT)
        finally:
            event.remove(engine, "commit", count)
        client = app.test_client()
        assert all(client.get(f"/print-jobs/{job_id}").get_json()["state"] == "done" for job_id in ids)
    # The first claim, nine outcomes each with the next claim, the last outcome: 11, not 20.
    assert commits[0] <= 12
