"""Where a ticket stands in its queue and who goes next, from a few indexed queries.

:mod:`kiosk_plugins.legal.fairness` states the rule as a walk over the whole
queue; the kiosk asks "how many people are ahead" on every ticket issued and
every phone-page refresh, and "who is next" on every call, so a walk made each
of them grow with the queue. This module gives the same answers from the
rule's closed form, read with index seeks and range counts (the indexes of
migration ``legal_0003``), never loading the queue.

The closed form (tests/test_legal_queue_length.py checks it against the walk
over random queues). Number the normal tickets ``n_0, n_1, …`` and the
priority tickets ``u_0, u_1, …`` in queue order (``queue_at``, then id); for a
normal ticket ``k`` let ``f_k`` be the priority tickets queued before it and
``D_k = f_k + max(0, max_skips - skips_k)``: once ``D_k`` priority tickets have
been called, ``n_k`` has been passed ``max_skips`` times, so no further priority
ticket goes until the normal queue has been called up to ``n_k``. Hence

- a normal ticket ``n_p`` has ``p + min(U, min over k >= p of D_k)`` people ahead
  (``U``: priority tickets waiting);
- a priority ticket ``u_q`` has ``q + R`` ahead, ``R`` being the normal tickets up
  to and including the last ``n_k`` with ``D_k <= q`` (none: 0).

``f_k`` never decreases along the queue and ``max_skips - skips`` takes at most
``max_skips + 1`` values, so the minimum and the "last" above need one seek per
skip count (usually ``max_skips`` = 3), not a pass over the queue.

``p`` and ``q`` (waiting tickets of a class queued before a key) are not counted
over the queue's index entries: migrations ``legal_0004`` and ``legal_0005`` keep, by
triggers, the count of each queue's waiting tickets per class and minute of
``queue_at`` (:class:`~kiosk_plugins.legal.models.QueueCount`) and per class and
hour (:class:`~kiosk_plugins.legal.models.QueueHourCount`), so a count is the sum
of the earlier hours' rows, the sum of the earlier minutes of the key's hour (at
most 23 + 59 rows, whatever the queue's length) and an index count inside the
key's own minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    and_,
    bindparam,
    cast,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from kiosk_plugins.legal import fairness


@dataclass(frozen=True)
class QueueTable:
    """The columns the rule reads in one table of tickets (the station's, or the hub's synced copy)."""

    model: Any
    tie: Any  # breaks ties of queue_at: the station's ticket id
    urgent: Any  # a boolean column: the ticket has a priority reason
    counts: Any  # its waiting tickets per queue, class and minute (models.QueueCount)
    hours: Any  # the same per hour (models.QueueHourCount)

    def waiting(self) -> list:
        """Filters of one queue's waiting tickets (the leading columns of its indexes), as parameters."""
        m = self.model
        return [
            m.station_id == bindparam("station_id"),
            m.day == bindparam("day"),
            m.service == bindparam("service"),
            m.status == "waiting",
        ]


@dataclass(frozen=True)
class Key:
    """A ticket's place in queue order."""

    at: datetime
    tie: int


def _tickets():
    from kiosk_plugins.legal.models import QueueCount, QueueHourCount, Ticket

    return QueueTable(Ticket, Ticket.id, Ticket.urgent, QueueCount, QueueHourCount)


def _hub_tickets():
    from kiosk_plugins.legal.models import HubQueueCount, HubQueueHourCount, HubTicket

    return QueueTable(HubTicket, HubTicket.place, HubTicket.priority, HubQueueCount, HubQueueHourCount)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _bucket(at: datetime) -> int:
    """The count row's minute of a queue time, as the triggers reckon it (whole seconds, floored)."""
    from kiosk_plugins.legal.models import BUCKET_SECONDS

    return (at - _EPOCH) // timedelta(seconds=BUCKET_SECONDS)


def _bucket_start(bucket: int) -> datetime:
    from kiosk_plugins.legal.models import BUCKET_SECONDS

    return _EPOCH + timedelta(seconds=bucket * BUCKET_SECONDS)


def _before(table: QueueTable, name: str, inclusive: bool = False):
    """Queued before the key bound as ``<name>_at`` and ``<name>_tie``."""
    at: Any = bindparam(f"{name}_at")
    tie: Any = bindparam(f"{name}_tie")
    # The plain bound first: it is the index range; the OR only sorts out equal times.
    return and_(
        table.model.queue_at <= at, or_(table.model.queue_at < at, table.tie <= tie if inclusive else table.tie < tie)
    )


def _count_before(table: QueueTable, urgent: bool, name: str, inclusive: bool = False):
    """How many waiting tickets of a class are queued before the bound key, as a scalar subquery.

    The hour rows before the key's hour (``<name>_hour``), the minute rows of its hour
    before its minute (from ``<name>_first`` to ``<name>_bucket``), then two index ranges
    inside its minute (from ``<name>_start``): earlier times, and the same time with a
    lower id (an OR made every entry a test).
    """
    bound = [bindparam(f"{name}_{part}") for part in ("at", "tie", "hour", "first", "bucket", "start")]
    return _count_to(table, urgent, *bound, inclusive=inclusive)


class _QueueBucket(FunctionElement):
    """The count rows' bucket of a queue time in a query: its whole seconds since the epoch divided by a width.

    For a key read by the same statement (:meth:`Queue.figures_and_keys`); a key known
    beforehand is bound instead (:func:`_bind`). The text is the triggers' own
    (:func:`~kiosk_plugins.legal.models.epoch_seconds_sql`), so both put a time in one bucket.
    """

    type = BigInteger()
    name = "queue_bucket"
    inherit_cache = True


class _MinuteStart(FunctionElement):
    """The first instant of a queue time's minute bucket, in a query (the column's type on each database)."""

    type = DateTime()
    name = "minute_start"
    inherit_cache = True


@compiles(_QueueBucket)
def _compile_bucket(element, compiler, **kw):
    from kiosk_plugins.legal.models import epoch_seconds_sql

    at, width = list(element.clauses)
    return f"({epoch_seconds_sql(compiler.dialect.name, compiler.process(at, **kw))} / {compiler.process(width, **kw)})"


@compiles(_MinuteStart, "sqlite")
def _compile_minute_start_sqlite(element, compiler, **kw):
    # Text 'YYYY-MM-DD HH:MM:SS', which sorts before every stored time of that second (they add .ffffff).
    (bucket,) = list(element.clauses)
    return f"datetime({compiler.process(bucket, **kw)} * {_width('minute')}, 'unixepoch')"


@compiles(_MinuteStart)
def _compile_minute_start(element, compiler, **kw):
    (bucket,) = list(element.clauses)
    return f"to_timestamp({compiler.process(bucket, **kw)} * {_width('minute')})"


def _width(level: str) -> int:
    from kiosk_plugins.legal.models import BUCKET_SECONDS, HOUR_SECONDS

    return BUCKET_SECONDS if level == "minute" else HOUR_SECONDS


def _count_upto_row(table: QueueTable, urgent: bool, at, tie):
    """:func:`_count_before` (inclusive) of a key that is a row of the same query (``at``, ``tie``: its columns)."""
    hour = _QueueBucket(at, literal_column(str(_width("hour"))))
    bucket = _QueueBucket(at, literal_column(str(_width("minute"))))
    first = hour * literal_column(str(_width("hour") // _width("minute")))
    return _count_to(table, urgent, at, tie, hour, first, bucket, _MinuteStart(bucket), inclusive=True)


def _count_to(table: QueueTable, urgent: bool, at, tie, hour, first, bucket, start, inclusive: bool):
    """Waiting tickets of a class before the key (``at``, ``tie``) whose hour, first minute of that hour, minute
    and minute's first instant are given: the hour rows, the minute rows and two index ranges (see above)."""
    m = table.model

    def count(*where):
        query = select(func.count()).select_from(m).where(*table.waiting(), _class(table, urgent), *where)
        return query.scalar_subquery()

    def total(counts, *where):
        query = select(func.coalesce(func.sum(counts.waiting), 0)).where(
            counts.station_id == bindparam("station_id"),
            counts.day == bindparam("day"),
            counts.service == bindparam("service"),
            counts.urgent == (true() if urgent else false()),
            *where,
        )
        return query.scalar_subquery()

    c, h = table.counts, table.hours
    hours = total(h, h.hour < hour)
    minutes = total(c, c.bucket >= first, c.bucket < bucket)
    same = table.tie <= tie if inclusive else table.tie < tie
    inside = count(m.queue_at >= start, m.queue_at < at) + count(m.queue_at == at, same)
    return hours + minutes + inside


def _after(table: QueueTable, name: str):
    at: Any = bindparam(f"{name}_at")
    tie: Any = bindparam(f"{name}_tie")
    return and_(table.model.queue_at >= at, or_(table.model.queue_at > at, table.tie > tie))


def _bind(name: str, key: Key, counted: bool = False) -> dict:
    """The key's parameters; ``counted`` adds its hour and minute for :func:`_count_before`."""
    if not counted:
        return {f"{name}_at": key.at, f"{name}_tie": key.tie}
    from kiosk_plugins.legal.models import BUCKET_SECONDS, HOUR_SECONDS

    bucket = _bucket(key.at)
    per_hour = HOUR_SECONDS // BUCKET_SECONDS
    hour = bucket // per_hour
    return {
        f"{name}_at": key.at,
        f"{name}_tie": key.tie,
        f"{name}_hour": hour,
        f"{name}_first": hour * per_hour,
        f"{name}_bucket": bucket,
        f"{name}_start": _bucket_start(bucket),
    }


def _class(table: QueueTable, urgent: bool):
    return table.urgent == (true() if urgent else false())


def _order(table: QueueTable, descending: bool) -> tuple:
    at = table.model.queue_at
    return (at.desc(), table.tie.desc()) if descending else (at, table.tie)


#: Statements are built once per table and shape and bound with parameters on each use:
#: building SQLAlchemy expressions cost more than running them.
_STATEMENTS: dict[tuple, object] = {}


def _statement(table: QueueTable, shape: tuple, build):
    key = (table.model.__tablename__, *shape)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build()
    return statement


def read_columns(session, statement, params: dict):
    """Run a read of columns (counts, keys) on ``session``'s connection, after the flush a session would make.

    ``session.execute`` of a statement naming ORM attributes takes the ORM's path (a
    compile state, a loading context) for rows that are plain columns: more CPU on
    every ticket issued, every position page and every phone-page refresh.
    """
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()
    return session.connection().execute(statement, params)


class Queue:
    """One queue's waiting tickets (station, day, service) as the fairness rule sees them."""

    def __init__(self, session, table: QueueTable, station_id: int, day: date, service: str, max_skips: int):
        self.session = session
        self.table = table
        self.params = {"station_id": station_id, "day": day, "service": service}
        self.max_skips = max_skips

    # -- the queries -----------------------------------------------------------------------------
    def _run(self, shape: tuple, build, **params):
        return read_columns(self.session, _statement(self.table, shape, build), {**self.params, **params})

    def figures(self, key: Key) -> tuple[int, int, int, int]:
        """What one statement tells of the ticket at ``key``.

        (normal tickets before it, priority tickets before it, the most skips of any
        normal ticket, priority tickets after it up to ``max_skips``): two counts of
        :func:`_count_before` (count rows and the key's minute), a seek (the last entry
        of the skips index) and a count of at most ``max_skips`` entries.
        """
        t = self.table

        def build():
            most = select(func.max(t.model.skips)).where(*t.waiting(), _class(t, False)).scalar_subquery()
            behind = select(t.tie).where(*t.waiting(), _class(t, True), _after(t, "key")).limit(bindparam("cap"))
            after = select(func.count()).select_from(behind.subquery()).scalar_subquery()
            return select(_count_before(t, False, "key"), _count_before(t, True, "key"), most, after)

        row = self._run(("figures",), build, cap=self.max_skips, **_bind("key", key, counted=True)).one()
        normals, urgent, skips, after = row
        return normals or 0, urgent or 0, skips or 0, after or 0

    def figures_and_keys(self, key: Key, behind: int, values: list[int], urgent: bool = False) -> tuple:
        """:meth:`figures`, the first ``behind`` priority tickets after ``key``, and the first normal ticket
        after ``key`` with each skip count of ``values``, in one statement.

        With ``urgent`` (a priority ticket at ``key``), instead of ``values``: the last normal ticket
        with ``max_skips - a`` skips queued before the ``a``-th priority ticket before ``key``, for
        ``a`` = 0 .. ``max_skips`` (each bound found by a subquery), the latest of them and the
        normal tickets up to it, counted as :func:`_count_before` does with its hour and minute
        reckoned in the query (``upto``: ``(count, key)``, or None when there is none).

        Each statement is a round trip and SQLAlchemy's work around it (about 0.1 ms of CPU):
        a long queue used to take three or four where an empty one took one or two, only because
        its normal tickets had been passed; a priority ticket's count of the normal tickets up to
        that bound was a second statement only in a queue with normal tickets before it (some
        0.15 ms on every sixth position page of ``python -m bench queue_length`` at 5,000 waiting
        and none at 0). Returns ``(figures, keys, {value: key}, upto)``.
        """
        t = self.table

        def build():
            def nothing(kind):
                return cast(null(), kind)

            def row(part, figures=(None, None, None, None), at=None, tie=None):
                ints = [nothing(Integer) if v is None else v for v in figures]
                return [
                    literal(part).label("part"),
                    *(v.label(f"n{i}") for i, v in enumerate(ints)),
                    (nothing(t.model.queue_at.type) if at is None else at).label("at"),
                    (nothing(Integer) if tie is None else tie).label("tie"),
                ]

            most = select(func.max(t.model.skips)).where(*t.waiting(), _class(t, False)).scalar_subquery()
            capped = select(t.tie).where(*t.waiting(), _class(t, True), _after(t, "key")).limit(bindparam("cap"))
            after = select(func.count()).select_from(capped.subquery()).scalar_subquery()
            counts = (_count_before(t, False, "key"), _count_before(t, True, "key"), most, after)
            parts = [select(*row(-1, counts))]
            if behind:
                query = select(*row(-2, at=t.model.queue_at, tie=t.tie)).where(
                    *t.waiting(), _class(t, True), _after(t, "key")
                )
                parts.append(select(query.order_by(*_order(t, False)).limit(behind).subquery()))
            for value in values:
                query = select(*row(value, at=t.model.queue_at, tie=t.tie)).where(
                    *t.waiting(), _class(t, False), t.model.skips == value, _after(t, "key")
                )
                parts.append(select(query.order_by(*_order(t, False)).limit(1).subquery()))
            bounds = []
            for a in range(self.max_skips + 1) if urgent else ():
                if a == 0:
                    side = _before(t, "key")
                else:  # before u_{q-a}: the a-th priority ticket before the key (none: no row)
                    prior = select(t.model.queue_at).where(*t.waiting(), _class(t, True), _before(t, "key"))
                    prior = prior.order_by(*_order(t, True)).limit(1).offset(a - 1)
                    at = prior.scalar_subquery()
                    tie = prior.with_only_columns(t.tie).scalar_subquery()
                    side = and_(t.model.queue_at <= at, or_(t.model.queue_at < at, t.tie < tie))
                query = select(t.model.queue_at.label("at"), t.tie.label("tie")).where(
                    *t.waiting(), _class(t, False), t.model.skips == self.max_skips - a, side
                )
                bounds.append(select(query.order_by(*_order(t, True)).limit(1).subquery()))
            if bounds:
                found = union_all(*bounds).subquery() if len(bounds) > 1 else bounds[0].subquery()
                last = select(found.c.at, found.c.tie).order_by(found.c.at.desc(), found.c.tie.desc()).limit(1)
                last = last.subquery()
                upto = _count_upto_row(t, False, last.c.at, last.c.tie)
                parts.append(select(*row(-3, (upto, None, None, None), at=last.c.at, tie=last.c.tie)).select_from(last))
            return parts[0] if len(parts) == 1 else union_all(*parts)

        shape = ("figures_and_keys", behind, tuple(values), self.max_skips if urgent else None)
        rows = self._run(shape, build, cap=self.max_skips, **_bind("key", key, counted=True)).all()
        figures, keys, found, upto = (0, 0, 0, 0), [], {}, None
        for part, n0, n1, n2, n3, at, tie in rows:
            if part == -1:
                figures = (n0 or 0, n1 or 0, n2 or 0, n3 or 0)
            elif part == -2:
                keys.append(Key(at, tie))
            elif part == -3:
                upto = (n0 or 0, Key(at, tie))
            else:
                found[part] = Key(at, tie)
        return figures, keys, found, upto

    def normals_up_to(self, key: Key) -> int:
        """Normal tickets queued before ``key`` or at it."""
        t = self.table

        def build():
            return select(_count_before(t, False, "key", inclusive=True))

        return self._run(("normals_up_to",), build, **_bind("key", key, counted=True)).scalar() or 0

    def urgent_keys(self, key: Key, limit: int, descending: bool = False) -> list[Key]:
        """Up to ``limit`` priority tickets after ``key`` (before it, nearest first, when ``descending``)."""
        t = self.table

        def build():
            side = _before(t, "key") if descending else _after(t, "key")
            query = select(t.model.queue_at, t.tie).where(*t.waiting(), _class(t, True), side)
            return query.order_by(*_order(t, descending)).limit(limit)

        rows = self._run(("urgent_keys", descending, limit), build, **_bind("key", key))
        return [Key(at, tie) for at, tie in rows]

    def _seeks(self, wanted: list[tuple[int, Key]], descending: bool) -> list[tuple[int, Key]]:
        """One statement: for each ``(skip count, key)``, the first normal ticket with that count after ``key``.

        With ``descending``: the last one before ``key``. Each part is one seek in the skips index.
        """
        if not wanted:
            return []
        t = self.table

        def build():
            parts = []
            for i in range(len(wanted)):
                side = _before(t, f"k{i}") if descending else _after(t, f"k{i}")
                value = bindparam(f"v{i}")
                part = (
                    select(literal(i).label("part"), t.model.queue_at, t.tie.label("tie"))
                    .where(*t.waiting(), _class(t, False), t.model.skips == value, side)
                    .order_by(*_order(t, descending))
                    .limit(1)
                )
                parts.append(select(part.subquery()))
            return parts[0] if len(parts) == 1 else union_all(*parts)

        params: dict = {}
        for i, (value, key) in enumerate(wanted):
            params.update(_bind(f"k{i}", key), **{f"v{i}": value})
        rows = self._run(("seeks", descending, len(wanted)), build, **params)
        return [(wanted[part][0], Key(at, tie)) for part, at, tie in rows]

    def _weight(self, skips: int) -> int:
        """``max(0, max_skips - skips)``: priority calls a normal ticket still lets pass."""
        return max(0, self.max_skips - skips)

    def _values_with_weight_below(self, weight: int, most: int) -> list[int]:
        """The skip counts up to ``most`` whose weight is under ``weight`` (more skips than the limit weigh 0).

        Counts above the limit exist only after it was lowered, or when a transfer brought a
        high count; one seek each, up to the highest count a normal ticket of the queue has.
        """
        if weight <= 0:
            return []
        return list(range(max(self.max_skips - weight + 1, 0), most + 1))

    # -- the answers -----------------------------------------------------------------------------
    def ahead(self, key: Key, urgent: bool, skips: int) -> int:
        """People who will be called before the waiting ticket at ``key`` (``fairness.position``)."""
        return self._ahead_of_urgent(key) if urgent else self._ahead_of_normal(key, skips)

    def _ahead_of_normal(self, key: Key, skips: int) -> int:
        weight = self._weight(skips)
        # In the same statement as the figures, before knowing the most skips: the priority tickets right
        # behind it (enough to know f of any later candidate that could beat its D) and the seeks for the
        # skip counts up to the limit that weigh less than it; counts above the limit (rare) cost one more.
        values = self._values_with_weight_below(weight, self.max_skips)
        (p, f, most, after), behind, found_by_value, _upto = self.figures_and_keys(key, weight, values)
        best = f + weight  # D of the ticket itself
        # Fewer than ``weight`` priority tickets behind it: then U itself is the bound.
        if after < weight:
            best = min(best, f + after)
        seeks = list(found_by_value.items())
        if weight and most > self.max_skips:
            seeks += self._seeks([(value, key) for value in range(self.max_skips + 1, most + 1)], descending=False)
        # No seek found a ticket: no normal ticket behind has been passed more often than this one, nobody beats D.
        for value, found in sorted(seeks, key=lambda item: self._weight(item[0])):
            w = self._weight(value)
            if f + w >= best:
                break
            # f of that ticket: f plus the priority tickets between the two (only the first few matter).
            between = sum(1 for u in behind if (u.at, u.tie) < (found.at, found.tie))
            best = min(best, f + between + w)
        return p + best

    def _ahead_of_urgent(self, key: Key) -> int:
        # u_{q-a} for a = 1..max_skips: the priority tickets just before this one. A normal ticket whose D
        # is at most q is one of weight a queued before u_{q-a} (weight 0: before this one); the first
        # statement seeks the last of each and counts the normal tickets up to the latest. Counts above
        # the limit (rare) cost one more, and a count if one of them is later.
        (_normals, q, most, _after_it), _keys, _found, upto = self.figures_and_keys(key, 0, [], urgent=True)
        count, last = upto if upto is not None else (0, None)
        if most > self.max_skips:
            above = [(value, key) for value in range(self.max_skips + 1, most + 1)]
            later = [
                bound
                for _value, bound in self._seeks(above, descending=True)
                if last is None or (bound.at, bound.tie) > (last.at, last.tie)
            ]
            if later:
                count = self.normals_up_to(max(later, key=lambda bound: (bound.at, bound.tie)))
        return q + count

    def next_to_call(self, lock: bool = False) -> tuple[object | None, list]:
        """The ticket "call next" takes from this queue and the normal tickets it passes (``fairness.pick_next``).

        Reads the first priority ticket and the normal tickets queued before it
        (those a priority call passes, whose skips it must count anyway), or the
        first normal ticket when no priority ticket waits; with ``lock`` the rows
        are read ``FOR UPDATE``.
        """
        t = self.table

        def first(urgent: bool):
            def build():
                query = select(t.model).where(*t.waiting(), _class(t, urgent)).order_by(*_order(t, False)).limit(1)
                return query.with_for_update() if lock else query

            return self.session.scalars(_statement(t, ("first", urgent, lock), build), self.params).first()

        urgent = first(True)
        normal = first(False)
        if urgent is None or normal is None:
            return (urgent or normal), []
        key = Key(urgent.queue_at, getattr(urgent, t.tie.key))
        if (normal.queue_at, getattr(normal, t.tie.key)) > (key.at, key.tie):
            return urgent, []

        def most():
            skips = select(func.max(t.model.skips)).where(*t.waiting(), _class(t, False), _before(t, "key"))
            return skips.scalar_subquery()

        # A normal ticket passed max_skips times goes first: then only the first normal ticket is
        # needed, not the stretch before the priority ticket (all of which a priority call passes).
        if (self._run(("most passed",), lambda: select(most()), **_bind("key", key)).scalar() or 0) >= self.max_skips:
            return normal, []

        def build():
            query = select(t.model).where(*t.waiting(), _class(t, False), _before(t, "key")).order_by(*_order(t, False))
            return query.with_for_update() if lock else query

        passed = list(
            self.session.scalars(_statement(t, ("passed", lock), build), {**self.params, **_bind("key", key)})
        )
        return fairness.pick_next([*passed, urgent], self.max_skips)

    def first_called(self, limit: int) -> list:
        """The first ``limit`` waiting tickets in the order they will be called (``fairness.call_order``).

        Reads the first ``limit`` tickets of each class and places them by the closed form;
        the rest of the queue counts only through the one bound ``ahead`` gives for the
        first normal ticket not read. For the counter page: a long queue shows its head.
        """
        if limit <= 0:
            return []
        t = self.table

        def head(urgent: bool) -> list:
            def build():
                query = select(t.model).where(*t.waiting(), _class(t, urgent)).order_by(*_order(t, False))
                return query.limit(bindparam("limit"))

            return list(
                self.session.scalars(_statement(t, ("head", urgent), build), {**self.params, "limit": limit + 1})
            )

        normals, urgents = head(False), head(True)
        rest = None  # priority calls before the first normal ticket not read: min(U, min of its and later D)
        if len(normals) > limit:
            beyond = normals.pop()
            rest = self.ahead(Key(beyond.queue_at, getattr(beyond, t.tie.key)), False, beyond.skips or 0) - limit
        read_urgents = urgents[:limit]
        keys = [(u.queue_at, getattr(u, t.tie.key)) for u in read_urgents]
        # D of each normal ticket read; f counted among the priority tickets read (exact below ``limit``).
        bounds = []
        for n in normals:
            key = (n.queue_at, getattr(n, t.tie.key))
            bounds.append(sum(1 for k in keys if k < key) + self._weight(n.skips or 0))
        total_urgent = len(urgents) if len(urgents) <= limit else None
        placed = []
        for p, ticket in enumerate(normals):
            least = min([*bounds[p:], *([rest] if rest is not None else [])])
            if total_urgent is not None:
                least = min(least, total_urgent)
            placed.append((p + least, ticket))
        for q, ticket in enumerate(read_urgents):
            if rest is not None and rest <= q:
                continue  # a normal ticket not read goes before it: it is past the head
            reached = [k for k, bound in enumerate(bounds) if bound <= q]
            placed.append((q + (reached[-1] + 1 if reached else 0), ticket))
        placed.sort(key=lambda item: item[0])
        return [ticket for position, ticket in placed if position < limit]


def station_queue(session, station_id: int, day: date, service: str, max_skips: int) -> Queue:
    """The station's own queue of ``service`` on ``day``."""
    return Queue(session, _tickets(), station_id, day, service, max_skips)


def hub_queue(session, station_id: int, day: date, service: str, max_skips: int) -> Queue:
    """A station's queue as the hub last heard of it (tickets tied by the station's ids, ``place``)."""
    return Queue(session, _hub_tickets(), station_id, day, service, max_skips)


def ahead_of(session, ticket, max_skips: int) -> int:
    """People ahead of the station's waiting ``ticket``."""
    queue = station_queue(session, ticket.station_id, ticket.day, ticket.service, max_skips)
    return queue.ahead(Key(ticket.queue_at, ticket.id), bool(ticket.priority), ticket.skips or 0)


def hub_ahead_of(session, ticket, max_skips: int) -> int:
    """People ahead of a synced waiting ticket at the hub."""
    queue = hub_queue(session, ticket.station_id, ticket.day, ticket.service, max_skips)
    return queue.ahead(Key(ticket.queue_at, ticket.place), bool(ticket.priority), ticket.skips or 0)
