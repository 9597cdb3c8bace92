"""A long queue costs no more than a short one: "people ahead" and "call next" from indexes (issue 22, point 1).

The fairness rule's walk (:mod:`kiosk_plugins.legal.fairness`) is the reference;
:mod:`kiosk_plugins.legal.places` must give exactly its answers from queries on
a real database, for any queue (any mix of priority, equal times, skip counts
above the limit as a transfer or a lowered limit leaves them), on SQLite and
PostgreSQL. The cost side: the statements a position or a call runs do not
depend on the queue's length (the figures are in ``python -m bench queue_length``).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, delete, event, insert, inspect, select, update
from sqlalchemy.orm import Session
from test_legal_support import call_next, legal_app, login, take_ticket  # noqa: F401  (fixtures are found by name)

from kiosk import testing
from kiosk.db import Base
from kiosk.models import Station
from kiosk_plugins.legal import estimates, fairness, models, places
from kiosk_plugins.legal.models import HubQueueCount, HubQueueHourCount, HubTicket, QueueCount, QueueHourCount, Ticket

DAY = date(2024, 5, 6)
T0 = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)
TABLES = (
    "station",
    "kiosk_user",
    "legal_duty_slot",
    "legal_booking",
    "legal_ticket",
    "legal_queue_count",
    "legal_queue_hour_count",
    "legal_hub_ticket",
    "legal_hub_queue_count",
    "legal_hub_queue_hour_count",
)


@pytest.fixture(scope="module", params=testing.BACKENDS)
def engine(request, tmp_path_factory):
    """A bare database with the legal tables (the migrations are checked against these models elsewhere)."""
    name = None
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("places") / "places.db")
    else:
        name = f"places_{uuid.uuid4().hex[:8]}"
        url = testing.create_pg_database(name)
    engine = create_engine(url)
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[t] for t in TABLES])
    with Session(engine) as session:
        session.add(Station(id=1, code="shuibei", name="水贝社区党群服务中心", kind="party_service"))
        session.commit()
    yield engine
    engine.dispose()
    if name:
        testing.drop_pg_database(name)


def _row(index: int, urgent: bool, second: int, skips: int, waiting: bool = True, service: str = "consultation"):
    return {
        "id": index + 1,
        "station_id": 1,
        "day": DAY,
        "numbered_service": service,
        "number": index + 1,
        "code": f"A{index + 1:03d}",
        "service": service,
        "status": "waiting" if waiting else "served",
        "priority": "elderly" if urgent else "",
        "urgent": urgent,
        "token": secrets.token_urlsafe(12),
        "source": "kiosk",
        "queue_at": T0 + timedelta(seconds=second),
        "issued_at": T0,
        "skips": skips,
        "calls": 0,
        "transferred_from": "",
    }


def _load(engine, rows) -> Session:
    session = Session(engine)
    session.execute(delete(Ticket))
    if rows:
        session.execute(insert(Ticket), rows)
    session.commit()
    return session


#: One queue's tickets: priority or not, second queued (few values, so times tie; on both sides of minute and
#: hour boundaries, the count rows' levels), skips (some above any limit), and whether it still waits; plus
#: tickets of another queue and day that must not count.
TICKETS = st.lists(
    st.tuples(
        st.booleans(),
        st.sampled_from((0, 1, 59.5, 60, 3599.9995, 3600, 3660, 7322)),
        st.sampled_from((0, 0, 0, 1, 2, 3, 4, 6)),
        st.booleans(),
    ),
    max_size=16,
)


def _examples(engine) -> int:
    # PostgreSQL pays a round trip per statement: fewer examples there, the same strategy.
    return 50 if engine.dialect.name == "sqlite" else 15


def test_people_ahead_call_next_and_the_head_of_the_queue_match_the_walk_for_any_queue(engine):
    @settings(
        max_examples=_examples(engine), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(TICKETS, st.integers(0, 4), st.integers(0, 3))
    def check(tickets, max_skips, others):
        rows = [
            _row(i, urgent, second, skips, waiting or i % 5 == 0)
            for i, (urgent, second, skips, waiting) in enumerate(tickets)
        ]
        # Another queue's tickets and a served one in the same times: filtered out by the indexes' leading columns.
        rows += [_row(100 + i, i % 2 == 0, i, 0, service="mediation") for i in range(others)]
        with _load(engine, rows) as session:
            everything = list(session.scalars(select(Ticket)))
            waiting = [t for t in everything if t.status == "waiting" and t.service == "consultation"]
            queue = places.station_queue(session, 1, DAY, "consultation", max_skips)
            for ticket in waiting:
                expected = fairness.position(waiting, ticket.id, max_skips)
                assert places.ahead_of(session, ticket, max_skips) == expected, (ticket.id, max_skips)
            # The counter page's head of the queue: the walk's first few, reading only a few of each class.
            order = [t.id for t in fairness.call_order(waiting, max_skips)]
            for limit in (1, 2, 4, 7):
                assert [t.id for t in queue.first_called(limit)] == order[:limit], limit
            chosen, skipped = queue.next_to_call()
            want, want_skipped = fairness.pick_next(waiting, max_skips)
            assert (chosen and chosen.id) == (want and want.id)
            assert [t.id for t in skipped] == [t.id for t in want_skipped]

    check()


#: Queue times in seconds after T0: ties, and both sides of minute and hour boundaries (the count rows' minutes
#: and hours; the triggers take whole seconds, so .9995 must stay in its minute and hour).
SECONDS = (0, 30, 59, 59.9995, 60, 60.0004, 119.9999, 120, 185, 3599, 3599.9995, 3600, 3600.5, 3661, 7200, 10859)
STEPS = st.lists(
    st.tuples(
        st.sampled_from(
            ("normal", "priority", "normal", "yesterday", "call", "call", "transfer", "finish", "recall")
            + ("cancel", "close", "bulk", "move", "reclass")
        ),
        st.sampled_from(SECONDS),
        st.sampled_from(("consultation", "mediation")),
    ),
    max_size=28,
)


def _mirror(session, hub_rows: dict) -> None:
    """The hub's synced copy of every ticket, written the way sync does (one row per token, updated in place).

    A ticket deleted at the station goes at the hub too (the hub's deletes fire its triggers).
    """
    tickets = list(session.scalars(select(Ticket)))
    for token in set(hub_rows) - {t.token for t in tickets}:
        session.delete(hub_rows.pop(token))
    for ticket in tickets:
        row = hub_rows.get(ticket.token)
        if row is None:
            row = hub_rows[ticket.token] = HubTicket(
                station_id=1, token=ticket.token, place=ticket.id, number=ticket.number, code=ticket.code,
                numbered_service=ticket.numbered_service, issued_at=ticket.issued_at,
            )  # fmt: skip
            session.add(row)
        for name in ("day", "service", "status", "queue_at", "skips"):
            if getattr(row, name) != getattr(ticket, name):
                setattr(row, name, getattr(ticket, name))
        if row.priority != bool(ticket.priority):
            row.priority = bool(ticket.priority)


def _check_counts(session, model, counts, hours, urgent) -> None:
    """The count rows hold exactly the waiting tickets per queue, class and minute, and per hour (none below 0)."""
    buckets: dict = {}
    by_hour: dict = {}
    for t in session.scalars(select(model).where(model.status == "waiting")):
        key = (t.station_id, t.day, t.service, bool(getattr(t, urgent)))
        seconds = (t.queue_at - places._EPOCH) // timedelta(seconds=1)
        minute, hour = (*key, seconds // models.BUCKET_SECONDS), (*key, seconds // models.HOUR_SECONDS)
        buckets[minute] = buckets.get(minute, 0) + 1
        by_hour[hour] = by_hour.get(hour, 0) + 1
    rows = {(c.station_id, c.day, c.service, c.urgent, c.bucket): c.waiting for c in session.scalars(select(counts))}
    assert min(rows.values(), default=0) >= 0
    assert {k: v for k, v in rows.items() if v} == buckets
    rows = {(c.station_id, c.day, c.service, c.urgent, c.hour): c.waiting for c in session.scalars(select(hours))}
    assert min(rows.values(), default=0) >= 0
    assert {k: v for k, v in rows.items() if v} == by_hour


def test_a_day_of_changes_keeps_the_counts_and_the_answers_equal(engine):
    """Reachable states through every change a ticket goes through, at the station and at the hub.

    Walk-ins and priority tickets, bookings checked in with an earlier queue time (any
    time), several tickets in one bulk insert, calls that pass normal tickets, transfers
    of a called ticket to the other queue (its time kept, skips above the limit), a
    waiting ticket's queue time moved (across minutes and hours) or its class changed,
    no-shows recalled, served, a waiting ticket deleted, yesterday's closed. After each
    step the triggers' count rows (minutes and hours) equal the tickets, and people ahead,
    the queue sizes and the hub's people ahead equal the walk.
    """

    @settings(
        max_examples=_examples(engine) // 2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(STEPS, st.integers(1, 3))
    def check(steps, max_skips):
        with _load(engine, []) as session:
            session.execute(delete(HubTicket))
            session.commit()
            hub_rows: dict = {}
            for index, (step, second, service) in enumerate(steps):
                at = T0 + timedelta(seconds=second)
                called = list(session.scalars(select(Ticket).where(Ticket.status == "called").order_by(Ticket.id)))
                if step in ("normal", "priority", "yesterday"):
                    row = _row(index, step == "priority", 0, 0, service=service)
                    row.update(queue_at=at, skips=max_skips + 1 if index % 7 == 3 else 0)
                    if step == "yesterday":
                        row["day"] = DAY - timedelta(days=1)
                    session.execute(insert(Ticket), [row])
                elif step == "bulk":  # one multi-row statement, its tickets an hour apart
                    rows = [_row(1000 + index * 10 + k, k == 1, 0, 0, service=service) for k in range(3)]
                    for k, row in enumerate(rows):
                        row["queue_at"] = at + timedelta(hours=k - 1, seconds=k)
                    session.execute(insert(Ticket), rows)
                elif step in ("move", "reclass"):
                    waiting = session.scalars(select(Ticket).where(Ticket.status == "waiting").order_by(Ticket.id))
                    ticket = waiting.first()
                    if ticket is not None and step == "move":
                        ticket.queue_at = at  # a booking's time set again (the triggers' time change)
                    elif ticket is not None:
                        ticket.urgent = not ticket.urgent
                        ticket.priority = "elderly" if ticket.urgent else ""
                elif step == "call":
                    queue = places.station_queue(session, 1, DAY, service, max_skips)
                    chosen, skipped = queue.next_to_call(lock=True)
                    for ticket in skipped:
                        ticket.skips += 1
                    if chosen is not None:
                        chosen.status, chosen.counter = "called", 1
                elif step == "transfer" and called:
                    ticket = called[0]  # back to waiting in the other queue, keeping its time (calling.transfer)
                    ticket.service = "mediation" if ticket.service == "consultation" else "consultation"
                    ticket.status, ticket.counter = "waiting", None
                elif step == "finish" and called:
                    called[0].status = "no_show" if index % 2 else "served"
                elif step == "recall":
                    gone = session.scalars(select(Ticket).where(Ticket.status == "no_show")).first()
                    if gone is not None:
                        gone.status = "called"
                elif step == "cancel":
                    waiting = session.scalars(select(Ticket).where(Ticket.status == "waiting")).first()
                    if waiting is not None:
                        session.delete(waiting)
                elif step == "close":
                    for ticket in session.scalars(select(Ticket).where(Ticket.day < DAY, Ticket.status == "waiting")):
                        ticket.status = "expired"
                session.commit()
                _mirror(session, hub_rows)
                session.commit()
                _check_counts(session, Ticket, QueueCount, QueueHourCount, "urgent")
                _check_counts(session, HubTicket, HubQueueCount, HubQueueHourCount, "priority")
                today = list(session.scalars(select(Ticket).where(Ticket.status == "waiting", Ticket.day == DAY)))
                sizes = {key: len([t for t in today if t.service == key]) for key in ("consultation", "mediation")}
                counted = estimates.waiting_counts(session, 1, DAY)
                assert {k: v for k, v in counted.items() if v} == {k: v for k, v in sizes.items() if v}
                for ticket in today:
                    mates = [t for t in today if t.service == ticket.service]
                    expected = fairness.position(mates, ticket.id, max_skips)
                    assert places.ahead_of(session, ticket, max_skips) == expected, (step, ticket.id)
                    synced = hub_rows[ticket.token]
                    assert places.hub_ahead_of(session, synced, max_skips) == expected, (step, ticket.id)

    check()


def test_the_migrations_count_the_waiting_tickets_an_older_database_has(legal_app):
    """Upgrading from legal_0003, then legal_0004, with a queue waiting: the minute and hour counts start right
    and the triggers go on from them; a downgrade to legal_0004 keeps the minutes counted."""
    from alembic import command

    from kiosk import migrate

    engine = legal_app.extensions["db"].engine

    def migrate_to(revision: str, up: bool = True) -> None:
        with engine.begin() as conn:
            (command.upgrade if up else command.downgrade)(migrate.alembic_config(legal_app, conn), revision)

    migrate_to("legal_0003", up=False)
    with Session(engine) as session:
        assert "legal_queue_count" not in inspect(engine).get_table_names()
        station_id = session.scalar(select(Station.id))
        # Over three hours of queue time, some served.
        rows = [_row(i, i % 3 == 0, i * 1000.5, 0, waiting=i % 4 != 1) for i in range(12)]
        for row in rows:
            del row["id"]
            row["station_id"] = station_id
        session.execute(insert(Ticket), rows)
        session.commit()
    migrate_to("legal_0004")
    with Session(engine) as session:
        assert "legal_queue_hour_count" not in inspect(engine).get_table_names()
        session.execute(insert(Ticket), [{**rows[1], "token": "at 0004", "number": 98, "status": "waiting"}])
        session.commit()
    migrate_to("heads")
    with Session(engine) as session:
        _check_counts(session, Ticket, QueueCount, QueueHourCount, "urgent")
        assert sum(c.waiting for c in session.scalars(select(QueueHourCount))) == 10
        assert len(list(session.scalars(select(QueueHourCount)))) >= 4  # two classes, three hours
        session.execute(insert(Ticket), [{**rows[0], "token": "later", "number": 99, "queue_at": T0}])
        session.commit()
        _check_counts(session, Ticket, QueueCount, QueueHourCount, "urgent")
        waiting = list(session.scalars(select(Ticket).where(Ticket.status == "waiting")))
        for ticket in waiting:
            assert places.ahead_of(session, ticket, 3) == fairness.position(waiting, ticket.id, 3)
    migrate_to("legal_0004", up=False)
    with Session(engine) as session:
        assert "legal_queue_hour_count" not in inspect(engine).get_table_names()
        session.execute(update(Ticket).where(Ticket.token == "later").values(status="served"))
        session.commit()
        assert sum(c.waiting for c in session.scalars(select(QueueCount))) == 10
    migrate_to("heads")
    with Session(engine) as session:
        _check_counts(session, Ticket, QueueCount, QueueHourCount, "urgent")


def test_the_days_close_and_the_hubs_retention_delete_the_hour_counts_with_the_minute_counts(legal_app):
    """Yesterday's count rows go at the day's close, a synced day past the hub's retention with its tickets."""
    from kiosk import clock
    from kiosk.stations import current_station
    from kiosk_plugins.legal import hub
    from kiosk_plugins.legal.day_close import expire_old_tickets

    engine = legal_app.extensions["db"].engine
    with legal_app.test_request_context("/"):
        station = current_station()
        today, now = clock.today(station), clock.now()
    old = today - timedelta(days=hub.KEEP_DAYS + 1)
    with Session(engine) as session:
        rows = []
        for i, day in enumerate((today - timedelta(days=1),) * 3 + (today,)):
            row = _row(i, i == 1, 0, 0)
            del row["id"]
            rows.append({**row, "station_id": station.id, "day": day, "queue_at": now - timedelta(hours=i)})
        session.execute(insert(Ticket), rows)
        synced = [
            {key: row[key] for key in ("day", "number", "code", "service", "numbered_service", "status", "skips")}
            | {"station_id": station.id, "token": row["token"], "place": i + 1, "priority": row["urgent"]}
            | {"queue_at": row["queue_at"], "issued_at": row["issued_at"], "day": old if i < 3 else row["day"]}
            for i, row in enumerate(rows)
        ]
        session.execute(insert(HubTicket), synced)
        session.commit()
        for counts in (QueueCount, QueueHourCount, HubQueueCount, HubQueueHourCount):
            assert len({c.day for c in session.scalars(select(counts))}) == 2, counts
    assert expire_old_tickets(legal_app) == 3
    assert hub.prune(legal_app) == 3
    with Session(engine) as session:
        for counts in (QueueCount, QueueHourCount, HubQueueCount, HubQueueHourCount):
            assert {c.day for c in session.scalars(select(counts))} == {today}, counts
        _check_counts(session, Ticket, QueueCount, QueueHourCount, "urgent")
        _check_counts(session, HubTicket, HubQueueCount, HubQueueHourCount, "priority")


def _migration(name: str):
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(models.__file__), "migrations", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return migration


def test_the_models_create_the_triggers_the_migration_does():
    """A fresh ``create_all`` (these tests' bare databases) and a migrated database keep the counts alike;
    legal_0005's downgrade restores legal_0004's triggers."""
    minutes, hours = _migration("legal_0004_queue_counts"), _migration("legal_0005_queue_hour_counts")
    assert hours.COUNTED == models.COUNTED
    assert [(table, counts, urgent) for table, counts, _hours, urgent in hours.COUNTED] == list(minutes.COUNTED)
    assert minutes.BUCKET_SECONDS == hours.BUCKET_SECONDS == models.BUCKET_SECONDS
    assert hours.HOUR_SECONDS == models.HOUR_SECONDS and models.HOUR_SECONDS % models.BUCKET_SECONDS == 0
    for dialect in ("sqlite", "postgresql"):
        for table, counts, by_hour, urgent in models.COUNTED:
            assert hours.triggers(dialect, table, counts, by_hour, urgent) == models.count_triggers(
                dialect, table, counts, by_hour, urgent
            )
            assert hours.triggers(dialect, table, counts, None, urgent) == minutes.triggers(
                dialect, table, counts, urgent
            )


def _statements(engine, action) -> int:
    seen = []

    def count(*_args):
        seen.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_a_position_and_a_call_run_the_same_statements_whatever_the_queue_length(engine):
    """No statement per waiting ticket, and none returns the queue: what grows is only the index count."""
    counts = {}
    for length in (6, 600):
        rows = [_row(i, i % 6 == 0, i, 1 if i < 3 else 0) for i in range(length)]
        with _load(engine, rows) as session:
            last, middle = session.get(Ticket, length), session.get(Ticket, length // 2 + 2)  # normal, skips 0
            position = _statements(engine, lambda s=session, t=last: places.ahead_of(s, t, 3))
            middle_position = _statements(engine, lambda s=session, t=middle: places.ahead_of(s, t, 3))
            queue = places.station_queue(session, 1, DAY, "consultation", 3)
            passed: list = []
            call = _statements(engine, lambda q=queue, p=passed: p.extend(q.next_to_call()[1]))
            counts[length] = (position, middle_position, call, len(passed))
    assert counts[6] == counts[600], counts


def test_people_ahead_of_a_priority_ticket_behind_passed_normal_tickets_take_one_statement(engine):
    """The count of the normal tickets up to the last one a priority ticket waits for is in the first statement.

    It was a second statement whenever normal tickets were queued before the priority ticket, so a
    priority ticket's page cost more in a long queue than in an empty one. The queue crosses an hour.
    """
    rows = [_row(i, i % 6 == 5, i * 7.5, 1 if i < 12 else 0) for i in range(600)]
    with _load(engine, rows) as session:
        waiting = list(session.scalars(select(Ticket)))
        for ticket_id in (6, 300, 600):  # priority tickets: early, in the middle, the last
            ticket = session.get(Ticket, ticket_id)
            ahead: list = []
            assert _statements(engine, lambda t=ticket, a=ahead: a.append(places.ahead_of(session, t, 3))) == 1
            assert ahead == [fairness.position(waiting, ticket_id, 3)], ticket_id


def test_a_long_queue_through_the_kiosk_the_phone_page_and_the_counter(legal_app):
    """The screens' figures with 240 people waiting are the walk's, and "call next" takes the walk's first."""
    from kiosk import clock
    from kiosk.db import write_transaction
    from kiosk.stations import current_station

    with legal_app.test_request_context("/"):
        station = current_station()
        now, day = clock.now(), clock.today(station)
        rows = []
        for i in range(240):
            row = _row(i, i % 6 == 3, 0, 1 if i < 4 else 0)
            del row["id"]
            row.update(station_id=station.id, day=day, numbered_service="backlog", code=f"Z{i + 1:03d}")
            rows.append({**row, "queue_at": now - timedelta(minutes=240 - i)})
        with write_transaction() as session:
            session.execute(insert(Ticket), rows)
    taken = take_ticket(legal_app.test_client(), "consultation")
    with legal_app.test_request_context("/"):
        session = legal_app.extensions["db"].Session()
        waiting = estimates.waiting_rows(session, station.id, day, "consultation")
        mine = session.scalar(select(Ticket).where(Ticket.token == taken["token"]))
        assert taken["ahead"] == fairness.position(waiting, mine.id, 3) == 240
        sample = [row for row in waiting if row.id % 37 == 0]
        expected = {row.id: fairness.position(waiting, row.id, 3) for row in sample}
        order = fairness.call_order(waiting, 3)
        tokens = {t.id: t.token for t in session.scalars(select(Ticket).where(Ticket.id.in_(list(expected))))}
        codes = {t.id: t.code for t in session.scalars(select(Ticket).where(Ticket.id.in_([o.id for o in order[:3]])))}
        session.close()
    phone = legal_app.test_client()
    for ticket_id, ahead in expected.items():
        assert phone.get(f"/m/legal/t/{tokens[ticket_id]}.json").get_json()["ahead"] == ahead
    staff = login(legal_app, "staff")
    assert [call_next(staff, 1) for _ in range(3)] == [codes[o.id] for o in order[:3]]


def test_a_priority_call_passing_many_tickets_writes_them_in_as_many_statements_as_passing_two(legal_app):
    """Skips and the hub's entries of the passed tickets: one update and one insert, however many it passes."""
    from kiosk import clock
    from kiosk.db import write_transaction
    from kiosk.stations import current_station
    from kiosk.sync.models import SyncOutbox
    from kiosk_plugins.legal import calling

    engine = legal_app.extensions["db"].engine
    counts = {}
    for passed in (2, 40):
        with legal_app.test_request_context("/"):
            station = current_station()
            now, day = clock.now(), clock.today(station)
            rows = []
            for i in range(passed + 1):
                row = _row(i, i == passed, 0, 1 if i == 0 else 0)
                del row["id"]
                row.update(station_id=station.id, day=day, numbered_service=f"backlog{passed}", code=f"Z{i + 1:03d}")
                rows.append({**row, "queue_at": now - timedelta(minutes=passed + 1 - i)})
            with write_transaction() as session:
                session.execute(insert(Ticket), rows)
            before = {r["token"]: r["skips"] for r in rows}
            called = {}
            counts[passed] = _statements(
                engine, lambda s=station, c=called: c.update(ticket=calling.call_next(s, 1, None))
            )
            assert called["ticket"].code == f"Z{passed + 1:03d}"  # the priority ticket, first
            session = legal_app.extensions["db"].Session()
            waiting = session.scalars(select(Ticket).where(Ticket.numbered_service == f"backlog{passed}")).all()
            skips = {t.token: t.skips for t in waiting if not t.priority}
            assert skips == {token: before[token] + 1 for token in skips} and len(skips) == passed
            entries = session.scalars(select(SyncOutbox).where(SyncOutbox.key.in_(list(skips)))).all()
            assert {e.key: e.data["skips"] for e in entries} == skips
            assert all(e.kind == "legal.ticket" and e.data["status"] == "waiting" for e in entries)
            session.execute(delete(Ticket).where(Ticket.status == "called"))
            session.commit()
            session.close()
    assert counts[2] == counts[40], counts


def test_call_next_reads_only_the_first_normal_ticket_when_it_goes_before_the_priority_one(engine):
    """A normal ticket passed max_skips times goes first: the stretch before the priority ticket is not loaded."""
    rows = [_row(i, i == 40, i, 3 if i == 5 else 1) for i in range(41)]
    with _load(engine, rows) as session:
        queue = places.station_queue(session, 1, DAY, "consultation", 3)
        loaded: list = []

        def seen(target, _context):
            loaded.append(target.code)

        event.listen(Ticket, "load", seen)
        try:
            chosen, skipped = queue.next_to_call(lock=True)
        finally:
            event.remove(Ticket, "load", seen)
        assert (chosen.code, skipped) == ("A001", [])
        assert sorted(loaded) == ["A001", "A041"]
        rows[5]["skips"] = 2
    with _load(engine, rows) as session:
        chosen, skipped = places.station_queue(session, 1, DAY, "consultation", 3).next_to_call(lock=True)
        assert (chosen.code, [t.code for t in skipped]) == ("A041", [f"A{i + 1:03d}" for i in range(40)])
