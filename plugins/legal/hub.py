"""The phone page's figures at the district hub, from the tickets and queues stations sync.

A printed ticket's QR code opens the hub once the station is enrolled; the
hub never runs a queue, it shows the station's as last synced
(:mod:`kiosk_plugins.legal.syncing`). "People ahead" is worked out here from
that station's synced waiting tickets with the station's own fairness rule,
and the wait from the pace the station last sent. When the station has not
been heard from for about a minute, the page says since when, so nobody takes an
old position for a live one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from kiosk import clock, sync
from kiosk.db import utcnow, write_transaction
from kiosk.i18n import _
from kiosk_plugins.legal import estimates, fairness, places
from kiosk_plugins.legal.models import HubQueue, HubQueueCount, HubQueueHourCount, HubTicket
from kiosk_plugins.legal.runtime import settings

#: A station not heard from for longer than this is said to be offline on the phone page. About a
#: minute, but above the hub's refresh of a quiet station's last contact (once a minute, on its
#: pull every few seconds), so an idle station that is online is never called offline.
OFFLINE_AFTER = timedelta(seconds=90)
#: The hub keeps stations' tickets this many days: a year of statistics (the admin's page at the
#: hub reads them; a phone needs a ticket only on its day).
KEEP_DAYS = 400


@dataclass
class _Queued:
    """A synced waiting ticket as the fairness rule reads it (``id``: the station's ticket id)."""

    id: int
    queue_at: datetime
    priority: str
    skips: int


def find(session, station, token: str) -> HubTicket | None:
    """The station's synced ticket with ``token``; another station's is never found."""
    return session.scalar(select(HubTicket).where(HubTicket.station_id == station.id, HubTicket.token == token))


def queue_of(session, station, service: str) -> HubQueue | None:
    """The station's synced queue ``service`` (names and pace), if it arrived."""
    return session.scalar(select(HubQueue).where(HubQueue.station_id == station.id, HubQueue.service == service))


def service_text(queue: HubQueue | None, service: str, locale: str) -> str:
    """The queue's name as the station calls it, in ``locale``; the hub's own name for it, else the key."""
    label = (queue.data or {}).get("label") if queue is not None else None
    if label:
        return label.get(locale) or label.get("zh_Hans") or service
    own = settings().service(service)
    return own.text(locale) if own is not None else service


def progress(session, station, ticket: HubTicket, queue: HubQueue | None) -> estimates.Progress:
    """Where the synced ticket stands: people ahead by the fairness rule, and the estimated wait.

    The minutes are None when the hub knows nothing of the queue's pace (no
    ``legal.queue`` entry and no queue of that name in its own settings).
    """
    if ticket.status != "waiting":
        return estimates.Progress(ticket.status, None, None, False, False)
    data = queue.data if queue is not None else {}
    max_skips = data.get("max_skips", settings().max_skips)
    # By the station's fairness rule, read from the synced tickets' indexes (no walk over the queue).
    ahead = places.hub_ahead_of(session, ticket, max_skips)
    if queue is not None:
        today = queue.day == ticket.day
        per_person = data.get("minutes_per_person") if today else data.get("minutes")
        measured = bool(data.get("measured")) and today
        open_counters = data.get("open_counters", 1)
    else:
        own = settings().service(ticket.service)
        per_person = own.minutes if own is not None else None
        measured = False
        open_counters = len(own.counters) if own is not None else 1
    if not per_person:
        return estimates.Progress("waiting", ahead, None, False, open_counters == 0)
    minutes = estimates.wait_minutes(ahead, float(per_person), open_counters)
    return estimates.Progress("waiting", ahead, minutes, measured, open_counters == 0)


def offline_notice(session, station, ticket: HubTicket) -> str:
    """ "The station has been offline since 14:05; ..." when it was last heard from over a minute ago.

    Only for a ticket still waiting or called: a finished one will not change.
    Empty when the station is heard from, or was never enrolled here.
    """
    if ticket.status not in ("waiting", "called"):
        return ""
    return heard_from(session, station)[1]


def overview(session, station, locale: str) -> list[dict]:
    """Today's queues of ``station`` as last synced: tickets waiting in call order and tickets at a counter.

    For district staff at the hub, read-only (the counters are at the station).
    """
    day = clock.today(station)
    tickets = list(
        session.scalars(
            select(HubTicket).where(
                HubTicket.station_id == station.id,
                HubTicket.day == day,
                HubTicket.status.in_(("waiting", "called")),
            )
        )
    )
    queues = {q.service: q for q in session.scalars(select(HubQueue).where(HubQueue.station_id == station.id))}
    out = []
    for service in sorted(set(queues) | {t.service for t in tickets}):
        queue = queues.get(service)
        mine = [t for t in tickets if t.service == service]
        by_place = {t.place: t for t in mine if t.status == "waiting"}
        queued = [_Queued(t.place, t.queue_at, "yes" if t.priority else "", t.skips) for t in by_place.values()]
        max_skips = (queue.data or {}).get("max_skips", settings().max_skips) if queue else settings().max_skips
        order = [by_place[q.id] for q in fairness.call_order(queued, max_skips)]
        out.append(
            {
                "key": service,
                "label": service_text(queue, service, locale),
                "waiting": order,
                "called": sorted((t for t in mine if t.status == "called"), key=lambda t: t.counter or 0),
                "open_counters": (queue.data or {}).get("open_counters") if queue is not None else None,
            }
        )
    return out


def heard_from(session, station) -> tuple[str, str]:
    """("14:05", notice): when the hub last heard from ``station`` on its clock, and the offline notice if due."""
    last = sync.last_synced(session, station.id)
    if last is None:
        return "", ""
    since = _since(station, last)
    if utcnow() - last <= OFFLINE_AFTER:
        return since, ""
    return since, _("The station has been offline since %(time)s; this is the last known position.", time=since)


def _since(station, last: datetime) -> str:
    same_day = clock.local(station, last).date() == clock.local(station, utcnow()).date()
    return clock.hhmm(station, last) if same_day else clock.local_text(station, last, "%m-%d %H:%M")


def prune(app) -> int:
    """Delete synced tickets older than :data:`KEEP_DAYS` (a hub job); returns how many went.

    Tickets of that age are past the statistics' one-year range; a station
    that sends such a ticket's state again only adds the row back.
    """
    with app.app_context(), write_transaction() as session:
        cutoff = clock.now().date() - timedelta(days=KEEP_DAYS)
        result = session.execute(delete(HubTicket).where(HubTicket.day < cutoff))
        session.execute(delete(HubQueueCount).where(HubQueueCount.day < cutoff))
        session.execute(delete(HubQueueHourCount).where(HubQueueHourCount.day < cutoff))
        return result.rowcount or 0
