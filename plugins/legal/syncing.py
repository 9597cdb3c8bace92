"""What the legal queue tells the district hub: each ticket's state and each queue's pace.

The station runs the queue; the hub only shows it on residents' phones (the
QR code on a ticket opens the hub's page once the station is enrolled). Two
kinds of entries, each the record's whole current state (see :mod:`kiosk.sync`):

- ``legal.ticket``, key = the ticket's token: number, queue (and the queue
  that numbered it), status, counter, times, priority as yes/no, skips and
  calls, and ``place`` (the station's
  ticket id, which orders tickets queued at the same moment). Written in the
  same transaction as every change of the ticket: issued (at the kiosk, by
  booking check-in or for another plugin), called, recalled, served, no-show,
  called back, transferred, skipped by a priority call, expired at day close.
  No phone number, no priority reason, no booking and no staff: the phone
  page shows none of them.
- ``legal.queue``, key = the service: its names, the minutes per person
  measured today (or the usual minutes), how many of its counters are open,
  the fairness limit. Written when a service ends (the pace changes), when a
  counter pauses or resumes, and with the first ticket of the day of each
  queue in each process (so the hub has the station's names and settings).

The hub does not trust positions sent by the station: "people ahead" is
recomputed at the hub from the synced tickets of that station, queue and day
with the same fairness rule, so it stays right however many tickets change.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm.attributes import set_committed_value

from kiosk import clock, events, sync
from kiosk_plugins.legal import estimates
from kiosk_plugins.legal.models import HubQueue, HubTicket, Ticket
from kiosk_plugins.legal.runtime import runtime, settings

log = logging.getLogger("kiosk_plugins.legal")

TICKET = "legal.ticket"
QUEUE = "legal.queue"
#: Statuses a station may send; anything else is refused at the hub.
SYNCED_STATUSES = ("waiting", "called", "served", "no_show", "expired")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# --- station side -------------------------------------------------------------------------------


def ticket_data(ticket: Ticket) -> dict:
    """The ticket's whole state as the hub needs it (nothing personal)."""
    return {
        "token": ticket.token,
        "place": ticket.id,
        "day": ticket.day.isoformat(),
        "number": ticket.number,
        "code": ticket.code,
        "service": ticket.service,
        "numbered_service": ticket.numbered_service,
        "status": ticket.status,
        "priority": bool(ticket.priority),
        "queue_at": _iso(ticket.queue_at),
        "issued_at": _iso(ticket.issued_at),
        "first_called_at": _iso(ticket.first_called_at),
        "called_at": _iso(ticket.called_at),
        "finished_at": _iso(ticket.finished_at),
        "counter": ticket.counter,
        "calls": ticket.calls or 0,
        "skips": ticket.skips or 0,
        "transferred_from": ticket.transferred_from or "",
    }


def record_ticket(session, ticket: Ticket) -> None:
    """Queue the ticket's current state for the hub, in the caller's write transaction.

    Flushes first so a new ticket has its id. Does nothing on the hub (see
    :func:`kiosk.sync.record`), so callers call it unconditionally.
    """
    if sync.is_hub():
        return
    if ticket.id is None:
        session.flush()
    sync.record(session, TICKET, ticket.token, ticket_data(ticket), station_id=ticket.station_id)


_TICKETS = cast(Table, Ticket.__table__)
#: One more skip on each ticket a priority call passes: a Core UPDATE of the table, built once (the
#: ORM's bulk-update path cost four times the statement's own CPU: kiosk.numbering measured 63 µs
#: against 16), the loaded rows being set by :func:`record_skips` itself.
_PASSED = (
    update(_TICKETS).where(_TICKETS.c.id.in_(bindparam("passed", expanding=True))).values(skips=_TICKETS.c.skips + 1)
)


def record_skips(session, tickets: list[Ticket]) -> None:
    """Count one more skip on each of ``tickets`` (passed by a priority call) and queue their state for the hub.

    A priority call passes every normal ticket queued before it, a stretch that
    grows with the queue: one ``UPDATE`` for all their skips and one multi-row
    insert of their outbox entries (the same entries :func:`record_ticket`
    queues), instead of a flushed update and a flushed entry per ticket (with
    5,000 waiting, the calls that passed a dozen tickets were call next's p99,
    ``python -m bench queue_length``). The loaded tickets show the new count.
    """
    if not tickets:
        return
    session.execute(_PASSED, {"passed": [ticket.id for ticket in tickets]})
    for ticket in tickets:
        set_committed_value(ticket, "skips", (ticket.skips or 0) + 1)
    # One multi-row insert of the entries record_ticket would queue one by one (none on the hub).
    sync.record_many(
        session, TICKET, [(ticket.token, ticket_data(ticket)) for ticket in tickets], station_id=tickets[0].station_id
    )


def queue_data(session, station, service, day: date) -> dict:
    """A queue's names and pace at the station now (what the hub's estimate needs)."""
    cfg = settings()
    load = estimates.service_load(session, station, service, day, 0)
    return {
        "service": service.key,
        "order": [s.key for s in cfg.services].index(service.key),
        "day": day.isoformat(),
        "label": dict(service.label),
        "minutes": service.minutes,
        "minutes_per_person": load.minutes_per_person,
        "measured": load.measured,
        "open_counters": load.open_counters,
        "max_skips": cfg.max_skips,
    }


def record_queue(session, station, service_key: str, day: date | None = None) -> None:
    """Queue a queue's names and pace for the hub, in the caller's write transaction."""
    if sync.is_hub():
        return
    service = settings().service(service_key)
    if service is None or not service.queue:
        return
    day = day or clock.today(station)
    sync.record(session, QUEUE, service.key, queue_data(session, station, service, day), station_id=station.id)


def record_queue_once(session, station, service_key: str, day: date) -> None:
    """:func:`record_queue` for the first ticket of the day of a queue in this process.

    The queue is remembered for the day when the transaction commits. Sending
    it twice is harmless (the hub keeps the latest), so a process restart or
    a second kiosk process simply sends it again.
    """
    if sync.is_hub():
        return
    sent = runtime().queues_sent
    mark = (station.id, service_key, day)
    if mark in sent:
        return
    record_queue(session, station, service_key, day)
    sa_event.listen(session, "after_commit", lambda _s: sent.add(mark), once=True)


# --- hub side -----------------------------------------------------------------------------------


class BadEntry(ValueError):
    """An entry the hub cannot read; the core parks it (the station's later entries still apply)."""


def _date(value) -> date:
    try:
        return date.fromisoformat(str(value))
    except (TypeError, ValueError) as exc:
        raise BadEntry(f"not a date: {value!r}") from exc


def _moment(value, required: bool = False) -> datetime | None:
    if value is None and not required:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except (TypeError, ValueError) as exc:
        raise BadEntry(f"not a time: {value!r}") from exc
    if moment.tzinfo is None:
        raise BadEntry(f"a time without its zone: {value!r}")
    return moment


#: The largest number an integer column holds on PostgreSQL.
INT_MAX = 2**31 - 1


def _int(value, required: bool = False) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT_MAX:
        raise BadEntry(f"not a whole number from 0 to {INT_MAX}: {value!r}")
    return value


def _text(value, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadEntry(f"not a text of at most {limit} characters: {value!r}")
    return value


def _read_ticket(key: str, data: dict) -> dict:
    if not isinstance(data, dict):
        raise BadEntry("a ticket entry must be an object")
    token = _text(key, 32)
    if data.get("token", token) != token:
        raise BadEntry("the entry's key and the ticket's token differ")
    status = data.get("status")
    if status not in SYNCED_STATUSES:
        raise BadEntry(f"unknown ticket status {status!r}")
    return {
        "place": _int(data.get("place"), required=True),
        "day": _date(data.get("day")),
        "number": _int(data.get("number"), required=True),
        "code": _text(data.get("code"), 8),
        "service": _text(data.get("service"), 32),
        "numbered_service": _text(data.get("numbered_service") or data.get("service"), 32),
        "status": status,
        "priority": bool(data.get("priority")),
        "queue_at": _moment(data.get("queue_at"), required=True),
        "issued_at": _moment(data.get("issued_at"), required=True),
        "first_called_at": _moment(data.get("first_called_at")),
        "called_at": _moment(data.get("called_at")),
        "finished_at": _moment(data.get("finished_at")),
        "counter": _int(data.get("counter")),
        "calls": _int(data.get("calls")) or 0,
        "skips": _int(data.get("skips")) or 0,
        "transferred_from": str(data.get("transferred_from") or "")[:32],
    }


def _event_for(old: dict | None, new: dict) -> tuple[str, dict] | None:
    """The push event the station emitted for this change, so the hub's phone pages react alike."""
    payload = {"ticket": new["code"], "service": new["service"], "counter": new["counter"]}
    status = new["status"]
    if old is None:
        if status == "waiting":
            issued = {"ticket": new["code"], "service": new["service"], "priority": new["priority"]}
            return "legal.ticket_issued", issued
        if status == "called":
            return "legal.ticket_called", {**payload, "calls": new["calls"], "recall": new["calls"] > 1}
        return f"legal.ticket_{status}", payload
    if status == "called" and (old["status"] != "called" or new["calls"] != old["calls"]):
        return "legal.ticket_called", {**payload, "calls": new["calls"], "recall": new["calls"] > 1}
    if status == "waiting" and old["service"] != new["service"]:
        return "legal.ticket_transferred", {"ticket": new["code"], "from": old["service"], "service": new["service"]}
    if status != old["status"]:
        return f"legal.ticket_{status}", payload
    return None


def apply_ticket(session, station, key: str, data: dict | None) -> None:
    """``legal.ticket`` at the hub: upsert by (sending station, token); emit the station's event.

    ``station`` is the sender: the row is always that station's, whatever
    the entry says. A deleted ticket (``None``) is removed.
    """
    row = session.scalar(select(HubTicket).where(HubTicket.station_id == station.id, HubTicket.token == str(key)))
    if data is None:
        if row is not None:
            session.delete(row)
        return
    values = _read_ticket(key, data)
    old = None
    if row is None:
        row = HubTicket(station_id=station.id, token=str(key))
        session.add(row)
    else:
        old = {name: getattr(row, name) for name in ("status", "service", "calls", "counter")}
    changed = old is None or any(getattr(row, name) != value for name, value in values.items())
    for name, value in values.items():
        setattr(row, name, value)
    row.received_at = clock.now()
    session.flush()
    found = _event_for(old, values) if changed else None
    if found is not None:
        name, payload = found
        events.emit(name, payload, channel="legal", station_id=station.id, session=session)
    elif changed:
        # Skips and times change the places of others: the phone pages of that queue refresh.
        events.emit(
            "legal.ticket_updated", {"ticket": values["code"]}, channel="legal", station_id=station.id, session=session
        )


def _read_queue(key: str, data: dict) -> dict:
    if not isinstance(data, dict):
        raise BadEntry("a queue entry must be an object")
    service = _text(key, 32)
    label = data.get("label") if isinstance(data.get("label"), dict) else {}
    minutes_per_person = data.get("minutes_per_person")
    if isinstance(minutes_per_person, bool) or not isinstance(minutes_per_person, int | float):
        raise BadEntry(f"not a number of minutes: {minutes_per_person!r}")
    return {
        "day": _date(data.get("day")),
        "data": {
            "service": service,
            "order": _int(data.get("order")) or 0,
            "label": {str(k)[:10]: str(v)[:100] for k, v in label.items()},
            "minutes": _int(data.get("minutes")) or 0,
            "minutes_per_person": float(minutes_per_person),
            "measured": bool(data.get("measured")),
            "open_counters": _int(data.get("open_counters"), required=True),
            "max_skips": _int(data.get("max_skips"), required=True),
        },
    }


def apply_queue(session, station, key: str, data: dict | None) -> None:
    """``legal.queue`` at the hub: upsert by (sending station, service); phone pages refresh on a change."""
    row = session.scalar(select(HubQueue).where(HubQueue.station_id == station.id, HubQueue.service == str(key)))
    if data is None:
        if row is not None:
            session.delete(row)
        return
    values = _read_queue(key, data)
    if row is None:
        row = HubQueue(station_id=station.id, service=str(key), day=values["day"], data=values["data"])
        session.add(row)
        changed = True
    else:
        changed = row.day != values["day"] or row.data != values["data"]
        row.day, row.data = values["day"], values["data"]
    row.received_at = clock.now()
    session.flush()
    if changed:
        events.emit(
            "legal.queue_updated",
            {"service": str(key), "open_counters": values["data"]["open_counters"]},
            channel="legal",
            station_id=station.id,
            session=session,
        )


def register(register) -> None:
    """Declare the two kinds (``register_sync`` hook)."""
    register("ticket", to_hub=apply_ticket)
    register("queue", to_hub=apply_queue)
