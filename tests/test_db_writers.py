"""Writers of one request or thread: joined where they can be, refused at once where not.

A request that wrote through ``get_session()`` and then asked ``write_transaction()``
(or the print queue) for a second connection used to wait 15 s for its own SQLite
lock and answer 503.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from kiosk.db import WriterNestingError, get_session, session_for, write_transaction
from kiosk.models import KioskEvent, PrintJob, Station

QUICK = 3  # seconds: far below the 15 s the lock waited, far above a slow CI machine's write


def _event(app, name: str) -> KioskEvent:
    return KioskEvent(station_id=app.extensions["kiosk_station_id"], channel="t", name=name, payload={})


def _stored(app) -> list[str]:
    """Event names committed, seen from a connection of their own."""
    with session_for(app) as session:
        return session.scalars(select(KioskEvent.name).where(KioskEvent.channel == "t").order_by(KioskEvent.id)).all()


def test_write_transaction_after_the_request_wrote_joins_it_and_commits_both(make_app, database_url):
    app = make_app(database_url)
    with app.test_request_context("/"):
        session = get_session()
        session.add(_event(app, "t.request"))
        session.flush()
        started = time.monotonic()
        with write_transaction() as joined:
            assert joined is session  # one connection: nothing can wait for itself
            joined.add(_event(app, "t.block"))
        assert time.monotonic() - started < QUICK
        assert _stored(app) == ["t.request", "t.block"]  # committed when the block ended
    assert not app.extensions["db"].write_lock or not app.extensions["db"].write_lock.locked()


def test_a_failing_joined_block_rolls_back_only_itself(make_app, database_url):
    app = make_app(database_url)
    with app.test_request_context("/"):
        session = get_session()
        session.add(_event(app, "t.request"))
        session.flush()
        with pytest.raises(ValueError), write_transaction() as joined:
            joined.add(_event(app, "t.block"))
            joined.flush()
            raise ValueError("refused")
        assert _stored(app) == []  # nothing committed yet: the request decides
        session.commit()
    assert _stored(app) == ["t.request"]


def test_a_nested_write_transaction_is_part_of_the_outer_one(make_app, database_url):
    app = make_app(database_url)
    with app.test_request_context("/"):
        with write_transaction() as outer:
            outer.add(_event(app, "t.outer"))
            with write_transaction() as inner:
                assert inner is outer
                inner.add(_event(app, "t.inner"))
            assert _stored(app) == []  # the outermost block commits
            with pytest.raises(KeyError), write_transaction() as failing:
                failing.add(_event(app, "t.failing"))
                failing.flush()
                raise KeyError("refused")
        assert _stored(app) == ["t.outer", "t.inner"]


def test_a_view_that_wrote_and_then_takes_a_write_transaction_answers_at_once(make_app, database_url):
    app = make_app(database_url)

    def both():
        get_session().add(_event(app, "t.view"))
        get_session().flush()
        with write_transaction() as session:
            session.add(_event(app, "t.numbered"))
        return "ok"

    app.add_url_rule("/test-both-writes", "test_both_writes", both)
    started = time.monotonic()
    response = app.test_client().get("/test-both-writes")
    assert response.status_code == 200, response.status_code
    assert time.monotonic() - started < QUICK
    assert _stored(app) == ["t.view", "t.numbered"]


def test_printing_after_the_request_wrote_stores_the_job_with_the_write(make_app, database_url):
    from kiosk.printing import submit
    from kiosk_hardware.receipt import Receipt

    app = make_app(database_url)
    with app.test_request_context("/"):
        session = get_session()
        session.add(_event(app, "t.ticket"))
        session.flush()
        started = time.monotonic()
        job = submit(Receipt(), "test")
        assert time.monotonic() - started < QUICK
        assert job["state"] == "queued"
        assert _stored(app) == ["t.ticket"]  # the receipt's ticket is committed before it prints
        with session_for(app) as other:
            assert other.get(PrintJob, job["job_id"]) is not None
    app.extensions["kiosk_printing"].shutdown()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_second_session_of_the_writing_thread_fails_at_once_saying_what_to_do(make_app, database_url):
    """Two sessions of one thread both wanting SQLite's one writer cannot be joined."""
    app = make_app(database_url)
    with app.test_request_context("/"):
        session = get_session()
        session.add(_event(app, "t.request"))
        session.flush()
        started = time.monotonic()
        with pytest.raises(WriterNestingError, match="write_transaction"), session_for(app, write=True) as other:
            other.add(_event(app, "t.other"))
            other.flush()
        assert time.monotonic() - started < QUICK
        session.commit()  # the first writer is unharmed
    assert _stored(app) == ["t.request"]
    assert not app.extensions["db"].write_lock.locked()


def test_session_for_serves_a_thread_without_a_request_and_keeps_only_what_it_commits(make_app, database_url):
    app = make_app(database_url)
    errors = []

    def job():
        try:
            with session_for(app, write=True) as session:
                session.add(_event(app, "t.committed"))
                session.commit()
            with session_for(app, write=True) as session:
                session.add(_event(app, "t.forgotten"))  # never committed
                session.flush()
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=job)
    thread.start()
    thread.join(10)
    assert errors == []
    assert _stored(app) == ["t.committed"]


def test_a_job_writes_through_get_session_and_write_transaction(make_app, database_url):
    from kiosk.jobs import run_due
    from kiosk.stations import station_id_of

    app = make_app(database_url)

    def job(app):
        session = get_session()  # a job runs in an app context of its own
        session.add(_event(app, "t.job"))
        session.commit()
        with write_transaction() as numbered:
            numbered.add(_event(app, "t.job.numbered"))

    app.extensions["kiosk_jobs"] = [{"plugin": "kiosk", "name": "t.job", "func": job, "every": 60, "at": None}]
    assert run_due(app) == ["t.job"]
    assert _stored(app) == ["t.job", "t.job.numbered"]
    with session_for(app) as session:
        assert session.get(Station, station_id_of(app)).code == app.config["STATION"]["code"]


def test_on_sqlite_writes_lock_up_front_without_putting_statements_on_the_event_path(make_app, database_url):
    """A write session holds the writer lock from its first statement (a read); a plain session takes it
    at its first write; and no engine listener sends every statement through SQLAlchemy's event path
    (some 30 Python calls a statement, ten statements a ticket)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("BEGIN IMMEDIATE and the process's writer lock are SQLite's")
    app = make_app(database_url)
    db = app.extensions["db"]
    assert db.engine._has_events is False, [n for n in dir(db.engine.dispatch) if not n.startswith("_")]
    with app.app_context():
        writer = db.WriteSession()
        try:
            writer.scalar(select(Station.id).limit(1))
            assert db.write_lock.locked()
            writer.rollback()
            assert not db.write_lock.locked()
        finally:
            writer.close()
        plain = db.Session()
        try:
            plain.scalar(select(Station.id).limit(1))
            assert not db.write_lock.locked()  # a read: no transaction, no lock
            plain.add(_event(app, "up-front"))
            plain.flush()
            assert db.write_lock.locked()
            plain.commit()
            assert not db.write_lock.locked()
        finally:
            plain.close()
    assert _stored(app) == ["up-front"]
