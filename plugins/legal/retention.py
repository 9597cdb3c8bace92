"""How long the legal queue keeps personal data (the kiosk's retention job, :mod:`kiosk.retention`).

``phones``: the phone number a resident may leave on a ticket (to be told when
their turn nears) or a duty-lawyer booking (to be told of a change), counted
from the ticket's issue or the end of the booked slot. Tickets and bookings stay,
without it, for the queue's figures.
"""

from __future__ import annotations

from sqlalchemy import select, update

from kiosk import hookimpl
from kiosk_plugins.legal.models import Booking, DutySlot, Ticket


def purge_phones(sweep) -> int:
    """Phone numbers of tickets issued, and of bookings whose slot ended, before the cut-off."""
    tickets = sweep.session.execute(
        update(Ticket)
        .where(sweep.mine(Ticket.station_id), Ticket.issued_at < sweep.cutoff, Ticket.phone.is_not(None))
        .values(phone=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    ended = select(DutySlot.id).where(DutySlot.ends_at < sweep.cutoff)
    bookings = sweep.session.execute(
        update(Booking)
        .where(sweep.mine(Booking.station_id), Booking.slot_id.in_(ended), Booking.phone.is_not(None))
        .values(phone=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    return int(tickets or 0) + int(bookings or 0)


@hookimpl
def register_retention(register):
    """Phone numbers left on tickets and bookings."""
    register(
        "phones",
        days=30,
        purge=purge_phones,
        label={
            "zh_Hans": "排队和预约留下的电话",
            "zh_Hant": "排隊和預約留下的電話",
            "en": "Phones on tickets and bookings",
        },
        reason="a number is for calling the resident about this visit; a month leaves time for a complaint about it",
    )
