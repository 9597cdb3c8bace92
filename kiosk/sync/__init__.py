"""Sync between a station node and its district hub (the core's part; plugins declare what they sync).

A station node is the source of truth for what happens at the station; the hub
(``role = "hub"``) gathers every station's records and serves what must be
reachable from outside a station. Records move as *entries*: a kind
(``"<plugin>.<what>"``), a key unique within the station, and the record's whole
current state as a JSON object (``None`` when it was deleted). An entry with the
same kind and key as an earlier one replaces it, so applying is idempotent and
a replayed entry changes nothing.

Station → hub: call :func:`record` in the same transaction as the change
(a transactional outbox); the pusher sends committed entries in order and the
hub applies each with the kind's ``to_hub`` function. Hub → station: call
:func:`publish` on the hub; stations pull and apply with ``to_station``. Both are
no-ops in the other role, so plugin code calls them unconditionally. Entries
applied from the other side are never recorded back.

Plugins declare their kinds through the ``register_sync`` hook::

    @hookimpl
    def register_sync(register):
        register("ticket", to_hub=apply_ticket_at_hub)          # kind "legal.ticket"
        register("status", to_station=apply_status_at_station)

``to_hub(session, station, key, data)`` runs in the hub's transaction for the
batch, ``station`` being the :class:`kiosk.models.Station` that sent it (a
station can only ever write its own records); ``to_station(session, station,
key, data)`` runs at the station. Neither commits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from flask import current_app, has_app_context
from sqlalchemy import Table, func, insert, select, update

from kiosk.db import utcnow
from kiosk.sync.models import SyncDown, SyncOutbox, SyncParked, SyncPeer, SyncState

__all__ = [
    "PROTOCOL",
    "SyncKind",
    "is_enrolled",
    "is_hub",
    "last_synced",
    "publish",
    "record",
    "record_many",
    "sign",
    "verify",
]

log = logging.getLogger("kiosk.sync")

#: The sync protocol version this code speaks; a hub accepts ``PROTOCOL - 1`` too.
PROTOCOL = 1
#: Session flag set while entries from the other side are applied (nothing is recorded back).
APPLYING = "kiosk_sync_applying"
#: Session flag: this transaction queued an outbox row (the pusher is woken when it commits).
RECORDED = "kiosk_sync_recorded"


@dataclass(frozen=True)
class SyncKind:
    """A kind of entry a plugin syncs, and how each side applies it."""

    plugin: str
    name: str
    to_hub: Callable | None = None
    to_station: Callable | None = None


def is_hub(app=None) -> bool:
    """True when ``app`` (default: the current app) runs as the district hub."""
    app = app or current_app
    return app.config.get("ROLE") == "hub"


def kinds(app=None) -> dict[str, SyncKind]:
    """Every declared kind by its full name (``"legal.ticket"``)."""
    app = app or current_app
    return app.extensions.get("kiosk_sync_kinds", {})


def _app_of(session):
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]  # the app, not its proxy at every use
    return session.info.get("kiosk_app")


def record(session, kind: str, key: str, data: dict | None, *, station_id: int | None = None) -> bool:
    """Queue the current state of a record for the hub, in ``session``'s transaction.

    ``kind`` is the full name (``"legal.ticket"``), ``key`` unique within the
    station for that kind, ``data`` the record's whole state (JSON-able; ``None``:
    deleted). Does nothing on the hub, or while entries from the hub are applied.
    Returns whether an entry was queued.
    """
    return record_many(session, kind, [(key, data)], station_id=station_id) > 0


#: The outbox entry insert, built once (an ORM add would cost a unit-of-work flush per entry).
_OUTBOX_INSERT = insert(cast(Table, SyncOutbox.__table__))


def record_many(session, kind: str, entries: list[tuple[str, dict | None]], *, station_id: int | None = None) -> int:
    """:func:`record` for several records of one kind at once (one multi-row insert); how many were queued.

    ``entries`` are ``(key, data)`` pairs, queued in their order. For a change
    that touches many records in one go (a priority call passing a stretch of
    the queue), so the statements do not grow with their number.
    """
    app = _app_of(session)
    if not entries or app is None or is_hub(app) or session.info.get(APPLYING):
        return 0
    if station_id is None:
        station_id = app.extensions["kiosk_station_id"]
    now = utcnow()
    rows = [
        {"station_id": station_id, "seq": None, "kind": kind, "key": str(key)[:200], "data": data, "at": now}
        for key, data in entries
    ]
    session.execute(_OUTBOX_INSERT, rows if len(rows) > 1 else rows[0])
    # Read by the commit listener (see kiosk.sync.pusher): wakes the pusher at once.
    session.info[RECORDED] = True
    return len(rows)


def publish(session, kind: str, key: str, data: dict | None, *, station_id: int | None = None) -> SyncDown | None:
    """Queue a record every station (or only ``station_id``) pulls from the hub, in ``session``'s transaction.

    Does nothing on a station node. It works inside a kind's ``to_hub``: what the
    hub learns from one station (a rider registered there) may be what every
    station must pull.
    """
    app = _app_of(session)
    if app is None or not is_hub(app):
        return None
    row = SyncDown(station_id=station_id, kind=kind, key=str(key)[:200], data=data, at=utcnow())
    session.add(row)
    return row


# --- station side -------------------------------------------------------------------------------


def enrolled(session, station_id: int) -> bool:
    """Whether this station has joined a hub (before that, the core records nothing of its own for one)."""
    row = session.get(SyncState, station_id)
    return row is not None and bool(row.station_key and row.hub_url)


def state(session, station_id: int) -> SyncState:
    """This station's sync state row (created, with a fresh signing key, when missing)."""
    row = session.get(SyncState, station_id)
    if row is None:
        row = SyncState(station_id=station_id, signing_key=secrets.token_urlsafe(32))
        session.add(row)
        session.flush()
    return row


def is_enrolled(session, station_id: int | None = None) -> bool:
    """True on a station node enrolled at a district hub (the hub then owns what the station hands over).

    A standalone station (no hub) and the hub itself answer False.
    """
    app = _app_of(session)
    if app is None or is_hub(app):
        return False
    if station_id is None:
        station_id = app.extensions["kiosk_station_id"]
    row = session.get(SyncState, station_id)
    return row is not None and row.enrolled_at is not None and bool(row.hub_url)


def last_synced(session, station_id: int | None = None):
    """When the other side was last heard from: on the hub, the station's last sync; on a station, its hub.

    None when they never synced (or the station is not enrolled). A phone page
    at the hub reads it to say how old what it shows may be.
    """
    app = _app_of(session)
    if app is not None and is_hub(app):
        peer = session.get(SyncPeer, station_id)
        return peer.last_sync_at if peer is not None else None
    if station_id is None and app is not None:
        station_id = app.extensions["kiosk_station_id"]
    row = session.get(SyncState, station_id)
    return row.last_ok_at if row is not None else None


def sequence(session, station_id: int) -> int:
    """Number the committed, unnumbered outbox rows in id order; returns the highest number.

    Run by the one pusher of the station, in its own write transaction.
    """
    top = session.scalar(select(func.coalesce(func.max(SyncOutbox.seq), 0)).where(SyncOutbox.station_id == station_id))
    rows = session.scalars(
        select(SyncOutbox.id)
        .where(SyncOutbox.station_id == station_id, SyncOutbox.seq.is_(None))
        .order_by(SyncOutbox.id)
    ).all()
    for row_id in rows:
        top += 1
        session.execute(update(SyncOutbox).where(SyncOutbox.id == row_id).values(seq=top))
    return top or 0


def pending(session, station_id: int, after: int, limit: int = 200) -> list[dict]:
    """Sequenced entries after ``after``, in order, as they travel."""
    rows = session.scalars(
        select(SyncOutbox)
        .where(SyncOutbox.station_id == station_id, SyncOutbox.seq > after)
        .order_by(SyncOutbox.seq)
        .limit(limit)
    ).all()
    return [
        {"seq": r.seq, "kind": r.kind, "key": r.key, "data": r.data, "at": r.at.isoformat() if r.at else None}
        for r in rows
    ]


def mark_sent(session, station_id: int, upto: int) -> None:
    """The hub has applied every entry up to ``upto``."""
    session.execute(
        update(SyncOutbox)
        .where(SyncOutbox.station_id == station_id, SyncOutbox.seq <= upto, SyncOutbox.sent_at.is_(None))
        .values(sent_at=utcnow())
    )
    row = state(session, station_id)
    if upto > row.acked_seq:
        row.acked_seq = upto


def apply_down(app, session, station, entries: list[dict], *, isolate: bool = False) -> int:
    """Apply entries pulled from the hub at this station; returns the highest id applied.

    Unknown kinds are skipped with a warning (the plugin is not installed here).
    ``isolate=True`` applies each entry in a savepoint and parks one whose
    ``to_station`` fails (in ``sync_parked``, ``seq`` being the hub's id), so
    one bad entry cannot stop the station's pulls for good; the pusher retries
    a failed batch that way.
    """
    table = kinds(app)
    top = 0
    session.info[APPLYING] = True
    try:
        for entry in entries:
            kind = table.get(entry["kind"])
            if kind is None or kind.to_station is None:
                log.warning("entry of kind %s from the hub has no handler here; skipped", entry["kind"])
            else:
                _apply_entry(
                    session, station, entry, int(entry["id"]), kind.to_station, isolate, "from the hub", "to_station"
                )
            top = max(top, int(entry["id"]))
    finally:
        session.info.pop(APPLYING, None)
    return top


# --- hub side -----------------------------------------------------------------------------------


class BatchRefused(Exception):
    """A batch the hub will not apply; ``status`` is the HTTP answer, ``last_seq`` where the hub is."""

    def __init__(self, message: str, status: int = 400, last_seq: int | None = None):
        super().__init__(message)
        self.status = status
        self.last_seq = last_seq


def apply_batch(
    app, session, station, peer: SyncPeer, after: int, entries: list[dict], *, isolate: bool = False
) -> int:
    """Apply a station's batch at the hub, in ``session``'s transaction; returns the new last sequence.

    The batch must continue exactly where the hub is (``after == peer.last_seq``)
    with strictly increasing numbers; a batch wholly applied before is answered
    with the hub's position and changes nothing. Entries of a kind no plugin
    here declares are parked, not lost.

    ``isolate=True`` applies each entry in a savepoint and parks one whose
    ``to_hub`` fails instead of failing the batch: the hub's HTTP endpoint
    retries a failed batch that way, so one bad record cannot stop a station's
    sync for good (an operator re-applies parked entries once the plugin is fixed).
    """
    if after > peer.last_seq:
        raise BatchRefused(
            f"batch starts after {after} but the hub has applied up to {peer.last_seq}", 409, peer.last_seq
        )
    table = kinds(app)
    previous = after
    for entry in entries:
        seq = entry["seq"]
        if seq <= previous:
            raise BatchRefused(f"sequence numbers must increase ({seq} after {previous})", 400, peer.last_seq)
        previous = seq
    session.info[APPLYING] = True
    try:
        for entry in entries:
            if entry["seq"] <= peer.last_seq:
                continue  # already applied: a replay changes nothing
            kind = table.get(entry["kind"])
            if kind is None or kind.to_hub is None:
                _park(session, station, entry, entry["seq"], "no installed plugin declares this kind")
            else:
                where = f"of station {station.code}"
                _apply_entry(session, station, entry, entry["seq"], kind.to_hub, isolate, where, "to_hub")
            peer.last_seq = entry["seq"]
    finally:
        session.info.pop(APPLYING, None)
    peer.last_sync_at = utcnow()
    return peer.last_seq


def _park(session, station, entry: dict, seq: int, reason: str) -> None:
    """Keep an entry that could not be applied (``sync_parked``), so it is not lost."""
    session.add(
        SyncParked(
            station_id=station.id,
            seq=seq,
            kind=str(entry["kind"])[:100],
            key=str(entry["key"])[:200],
            data=entry.get("data"),
            reason=reason[:2000],
        )
    )


def _apply_entry(
    session, station, entry: dict, seq: int, apply: Callable, isolate: bool, where: str, side: str
) -> None:
    """Apply one entry with its kind's function; with ``isolate``, in a savepoint, parking it if it fails.

    A database that went away is not the entry's fault: that error goes up, so
    the whole batch is tried again later instead of parking good entries.
    """
    if not isolate:
        apply(session, station, entry["key"], entry.get("data"))
        return
    try:
        with session.begin_nested():
            apply(session, station, entry["key"], entry.get("data"))
    except Exception as exc:
        if _unavailable(exc):
            raise
        log.warning("entry %s %s %s failed and is parked: %s", entry["kind"], entry["key"], where, _error_text(exc))
        _park(session, station, entry, seq, f"{side} failed: {_error_text(exc)}")


def _unavailable(exc: BaseException) -> bool:
    from kiosk.db import unavailable

    return unavailable(exc)


def _error_text(exc: BaseException) -> str:
    from kiosk.db import error_line

    return error_line(exc) if hasattr(exc, "orig") else f"{type(exc).__name__}: {exc}"


def hash_secret(secret: str) -> str:
    """What the hub keeps of a station key or enrolment token: never the secret itself."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """``secret`` hashes to ``stored_hash``, compared in constant time (an empty hash never matches)."""
    return bool(stored_hash) and hmac.compare_digest(hash_secret(secret), stored_hash)


def down_since(session, station_id: int, after: int, limit: int = 500) -> list[dict]:
    """What a station pulls: hub entries for it or for every station, after id ``after``."""
    rows = session.scalars(
        select(SyncDown)
        .where(SyncDown.id > after, (SyncDown.station_id == station_id) | SyncDown.station_id.is_(None))
        .order_by(SyncDown.id)
        .limit(limit)
    ).all()
    return [{"id": r.id, "kind": r.kind, "key": r.key, "data": r.data} for r in rows]


# --- signed codes -------------------------------------------------------------------------------


def _key_for(session, station_id: int) -> bytes:
    app = _app_of(session)
    if app is not None and is_hub(app):
        peer = session.get(SyncPeer, station_id)
        secret = peer.signing_key if peer is not None else ""
    else:
        secret = state(session, station_id).signing_key
    return secret.encode()


def sign(session, message: str, *, station_id: int | None = None, length: int = 10) -> str:
    """A short signature of ``message`` with the station's signing key (the hub verifies it offline).

    ``length`` characters of base32 (no padding, upper case): 10 gives 50 bits.
    """
    app = _app_of(session)
    if station_id is None:
        station_id = app.extensions["kiosk_station_id"]
    digest = hmac.new(_key_for(session, station_id), message.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().rstrip("=")[:length]


def verify(session, message: str, signature: str, *, station_id: int) -> bool:
    """True when ``signature`` is the station's signature of ``message`` (on the hub: the enrolled station's key)."""
    key = _key_for(session, station_id)
    if not key or not signature:
        return False
    expected = base64.b32encode(hmac.new(key, message.encode(), hashlib.sha256).digest()).decode().rstrip("=")
    return hmac.compare_digest(expected[: len(signature)], signature.upper()) and len(signature) >= 8
