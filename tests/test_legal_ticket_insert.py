"""The ticket's row is stored by one prebuilt INSERT … RETURNING, not the ORM's flush (issue 22): the
ticket handed back is a loaded row of the caller's session, every column readable without a query."""

from __future__ import annotations

from sqlalchemy import event, inspect, select
from test_legal_support import legal_app  # noqa: F401

from kiosk.db import write_transaction
from kiosk.stations import current_station
from kiosk_plugins.legal import numbering
from kiosk_plugins.legal.models import Ticket
from kiosk_plugins.legal.runtime import settings


def test_add_ticket_stores_the_row_without_a_flush_and_reads_it_without_a_query(legal_app):  # noqa: F811
    flushed_tickets = []
    with legal_app.test_request_context("/"):
        station = current_station()
        service = settings().service("consultation")
        with write_transaction() as session:

            def before_flush(flushing, _context, _instances):
                flushed_tickets.extend(row for row in flushing.new if isinstance(row, Ticket))

            event.listen(session, "before_flush", before_flush)
            ticket = numbering.add_ticket(session, station, service, priority="elderly", phone="13800138000")
            state = inspect(ticket)
            assert state.persistent and not state.expired_attributes and not state.modified
            sent = []
            engine = session.get_bind()
            count = lambda *_args: sent.append(1)  # noqa: E731
            event.listen(engine, "before_cursor_execute", count)
            try:
                seen = (ticket.first_called_at, ticket.counter, ticket.staff_id, ticket.finished_at, ticket.code)
            finally:
                event.remove(engine, "before_cursor_execute", count)
            event.remove(session, "before_flush", before_flush)
            assert sent == [] and seen == (None, None, None, None, "A001")
            ticket_id, token = ticket.id, ticket.token
        assert flushed_tickets == []
        with legal_app.extensions["db"].Session() as check:
            stored = check.scalar(select(Ticket).where(Ticket.id == ticket_id))
            assert (stored.token, stored.code, stored.status, stored.priority, stored.urgent, stored.phone) == (
                token,
                "A001",
                "waiting",
                "elderly",
                True,
                "13800138000",
            )
            assert (stored.skips, stored.calls, stored.transferred_from, stored.counter) == (0, 0, "", None)
