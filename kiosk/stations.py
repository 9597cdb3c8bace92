"""Which station a request belongs to.

Every record belongs to a station. A single kiosk serves the station named in
its config; on a fleet server (``FLEET = true``) each kiosk browser is pointed
at its station once with ``/?station=<code>`` and keeps it in its session.
Staff see the station of their account; a district admin may switch.
"""

from __future__ import annotations

from flask import abort, current_app, g, request, session
from sqlalchemy import select

from kiosk.db import get_session
from kiosk.models import Station

__all__ = [
    "current_station",
    "station_id_of",
    "station_row_or_404",
]


def ensure_station(db_session, config) -> Station:
    """Create or refresh the configured station's row; returns it."""
    cfg = config["STATION"]
    station = db_session.scalar(select(Station).where(Station.code == cfg["code"]))
    if station is None:
        station = Station(
            code=cfg["code"],
            name=cfg["name"],
            kind=cfg["kind"],
            timezone=cfg.get("timezone", "Asia/Shanghai"),
            disabled_plugins=[],
        )
        db_session.add(station)
    else:
        station.name, station.kind = cfg["name"], cfg["kind"]
        station.timezone = cfg.get("timezone", station.timezone)
    db_session.commit()
    return station


def station_by_code(code: str) -> Station | None:
    return get_session().scalar(select(Station).where(Station.code == code))


def station_id_of(app) -> int:
    """The id of the station ``app`` serves (the configured one), for jobs and threads.

    A job runs outside any request, so :func:`current_station` cannot say which
    station it is for; this is the station of the kiosk's own config. On a fleet
    server a job that serves every station reads their rows instead.
    """
    return app.extensions["kiosk_station_id"]


def current_station() -> Station:
    """The station of this request (cached on ``g``)."""
    station = g.get("station")
    if station is not None:
        return station
    db_session = get_session()
    user = g.get("user")
    station = None
    if user is not None and user.station_id and user.role != "district":
        station = db_session.get(Station, user.station_id)
    if station is None and current_app.config.get("FLEET"):
        wanted = request.args.get("station") if request else None
        if wanted and "\x00" not in wanted:  # PostgreSQL cannot compare text holding a NUL byte
            found = station_by_code(wanted)
            if found is not None:
                session["station"] = found.code
        code = session.get("station")
        if code:
            station = station_by_code(code)
    if station is None:
        station = db_session.get(Station, current_app.extensions["kiosk_station_id"])
    g.station = station
    return station


def station_row_or_404(model, row_id=None, *, session=None, station=None, **columns):
    """The row of ``model`` with id ``row_id`` (and/or ``columns``) that belongs to this station, or a 404.

    ``model`` has a ``station_id`` column. Another station's row is answered
    exactly like a missing one, so ids and tokens of other stations cannot be
    probed. Keyword arguments match columns (``token=token``); a value holding a
    NUL byte is a 404 too (PostgreSQL refuses to compare such text).
    ``session`` defaults to the request's; pass the write transaction's session
    to change the row. ``station`` defaults to :func:`current_station`.
    """
    if row_id is None and not columns:
        raise TypeError("station_row_or_404 needs a row id or a column to match")
    if any(isinstance(value, str) and "\x00" in value for value in columns.values()):
        abort(404)
    station = station if station is not None else current_station()
    query = select(model).where(model.station_id == station.id)
    if row_id is not None:
        query = query.where(model.id == row_id)
    for name, value in columns.items():
        query = query.where(getattr(model, name) == value)
    row = (session if session is not None else get_session()).scalar(query)
    if row is None:
        abort(404)
    return row
