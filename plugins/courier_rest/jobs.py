"""Scheduled work: holds that ran out, overstays, forgotten check-outs, unsent hazard reports.

``register_jobs`` is called before any configuration is at hand, so the
auto-close job runs every few minutes and closes what was opened before the
latest configured hour (``auto_close_at``): the hour can change in the station
file without re-registering anything, and a kiosk that was off at that hour
catches up when it starts.
"""

from __future__ import annotations

import logging
from datetime import time

from sqlalchemy import select

from kiosk import clock
from kiosk.audit import record
from kiosk.db import session_for
from kiosk.models import Station
from kiosk.stations import station_id_of
from kiosk_plugins.courier_rest import hazards, push, slots, sync, visits, waiting
from kiosk_plugins.courier_rest.models import Rider, Slot, Use
from kiosk_plugins.courier_rest.settings import PLUGIN, get_settings
from kiosk_plugins.courier_rest.writes import run_write

log = logging.getLogger("kiosk_plugins.courier_rest")

TICK_SECONDS = 30
AUTO_CLOSE_SECONDS = 300
FORWARD_SECONDS = 30


def _stations(app) -> list[Station]:
    """Stations with courier places (on a fleet server there are many), plugin switched on."""
    with session_for(app) as session:
        ids = set(session.scalars(select(Slot.station_id).distinct()))
        ids.add(station_id_of(app))
        rows = session.scalars(select(Station).where(Station.id.in_(ids))).all()
        return [s for s in rows if s.plugin_enabled(PLUGIN)]


def flag_overstays(session, station_id: int, now) -> int:
    """Mark charging slots past their limit (once each) and tell the staff pages."""
    late = session.scalars(
        select(Use)
        .where(
            Use.station_id == station_id,
            Use.state == "active",
            Use.due_at.is_not(None),
            Use.due_at < now,
            Use.overstay_at.is_(None),
        )
        .with_for_update()
    ).all()
    for use in late:
        use.overstay_at = now
        sync.record_visit_id(session, use.visit_id)
        number = session.scalar(select(Slot.number).where(Slot.id == use.slot_id))
        push.overstay(session, station_id, use.kind, number)
        record(
            "courier_rest.overstay",
            {"use": use.id, "kind": use.kind, "slot": number},
            station_id=station_id,
            session=session,
            commit=False,
        )
    return len(late)


def tick(app, now=None) -> dict:
    """Expire holds, hand free slots to the waiting list, flag overstays, send old drafts."""
    now = now or clock.now()
    settings = get_settings(app)
    done = {"holds": 0, "offered": 0, "overstays": 0, "hazards": 0}
    for station in _stations(app):
        tz = clock.zone(station)

        def work(session, station_id=station.id, tz=tz):
            held, offered = waiting.expire_holds(session, station_id, now, settings, tz)
            # Also catches a slot freed while a rider was joining the line on another kiosk.
            offered += sum(waiting.settle(session, station_id, kind, now, settings, tz) for kind in slots.CHARGE_KINDS)
            late = flag_overstays(session, station_id, now)
            if held or offered:
                push.capacity(session, station_id)
            return held, offered, late

        held, offered, late = run_write(work)
        done["holds"] += held
        done["offered"] += offered
        done["overstays"] += late
        with session_for(app) as session:
            stale = hazards.unsent(session, station.id, now)
        for report_id in stale:
            if hazards.send(station, report_id, now) is not None:
                done["hazards"] += 1
    return done


def auto_close(app, now=None) -> int:
    """Close visits still open from before the latest ``auto_close_at``; marked auto-closed."""
    now = now or clock.now()
    settings = get_settings(app)
    hour, minute = settings.auto_close_hour_minute
    closed = 0
    for station in _stations(app):
        tz = clock.zone(station)
        boundary = clock.last_boundary(tz, time(hour, minute), now)

        def work(session, station_id=station.id, tz=tz, boundary=boundary):
            count = visits.auto_close(session, station_id, boundary, settings, tz)
            if count:
                push.capacity(session, station_id)
                record(
                    "courier_rest.auto_closed", {"visits": count}, station_id=station_id, session=session, commit=False
                )
            return count

        closed += run_write(work)
    if closed:
        log.info("closed %d forgotten check-out(s)", closed)
    return closed


def announce_riders(app, now=None) -> int:
    """Send the hub the riders registered before this station kept the district's registry; returns how many.

    They are the riders with no home station (the upgrade gave them a uid
    only); each is sent once, in batches, and then has this station as home.
    """
    station_id = station_id_of(app)

    def work(session):
        station = session.get(Station, station_id)
        rows = session.scalars(
            select(Rider).where(Rider.station_id == station_id, Rider.home_station == "").order_by(Rider.id).limit(500)
        ).all()
        for rider in rows:
            rider.home_station = station.code
            sync.record_rider(session, rider)
        return len(rows)

    return run_write(work)


def forward_hazards(app, now=None) -> int:
    """At the hub: file the hazard reports stations kept as district petitions; returns how many."""
    now = now or clock.now()
    with session_for(app) as session:
        due = hazards.to_file(session, now)
    return sum(1 for report_id in due if hazards.file_at_hub(app, report_id, now) is not None)


def register(register_job) -> None:
    """Hand both jobs to the core's scheduler."""
    register_job("tick", tick, every=TICK_SECONDS, scope="station")
    register_job("auto_close", auto_close, every=AUTO_CLOSE_SECONDS, scope="station")
    register_job("announce_riders", announce_riders, every=AUTO_CLOSE_SECONDS, scope="station")
    register_job("forward_hazards", forward_hazards, every=FORWARD_SECONDS, scope="hub")
