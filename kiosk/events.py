"""Domain events and push to pages (server-sent events).

``emit(name, payload, channel=...)`` stores the event in the ``kiosk_event``
table, tells every plugin through the ``kiosk_event`` hook, and wakes the
streams. The table is the source of truth, so a display connected to one
worker sees a call made on another: on PostgreSQL a LISTEN/NOTIFY thread wakes
every worker at once; on SQLite streams also re-read the table every quarter
second, which covers several processes on one file.

Card and scanner reads are different: they belong to the page in front of the
user right now, so they are never stored (see :class:`ReaderHub`).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Blueprint, Response, current_app, request
from sqlalchemy import and_, delete, or_, select, text

from kiosk.db import get_session, utcnow
from kiosk.models import KioskEvent

__all__ = ["emit", "Event"]

log = logging.getLogger("kiosk.events")

bp = Blueprint("events", __name__, url_prefix="/events")

HEARTBEAT_SECONDS = 15
NOTIFY_CHANNEL = "kiosk_events"


@dataclass
class Event:
    """A domain event as plugins receive it through the ``kiosk_event`` hook."""

    name: str
    station_id: int
    payload: dict = field(default_factory=dict)
    channel: str = ""
    id: int | None = None


class Notifier:
    """Wakes waiting streams in this process when an event may have arrived."""

    def __init__(self):
        self._cond = threading.Condition()
        self._generation = 0

    def wake(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        with self._cond:
            if self._generation == seen:
                self._cond.wait(timeout)
            return self._generation

    @property
    def generation(self) -> int:
        return self._generation


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
    row = KioskEvent(station_id=station_id, channel=channel or name.split(".")[0], name=name, payload=payload or {})
    own = session is None
    db_session = get_session() if own else session
    db_session.add(row)
    db_session.flush()
    if db_session.get_bind().dialect.name == "postgresql":
        # In the event's own transaction: PostgreSQL delivers it when, and only if,
        # that commits, and no second connection is taken while this one is held
        # (threads each waiting for another connection would exhaust the pool).
        db_session.execute(text("SELECT pg_notify(:c, :p)"), {"c": NOTIFY_CHANNEL, "p": str(station_id)})
    event = Event(name=name, station_id=station_id, payload=row.payload, channel=row.channel, id=row.id)
    if own:
        db_session.commit()
        _published(app, event)
    else:
        from sqlalchemy import event as sa_event

        sa_event.listen(db_session, "after_commit", lambda _s: _published(app, event), once=True)
    return event


def _published(app, event: Event) -> None:
    # One log line per event: the station's record of what happened (payloads hold no personal data).
    log.info("%s %s", event.name, json.dumps(event.payload, ensure_ascii=False, sort_keys=True, default=str))
    app.extensions["kiosk_notifier"].wake()
    plugins = app.extensions["kiosk_plugins"]
    plugins.call("kiosk_event", event=event)


def _pg_listener(app, notifier: Notifier, stop: threading.Event) -> None:
    """Wake this worker's streams on PostgreSQL NOTIFY from any worker."""
    import psycopg

    url = app.extensions["db"].engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                while not stop.is_set():
                    for _ in conn.notifies(timeout=1.0):
                        notifier.wake()
        except Exception as exc:
            log.warning("event listener lost its connection (%s); retrying", type(exc).__name__)
            stop.wait(2.0)


def init_app(app) -> None:
    notifier = Notifier()
    app.extensions["kiosk_notifier"] = notifier
    app.extensions["reader_hub"] = ReaderHub(app)
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
    commits late is therefore delivered late, not lost.
    """

    def __init__(self, after: int):
        self.high = after
        self.gaps: dict[int, float] = {}

    def poll(self, session, station_id: int, channels: list[str], now: float | None = None) -> list[KioskEvent]:
        now = time.monotonic() if now is None else now
        newer = KioskEvent.id > self.high
        missing = list(self.gaps)
        visible = select(KioskEvent.id).where(or_(newer, KioskEvent.id.in_(missing)) if missing else newer)
        ids = list(session.scalars(visible.order_by(KioskEvent.id).limit(FETCH_LIMIT)))
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


def latest_id(app, station_id: int) -> int:
    session = app.extensions["db"].Session()
    try:
        from sqlalchemy import func

        return (
            session.scalar(select(func.coalesce(func.max(KioskEvent.id), 0)).where(KioskEvent.station_id == station_id))
            or 0
        )
    finally:
        session.close()


def _sse(event_name: str, data: dict, event_id: int | None = None) -> str:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event_name}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def stream_response(generator) -> Response:
    response = Response(generator, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.route("/stream")
def stream():
    """Push the station's events on the asked channels (``?channel=legal&channel=…``)."""
    from kiosk.stations import current_station

    app = current_app._get_current_object()
    station_id = current_station().id
    channels = [c[:100] for c in request.args.getlist("channel") if c][:10]
    last = request.headers.get("Last-Event-ID") or request.args.get("after")
    try:
        after = int(last) if last else latest_id(app, station_id)
    except ValueError:
        after = latest_id(app, station_id)
    max_seconds = app.config.get("SSE_MAX_SECONDS", 300)
    poll = 0.25 if app.extensions["db"].is_sqlite else 2.0
    notifier = app.extensions["kiosk_notifier"]

    def generate():
        cursor = EventCursor(after)
        started = last_beat = time.monotonic()
        seen = notifier.generation
        yield "retry: 1000\n\n"
        while time.monotonic() - started < max_seconds:
            try:
                rows = fetch_since(app, station_id, channels, cursor)
            except Exception:
                log.warning("event stream could not read events; retrying")
                rows = []
            for row in rows:
                yield _sse(row.name, {"name": row.name, "channel": row.channel, **row.payload}, row.id)
            now = time.monotonic()
            if now - last_beat >= HEARTBEAT_SECONDS:
                last_beat = now
                yield ": keep-alive\n\n"
            seen = notifier.wait(seen, poll)

    return stream_response(generate())


class ReaderHub:
    """Hands card and scanner reads to the page in front of the user, or drops them.

    Each open kiosk page holds a stream declaring its screen. A read is offered
    to the plugins through ``handle_reader_event`` with that screen; what a
    plugin returns is pushed to the page. With no page, or no plugin that
    wants it, the read is dropped: it must never reach the next user.
    """

    def __init__(self, app):
        self.app = app
        self._lock = threading.Lock()
        self._subscribers: list[tuple[str | None, queue.Queue]] = []

    def subscribe(self, screen: str | None) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=10)
        with self._lock:
            self._subscribers.append((screen, q))
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            self._subscribers = [(s, x) for s, x in self._subscribers if x is not q]

    def publish(self, reader_event) -> int:
        """Offer a read to the open screens; returns how many pages received it."""
        with self._lock:
            subscribers = list(self._subscribers)
        delivered = 0
        with self.app.app_context():
            from kiosk.models import Station

            session = self.app.extensions["db"].Session()
            try:
                station = session.get(Station, self.app.extensions["kiosk_station_id"])
                plugins = self.app.extensions["kiosk_plugins"]
                for screen, q in subscribers:
                    action = plugins.call(
                        "handle_reader_event", firstresult=True, event=reader_event, screen=screen, station=station
                    )
                    if action is None:
                        continue
                    try:
                        q.put_nowait(action)
                        delivered += 1
                    except queue.Full:
                        pass
            finally:
                session.close()
        return delivered


@bp.route("/reader")
def reader_stream():
    """The open kiosk page's stream of card and scanner reads meant for it."""
    from kiosk.stations import current_station

    app = current_app._get_current_object()
    screen = (request.args.get("screen") or "")[:100] or None
    hub: ReaderHub = app.extensions["reader_hub"]
    # The devices belong to the station this process is configured for; a page
    # of another station (a fleet server) must never receive their reads.
    local = current_station().id == app.extensions["kiosk_station_id"]
    max_seconds = app.config.get("SSE_MAX_SECONDS", 300)

    def generate():
        q = hub.subscribe(screen) if local else queue.Queue()
        started = time.monotonic()
        try:
            yield "retry: 1000\n\n"
            while time.monotonic() - started < max_seconds:
                try:
                    action = q.get(timeout=HEARTBEAT_SECONDS)
                except queue.Empty:
                    yield ": keep-alive\n\n"
                    continue
                yield _sse("reader", action)
        finally:
            hub.unsubscribe(q)

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
