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
