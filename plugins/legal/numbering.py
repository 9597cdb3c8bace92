"""Where tickets are numbered: per-service prefix plus the core's per-day counter (:mod:`kiosk.numbering`).

Several kiosks may issue at the same instant against one database; the core's
counter is locked for the rest of the short write transaction, and the unique
constraint on the ticket table is the backstop. Nothing slow happens inside
the lock: no rendering and no printer I/O. The kiosk's take view
(:mod:`kiosk_plugins.legal.views`) makes a ticket one transaction: the number,
the ticket with its sync entry and event, its place in the queue (a few
indexed reads of the waiting counts, :mod:`kiosk_plugins.legal.places`), the
receipt's print job and the visitor's state, committed together; the printer
is woken only after the commit. :func:`issue_ticket` is the same without the
receipt, for callers that print nothing.

Until this plugin used the core's counter it kept its own (``legal_day_counter``).
That table is no longer written; it is read once per day and service, when the
core's counter for the day is created, so a kiosk upgraded during opening hours
goes on from the day's last ticket instead of giving A001 twice.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime

from sqlalchemy import insert, select

from kiosk import clock, events, numbering
from kiosk.db import as_loaded, get_session, write_transaction
from kiosk_plugins.legal import estimates, syncing
from kiosk_plugins.legal.models import DayCounter, Ticket
from kiosk_plugins.legal.settings import Service


def format_code(prefix: str, number: int) -> str:
    """A012: the prefix letter and at least three digits."""
    return f"{prefix}{number:03d}"


def series(service: str) -> str:
    """The core numbering series of a queue (``legal.consultation``)."""
    return f"legal.{service}"


def next_number(session, station, service: str, day: date) -> int:
    """Take the next number of ``service`` for ``day``; the caller's transaction holds the lock."""

    def taken() -> int:
        # The plugin's own counter from before the core had one (see the module docstring).
        return (
            session.scalar(
                select(DayCounter.last_number).where(
                    DayCounter.station_id == station.id, DayCounter.service == service, DayCounter.day == day
                )
            )
            or 0
        )

    return numbering.next_number(session, station, series(service), day, taken=taken)


#: The ticket's row in one ``INSERT … RETURNING id`` built once (SQLite >= 3.35 and PostgreSQL
#: both return it), instead of the ORM unit of work's flush: the ticket is the only row of
#: the take path written through the ORM, and the flush's machinery (change history, mapper
#: dependency sort, post-fetch) was about a seventh of the request's CPU (issue 22).
_INSERT_TICKET = insert(Ticket.__table__).returning(Ticket.__table__.c.id)


def add_ticket(
    session,
    station,
    service: Service,
    *,
    priority: str = "",
    phone: str | None = None,
    source: str = "kiosk",
    queue_at: datetime | None = None,
    booking_id: int | None = None,
) -> Ticket:
    """Number and store a ticket inside the caller's write transaction; announces it on commit."""
    now = clock.now()
    day = clock.today(station, now)
    number = next_number(session, station, service.key, day)
    values = {
        "station_id": station.id,
        "day": day,
        "numbered_service": service.key,
        "number": number,
        "code": format_code(service.prefix, number),
        "service": service.key,
        "status": "waiting",
        "priority": priority,
        "urgent": bool(priority),
        "phone": phone,
        "token": secrets.token_urlsafe(18),
        "source": source,
        "queue_at": queue_at or now,
        "issued_at": now,
        "first_called_at": None,
        "called_at": None,
        "finished_at": None,
        "counter": None,
        "staff_id": None,
        "skips": 0,
        "calls": 0,
        "transferred_from": "",
        "booking_id": booking_id,
    }
    ticket_id = session.execute(_INSERT_TICKET, values).scalar_one()
    # The stored row as a loaded ticket of this session (every column set, so reading one
    # sends no SELECT; a rollback expires it like any row the transaction wrote).
    ticket = as_loaded(session, Ticket, {"id": ticket_id, **values})
    # The hub learns of it in this same transaction (and of the queue's names, first thing each day).
    syncing.record_queue_once(session, station, service.key, day)
    syncing.record_ticket(session, ticket)
    # Pushed when the transaction commits, so a display never shows a number
    # that was rolled back. No phone, no name: displays and logs read events.
    events.emit(
        "legal.ticket_issued",
        {"ticket": ticket.code, "service": service.key, "priority": bool(priority)},
        channel="legal",
        station_id=station.id,
        session=session,
    )
    return ticket


def issue_ticket(station, service: Service, **options) -> tuple[Ticket, estimates.Progress]:
    """Issue one ticket in its own short write transaction; returns it (detached) and its place.

    The place is read after the commit, outside the lock (the whole file on
    SQLite, the day's counter row on PostgreSQL). A fresh read sees the
    committed ticket (the request's read transaction ended when the write began).
    """
    with write_transaction() as session:
        ticket = add_ticket(session, station, service, **options)
    return ticket, estimates.progress(get_session(), station, ticket)
