"""Demo data for Shuibei's legal function area: a week of duty slots and three past days of tickets.

The slots follow what the district sends down to the community (seeds/000):
legal-aid lawyers from the district justice bureau, the notary office's
service point, the street-level labour arbitration court and the community's
people's mediators. Called again, it adds only what is missing.
"""

from __future__ import annotations

import random
import secrets
from datetime import date, time, timedelta

from sqlalchemy import select

from kiosk import clock, numbering
from kiosk_plugins.legal.models import DutySlot, Ticket
from kiosk_plugins.legal.numbering import format_code, series
from kiosk_plugins.legal.settings import parse

#: (weekday 0=Mon or None for every weekday, service, start, end, lawyer, organisation, places)
DUTY_ROSTER = (
    (None, "consultation", time(9, 0), time(12, 0), "陈志明", "区司法局公共法律服务律师", 6),
    (None, "mediation", time(14, 30), time(17, 30), "林秀英", "水贝社区人民调解委员会", 3),
    (1, "arbitration", time(9, 30), time(11, 30), "黄国强", "翠竹街道劳动仲裁庭", 2),
    (3, "arbitration", time(9, 30), time(11, 30), "黄国强", "翠竹街道劳动仲裁庭", 2),
    (2, "notarisation", time(14, 0), time(16, 0), "周文静", "公证处水贝办事点", 4),
    (0, "legal_aid", time(9, 0), time(12, 0), "李建华", "区法律援助处", 4),
    (4, "legal_aid", time(14, 0), time(17, 0), "李建华", "区法律援助处", 4),
)
#: Tickets per past day and service, and typical minutes at the counter.
PAST_LOAD = {
    "consultation": (14, 12),
    "mediation": (4, 38),
    "arbitration": (3, 42),
    "notarisation": (5, 18),
    "legal_aid": (6, 20),
}


def _slots(station, session, today: date, days: int) -> int:
    added = 0
    for offset in range(days):
        day = today + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for weekday, service, start, end, lawyer, org, places in DUTY_ROSTER:
            if weekday is not None and weekday != day.weekday():
                continue
            starts_at = clock.at_local(station, day, start)
            exists = session.scalar(
                select(DutySlot.id).where(
                    DutySlot.station_id == station.id, DutySlot.service == service, DutySlot.starts_at == starts_at
                )
            )
            if exists is None:
                session.add(
                    DutySlot(
                        station_id=station.id,
                        service=service,
                        starts_at=starts_at,
                        ends_at=clock.at_local(station, day, end),
                        lawyer=lawyer,
                        organisation=org,
                        capacity=places,
                    )
                )
                added += 1
    return added


def _past_tickets(station, session, today: date, days: int, services) -> int:
    added = 0
    rng = random.Random(station.id)
    for offset in range(1, days + 1):
        day = today - timedelta(days=offset)
        for service in services:
            count, minutes = PAST_LOAD.get(service.key, (4, service.minutes))
            if numbering.last_number(session, station, series(service.key), day):
                continue  # this day's tickets are already there
            at = clock.at_local(station, day, time(9, 0))
            counter = service.counters[0]
            for _ in range(count):
                # Numbered like real tickets, so the day's counter and its tickets agree.
                number = numbering.next_number(session, station, series(service.key), day)
                issued = at + timedelta(minutes=rng.randint(0, 20))
                called = issued + timedelta(minutes=rng.randint(2, 30))
                served = rng.random() > 0.1
                finished = called + timedelta(minutes=max(3, rng.gauss(minutes, minutes / 4)) if served else 2)
                session.add(
                    Ticket(
                        station_id=station.id,
                        day=day,
                        numbered_service=service.key,
                        number=number,
                        code=format_code(service.prefix, number),
                        service=service.key,
                        status="served" if served else "no_show",
                        priority="elderly" if number % 5 == 0 else "",
                        phone=None,
                        token=secrets.token_urlsafe(18),
                        source="kiosk",
                        queue_at=issued,
                        issued_at=issued,
                        first_called_at=called,
                        called_at=called,
                        finished_at=finished,
                        counter=counter,
                        skips=0,
                        calls=1,
                        transferred_from="",
                    )
                )
                at = finished
                added += 1
    return added


def fill(station, session, config: dict | None = None) -> dict:
    """Add the demo duty roster for the coming week and three past days of tickets."""
    settings = parse(config)
    today = clock.today(station)
    return {
        "slots": _slots(station, session, today, 7),
        "tickets": _past_tickets(station, session, today, 3, settings.queues()),
    }
