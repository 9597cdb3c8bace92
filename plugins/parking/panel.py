"""The parking panel on the staff console, and the plugin's health line."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import func, select

from kiosk import clock
from kiosk.db import get_session
from kiosk.i18n import gettext
from kiosk.stations import current_station
from kiosk_plugins.parking import availability, formatting, stats
from kiosk_plugins.parking.models import Household, Lot


def render_panel() -> str:
    """Today's counts, free spaces in the next occurrence of each lot, and links."""
    station = current_station()
    tz = clock.zone(station)
    now = clock.now()
    session = get_session()
    today = clock.today(tz, now)
    upcoming = []
    for entry in availability.offers_for(session, station.id, now, tz):
        if entry.offers:
            first = entry.offers[0]
            upcoming.append(
                {
                    "lot": entry.lot.name,
                    "free": first.free,
                    "spaces": entry.lot.spaces,
                    "when": formatting.occurrence_text(first.occurrence.starts_at, first.occurrence.ends_at, tz, today),
                }
            )
    return render_template(
        "parking/panel.html", counts=stats.today_counts(session, station.id, tz, now), upcoming=upcoming
    )


def health(station) -> dict:
    """How many lots are open and households registered (information, never a fault)."""
    session = get_session()
    lots = session.scalar(select(func.count(Lot.id)).where(Lot.station_id == station.id, Lot.active.is_(True)))
    households = session.scalar(
        select(func.count(Household.id)).where(Household.station_id == station.id, Household.active.is_(True))
    )
    return {
        "ok": True,
        "detail": f"{lots} partner car park(s) open, {households} registered household(s)",
        "summary": gettext(
            "%(lots)s partner car park(s) open for booking; %(households)s household(s) registered.",
            lots=lots,
            households=households,
        ),
    }
