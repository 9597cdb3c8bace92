"""Sync between two apps in one process, with no network: for tests and the bench.

``enrol_local(station_app, hub_app)`` makes the hub know the station (as
``kiosk stations enrol`` and ``kiosk sync join`` do over HTTPS), and
``transfer(station_app, hub_app)`` does one push and one pull exactly as the
pusher does, calling the same functions the HTTP endpoints call.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select

from kiosk import sync
from kiosk.db import session_for, utcnow
from kiosk.models import Station
from kiosk.sync.models import SyncPeer


def _station(session, station_id: int) -> Station:
    row = session.get(Station, station_id)
    if row is None:
        raise LookupError(f"no station {station_id} in this database")
    return row


def _hub_station(session, code: str, name: str, kind: str, timezone: str) -> Station:
    row = session.scalar(select(Station).where(Station.code == code))
    if row is None:
        row = Station(code=code, name=name, kind=kind, timezone=timezone, disabled_plugins=[])
        session.add(row)
        session.flush()
    return row


def enrol_local(station_app, hub_app) -> int:
    """Enrol ``station_app``'s station at ``hub_app``; returns the station's id at the hub."""
    sid = station_app.extensions["kiosk_station_id"]
    with station_app.app_context(), session_for(station_app, write=True) as session:
        station = _station(session, sid)
        code, name, kind, tz = station.code, station.name, station.kind, station.timezone
        state = sync.state(session, sid)
        state.station_key = state.station_key or secrets.token_urlsafe(32)
        state.hub_url = state.hub_url or "local:"
        state.protocol = sync.PROTOCOL
        state.enrolled_at = utcnow()
        signing_key = state.signing_key
        session.commit()
    with hub_app.app_context(), session_for(hub_app, write=True) as session:
        station = _hub_station(session, code, name, kind, tz)
        peer = session.get(SyncPeer, station.id)
        if peer is None:
            peer = SyncPeer(station_id=station.id)
            session.add(peer)
        peer.signing_key = signing_key
        peer.protocol = sync.PROTOCOL
        peer.enrolled_at = utcnow()
        peer.revoked_at = None
        hub_id = station.id
        session.commit()
    return hub_id


def transfer(station_app, hub_app, *, limit: int = 200) -> tuple[int, int]:
    """One push of everything pending and one pull; returns (entries pushed, entries pulled)."""
    sid = station_app.extensions["kiosk_station_id"]
    pushed = pulled = 0
    with station_app.app_context():
        with session_for(station_app, write=True) as session:
            sync.sequence(session, sid)
            session.commit()
            code = _station(session, sid).code
            acked = sync.state(session, sid).acked_seq
            session.commit()
    while True:
        with station_app.app_context(), session_for(station_app) as session:
            entries = sync.pending(session, sid, acked, limit)
        if not entries:
            break
        with hub_app.app_context(), session_for(hub_app, write=True) as session:
            station = _hub_station(session, code, code, "party_service", "Asia/Shanghai")
            peer = session.get(SyncPeer, station.id, with_for_update=True)
            if peer is None:
                raise LookupError(f"station {code} is not enrolled at the hub: call enrol_local first")
            upto = sync.apply_batch(hub_app, session, station, peer, acked, entries)
            session.commit()
        with station_app.app_context(), session_for(station_app, write=True) as session:
            sync.mark_sent(session, sid, upto)
            session.commit()
        pushed += len(entries)
        acked = upto
    with hub_app.app_context(), session_for(hub_app) as session:
        hub_id = _hub_station(session, code, code, "party_service", "Asia/Shanghai").id
    with station_app.app_context(), session_for(station_app, write=True) as session:
        after = sync.state(session, sid).pulled_id
        session.commit()
    while True:
        with hub_app.app_context(), session_for(hub_app) as session:
            down = sync.down_since(session, hub_id, after)
        if not down:
            break
        with station_app.app_context(), session_for(station_app, write=True) as session:
            station = _station(session, sid)
            top = sync.apply_down(station_app, session, station, down)
            sync.state(session, sid).pulled_id = top
            session.commit()
        pulled += len(down)
        after = top
    return pushed, pulled
