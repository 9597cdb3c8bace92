"""The legal queue's figures for Prometheus (``GET /metrics``): tickets issued today and people waiting, per queue.

Read from the tickets table at each scrape (two indexed counts of the
station's day), never counted per request. Every queue of the station's
settings is listed, with 0 when nobody took a ticket, so an alert on a queue
does not go quiet when its figure is missing.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from kiosk import clock
from kiosk_plugins.legal.models import Ticket
from kiosk_plugins.legal.runtime import runtime


def register(register) -> None:
    """The ``register_metrics`` hook's registrations."""
    register(
        "tickets_issued",
        "Tickets issued today (since the station's local midnight), by the queue that numbered them.",
        tickets_issued,
        labels=("service",),
        kind="counter",
    )
    register("waiting", "People waiting now to be called, by queue.", waiting, labels=("service",))


def _queues() -> dict[str, int]:
    return {service.key: 0 for service in runtime(current_app).settings.queues()}


def tickets_issued(session, station) -> dict[str, int]:
    """Today's tickets per numbering queue (a transfer moves a ticket, not the count it was issued in)."""
    if current_app.config.get("ROLE") == "hub":
        return {}  # the hub issues none: each station publishes its own
    counts = _queues()
    rows = session.execute(
        select(Ticket.numbered_service, func.count())
        .where(Ticket.station_id == station.id, Ticket.day == clock.today(station))
        .group_by(Ticket.numbered_service)
    ).all()
    counts.update({service: count for service, count in rows})
    return counts


def waiting(session, station) -> dict[str, int]:
    """Tickets of today waiting to be called, per queue they wait in now."""
    if current_app.config.get("ROLE") == "hub":
        return {}
    counts = _queues()
    rows = session.execute(
        select(Ticket.service, func.count())
        .where(Ticket.station_id == station.id, Ticket.day == clock.today(station), Ticket.status == "waiting")
        .group_by(Ticket.service)
    ).all()
    counts.update({service: count for service, count in rows})
    return counts
