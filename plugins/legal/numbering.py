"""Where tickets are numbered: per-service prefix plus a counter that restarts each local day.

Several kiosks may issue at the same instant against one database. The day's
counter row is created if missing (``INSERT … ON CONFLICT DO NOTHING``, so two
first tickets of the day cannot both create it) and incremented with
``UPDATE … RETURNING``, which locks it for the rest of the short transaction:
on SQLite the whole database is locked from the start (``BEGIN IMMEDIATE``,
:func:`kiosk.db.write_transaction`), on PostgreSQL the UPDATE takes the row
lock, so a second kiosk's UPDATE waits and then sees the new value. The unique
constraint on the ticket table is the backstop. Nothing else happens inside
the lock (no printing, no rendering, not even reading the queue).
"""

from __future__ import annotations

import secrets
from datetime import date, datetime

from sqlalchemy import update

from kiosk import events
from kiosk.db import get_session, upsert_insert, write_transaction
from kiosk_plugins.legal import clock, estimates
from kiosk_plugins.legal.models import DayCounter, Ticket
from kiosk_plugins.legal.settings import Service


def format_code(prefix: str, number: int) -> str:
    """A012: the prefix letter and at least three digits."""
    return f"{prefix}{number:03d}"


def _ensure_counter(session, station_id: int, service: str, day: date) -> None:
    insert = upsert_insert(session.bind.dialect.name)
    session.execute(
        insert(DayCounter)
        .values(station_id=station_id, service=service, day=day, last_number=0)
        .on_conflict_do_nothing(index_elements=["station_id", "service", "day"])
    )


def _bump(session, station_id: int, service: str, day: date) -> int | None:
    # One statement that locks the row (UPDATE takes the row lock on PostgreSQL;
    # SQLite already holds the write lock) and returns the new number.
    return session.execute(
        update(DayCounter)
        .where(DayCounter.station_id == station_id, DayCounter.service == service, DayCounter.day == day)
        .values(last_number=DayCounter.last_number + 1)
        .returning(DayCounter.last_number)
    ).scalar()


def next_number(session, station_id: int, service: str, day: date) -> int:
    """Take the next number of ``service`` for ``day``; the caller's transaction holds the lock."""
    number = _bump(session, station_id, service, day)
    if number is None:  # the day's first ticket of this queue
        _ensure_counter(session, station_id, service, day)
        number = _bump(session, station_id, service, day)
    return number


def add_ticket(session, station, service: Service, *, priority: str = "", phone: str | None = None,
               source: str = "kiosk", queue_at: datetime | None = None, booking_id: int | None = None) -> Ticket:
    """Number and store a ticket inside the caller's write transaction; announces it on commit."""
    now = clock.now()
    day = clock.local_day(station, now)
    number = next_number(session, station.id, service.key, day)
    ticket = Ticket(
        station_id=station.id, day=day, numbered_service=service.key, number=number,
        code=format_code(service.prefix, number), service=service.key, status="waiting",
        priority=priority, phone=phone, token=secrets.token_urlsafe(18), source=source,
        queue_at=queue_at or now, issued_at=now, skips=0, calls=0, transferred_from="", booking_id=booking_id,
    )
    session.add(ticket)
    session.flush()
    # Pushed when the transaction commits, so a display never shows a number
    # that was rolled back. No phone, no name: displays and logs read events.
    events.emit("legal.ticket_issued", {"ticket": ticket.code, "service": service.key,
                                        "priority": bool(priority)},
                channel="legal", station_id=station.id, session=session)
    return ticket


def issue_ticket(station, service: Service, **options) -> tuple[Ticket, estimates.Progress]:
    """Issue one ticket in its own short write transaction; returns it (detached) and its place.

    The place is read after the commit, outside the lock: every other kiosk
    waits for the lock (the whole file on SQLite, the day's counter row on
    PostgreSQL), and reading the queue and its service times took a third
    of the time it was held. A fresh read sees the committed ticket (the
    request's read transaction ended when the write began).
    """
    with write_transaction() as session:
        ticket = add_ticket(session, station, service, **options)
    return ticket, estimates.progress(get_session(), station, ticket)
