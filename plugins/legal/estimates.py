"""How long the wait is: today's queue lengths and real service times.

The minutes per person are the moving average of the last few services
finished today in that queue (mediation and arbitration take longer than a
consultation, and a slow morning shows). Before anyone has been served today
the service's typical length from the settings stands in; either way the
screens call it an estimate.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, func, select, union_all

from kiosk import clock
from kiosk_plugins.legal import places
from kiosk_plugins.legal.models import Counter, QueueHourCount, Ticket
from kiosk_plugins.legal.runtime import settings
from kiosk_plugins.legal.settings import Service


def wait_minutes(ahead: int, minutes_per_person: float, open_counters: int) -> int:
    """Estimated minutes until a ticket with ``ahead`` people before it is called.

    One formula for the station's screens and the hub's phone page (which
    reads the pace the station last sent).
    """
    if ahead <= 0:
        return 0
    return max(1, math.ceil(ahead * minutes_per_person / max(open_counters, 1)))


@dataclass
class ServiceLoad:
    """One queue right now: who waits, how fast it moves, how many counters are open."""

    service: Service
    waiting: int
    minutes_per_person: float
    measured: bool
    open_counters: int

    @property
    def paused(self) -> bool:
        """Every counter of this queue is paused."""
        return self.open_counters == 0

    def wait_minutes(self, ahead: int) -> int:
        """Estimated minutes until a ticket with ``ahead`` people before it is called."""
        return wait_minutes(ahead, self.minutes_per_person, self.open_counters)


def waiting_rows(session, station_id: int, day: date, service: str | None = None):
    """Today's waiting tickets (id, queue_at, priority, skips) of one queue or all."""
    query = select(Ticket.id, Ticket.queue_at, Ticket.priority, Ticket.skips, Ticket.service).where(
        Ticket.station_id == station_id, Ticket.day == day, Ticket.status == "waiting"
    )
    if service is not None:
        query = query.where(Ticket.service == service)
    return list(session.execute(query))


#: Statements built once and bound with parameters: building them cost more than running them.
_STATEMENTS: dict = {}


def _statement(key, build):
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build()
    return statement


def paused_counters(session, station_id: int) -> set[int]:
    """Numbers of the counters staff have paused."""

    def build():
        return select(Counter.number).where(Counter.station_id == bindparam("station_id"), Counter.paused.is_(True))

    return set(places.read_columns(session, _statement("paused", build), {"station_id": station_id}).scalars())


def service_minutes(session, station_id: int, day: date, window: int, service: str | None = None) -> dict[str, float]:
    """Average minutes of the last ``window`` services finished today, per queue (or of one queue).

    One statement of one limited read per queue (index ``ix_legal_ticket_station_day_status``), so
    the cost is the window's, not the day's: a busy afternoon has served hundreds.
    """
    keys = [service] if service is not None else [s.key for s in settings().queues()]
    if not keys:
        return {}

    def build():
        parts = [
            select(
                select(Ticket.service, Ticket.called_at, Ticket.finished_at)
                .where(
                    Ticket.station_id == bindparam("station_id"),
                    Ticket.day == bindparam("day"),
                    Ticket.status == "served",
                    Ticket.service == bindparam(f"service{i}"),
                    Ticket.called_at.is_not(None),
                    Ticket.finished_at.is_not(None),
                )
                .order_by(Ticket.finished_at.desc())
                .limit(bindparam("window"))
                .subquery()
            )
            for i in range(len(keys))
        ]
        return parts[0] if len(parts) == 1 else union_all(*parts)

    params = {"station_id": station_id, "day": day, "window": window}
    params.update({f"service{i}": key for i, key in enumerate(keys)})
    rows = places.read_columns(session, _statement(("minutes", len(keys)), build), params)
    recent: dict[str, list[float]] = defaultdict(list)
    for key, called_at, finished_at in rows:
        recent[key].append(max((finished_at - called_at).total_seconds(), 0) / 60)
    return {key: sum(values) / len(values) for key, values in recent.items() if values}


def waiting_counts(session, station_id: int, day: date) -> dict[str, int]:
    """How many wait in each queue on ``day``: the sum of the queue's hourly count rows.

    The rows (``legal_queue_hour_count``, kept by the ticket table's triggers) are
    per hour of queue time, so the sum reads at most the day's hours per queue and
    class, not one row per minute (some 600 at 5,000 waiting) nor one index entry
    per waiting ticket. Read by the home screen, the take page, the display and
    the staff panel.
    """

    def build():
        return (
            select(QueueHourCount.service, func.sum(QueueHourCount.waiting))
            .where(QueueHourCount.station_id == bindparam("station_id"), QueueHourCount.day == bindparam("day"))
            .group_by(QueueHourCount.service)
        )

    rows = places.read_columns(session, _statement("waiting", build), {"station_id": station_id, "day": day})
    return {service: int(total or 0) for service, total in rows}


def _load(service: Service, waiting: int, measured: dict, paused: set) -> ServiceLoad:
    minutes = measured.get(service.key)
    return ServiceLoad(
        service=service,
        waiting=waiting,
        minutes_per_person=minutes if minutes is not None else float(service.minutes),
        measured=minutes is not None,
        open_counters=len([c for c in service.counters if c not in paused]),
    )


def loads(session, station, day: date | None = None) -> dict[str, ServiceLoad]:
    """Every queue's load today, keyed by service."""
    day = day or clock.today(station)
    cfg = settings()
    counts = waiting_counts(session, station.id, day)
    measured = service_minutes(session, station.id, day, cfg.estimate_window)
    paused = paused_counters(session, station.id)
    return {s.key: _load(s, counts.get(s.key, 0), measured, paused) for s in cfg.queues()}


def service_load(session, station, service: Service, day: date, waiting: int) -> ServiceLoad:
    """One queue's load when the caller already knows how many wait."""
    measured = service_minutes(session, station.id, day, settings().estimate_window, service.key)
    return _load(service, waiting, measured, paused_counters(session, station.id))


@dataclass
class Progress:
    """Where one ticket stands."""

    status: str
    ahead: int | None
    minutes: int | None
    measured: bool
    paused: bool


def progress(session, station, ticket: Ticket) -> Progress:
    """The live position of ``ticket``: people ahead and the estimated wait.

    People ahead follow the fairness rule, read from indexes (:mod:`kiosk_plugins.legal.places`)
    rather than by walking the queue, so a long queue costs no more than a short one.
    """
    cfg = settings()
    service = cfg.service(ticket.service)
    if ticket.status != "waiting" or service is None:
        return Progress(ticket.status, None, None, False, False)
    ahead = places.ahead_of(session, ticket, cfg.max_skips)
    # How many wait in all is not part of a ticket's progress: only the pace and the open counters.
    load = service_load(session, station, service, ticket.day, 0)
    return Progress("waiting", ahead, load.wait_minutes(ahead), load.measured, load.paused)
