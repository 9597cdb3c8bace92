"""Making sure a station has its numbered places and basic services before the first screen."""

from __future__ import annotations

from flask import current_app

from kiosk_plugins.courier_rest import services, slots
from kiosk_plugins.courier_rest.settings import get_settings
from kiosk_plugins.courier_rest.writes import run_write


def prepare(station) -> None:
    """Create the station's places and default services once per app and station.

    Done lazily, at the first courier page, because the app's start hook runs
    before a fleet server has seen most of its stations. Two processes doing
    it at once meet on the unique constraints; the loser retries and finds
    everything there.
    """
    app = current_app._get_current_object()
    ready = app.extensions.setdefault("courier_rest_ready", set())
    if station.id in ready:
        return
    settings = get_settings(app)

    def work(session):
        slots.ensure(session, station.id, settings)
        services.ensure_defaults(session, station.id)

    run_write(work)
    ready.add(station.id)
