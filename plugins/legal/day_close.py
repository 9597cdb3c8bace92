"""Closing the day: earlier days' unfinished tickets become ``expired`` and phone numbers are erased.

Numbers restart each local day anyway; expiring keeps yesterday's leftovers
out of "waiting" counts and makes the statistics honest. A phone number is
kept "only for this ticket": once its day is over (or its booked slot has
passed) it is deleted. Idempotent, so it simply runs every quarter of an hour,
on each station node (the hub hears of expired tickets through sync; it never
had the phone numbers).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_, select, update

from kiosk import clock
from kiosk.db import write_transaction
from kiosk.models import Station
from kiosk_plugins.legal import syncing
from kiosk_plugins.legal.models import Booking, DutySlot, QueueCount, QueueHourCount, Ticket


def expire_old_tickets(app) -> int:
    """Expire earlier days' unfinished tickets and forget their phones; returns how many expired."""
    total = 0
    with app.app_context(), write_transaction() as session:
        station_ids = set(
            session.scalars(
                select(Ticket.station_id)
                .where(or_(Ticket.status.in_(("waiting", "called")), Ticket.phone.is_not(None)))
                .distinct()
            )
        )
        for station in session.scalars(select(Station).where(Station.id.in_(station_ids))):
            today = clock.today(station)
            # Row by row, not one UPDATE: each expired ticket's new state goes to the hub in this transaction.
            leftovers = list(
                session.scalars(
                    select(Ticket)
                    .where(
                        Ticket.station_id == station.id, Ticket.day < today, Ticket.status.in_(("waiting", "called"))
                    )
                    .order_by(Ticket.id)
                )
            )
            for ticket in leftovers:
                ticket.status = "expired"
                ticket.finished_at = clock.now()
                syncing.record_ticket(session, ticket)
                total += 1
            session.execute(
                update(Ticket)
                .where(Ticket.station_id == station.id, Ticket.day < today, Ticket.phone.is_not(None))
                .values(phone=None)
            )
            # Earlier days' waiting counts are all 0 now (their tickets expired above, the triggers counted it).
            for counts in (QueueCount, QueueHourCount):
                session.execute(
                    delete(counts).where(counts.station_id == station.id, counts.day < today, counts.waiting == 0)
                )
        # A booking's phone is there to reach the resident before the slot; a day after it, it goes.
        ended = select(DutySlot.id).where(DutySlot.ends_at < clock.now() - timedelta(days=1))
        session.execute(
            update(Booking).where(Booking.slot_id.in_(ended), Booking.phone.is_not(None)).values(phone=None)
        )
    return total
