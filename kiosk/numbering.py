"""Per-day numbering: the next number of a named series at a station, restarting each local day.

Ticket numbers (A001, A002 …) and tracking numbers (P240512-0007) both need
"the next number today, never the same one twice, even when several kiosks
ask at the same instant against one database". Take it inside the write
transaction that stores the numbered row, and do nothing slow in there::

    from kiosk import clock, numbering
    from kiosk.db import write_transaction

    with write_transaction() as session:
        day = clock.today(station)
        number = numbering.next_number(session, station, "wishes.board", day)
        session.add(Wish(station_id=station.id, day=day, number=number, ...))

How it stays safe: the day's counter row is incremented with ``UPDATE …
RETURNING``, which locks it until the transaction ends (on SQLite the whole
database is already locked by :func:`kiosk.db.write_transaction`'s ``BEGIN
IMMEDIATE``; on PostgreSQL the UPDATE takes the row lock, so a second kiosk's
UPDATE waits, then sees the new value). The day's first number creates the row
with ``INSERT … ON CONFLICT DO NOTHING``, so two first numbers of the day cannot
both create it. A rolled-back transaction gives its number back. Keep a unique
constraint on the numbered rows as the backstop.

Series names are shared by every plugin: prefix them with the plugin's name
(``"legal.consultation"``, ``"petitions.tracking"``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import cast

from sqlalchemy import Table, bindparam, select, update

from kiosk import clock
from kiosk.db import upsert_insert
from kiosk.models import DayCounter

__all__ = ["last_number", "next_number"]


def _match(station_id: int, series: str, day: date):
    return DayCounter.station_id == station_id, DayCounter.series == series, DayCounter.day == day


#: One statement that locks the row and hands back the new number; built once (the compiled
#: statement is reused by identity, not rebuilt and re-keyed on every ticket). A Core statement of
#: the table, not the ORM's: an ORM-enabled UPDATE goes through its bulk-update machinery (about
#: 60 µs a ticket against 15, measured with SQLite), for a row no session holds.
_COUNTER = cast(Table, DayCounter.__table__)
_BUMP = (
    update(_COUNTER)
    .where(
        _COUNTER.c.station_id == bindparam("counter_station"),
        _COUNTER.c.series == bindparam("counter_series"),
        _COUNTER.c.day == bindparam("counter_day"),
    )
    .values(last=_COUNTER.c.last + 1)
    .returning(_COUNTER.c.last)
)


def _bump(session, station_id: int, series: str, day: date) -> int | None:
    return session.execute(
        _BUMP, {"counter_station": station_id, "counter_series": series, "counter_day": day}
    ).scalar()


def _create(session, station_id: int, series: str, day: date, last: int) -> None:
    insert = upsert_insert(session.get_bind().dialect.name)
    session.execute(
        insert(DayCounter)
        .values(station_id=station_id, series=series, day=day, last=last)
        .on_conflict_do_nothing(index_elements=["station_id", "series", "day"])
    )


def next_number(
    session, station, series: str, day: date | None = None, *, taken: Callable[[], int] | None = None
) -> int:
    """Take the next number (1, 2, …) of ``series`` at ``station`` on its local ``day`` (today by default).

    Call it inside the write transaction that stores the numbered row
    (:func:`kiosk.db.write_transaction`): the counter stays locked until that
    transaction ends, and a rollback gives the number back.

    :param station: the station (its ``id`` is used; the day is its local day).
    :param series: the series' name, prefixed with the plugin's (``"legal.consultation"``).
    :param day: the station's local day; :func:`kiosk.clock.today` by default.
    :param taken: called only when the day's counter does not exist yet, to
        return the last number already given out that day by other means (a
        plugin moving from its own counter table); numbering continues after it.
    """
    day = day if day is not None else clock.today(station)
    number = _bump(session, station.id, series, day)
    if number is None:  # the day's first number of this series
        _create(session, station.id, series, day, taken() if taken is not None else 0)
        number = _bump(session, station.id, series, day)
        if number is None:  # only if the row vanished between two statements of one transaction
            raise RuntimeError(f"the day counter of {series!r} could not be created")
    return number


def last_number(session, station, series: str, day: date | None = None) -> int:
    """The last number of ``series`` given out at ``station`` on ``day`` (today by default); 0 if none."""
    day = day if day is not None else clock.today(station)
    found = session.scalar(select(DayCounter.last).where(*_match(station.id, series, day)))
    return found or 0
