"""What counter staff do: call next, recall, served, no-show, transfer, pause.

Each action is one short write transaction that also writes the audit line
(who, when, which ticket) and the event the calling display listens for, so
either all of it happens or none. "Call next" locks the rows of the counters
serving its queues first (two counters pressing it together take turns, and
cannot both get the same resident), then reads only the tickets the fairness
rule looks at (:meth:`kiosk_plugins.legal.places.Queue.next_to_call`): the
first priority ticket and the normal ones before it, never the whole queue.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from kiosk import audit, clock, events
from kiosk.db import upsert_insert, write_transaction
from kiosk.i18n import _
from kiosk_plugins.legal import places, syncing
from kiosk_plugins.legal.models import Counter, Ticket
from kiosk_plugins.legal.runtime import settings


class ActionError(Exception):
    """A staff action that cannot be done now; the message is translated for the user."""


def counter_row(session, station_id: int, number: int, lock: bool = True) -> Counter:
    """The counter's row, created on first use."""
    insert = upsert_insert(session.bind.dialect.name)
    session.execute(
        insert(Counter)
        .values(station_id=station_id, number=number, paused=False, updated_at=clock.now())
        .on_conflict_do_nothing(index_elements=["station_id", "number"])
    )
    query = select(Counter).where(Counter.station_id == station_id, Counter.number == number)
    return session.scalar(query.with_for_update() if lock else query)


def current_ticket(session, station, counter: int, lock: bool = False) -> Ticket | None:
    """The ticket now called to ``counter`` today, if any."""
    query = select(Ticket).where(
        Ticket.station_id == station.id,
        Ticket.day == clock.today(station),
        Ticket.status == "called",
        Ticket.counter == counter,
    )
    return session.scalar((query.with_for_update() if lock else query).order_by(Ticket.called_at.desc()))


def _check_counter(counter: int) -> None:
    if counter not in settings().counters():
        raise ActionError(_("Counter %(counter)s is not part of the legal area.", counter=counter))


def _emit(session, station, name: str, ticket: Ticket, **extra) -> None:
    payload = {"ticket": ticket.code, "service": ticket.service, "counter": ticket.counter, **extra}
    events.emit(name, payload, channel="legal", station_id=station.id, session=session)


def _record(session, station, user, action: str, detail: dict) -> None:
    audit.record(action, detail, user=user, station_id=station.id, session=session, commit=False)


def _finish(session, station, user, ticket: Ticket, outcome: str) -> None:
    ticket.status = outcome
    ticket.finished_at = clock.now()
    ticket.staff_id = user.id if user else ticket.staff_id
    _record(
        session,
        station,
        user,
        f"legal.{outcome}",
        {"ticket": ticket.code, "counter": ticket.counter, "service": ticket.service},
    )
    _emit(session, station, f"legal.ticket_{outcome}", ticket)
    syncing.record_ticket(session, ticket)
    if outcome == "served":
        # A finished service changes the queue's measured pace, which the hub's estimate reads.
        session.flush()
        syncing.record_queue(session, station, ticket.service, ticket.day)


def _announce(session, station, user, ticket: Ticket, counter: int, action: str, **detail) -> None:
    now = clock.now()
    ticket.status = "called"
    ticket.counter = counter
    ticket.called_at = now
    ticket.first_called_at = ticket.first_called_at or now
    ticket.calls += 1
    ticket.staff_id = user.id if user else None
    _record(
        session, station, user, action, {"ticket": ticket.code, "counter": counter, "service": ticket.service, **detail}
    )
    _emit(session, station, "legal.ticket_called", ticket, calls=ticket.calls, recall=ticket.calls > 1)
    syncing.record_ticket(session, ticket)


def call_next(station, counter: int, user, service_key: str | None = None) -> Ticket | None:
    """Finish the counter's current ticket as served and call the next by the fairness rule.

    :param service_key: call from this queue only; by default from every queue the counter serves.
    :returns: the called ticket, or None when nobody is waiting.
    """
    _check_counter(counter)
    cfg = settings()
    keys = [s.key for s in cfg.services_at(counter)]
    if service_key is not None:
        if service_key not in keys:
            raise ActionError(_("This counter does not serve that queue."))
        keys = [service_key]
    # Calls for the same queue go one at a time: every counter serving these queues is locked, in
    # ascending order (no deadlock). The queue itself is then read by seeks, not locked whole.
    serving = sorted({c for s in cfg.queues() if s.key in keys for c in s.counters} | {counter})
    with write_transaction() as session:
        rows = {number: counter_row(session, station.id, number) for number in serving}
        if rows[counter].paused:
            raise ActionError(_("This counter is paused. Resume it before calling the next ticket."))
        current = current_ticket(session, station, counter, lock=True)
        if current is not None:
            _finish(session, station, user, current, "served")
        today = clock.today(station)
        candidates = []
        for key in keys:
            queue = places.station_queue(session, station.id, today, key, cfg.max_skips)
            chosen, skipped = queue.next_to_call(lock=True)
            if chosen is not None:
                candidates.append((chosen, skipped))
        if not candidates:
            return None
        # A counter serving several queues takes priority first, then whoever waited longest.
        chosen, skipped = min(candidates, key=lambda c: (not c[0].priority, c[0].queue_at, c[0].id))
        # Their place at the hub depends on it (the fairness rule counts skips).
        syncing.record_skips(session, skipped)
        _announce(session, station, user, chosen, counter, "legal.call_next")
        return chosen


def recall(station, counter: int, user) -> Ticket:
    """Announce the counter's current ticket again."""
    _check_counter(counter)
    with write_transaction() as session:
        ticket = current_ticket(session, station, counter, lock=True)
        if ticket is None:
            raise ActionError(_("No ticket is called to this counter. Call the next ticket first."))
        _announce(session, station, user, ticket, counter, "legal.recall")
        return ticket


def finish(station, counter: int, user, outcome: str) -> Ticket:
    """Mark the counter's current ticket served or no-show."""
    _check_counter(counter)
    if outcome not in ("served", "no_show"):
        raise ActionError(_("Unknown action."))
    with write_transaction() as session:
        ticket = current_ticket(session, station, counter, lock=True)
        if ticket is None:
            raise ActionError(_("No ticket is called to this counter. Call the next ticket first."))
        _finish(session, station, user, ticket, outcome)
        return ticket


def recall_no_show(station, counter: int, user, ticket_id: int) -> Ticket:
    """Call a no-show back to ``counter`` if it is still inside the recall window."""
    _check_counter(counter)
    window = timedelta(minutes=settings().no_show_recall_minutes)
    with write_transaction() as session:
        ticket = session.scalar(
            select(Ticket)
            .where(Ticket.id == ticket_id, Ticket.station_id == station.id, Ticket.day == clock.today(station))
            .with_for_update()
        )
        if ticket is None or ticket.status != "no_show":
            raise ActionError(_("That ticket is not a no-show today."))
        if ticket.finished_at is None or clock.now() - ticket.finished_at > window:
            raise ActionError(
                _(
                    "Ticket %(ticket)s missed its turn more than %(minutes)s minutes ago; "
                    "the resident needs a new ticket.",
                    ticket=ticket.code,
                    minutes=settings().no_show_recall_minutes,
                )
            )
        if current_ticket(session, station, counter, lock=True) is not None:
            raise ActionError(_("Finish the current ticket at this counter first."))
        ticket.finished_at = None
        _announce(session, station, user, ticket, counter, "legal.recall_no_show")
        return ticket


def transfer(station, counter: int, user, to_service: str) -> Ticket:
    """Send the counter's current ticket to another queue, keeping its place by time."""
    _check_counter(counter)
    target = settings().service(to_service)
    if target is None or not target.queue:
        raise ActionError(_("Choose a queue to transfer the ticket to."))
    with write_transaction() as session:
        ticket = current_ticket(session, station, counter, lock=True)
        if ticket is None:
            raise ActionError(_("No ticket is called to this counter. Call the next ticket first."))
        if ticket.service == to_service:
            raise ActionError(_("The ticket is already in that queue."))
        source = ticket.service
        ticket.transferred_from = source
        ticket.service = to_service
        ticket.status = "waiting"
        ticket.counter = None
        ticket.called_at = None
        _record(
            session,
            station,
            user,
            "legal.transfer",
            {"ticket": ticket.code, "counter": counter, "from": source, "to": to_service},
        )
        events.emit(
            "legal.ticket_transferred",
            {"ticket": ticket.code, "from": source, "service": to_service},
            channel="legal",
            station_id=station.id,
            session=session,
        )
        syncing.record_ticket(session, ticket)
        return ticket


def set_paused(station, counter: int, user, paused: bool) -> None:
    """Pause a counter (no calls; estimates count it out) or resume it."""
    _check_counter(counter)
    with write_transaction() as session:
        row = counter_row(session, station.id, counter)
        row.paused = paused
        row.updated_at = clock.now()
        _record(
            session, station, user, "legal.counter_paused" if paused else "legal.counter_resumed", {"counter": counter}
        )
        events.emit(
            "legal.counter_paused",
            {"counter": counter, "paused": paused},
            channel="legal",
            station_id=station.id,
            session=session,
        )
        # Open counters set the hub's estimate for every queue this counter serves.
        session.flush()
        for service in settings().services_at(counter):
            syncing.record_queue(session, station, service.key)


def take_counter(station, counter: int, user) -> None:
    """Record that ``user`` now works at ``counter``."""
    _check_counter(counter)
    with write_transaction() as session:
        row = counter_row(session, station.id, counter)
        row.staff_id = user.id if user else None
        row.updated_at = clock.now()
        _record(session, station, user, "legal.counter_taken", {"counter": counter})
