"""Priority with fairness: priority tickets go first, but no normal ticket is skipped more than N times."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from test_legal_support import call_next, take_ticket

from kiosk_plugins.legal.fairness import call_order, pick_next, position


@dataclass
class T:
    id: int
    queue_at: int
    priority: str = ""
    skips: int = 0


def test_priority_goes_first_until_the_oldest_normal_ticket_reached_its_limit():
    queue = [T(1, 1), T(2, 2), T(3, 3, "elderly"), T(4, 4, "pregnant"), T(5, 5, "disabled")]
    assert [t.id for t in call_order(queue, max_skips=2)] == [3, 4, 1, 2, 5]
    assert [t.id for t in call_order(queue, max_skips=0)] == [1, 2, 3, 4, 5]
    assert [t.id for t in call_order(queue, max_skips=5)] == [3, 4, 5, 1, 2]
    chosen, skipped = pick_next(queue, 2)
    assert chosen.id == 3 and [t.id for t in skipped] == [1, 2]
    # A priority ticket that came before every normal one skips nobody.
    chosen, skipped = pick_next([T(1, 5), T(2, 1, "elderly")], 0)
    assert chosen.id == 2 and skipped == []
    assert position(queue, 1, 2) == 2 and position(queue, 99, 2) is None
    assert pick_next([], 3) == (None, [])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 3)), min_size=1, max_size=30), st.integers(0, 4))
def test_no_normal_ticket_is_ever_skipped_more_than_the_limit(arrivals, max_skips):
    """Simulate arrivals and calls interleaved; count real skips of each normal ticket."""
    waiting: list[T] = []
    skipped_count: dict[int, int] = {}
    served: list[T] = []
    for index, (urgent, calls_after) in enumerate(arrivals):
        waiting.append(T(index, index, "elderly" if urgent else ""))
        for _ in range(calls_after):
            chosen, skipped = pick_next(waiting, max_skips)
            if chosen is None:
                break
            # A "skip" is any earlier normal ticket still waiting when a later ticket is called.
            for other in waiting:
                if other is not chosen and not other.priority and other.queue_at < chosen.queue_at:
                    skipped_count[other.id] = skipped_count.get(other.id, 0) + 1
            for t in skipped:
                t.skips += 1
            waiting.remove(chosen)
            served.append(chosen)
    assert all(count <= max_skips for count in skipped_count.values()), (skipped_count, max_skips)
    # Normal tickets are served in arrival order; so are priority ones.
    normals = [t.id for t in served if not t.priority]
    urgent = [t.id for t in served if t.priority]
    assert normals == sorted(normals) and urgent == sorted(urgent)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5), st.integers(0, 4)), max_size=25), st.integers(0, 4))
def test_the_fast_call_order_matches_calling_one_by_one(tickets, max_skips):
    """ "People ahead" (one sorted pass) must agree with what "call next" will really do."""
    waiting = [T(i, at, "elderly" if urgent else "", skips) for i, (urgent, at, skips) in enumerate(tickets)]
    copies = [T(t.id, t.queue_at, t.priority, t.skips) for t in waiting]
    one_by_one = []
    while copies:
        chosen, skipped = pick_next(copies, max_skips)
        for t in skipped:
            t.skips += 1
        copies.remove(chosen)
        one_by_one.append(chosen.id)
    assert [t.id for t in call_order(waiting, max_skips)] == one_by_one
    for index, ticket_id in enumerate(one_by_one):
        assert position(waiting, ticket_id, max_skips) == index


def test_priority_fairness_through_the_counter(make_app, database_url):
    from test_legal_support import install_clock, login

    app = make_app(database_url, PLUGINS={"legal": {"print_tickets": False, "max_skips": 2}})
    clock = install_clock(app)
    issued = []
    for priority in ("", "", "elderly", "pregnant", "disabled", "elderly"):
        issued.append(take_ticket(app.test_client(), "consultation", priority=priority))
        clock.advance(seconds=30)
    # Two priority tickets may pass A001 and A002; then both normal ones go before A005.
    # The screen says so when the ticket is taken: "people ahead" follows the same rule.
    assert [t["ahead"] for t in issued] == [0, 1, 0, 1, 4, 5]
    staff = login(app, "staff")
    order = [call_next(staff, 1) for _ in range(6)]
    assert order == ["A003", "A004", "A001", "A002", "A005", "A006"]
