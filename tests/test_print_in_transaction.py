"""A receipt submitted inside a write_transaction() block: stored with the block, printed after its commit.

A ticket and its print job are one transaction: the job's row is part of the
block, and the print worker is woken only once the block has committed (it
would otherwise look too early, find nothing and sleep). A block that rolls
back leaves no job and wakes nothing. The worker's poll is set to a minute
here, so only the wake-up after the commit can print the job in time.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kiosk.db import session_for, write_transaction
from kiosk.models import KioskEvent, PrintJob
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

SLOW_POLL = 60.0  # seconds: a job found by the poll would be far too late for the waits below
QUICK = 10.0


@pytest.fixture
def printing_app(make_app, database_url):
    with FakeNetworkPrinter() as printer:
        app = make_app(database_url, DEVICES={"printer": printer.printer_config(profile="58mm"), "readers": {}})
        printing = app.extensions["kiosk_printing"]
        printing.queue.poll_interval = SLOW_POLL
        seen: list[str] = []
        printing.queue.add_listener(lambda job: seen.append(f"{job.state.value} {job.label}"))
        yield app, printer, seen
        printing.shutdown()


def _event(app, name: str) -> KioskEvent:
    return KioskEvent(station_id=app.extensions["kiosk_station_id"], channel="t", name=name, payload={})


def _rows(app) -> tuple[list[str], list[str]]:
    """Committed events and print jobs (their layouts), seen from a connection of their own."""
    with session_for(app) as session:
        events = session.scalars(select(KioskEvent.name).where(KioskEvent.channel == "t")).all()
        jobs = session.scalars(select(PrintJob.layout)).all()
    return list(events), list(jobs)


def test_a_job_submitted_in_the_block_is_committed_with_it_and_printed_once_after(printing_app):
    from kiosk.printing import submit

    app, printer, seen = printing_app
    with app.test_request_context("/"):
        app.extensions["kiosk_printing"].start()
        with write_transaction() as session:
            session.add(_event(app, "t.ticket"))
            job = submit(Receipt().text("A001"), "t.inside")
            session.add(_event(app, "t.after"))  # the block goes on writing after the print call
            session.flush()
            assert job["state"] == "queued"
            assert seen == []  # nothing woke: the worker would not find the row yet
            assert _rows(app) == ([], [])  # and nobody else sees it before the commit
        assert seen[:1] == ["queued t.inside"]  # woken by the commit, in the committing thread
        done = app.extensions["kiosk_printing"].queue.wait(job["job_id"], QUICK)
    assert done.state.value == "done"
    assert _rows(app) == (["t.ticket", "t.after"], ["t.inside"])
    received = printer.wait_for_jobs(1)
    assert len(received) == 1 and "A001" in received[0].parse().text


def test_a_rolled_back_block_leaves_no_job_and_prints_nothing(printing_app):
    from kiosk.printing import submit

    app, printer, seen = printing_app
    with app.test_request_context("/"):
        app.extensions["kiosk_printing"].start()
        with pytest.raises(RuntimeError, match="number taken"), write_transaction() as session:
            session.add(_event(app, "t.ticket"))
            submit(Receipt().text("B001"), "t.rolled_back")
            raise RuntimeError("number taken")
        # A savepoint rolled back inside a block that commits takes its job with it, too.
        with write_transaction() as session:
            session.add(_event(app, "t.kept"))
            with pytest.raises(RuntimeError, match="inner"), write_transaction():
                submit(Receipt().text("B002"), "t.savepoint")
                raise RuntimeError("inner")
        assert seen == []
        assert _rows(app) == (["t.kept"], [])
        # The worker is alive and prints the next job, and only that one.
        job = submit(Receipt().text("C001"), "t.after")
        done = app.extensions["kiosk_printing"].queue.wait(job["job_id"], QUICK)
    assert done.state.value == "done"
    assert _rows(app) == (["t.kept"], ["t.after"])
    printer.wait_for_jobs(1)
    assert ["C001" in job.parse().text for job in printer.jobs] == [True]


def test_the_first_receipt_of_a_process_inside_a_block_starts_printing_and_prints(printing_app, caplog):
    """Printing starts lazily (tests, commands): its first job may come inside a ticket's transaction.

    Taking the printer's lease then must not write beside the block's own SQLite lock (it failed, and the
    job waited for the lease's next beat).
    """
    from kiosk.printing import submit

    app, printer, seen = printing_app
    with app.test_request_context("/"):
        assert not app.extensions["kiosk_printing"]._started
        with write_transaction() as session:
            session.add(_event(app, "t.first"))
            session.flush()  # the ticket is written: this thread holds the database's write lock
            job = submit(Receipt().text("D001"), "t.first")
        done = app.extensions["kiosk_printing"].queue.wait(job["job_id"], QUICK)
    assert done.state.value == "done" and seen[-1] == "done t.first"
    assert [r.getMessage() for r in caplog.records if r.levelname in ("WARNING", "ERROR")] == []
    assert _rows(app) == (["t.first"], ["t.first"])
    printer.wait_for_jobs(1)
    assert ["D001" in job.parse().text for job in printer.jobs] == [True]


def test_a_receipt_in_a_ticket_block_costs_one_statement_and_a_failed_one_keeps_the_ticket(printing_app):
    """Inside a ticket's block on SQLite the job's INSERT joins the block as it is: one statement, not a
    savepoint, the INSERT and its release (two statements on every ticket). SQLite undoes a failed
    statement by itself, so an INSERT that fails (here: a job id already stored) leaves the ticket to
    commit. PostgreSQL keeps the savepoint (a failed statement there aborts the whole transaction) and
    the ticket commits as well."""
    import threading

    from sqlalchemy import event

    from kiosk.printing import submit

    app, printer, _seen = printing_app
    engine = app.extensions["db"].engine
    me, counting, statements = threading.get_ident(), [False], []

    def count(_conn, _cursor, statement, *_args):
        if counting[0] and threading.get_ident() == me:
            statements.append(statement.split()[0].upper())

    # Never removed: removing a listener while the print thread runs a statement can break its loop.
    event.listen(engine, "before_cursor_execute", count)
    store = app.extensions["kiosk_printing"].queue.store
    with app.test_request_context("/"):
        app.extensions["kiosk_printing"].start()
        first = submit(Receipt().text("A001"), "t.first")
        app.extensions["kiosk_printing"].queue.wait(first["job_id"], QUICK)
        stored = store.get(first["job_id"])
        with write_transaction() as session:
            session.add(_event(app, "t.ticket"))
            session.flush()
            counting[0] = True
            submit(Receipt().text("A002"), "t.inside")
            counting[0] = False
            with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError, whichever driver
                store.add(stored)  # the same id again
            session.add(_event(app, "t.after_failure"))
    if engine.dialect.name == "sqlite":
        assert statements == ["INSERT"]
    else:
        assert statements[0] == "SAVEPOINT" and statements[-1] == "RELEASE" and statements.count("INSERT") == 1
    events, jobs = _rows(app)
    assert events == ["t.ticket", "t.after_failure"]
    assert sorted(jobs) == ["t.first", "t.inside"]
