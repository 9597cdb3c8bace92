"""Demo data (``kiosk demo``): each room open twice a day for the next three days."""

from __future__ import annotations

from datetime import time, timedelta

from kiosk import clock, hookimpl
from kiosk_venue.models import VenueSlot
from kiosk_venue.settings import DEFAULT_ROOMS

#: (start, end): a morning and an afternoon session.
SESSIONS = ((time(9, 30), time(11, 30)), (time(14, 30), time(16, 30)))
#: The cinema and the crafts room take a group each; the reading area seats several readers.
CAPACITY = {"homework": 1, "cinema": 1, "reading": 6, "crafts": 1}


@hookimpl
def register_demo_data(station, session):
    """Slots at a party-mass service centre; none at a courier station."""
    if station.kind != "party_service":
        return
    today = clock.today(station)
    for offset in range(3):
        for room in DEFAULT_ROOMS:
            for start, end in SESSIONS:
                starts_at = clock.at_local(station, today + timedelta(days=offset), start)
                if starts_at <= clock.now():
                    continue
                session.add(
                    VenueSlot(
                        station_id=station.id,
                        room=room["key"],
                        starts_at=starts_at,
                        ends_at=clock.at_local(station, today + timedelta(days=offset), end),
                        capacity=CAPACITY.get(room["key"], 1),
                    )
                )
