"""Push streams that hold no request thread, and caps on how many stay open.

Under ``kiosk serve`` a server-sent-events stream (``/events/stream``,
``/events/reader``, a plugin's push through :mod:`kiosk.events`) used to hold
one of the worker's 16 request threads for its whole life: sixteen open
phones froze the station. Now:

- :class:`kiosk.server.StreamWorker`, gunicorn's threaded worker with one
  addition: a stream view that finds a :class:`StreamPump` in the WSGI
  environ (``kiosk.stream_pump``) answers with headers only (no chunked
  framing, ``Connection: close``: the body runs until the socket closes),
  and the worker then hands the socket to the pump instead of keeping it.
  The request thread is free as soon as the headers are written; the pump
  writes the first line once the stream is subscribed and counted.
- :class:`StreamPump`, one thread per worker process, writes to every
  handed-off socket (non-blocking, through one selector). Event streams of
  one station and channel set share a *feed*: the feed is woken by the
  process's :class:`kiosk.events.Notifier` (the PostgreSQL LISTEN thread on
  the hub, the emitting thread on SQLite), reads the new events once from the
  database and writes the same bytes to every subscribed socket, all of a
  read's events in one write. After a read the feed waits
  :func:`batch_seconds` (longer the more sockets it writes, at most 0.1 s)
  before the next: the first event after a quiet spell goes out at once, the
  events of a busy spell together, so the pump's system calls grow with
  streams × reads, not streams × events. Reader
  streams get what :class:`kiosk.readers.ReaderHub` hands their page. The
  pump sends heartbeats, closes streams after ``sse_max_seconds``, and drops
  a reader that lets more than :data:`MAX_BUFFER` bytes pile up (a phone
  that stopped reading must not hold the worker's memory).
- :class:`StreamCaps`, per app (one app per worker process), counts every
  open stream, pumped or not: at most ``streams_per_client`` per client (the
  enrolled terminal, else the address as :mod:`kiosk.ratelimit` resolves it,
  through ``trusted_proxy_hops`` proxies) and ``streams_per_process`` in all.
  A new stream over a cap sheds the *oldest* stream of that client (or of
  the process), never refuses the new one and never waits: the shed stream
  is told to come back in :data:`SHED_RETRY_MS` and closed, and its
  EventSource reconnects then with ``Last-Event-ID``, so it misses nothing.
  Both caps count per worker process. A station node runs one worker
  (``kiosk serve``'s default; devices are opened only with one), so there
  they are the node's caps; a hub
  with N workers keeps up to N × ``streams_per_process`` streams, and one
  client whose connections the kernel spreads over the workers up to N ×
  ``streams_per_client``.

No per-session cap: a session is a cookie the client chooses to send, so it
bounds nothing an address cap does not; residents behind one proxy are told
apart by ``trusted_proxy_hops``.

Why a handing-off gthread worker rather than an async server: every other
route stays the synchronous Flask code it is (database sessions, plugins,
printing), one process still serves both, and a stream costs a socket and a
few hundred bytes instead of a thread. Under the Flask test client and
``kiosk run`` (no pump in the environ) the views keep their generators, under
the same caps.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Response

log = logging.getLogger("kiosk.streams")

#: The WSGI environ keys: the worker's pump, and a stream a view asks the worker to hand to it.
PUMP_ENVIRON = "kiosk.stream_pump"
PENDING_ENVIRON = "kiosk.stream_pending"
#: Defaults of ``streams_per_client`` and ``streams_per_process``.
PER_CLIENT = 8
PER_PROCESS = 5000
#: A shed stream's EventSource waits this long before it reconnects (a client over its cap
#: would otherwise push its own streams out in turn every second).
SHED_RETRY_MS = 30_000
#: Bytes waiting for one slow reader before it is dropped (an event is a few hundred bytes).
MAX_BUFFER = 64 * 1024
#: A new feed reads at most this many event ids back from the newest (of every station: ids are shared).
BACKLOG_IDS = 2000
#: At most this many of the events a resuming stream missed are sent to it (the newest).
CATCH_UP_ROWS = 200  # some 40 kB: within MAX_BUFFER even if the socket takes none of it yet
#: A feed is read again at the earliest this long after its last read, per stream it writes to, up to
#: BATCH_MAX_SECONDS: the first event after a quiet spell goes out at once, the events of a busy spell go
#: out together, one write per socket per batch instead of one per event (see :func:`batch_seconds`).
BATCH_SECONDS_PER_STREAM = 0.0002
BATCH_MAX_SECONDS = 0.1
HEARTBEAT_SECONDS = 15
HEARTBEAT = b": keep-alive\n\n"
FIRST_LINE = b"retry: 1000\n\n"


def sse(event_name: str, data: dict, event_id: int | None = None) -> str:
    """One server-sent event: its id (if any), its name, its data as one line of JSON."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event_name}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def stream_response(body) -> Response:
    """A push stream's answer: ``body`` (an iterable of str or bytes) as ``text/event-stream``, never cached."""
    from flask import Response

    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


# -- caps ------------------------------------------------------------------------------------------
class Ticket:
    """One open stream as the caps see it: whose it is, and how to shed it."""

    __slots__ = ("client", "shed_flag", "_callbacks", "_lock")

    def __init__(self, client: str):
        self.client = client
        self.shed_flag = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def shed(self) -> bool:
        return self.shed_flag.is_set()

    def on_shed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the stream is shed (at once if it already was)."""
        with self._lock:
            if not self.shed_flag.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def _shed(self) -> None:
        with self._lock:
            self.shed_flag.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


class StreamCaps:
    """Open push streams of one app (one per worker process), per client and in all; sheds the oldest."""

    def __init__(self, per_client: int = PER_CLIENT, per_process: int = PER_PROCESS):
        self.per_client = per_client
        self.per_process = per_process
        self._lock = threading.Lock()
        self._all: collections.OrderedDict[Ticket, None] = collections.OrderedDict()
        self._by_client: dict[str, collections.OrderedDict[Ticket, None]] = {}
        #: Streams shed so far (read by tests and the bench).
        self.shed_count = 0

    def open(self, client: str) -> Ticket:
        """Count a new stream of ``client``; the oldest streams over a cap are shed first."""
        ticket = Ticket(client)
        shed: list[Ticket] = []
        with self._lock:
            mine = self._by_client.setdefault(client, collections.OrderedDict())
            while len(mine) >= self.per_client:
                shed.append(self._forget(next(iter(mine))))
            while len(self._all) >= self.per_process:
                shed.append(self._forget(next(iter(self._all))))
            mine[ticket] = None
            self._all[ticket] = None
            self.shed_count += len(shed)
        for old in shed:
            log.info("push stream of %s shed to make room (over a cap)", old.client)
            old._shed()
        return ticket

    def close(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket in self._all:
                self._forget(ticket)

    def _forget(self, ticket: Ticket) -> Ticket:
        self._all.pop(ticket, None)
        mine = self._by_client.get(ticket.client)
        if mine is not None:
            mine.pop(ticket, None)
            if not mine:
                del self._by_client[ticket.client]
        return ticket

    @property
    def open_count(self) -> int:
        with self._lock:
            return len(self._all)


def caps(app) -> StreamCaps:
    """The app's :class:`StreamCaps` (made on first use from ``streams_per_client`` / ``streams_per_process``).

    The process cap stays below the open-file limit (less room for the pool,
    printers and files): one more socket than the limit allows would make
    gunicorn's accept fail, and the worker with it.
    """
    found = app.extensions.get("kiosk_stream_caps")
    if found is None:
        asked = app.config.get("STREAMS_PER_PROCESS")
        per_process = int(asked or PER_PROCESS)
        files = open_files_limit()
        if files > 0 and per_process > files - FILES_KEPT_FREE:
            # Said loudly when the operator asked for more; the default meeting `kiosk run`'s shell limit is normal.
            log.log(
                logging.WARNING if asked else logging.INFO,
                "streams_per_process = %d is more than this process may open (%d files): %d streams at most",
                per_process,
                files,
                max(16, files - FILES_KEPT_FREE),
            )
            per_process = max(16, files - FILES_KEPT_FREE)
        found = app.extensions.setdefault(
            "kiosk_stream_caps", StreamCaps(int(app.config.get("STREAMS_PER_CLIENT") or PER_CLIENT), per_process)
        )
    return found


#: Open files kept for everything else than streams (database pool, printers, templates, logs).
FILES_KEPT_FREE = 256


def open_files_limit() -> int:
    """This process's soft limit of open files (-1: unknown or unlimited)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return -1 if soft == resource.RLIM_INFINITY else int(soft)
    except (ImportError, ValueError, OSError):
        return -1


def client_key() -> str:
    """Whose stream this request opens: the enrolled terminal, else the client's address (proxy hops honoured)."""
    from kiosk.ratelimit import client

    return client()[0]


def shed_line() -> str:
    """What a shed stream last says: come back later, not at once."""
    return f"retry: {SHED_RETRY_MS}\n\n"


# -- handing a stream to the pump ------------------------------------------------------------------
@dataclass
class EventsSpec:
    """An event stream: the station's events on ``channels`` (none: every channel) after id ``after``.

    ``cursor`` makes a :class:`kiosk.events.EventCursor` from an id; ``poll_seconds(app)``
    says how long a feed waits before reading on its own (both from :mod:`kiosk.events`,
    which imports this module).
    """

    station_id: int
    channels: tuple[str, ...]
    after: int
    cursor: Callable[[int], Any]
    poll_seconds: Callable[[Any], float]


@dataclass
class ReaderSpec:
    """A reader stream: what the reader hub puts in ``queue`` (subscribed by the view); ``release`` unsubscribes."""

    queue: PumpQueue
    release: Callable[[], None]


@dataclass
class Pending:
    """A stream a view answered with headers only; the worker hands its socket to the pump."""

    app: Any
    client: str
    spec: EventsSpec | ReaderSpec
    max_seconds: float
    gauge: Any = None
    handed: bool = field(default=False)

    def abandon(self) -> None:
        """The answer never reached the client: undo what the view set up."""
        if isinstance(self.spec, ReaderSpec):
            self.spec.release()


class HandoffBody:
    """The body of a handed-off stream as the worker writes it: nothing (headers only).

    The pump writes the first line once the stream is subscribed and counted,
    so a client that has read it knows the stream is live.

    :class:`kiosk.metrics.Metrics` gives it the open-streams gauge (``adopt_gauge``)
    instead of wrapping it: the pump counts the stream open until it closes it.
    """

    def __init__(self, pending: Pending):
        self.pending = pending

    def __iter__(self):
        return iter(())

    def adopt_gauge(self, gauge) -> None:
        self.pending.gauge = gauge

    def close(self) -> None:
        pass


def pump_of(environ) -> StreamPump | None:
    """The worker's pump if this request may be handed to it (a GET over HTTP/1.x under :class:`StreamWorker`)."""
    return environ.get(PUMP_ENVIRON)


def handoff(spec: EventsSpec | ReaderSpec, client: str, max_seconds: float):
    """The response of a stream view under :class:`StreamWorker`: headers and a first line, then the pump."""
    from flask import current_app, request

    pending = Pending(current_app._get_current_object(), client, spec, max_seconds)  # type: ignore[attr-defined]
    request.environ[PENDING_ENVIRON] = pending
    return stream_response(HandoffBody(pending))


class PumpQueue:
    """What a pumped reader stream gives :class:`kiosk.readers.ReaderHub` in place of a ``queue.Queue``.

    ``put_nowait`` hands the answer to the pump (or keeps it until the socket
    is handed over, at most ``maxsize``); ``queue.Full`` as a queue would.
    """

    def __init__(self, maxsize: int = 10):
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._early: list[bytes] = []
        self._pump: StreamPump | None = None
        self._out: _Out | None = None

    def put_nowait(self, action) -> None:
        data = sse("reader", action).encode()
        with self._lock:
            if self._pump is None:
                if len(self._early) >= self.maxsize:
                    raise queue.Full
                self._early.append(data)
                return
            pump, out = self._pump, self._out
        pump.send_soon(out, data)

    def _attach(self, pump: StreamPump, out: _Out) -> list[bytes]:
        with self._lock:
            self._pump, self._out = pump, out
            early, self._early = self._early, []
        return early


# -- the pump --------------------------------------------------------------------------------------
class _Out:
    """One handed-off socket."""

    __slots__ = ("sock", "pending", "ticket", "buf", "want_write", "last_write", "deadline", "feed", "floor", "extra")

    def __init__(self, sock: socket.socket, pending: Pending, ticket: Ticket, now: float):
        self.sock = sock
        self.pending = pending
        self.ticket = ticket
        self.buf = bytearray()
        self.want_write = False
        self.last_write = now
        self.deadline = now + pending.max_seconds
        self.feed: _Feed | None = None
        self.floor = 0
        self.extra: set[int] = set()


class _Feed:
    """The event streams of one (app, station, channel set): one subscription, one cursor, one read per wake."""

    def __init__(self, app, spec: EventsSpec, start: int):
        self.app = app
        self.station_id = spec.station_id
        self.channels = spec.channels
        self.cursor = spec.cursor(start)
        self.poll_seconds = spec.poll_seconds
        self.members: set[_Out] = set()
        self.sub: Any = None
        self.dirty = True
        self.next_read = 0.0
        #: A ring before this time waits for it (:func:`batch_seconds` after the last read).
        self.not_before = 0.0
        #: Database reads made (read by tests and the bench).
        self.reads = 0

    def due(self) -> float:
        """When the feed reads next: when rung, after the pause; else at the next poll."""
        return self.not_before if self.dirty else max(self.next_read, self.not_before)


class StreamPump:
    """One thread per worker process writing every handed-off push stream (see the module's docstring)."""

    def __init__(self):
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._commands: collections.deque[Callable[[], None]] = collections.deque()
        self._outs: set[_Out] = set()
        self._feeds: dict[tuple, _Feed] = {}
        self._running = True
        #: Writes to sockets so far, not counting the rest of a partial one (read by tests and the bench).
        self.writes = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name="kiosk-stream-pump")
        self._thread.start()

    # -- called from other threads -------------------------------------------------------------
    def attach(self, sock: socket.socket, pending: Pending) -> None:
        """Take ``sock`` (its headers and first line written): the caps shed what they must, the pump writes on."""
        pending.handed = True
        ticket = caps(pending.app).open(pending.client)
        self._call(lambda: self._attach(sock, pending, ticket))

    def send_soon(self, out: _Out | None, data: bytes) -> None:
        if out is not None:
            self._call(lambda: self._send(out, data))

    def stop(self, timeout: float = 5.0) -> None:
        """Close every stream (their pages reconnect to another worker) and end the thread."""
        self._running = False
        self._wake()
        self._thread.join(timeout)

    @property
    def open_count(self) -> int:
        return len(self._outs)

    def _call(self, command: Callable[[], None]) -> None:
        self._commands.append(command)
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except OSError:  # the pipe is full: the pump is awake anyway
            pass

    # -- the pump's thread ---------------------------------------------------------------------
    def _run(self) -> None:
        from kiosk_hardware.print_queue import name_os_thread

        name_os_thread("kiosk-pump")  # top -H, py-spy and a bench reading /proc/<pid>/task find it by this name
        next_sweep = time.monotonic() + 1.0
        try:
            while self._running:
                now = time.monotonic()
                timeout = next_sweep - now
                for feed in self._feeds.values():
                    timeout = min(timeout, feed.due() - now)
                for key, mask in self._sel.select(max(0.0, timeout)):
                    out = key.data
                    if out is None:
                        try:
                            while os.read(self._wake_r, 4096):
                                pass
                        except BlockingIOError:
                            pass
                        continue
                    if mask & selectors.EVENT_READ:
                        self._readable(out)
                    if mask & selectors.EVENT_WRITE and out in self._outs:
                        self._flush(out)
                while self._commands:
                    try:
                        self._commands.popleft()()
                    except Exception:
                        log.exception("push stream command failed")
                now = time.monotonic()
                for feed in list(self._feeds.values()):
                    if feed.members and now >= feed.due():
                        self._read_feed(feed, now)
                if now >= next_sweep:
                    next_sweep = now + 1.0
                    self._sweep(now)
        except Exception:
            log.exception("push stream pump stopped")
        finally:
            for out in list(self._outs):
                self._close(out)
            self._sel.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _attach(self, sock: socket.socket, pending: Pending, ticket: Ticket) -> None:
        now = time.monotonic()
        out = _Out(sock, pending, ticket, now)
        try:
            sock.setblocking(False)
            self._sel.register(sock, selectors.EVENT_READ, out)
        except (OSError, ValueError):
            caps(pending.app).close(ticket)
            pending.abandon()
            _close_socket(sock)
            return
        self._outs.add(out)
        if pending.gauge is not None:
            pending.gauge.inc()
        ticket.on_shed(lambda: self._call(lambda: self._close(out, shed=True)))
        spec = pending.spec
        self._send(out, FIRST_LINE)
        if isinstance(spec, ReaderSpec):
            for data in spec.queue._attach(self, out):
                self._send(out, data)
        else:
            self._join(out, spec)

    def _join(self, out: _Out, spec: EventsSpec) -> None:
        app = out.pending.app
        key = (id(app), spec.station_id, spec.channels)
        feed = self._feeds.get(key)
        if feed is None:
            # A feed starts where its first stream is, but at most BACKLOG_IDS behind the newest event
            # (ids are shared by every station): a Last-Event-ID of 0 must not walk the whole table.
            start = max(spec.after, _newest_id(app) - BACKLOG_IDS)
            feed = self._feeds[key] = _Feed(app, spec, start)
            notifier = app.extensions["kiosk_notifier"]
            # Subscribed before the first read, so nothing committed in between is missed.
            feed.sub = notifier.subscribe(spec.station_id, list(spec.channels), on_ring=lambda f=feed: self._ring(f))
            out.floor = start
        elif spec.after < feed.cursor.high:
            self._catch_up(out, feed, spec.after)
        else:
            out.floor = spec.after
        feed.members.add(out)
        out.feed = feed

    def _catch_up(self, out: _Out, feed: _Feed, after: int) -> None:
        """Send a resuming stream the feed's events it missed (ids ``after`` up to where the feed is)."""
        from sqlalchemy import select

        from kiosk.models import KioskEvent

        high = feed.cursor.high
        out.floor = high
        out.extra = {g for g in feed.cursor.gaps if g > after}
        session = feed.app.extensions["db"].Session()
        try:
            query = select(KioskEvent).where(
                KioskEvent.station_id == feed.station_id, KioskEvent.id > after, KioskEvent.id <= high
            )
            if feed.channels:
                query = query.where(KioskEvent.channel.in_(feed.channels))
            # The newest ones only: one thread writes every stream, so a page back after days (or a
            # Last-Event-ID of 0) must not make it walk the whole table; a page shows the present anyway.
            rows = list(session.scalars(query.order_by(KioskEvent.id.desc()).limit(CATCH_UP_ROWS)))
            for row in reversed(rows):
                out.extra.discard(row.id)
                self._send(out, _event_bytes(row))
        except Exception:
            log.warning("a resuming push stream could not read the events it missed; it carries on from now")
        finally:
            session.close()

    def _ring(self, feed: _Feed) -> None:
        # From the notifying thread: the flag is read by the pump after the wake-up.
        feed.dirty = True
        self._wake()

    def _read_feed(self, feed: _Feed, now: float) -> None:
        feed.dirty = False
        cursor = feed.cursor
        session = feed.app.extensions["db"].Session()
        try:
            rows = cursor.poll(session, feed.station_id, list(feed.channels))
        except Exception:
            log.warning("push streams could not read events; retrying")
            rows, cursor.more = [], False
        finally:
            session.close()
        feed.reads += 1
        if rows:
            self._deliver(feed, rows)
        now = time.monotonic()
        feed.next_read = now + feed.poll_seconds(feed.app)
        # Events that ring before this wait for one read together (none: a feed with no stream is gone).
        feed.not_before = now + batch_seconds(len(feed.members))
        if cursor.more:  # the read stopped at its limit: the rest at once, not after a pause
            feed.dirty, feed.not_before = True, 0.0

    def _deliver(self, feed: _Feed, rows: list) -> None:
        """Each stream of ``feed`` gets the events of ``rows`` it has not had, in one write."""
        ids = [row.id for row in rows]
        chunks = [_event_bytes(row) for row in rows]
        lowest = ids[0]  # rows come in id order, a late event that filled a gap first
        together = b"".join(chunks)
        now = time.monotonic()
        for out in list(feed.members):  # a stream closed by a failed write leaves the set
            if out.floor < lowest and not out.extra:  # every stream but one that joined during the batch
                self._send(out, together, now)
                continue
            wanted = [c for i, c in zip(ids, chunks, strict=True) if i > out.floor or i in out.extra]
            if out.extra:
                out.extra.difference_update(ids)
                out.extra.intersection_update(feed.cursor.gaps)
            if wanted:
                self._send(out, b"".join(wanted), now)

    def _sweep(self, now: float) -> None:
        """Heartbeats to quiet streams, and the end of streams open ``sse_max_seconds``."""
        for out in list(self._outs):
            if now >= out.deadline:
                self._close(out)
            elif now - out.last_write >= HEARTBEAT_SECONDS:
                self._send(out, HEARTBEAT)

    def _readable(self, out: _Out) -> None:
        try:
            data = out.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client hung up
            self._close(out)

    def _send(self, out: _Out, data: bytes, now: float | None = None) -> None:
        if out not in self._outs:
            return
        out.last_write = time.monotonic() if now is None else now
        if out.buf:
            out.buf += data
            if len(out.buf) > MAX_BUFFER:
                log.info("push stream of %s dropped: it stopped reading", out.ticket.client)
                self._close(out)
            return
        self.writes += 1
        try:
            sent = out.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(out)
            return
        if sent < len(data):
            out.buf += data[sent:]
            if len(out.buf) > MAX_BUFFER:
                self._close(out)
                return
            self._watch(out, True)

    def _flush(self, out: _Out) -> None:
        try:
            sent = out.sock.send(out.buf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(out)
            return
        del out.buf[:sent]
        if not out.buf:
            self._watch(out, False)

    def _watch(self, out: _Out, write: bool) -> None:
        if out.want_write != write:
            out.want_write = write
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if write else 0)
            self._sel.modify(out.sock, events, out)

    def _close(self, out: _Out, shed: bool = False) -> None:
        if out not in self._outs:
            return
        if shed and not out.buf:
            try:  # come back later, not at once (best effort: a full socket just closes)
                out.sock.send(shed_line().encode())
            except OSError:
                pass
        self._outs.discard(out)
        try:
            self._sel.unregister(out.sock)
        except (KeyError, ValueError, OSError):
            pass
        _close_socket(out.sock)
        pending = out.pending
        caps(pending.app).close(out.ticket)
        if pending.gauge is not None:
            pending.gauge.dec()
        pending.abandon()
        feed = out.feed
        if feed is not None:
            feed.members.discard(out)
            if not feed.members:
                feed.app.extensions["kiosk_notifier"].unsubscribe(feed.sub)
                self._feeds.pop((id(feed.app), feed.station_id, feed.channels), None)


def batch_seconds(streams: int) -> float:
    """How long a feed writing to ``streams`` sockets waits after a read before the next.

    Writing one event costs the pump a system call per socket: with 500 phones
    on a station issuing a ticket every few seconds, the pump would otherwise
    spend its CPU (and the request threads' share of two cores) on 500 writes
    per ticket. The pause grows with the feed's streams, so the pump's time on
    a feed stays bounded, and a calling display's feed (a few streams) waits
    well under a millisecond.
    """
    return min(BATCH_MAX_SECONDS, streams * BATCH_SECONDS_PER_STREAM)


def _newest_id(app) -> int:
    """The newest event id of the whole table (-1 when it cannot be read: then no bound)."""
    from sqlalchemy import func, select

    from kiosk.models import KioskEvent

    session = app.extensions["db"].Session()
    try:
        return int(session.scalar(select(func.coalesce(func.max(KioskEvent.id), 0))) or 0)
    except Exception:
        return -1
    finally:
        session.close()


def _event_bytes(row) -> bytes:
    return sse(row.name, {"name": row.name, "channel": row.channel, **row.payload}, row.id).encode()


def _close_socket(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def raise_open_files_limit(want: int = 65536) -> int:
    """Raise this process's open-file limit towards ``want`` (each stream is a socket); returns the new limit."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        return soft
    except (ImportError, ValueError, OSError):
        return -1
