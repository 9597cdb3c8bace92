"""Which station a request belongs to.

Every record belongs to a station. A station node serves the station named in
its config. The district hub (``role = "hub"``) serves every enrolled station:
a phone opens a hub page from a QR code carrying ``?station=<code>`` (kept in
its session for the next pages), staff see the station of their account, and a
district account may switch with ``?station=``; with none of these a request is
the hub's own station (the district).
"""

from __future__ import annotations

from flask import abort, current_app, g, has_app_context, has_request_context, request, session
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kiosk.db import as_loaded, get_session
from kiosk.models import Station
from kiosk.row_cache import MISSING, RowCache

__all__ = [
    "current_station",
    "station_tag",
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
        try:
            db_session.commit()
            return station
        except IntegrityError:
            # Another worker of a fresh database made the row at the same moment.
            db_session.rollback()
            return ensure_station(db_session, config)
    station.name, station.kind = cfg["name"], cfg["kind"]
    station.timezone = cfg.get("timezone", station.timezone)
    db_session.commit()
    return station


#: Letters and digits a station tag is made of (no I, O, 0 or 1: read aloud and typed by residents).
TAG_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def default_tag(code: str) -> str:
    """Four characters derived from a station code, for a station whose file sets no ``tag``."""
    import hashlib

    digest = hashlib.sha256(code.encode()).digest()
    return "".join(TAG_ALPHABET[b % len(TAG_ALPHABET)] for b in digest[:4])


def station_tag(station: Station) -> str:
    """The station's short tag, unique in the district: it makes numbers given out offline unique.

    ``[station] tag`` in the station file (2–6 letters or digits), else four
    characters derived from the station's code. The hub refuses to enrol a
    second station with a tag already taken.
    """
    configured = ""
    if has_app_context() and station.id == current_app.extensions.get("kiosk_station_id"):
        configured = (current_app.config["STATION"].get("tag") or "").upper()
    elif has_app_context() and current_app.config.get("ROLE") == "hub":
        # At the hub an enrolled station's tag is the one it was enrolled with (``--tag``); the
        # table is reached through the metadata so that this module need not import kiosk.sync.
        from sqlalchemy.orm import object_session

        from kiosk.db import Base

        db_session = object_session(station)
        peers = Base.metadata.tables.get("sync_peer")
        if db_session is not None and peers is not None:
            configured = db_session.scalar(select(peers.c.tag).where(peers.c.station_id == station.id)) or ""
    return configured or default_tag(station.code)


def station_by_code(code: str) -> Station | None:
    return get_session().scalar(select(Station).where(Station.code == code))


def station_id_of(app) -> int:
    """The id of the station ``app`` serves (the configured one), for jobs and threads.

    A job runs outside any request, so :func:`current_station` cannot say which
    station it is for; this is the station of the node's own config. On the hub
    it is the hub's own station (the district): a hub job that serves every
    station reads their rows instead.
    """
    return app.extensions["kiosk_station_id"]


def current_station() -> Station:
    """The station of this request (cached on ``g``)."""
    request_g = g._get_current_object()  # type: ignore[attr-defined]
    station = request_g.get("station")
    if station is not None:
        return station
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    db_session = get_session()
    user = request_g.get("user")
    station = None
    hub = app.config.get("ROLE") == "hub"
    # At the hub a staff account's own station wins, so ?station= cannot open another station's records.
    # A station node serves its own station only: there an account made before the station file named
    # the station (under the placeholder one) still works in the real station.
    if hub and user is not None and user.station_id and user.role != "district":
        station = db_session.get(Station, user.station_id)
    if station is None and hub and has_request_context():
        wanted = request.args.get("station")
        if isinstance(wanted, str) and wanted and "\x00" not in wanted:  # PostgreSQL cannot compare a NUL byte
            found = station_by_code(wanted[:64])
            if found is not None:
                session["station"] = found.code
        code = session.get("station")
        if code:
            station = station_by_code(code)
    if station is None:
        station = _configured_station(db_session, app.extensions["kiosk_station_id"], app)
    request_g.station = station
    return station


#: Seconds a process answers the configured station's row from memory instead of
#: reading it on every request (a change made through another process, e.g. a
#: command, is seen within this; one made through this process at once).
STATION_CACHE_SECONDS = 2.0
_ROWS = RowCache("kiosk_station_rows", lambda: Station)


def _configured_station(db_session, station_id: int, app) -> Station | None:
    """The station row ``station_id`` in ``db_session``, from this process's copy while it is fresh.

    Every request reads it (the plugin gate asks whether the plugin is on here);
    the copy goes into the session with no statement (:func:`kiosk.db.as_loaded`),
    as a persistent row the request may still change.
    """
    values = _ROWS.get(app, station_id, STATION_CACHE_SECONDS)
    if values is not MISSING:
        # Straight into the session as a loaded row (28 -> 12 us per request against building a
        # Station and merging it); the list is the request's own, not the cached one.
        return as_loaded(db_session, Station, {**values, "disabled_plugins": list(values["disabled_plugins"] or [])})
    generation = _ROWS.generation()
    station = db_session.get(Station, station_id)
    if station is not None and not db_session.is_modified(station):
        values = {column.key: getattr(station, column.key) for column in Station.__table__.columns}
        values["disabled_plugins"] = list(values["disabled_plugins"] or [])
        _ROWS.keep(app, station_id, generation, values)
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
