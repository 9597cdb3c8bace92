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
from sqlalchemy import create_engine, delete, event, insert, select
from sqlalchemy.orm import Session
from test_legal_support import call_next, legal_app, login, take_ticket  # noqa: F401  (fixtures are found by name)

from kiosk import testing
from kiosk.db import Base
from kiosk.models import Station
from kiosk_plugins.legal import estimates, fairness, places
from kiosk_plugins.legal.models import Ticket

DAY = date(2024, 5, 6)
T0 = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)
TABLES = ("station", "kiosk_user", "legal_duty_slot", "legal_booking", "legal_ticket")


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


#: One queue's tickets: priority or not, second queued (few values, so times tie), skips (some above any limit),
#: and whether it still waits; plus tickets of another queue and day that must not count.
TICKETS = st.lists(
    st.tuples(st.booleans(), st.integers(0, 6), st.sampled_from((0, 0, 0, 1, 2, 3, 4, 6)), st.booleans()),
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


def test_a_day_of_calls_keeps_the_answers_equal(engine):
    """Reachable states: arrivals (walk-ins, bookings queued earlier, transfers with skips) between real calls."""

    @settings(
        max_examples=_examples(engine) // 3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        st.lists(
            st.tuples(st.sampled_from(("normal", "priority", "booking", "transfer", "call", "call"))), max_size=30
        ),
        st.integers(1, 3),
    )
    def check(steps, max_skips):
        with _load(engine, []) as session:
            index = 0
            for (step,) in steps:
                if step == "call":
                    chosen, skipped = places.station_queue(session, 1, DAY, "consultation", max_skips).next_to_call()
                    for ticket in skipped:
                        ticket.skips += 1
                    if chosen is not None:
                        chosen.status = "called"
                    session.commit()
                else:
                    second = {"normal": 100 + index, "priority": 100 + index, "booking": 50, "transfer": 3 * index}[
                        step
                    ]
                    skips = max_skips + 1 if step == "transfer" and index % 2 else 0
                    session.execute(insert(Ticket), [_row(index, step == "priority", second, skips)])
                    session.commit()
                    index += 1
                waiting = list(session.scalars(select(Ticket).where(Ticket.status == "waiting")))
                for ticket in waiting:
                    assert places.ahead_of(session, ticket, max_skips) == fairness.position(
                        waiting, ticket.id, max_skips
                    )

    check()


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
