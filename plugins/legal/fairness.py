"""Who is called next: priority first, but no normal ticket is passed over too often.

Priority tickets (elderly 60+, disabled, pregnant) go before normal ones. Each
time a priority ticket is called while a normal ticket that joined *earlier*
is still waiting, that normal ticket has been skipped once. When the oldest
such ticket has been skipped ``max_skips`` times, the normal queue goes first.

Pure functions over anything with ``id``, ``queue_at``, ``priority`` and
``skips``, so the same rule orders the staff's "call next", the resident's
"people ahead of you" and the tests.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Protocol


class Queued(Protocol):
    """What the rule needs to know about a waiting ticket."""

    id: int
    queue_at: object
    priority: str
    skips: int


def _order_key(ticket: Queued):
    return (ticket.queue_at, ticket.id)


def pick_next(waiting: Sequence[Queued], max_skips: int) -> tuple[Queued | None, list[Queued]]:
    """The ticket to call next and the normal tickets it skips.

    :param waiting: the queue's waiting tickets, in any order.
    :param max_skips: how often a normal ticket may be passed over.
    :returns: ``(ticket, skipped)``; ``(None, [])`` for an empty queue.
    """
    ordered = sorted(waiting, key=_order_key)
    normals = [t for t in ordered if not t.priority]
    urgent = [t for t in ordered if t.priority]
    if not urgent:
        return (normals[0] if normals else None), []
    first = urgent[0]
    passed = [n for n in normals if _order_key(n) < _order_key(first)]
    if passed and max(n.skips for n in passed) >= max_skips:
        return passed[0], []
    return first, passed


def _walk(waiting: Iterable[Queued], max_skips: int, stop_at: int | None = None):
    """Yield tickets in call order by the same rule as :func:`pick_next`, in O(n log n).

    The normal tickets a priority ticket passes are always the oldest
    remaining ones up to its time, and those bounds only move forward, so a
    ticket's skips are its own count plus the priority calls made since it
    was first passed. A sliding-window maximum over that then answers "has
    anyone passed reached the limit?" without re-sorting or re-counting: the
    kiosk computes "people ahead" on every issue, with long queues too.
    """
    ordered = sorted(waiting, key=_order_key)
    normals = [t for t in ordered if not t.priority]
    urgent = [t for t in ordered if t.priority]
    keys = [_order_key(t) for t in normals]
    base = [0] * len(normals)  # a normal ticket's skips minus the priority calls before it was passed
    window: deque[int] = deque()  # indexes of passed normal tickets, base decreasing
    calls = i = k = j = 0
    while i < len(normals) or j < len(urgent):
        if j < len(urgent):
            limit = _order_key(urgent[j])
            while k < len(normals) and keys[k] < limit:
                base[k] = normals[k].skips - calls
                while window and base[window[-1]] <= base[k]:
                    window.pop()
                window.append(k)
                k += 1
        if j == len(urgent) or (window and base[window[0]] + calls >= max_skips):
            chosen = normals[i]
            if window and window[0] == i:
                window.popleft()
            i += 1
            k = max(k, i)
        else:
            chosen = urgent[j]
            j += 1
            calls += 1
        yield chosen
        if stop_at is not None and chosen.id == stop_at:
            return


def call_order(waiting: Iterable[Queued], max_skips: int) -> list[Queued]:
    """The order the rule would call today's waiting tickets in, if nobody new came."""
    return list(_walk(waiting, max_skips))


def position(waiting: Iterable[Queued], ticket_id: int, max_skips: int) -> int | None:
    """How many tickets would be called before ``ticket_id`` (None when it is not waiting)."""
    for index, ticket in enumerate(_walk(waiting, max_skips, stop_at=ticket_id)):
        if ticket.id == ticket_id:
            return index
    return None
