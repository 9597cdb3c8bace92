"""Domain events and push to pages (server-sent events).

``emit(name, payload, channel=...)`` stores the event in the ``kiosk_event``
table, tells every plugin through the ``kiosk_event`` hook, and wakes the
streams waiting for that station's channel, and only those: a hub serving a
whole district must not make every display of every station read the table
for each ticket called anywhere (with 140 stations that is O(stations²)).

The table is the source of truth, so a display connected to one worker sees a
call made on another: on PostgreSQL each event's NOTIFY names its
``station_id:channel`` and a LISTEN thread in every worker wakes the streams of
that key; on SQLite streams also re-read the table every quarter second, which
covers several processes on one file. The LISTEN connection goes straight to
PostgreSQL (``DATABASE_LISTEN_URL``): behind PgBouncer in transaction mode a
LISTEN would be lost when the server connection is handed to another client.

A waiting stream holds no database connection: it takes one from the pool for
each short read and gives it back. Under ``kiosk serve`` it holds no request
thread either: :mod:`kiosk.streams` hands its socket to the worker's pump,
whose feeds read once per (station, channel set) for all their streams; and
every stream counts towards ``streams_per_client`` and ``streams_per_process``,
over which the oldest is shed.

Card and scanner reads are different: they belong to the page in front of the
user right now, so they are never stored (see :mod:`kiosk.readers`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Blueprint, current_app, request
from sqlalchemy import Table, and_, delete, func, insert, or_, select, text

from kiosk import streams
from kiosk.db import after_commit, get_session, utcnow
from kiosk.models import KioskEvent

__all__ = ["emit", "Event"]

log = logging.getLogger("kiosk.events")

bp = Blueprint("events", __name__, url_prefix="/events")

HEARTBEAT_SECONDS = streams.HEARTBEAT_SECONDS
_sse = streams.sse
stream_response = streams.stream_response
NOTIFY_CHANNEL = "kiosk_events"
#: The channel key of a stream that asked for no channel in particular: every channel of its station.
ANY_CHANNEL = "*"
#: How often a stream re-reads on its own: SQLite (other processes on the file cannot wake it),
#: PostgreSQL while this worker's LISTEN connection is down, and PostgreSQL as a safety net
#: while it is up (a notification is never lost then, but a stream must not rely on that alone).
POLL_SQLITE = 0.25
POLL_UNLISTENED = 2.0
POLL_LISTENED = 30.0
#: Seconds between probes of an idle LISTEN connection, so a dead one is noticed and replaced.
LISTEN_PROBE_SECONDS = 30.0


@dataclass
class Event:
    """A domain event as plugins receive it through the ``kiosk_event`` hook."""

    name: str
    station_id: int
    payload: dict = field(default_factory=dict)
    channel: str = ""
    id: int | None = None


class Subscription:
    """The doorbell of one waiting stream: rung when an event of one of its keys may have arrived."""

    __slots__ = ("_bell", "keys", "on_ring", "wakeups")

    def __init__(self, keys: tuple[tuple[int, str], ...], on_ring: Callable[[], None] | None = None):
        self.keys = keys
        self._bell = threading.Event()
        #: Called at each ring too: a pumped feed (:mod:`kiosk.streams`) wakes its pump instead of waiting.
        self.on_ring = on_ring
        #: How many times it was rung (read by tests and the bench).
        self.wakeups = 0

    def ring(self) -> None:
        self.wakeups += 1
        self._bell.set()
        if self.on_ring is not None:
            self.on_ring()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a ring; True if rung.

        Cleared before the caller reads: a ring after this returns is kept for
        the next wait, and one in between is for an event the read will see
        (streams are rung only after the event's transaction committed).
        """
        rung = self._bell.wait(timeout)
        self._bell.clear()
        return rung


class Notifier:
    """Wakes the streams of this process waiting for one (station, channel).

    A stream subscribes to ``(station_id, channel)`` for each channel it shows,
    or ``(station_id, "*")`` for all of them; :meth:`wake` rings only the
    streams of that station and channel. ``listening`` is true while this
    worker's PostgreSQL LISTEN connection is up: the notification of an event
    then comes back to this worker too, so ``emit`` does not ring a second time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[tuple[int, str], set[Subscription]] = {}
        self.listening = False
        #: Streams rung in all (read by tests and the bench: rings per event).
        self.rings = 0

    def subscribe(
        self, station_id: int, channels: list[str] | tuple[str, ...], on_ring: Callable[[], None] | None = None
    ) -> Subscription:
        keys = tuple((station_id, c) for c in dict.fromkeys(channels)) or ((station_id, ANY_CHANNEL),)
        sub = Subscription(keys, on_ring)
        with self._lock:
            for key in keys:
                self._subscribers.setdefault(key, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            for key in sub.keys:
                subs = self._subscribers.get(key)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subscribers[key]

    def wake(self, station_id: int, channel: str) -> int:
        """Ring the streams of ``station_id`` showing ``channel`` (or every channel); returns how many."""
        with self._lock:
            subs = self._subscribers.get((station_id, channel), set()) | self._subscribers.get(
                (station_id, ANY_CHANNEL), set()
            )
            self.rings += len(subs)
        for sub in subs:
            sub.ring()
        return len(subs)

    def wake_all(self) -> int:
        """Ring every stream: after the LISTEN connection was down, any of them may have missed an event."""
        with self._lock:
            subs = set().union(*self._subscribers.values()) if self._subscribers else set()
            self.rings += len(subs)
        for sub in subs:
            sub.ring()
        return len(subs)

    @property
    def streams(self) -> int:
        """How many streams are subscribed right now."""
        with self._lock:
            return len(set().union(*self._subscribers.values())) if self._subscribers else 0


def notify_payload(station_id: int, channel: str) -> str:
    """What an event's NOTIFY carries: the key of the streams it is for."""
    return f"{station_id}:{channel}"


def parse_payload(payload: str) -> tuple[int, str] | None:
    """``(station_id, channel)`` from a NOTIFY payload, or None if it is not one of ours."""
    station, sep, channel = payload.partition(":")
    if not sep or not station.isdigit():
        return None
    return int(station), channel


_EVENTS: Table = KioskEvent.__table__  # type: ignore[assignment]
#: Built once, so each emit reuses SQLAlchemy's compiled statement instead of building a new one.
_INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.id)
_NOTIFY = text("SELECT pg_notify(:c, :p)")


def emit(
    name: str, payload: dict | None = None, *, channel: str = "", station_id: int | None = None, session=None
) -> Event:
    """Record and broadcast a domain event. ``payload`` must hold no personal data.

    Pass ``session`` to store the event in the caller's open transaction (it is
    then published when that transaction commits); otherwise it is committed now.
    """
    from kiosk.stations import current_station

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if station_id is None:
        station_id = current_station().id
    channel = channel or name.split(".")[0]
    payload = payload or {}
    own = session is None
    db_session = get_session() if own else session
    # One Core INSERT … RETURNING id (no ORM unit of work for a row nobody changes again).
    event_id = db_session.execute(
        _INSERT_EVENT, {"station_id": station_id, "channel": channel, "name": name, "payload": payload, "at": utcnow()}
    ).scalar_one()
    if db_session.get_bind().dialect.name == "postgresql":
        # In the event's own transaction: PostgreSQL delivers it when, and only if,
        # that commits, and no second connection is taken while this one is held
        # (threads each waiting for another connection would exhaust the pool).
        db_session.execute(_NOTIFY, {"c": NOTIFY_CHANNEL, "p": notify_payload(station_id, channel)})
    event = Event(name=name, station_id=station_id, payload=payload, channel=channel, id=event_id)
    if own:
        db_session.commit()
        _published(app, event)
    else:
        # When the caller's transaction commits for good: not when a savepoint inside it is
        # released (a receipt joined to the ticket's block), which would wake displays too early.
        after_commit(db_session, lambda: _published(app, event))
    return event


def _published(app, event: Event) -> None:
    # One log line per event: the station's record of what happened (payloads hold no personal data).
    # The payload is put in JSON only when the line is written (not below a WARNING log level).
    if log.isEnabledFor(logging.INFO):
        log.info("%s %s", event.name, json.dumps(event.payload, ensure_ascii=False, sort_keys=True, default=str))
    notifier: Notifier = app.extensions["kiosk_notifier"]
    if not (notifier.listening and app.extensions["db"].dialect == "postgresql"):
        # With LISTEN up the notification reaches this worker as well: ringing here
        # too would make every stream of the station read twice per event.
        notifier.wake(event.station_id, event.channel)
    plugins = app.extensions["kiosk_plugins"]
    plugins.call("kiosk_event", event=event)


def listen_url(app) -> str:
    """The libpq address LISTEN uses: ``DATABASE_LISTEN_URL``, else the database's own."""
    from sqlalchemy.engine import make_url

    configured = app.config.get("DATABASE_LISTEN_URL")
    url = make_url(configured) if configured else app.extensions["db"].engine.url
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_listener(app, notifier: Notifier, stop: threading.Event) -> None:
    """Wake this worker's streams on PostgreSQL NOTIFY from any worker, by (station, channel)."""
    import psycopg

    url = listen_url(app)
    while not stop.is_set():
        try:
            # Keepalives: a connection cut without a FIN (a NAT or firewall timing
            # out) is noticed in about half a minute instead of never.
            with psycopg.connect(
                url, autocommit=True, keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3
            ) as conn:
                conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                notifier.listening = True
                notifier.wake_all()  # events while the connection was down were not announced
                probed = time.monotonic()
                while not stop.is_set():
                    for note in conn.notifies(timeout=1.0):
                        key = parse_payload(note.payload)
                        if key is None:
                            notifier.wake_all()  # an older worker's bare station id: wake rather than miss
                        else:
                            notifier.wake(*key)
                    if time.monotonic() - probed >= LISTEN_PROBE_SECONDS:
                        conn.execute("SELECT 1")
                        probed = time.monotonic()
        except Exception as exc:
            notifier.listening = False
            if stop.is_set():
                break  # the app is closing: its connection went with it, nothing is lost
            log.warning("event listener lost its connection (%s); retrying", type(exc).__name__)
            stop.wait(2.0)
    notifier.listening = False


def init_app(app) -> None:
    notifier = Notifier()
    app.extensions["kiosk_notifier"] = notifier
    if app.extensions["db"].dialect == "postgresql" and not app.config.get("TESTING_NO_LISTENER"):
        stop = threading.Event()
        thread = threading.Thread(target=_pg_listener, args=(app, notifier, stop), daemon=True, name="kiosk-pg-listen")
        thread.start()
        app.extensions["kiosk_listener_stop"] = stop


#: How long a stream waits for an event id it has not seen to be committed.
#: Ids are taken in insert order but transactions commit in their own order,
#: so on PostgreSQL event 41 may become visible after event 42; a stream
#: that only asked for "newer than 42" would never show 41. A missing id older
#: than this belongs to a transaction that rolled back (or a sequence jump).
GAP_SECONDS = 10.0
#: At most this many missing ids are remembered; a bigger jump is not a race.
MAX_GAPS = 1000
FETCH_LIMIT = 200


class EventCursor:
    """Where a stream is in the event table: the highest id seen, and ids still missing.

    Each :meth:`poll` reads the ids committed since the last one (of every
    station: ids are shared) plus any missing ids that have since committed,
    and returns the station's events among them in id order. An event that
    commits late is therefore delivered late, not lost. ``more`` is true when
    the poll stopped at ``FETCH_LIMIT`` ids: the caller reads again at once
    (other stations' events may sit between this stream's, and this stream is
    not woken for those).
    """

    def __init__(self, after: int):
        self.high = after
        self.gaps: dict[int, float] = {}
        self.more = False

    def poll(self, session, station_id: int, channels: list[str], now: float | None = None) -> list[KioskEvent]:
        now = time.monotonic() if now is None else now
        newer = KioskEvent.id > self.high
        missing = list(self.gaps)
        visible = select(KioskEvent.id).where(or_(newer, KioskEvent.id.in_(missing)) if missing else newer)
        ids = list(session.scalars(visible.order_by(KioskEvent.id).limit(FETCH_LIMIT)))
        self.more = len(ids) >= FETCH_LIMIT
        filled = [i for i in ids if i in self.gaps]
        fresh = [i for i in ids if i > self.high]
        for i in filled:
            del self.gaps[i]
        expected = self.high + 1
        for i in fresh:
            if i - expected <= MAX_GAPS - len(self.gaps):
                self.gaps.update(dict.fromkeys(range(expected, i), now))
            expected = i + 1
        self.gaps = {i: t for i, t in self.gaps.items() if now - t < GAP_SECONDS}
        wanted = filled + fresh
        if not wanted:
            return []
        query = select(KioskEvent).where(KioskEvent.station_id == station_id)
        if fresh:
            in_range = and_(KioskEvent.id > self.high, KioskEvent.id <= fresh[-1])
            query = query.where(or_(in_range, KioskEvent.id.in_(filled)) if filled else in_range)
            self.high = fresh[-1]
        else:
            query = query.where(KioskEvent.id.in_(filled))
        if channels:
            query = query.where(KioskEvent.channel.in_(channels))
        return list(session.scalars(query.order_by(KioskEvent.id)))


def fetch_since(app, station_id: int, channels: list[str], cursor: EventCursor) -> list[KioskEvent]:
    """The station's events on ``channels`` committed since ``cursor`` last looked."""
    session = app.extensions["db"].Session()
    try:
        return cursor.poll(session, station_id, channels)
    finally:
        session.close()


def latest_id(app, station_id: int | None = None) -> int:
    """The newest event id of the whole table: where a new stream starts.

    Of every station, not only ``station_id``'s (kept for callers that pass
    it): a stream starting at its station's last event, days old at a quiet
    station, would first walk through every event of the district since.
    """
    session = app.extensions["db"].Session()
    try:
        return session.scalar(select(func.coalesce(func.max(KioskEvent.id), 0))) or 0
    finally:
        session.close()


def poll_seconds(app) -> float:
    """How long a stream waits before reading on its own (see the ``POLL_*`` constants)."""
    if app.extensions["db"].is_sqlite:
        return POLL_SQLITE
    return POLL_LISTENED if app.extensions["kiosk_notifier"].listening else POLL_UNLISTENED


@bp.route("/stream")
def stream():
    """Push the station's events on the asked channels (``?channel=legal&channel=…``)."""
    from kiosk.stations import current_station

    app = current_app._get_current_object()
    station_id = current_station().id
    channels = [c[:100] for c in request.args.getlist("channel") if c][:10]
    last = request.headers.get("Last-Event-ID") or request.args.get("after")
    try:
        after = int(last) if last else latest_id(app)
    except ValueError:
        after = latest_id(app)
    max_seconds = app.config.get("SSE_MAX_SECONDS", 300)
    if request.method == "HEAD":  # headers only: a body nobody reads must not hold a thread for minutes
        return stream_response(iter(()))
    client = streams.client_key()
    if streams.pump_of(request.environ) is not None:
        # Under `kiosk serve`: headers now, then the worker's pump writes; no thread waits here.
        return streams.handoff(
            streams.EventsSpec(station_id, tuple(channels), after, EventCursor, poll_seconds), client, max_seconds
        )
    notifier: Notifier = app.extensions["kiosk_notifier"]
    caps = streams.caps(app)

    def generate():
        # Subscribed before the first read, so nothing committed in between is missed.
        sub = notifier.subscribe(station_id, channels)
        ticket = caps.open(client)
        ticket.on_shed(sub.ring)
        cursor = EventCursor(after)
        try:
            started = last_beat = time.monotonic()
            next_read = started  # read at once
            rung = False
            yield "retry: 1000\n\n"
            while time.monotonic() - started < max_seconds:
                if ticket.shed:
                    yield streams.shed_line()
                    return
                now = time.monotonic()
                if rung or now >= next_read:
                    try:
                        rows = fetch_since(app, station_id, channels, cursor)
                    except Exception:
                        log.warning("event stream could not read events; retrying")
                        rows, cursor.more = [], False
                    for row in rows:
                        yield _sse(row.name, {"name": row.name, "channel": row.channel, **row.payload}, row.id)
                    next_read = time.monotonic() + poll_seconds(app)
                    if cursor.more:
                        rung = True
                        continue
                now = time.monotonic()
                if now - last_beat >= HEARTBEAT_SECONDS:
                    last_beat = now
                    yield ": keep-alive\n\n"
                rung = sub.wait(max(0.0, min(next_read, last_beat + HEARTBEAT_SECONDS) - now))
        finally:
            caps.close(ticket)
            notifier.unsubscribe(sub)

    return stream_response(generate())


def prune(app, keep_days: int = 2) -> int:
    """Delete pushed events older than ``keep_days`` (a scheduled core job)."""
    session = app.extensions["db"].Session()
    try:
        result = session.execute(delete(KioskEvent).where(KioskEvent.at < utcnow() - timedelta(days=keep_days)))
        session.commit()
        return result.rowcount or 0
    finally:
        session.close()
