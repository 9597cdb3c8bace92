"""Card and scanner reads for the page in front of the user, at the terminal they were made at (never stored).

A read belongs to one terminal (the screen whose reader was tapped) and to the
screen open there right now: :class:`ReaderHub` offers it to the plugins with
that screen and pushes what they answer to that terminal's ``/events/reader``
stream, or drops it. Only an enrolled terminal may open the stream
(:mod:`kiosk.terminals`); a phone, a staff browser, an anonymous client or
another terminal gets 403. What the plugin's answer hands the page (card
tokens, booking codes, identification links) is replaced by claims that only
that terminal's session can take back, once, within seconds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from flask import Blueprint, current_app, request

from kiosk import streams
from kiosk.events import HEARTBEAT_SECONDS, _sse, stream_response

bp = Blueprint("readers", __name__, url_prefix="/events")
log = logging.getLogger("kiosk.readers")


@dataclass(frozen=True)
class Binding:
    """Whose page a subscribed queue is: its terminal (None for code in this process, never a browser), its session."""

    terminal_id: int | None = None
    session_hash: str = ""


class ReaderHub:
    """Hands card and scanner reads to the page in front of the user at their terminal, or drops them.

    Each open kiosk page holds a stream declaring its screen, opened with its
    terminal's credential. A read made at a terminal is offered to the
    plugins through ``handle_reader_event`` with the screen of each page of
    that terminal; what a plugin returns is pushed to the page, bound to the
    terminal and the page's session. With no page, or no plugin that wants it,
    the read is dropped: it must never reach the next user.

    Code in this process (tests, tools) may :meth:`subscribe` without a
    terminal: it receives the reads of the station's local terminal (the one
    its ``[devices]`` belong to) as the plugins answered them.
    """

    def __init__(self, app):
        self.app = app
        self._lock = threading.Lock()
        self._subscribers: list[tuple[str | None, queue.Queue]] = []
        self._bindings: dict[queue.Queue, Binding] = {}
        self._pruned_at = 0.0

    def subscribe(
        self, screen: str | None, terminal_id: int | None = None, session_hash: str = "", into=None
    ) -> queue.Queue:
        """A queue receiving what the plugins answer to reads at ``terminal_id`` for ``screen``.

        ``into``: a queue-like object of the caller's (``put_nowait``) to use instead of a new
        ``queue.Queue``, as a pumped stream's :class:`kiosk.streams.PumpQueue`.
        """
        q: queue.Queue = into if into is not None else queue.Queue(maxsize=10)
        with self._lock:
            self._subscribers.append((screen, q))
            self._bindings[q] = Binding(terminal_id, session_hash)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            self._subscribers = [(s, x) for s, x in self._subscribers if x is not q]
            self._bindings.pop(q, None)

    def publish(self, reader_event, terminal: str | None = None) -> int:
        """Offer a read made at ``terminal`` (a name; None = the station's local terminal) to its open screens.

        Returns how many pages received it. A read for a terminal this station
        does not have, or one that is revoked, is refused and logged.
        """
        from kiosk.db import session_for
        from kiosk.models import Station
        from kiosk.terminals import Terminal, local_terminal_name

        local = local_terminal_name(self.app)
        name = terminal if terminal is not None else local
        station_id = self.app.extensions["kiosk_station_id"]
        with self._lock:
            subscribers = [(screen, q, self._bindings.get(q, Binding())) for screen, q in self._subscribers]
        answered: list[tuple[queue.Queue, Binding, dict]] = []
        with self.app.app_context():
            with session_for(self.app) as session:
                from sqlalchemy import select

                row = session.scalar(select(Terminal).where(Terminal.station_id == station_id, Terminal.name == name))
                terminal_id = row.id if row is not None and row.active else None
                if terminal_id is None and terminal is not None:
                    log.warning(
                        "reader event from %s refused: this station has no enrolled terminal %r",
                        getattr(reader_event, "source", "?"),
                        terminal,
                    )
                    return 0
                mine = [
                    (screen, q, binding)
                    for screen, q, binding in subscribers
                    if (binding.terminal_id is not None and binding.terminal_id == terminal_id)
                    or (binding.terminal_id is None and name == local)
                ]
                if not mine:
                    return 0
                station = session.get(Station, station_id)
                plugins = self.app.extensions["kiosk_plugins"]
                for screen, q, binding in mine:
                    action = plugins.call(
                        "handle_reader_event",
                        firstresult=True,
                        event=reader_event,
                        screen=screen,
                        station=station,
                    )
                    if action is not None:
                        answered.append((q, binding, action))
            if any(binding.terminal_id is not None for _q, binding, _a in answered):
                answered = self._bind(answered)
        delivered = 0
        for q, _binding, action in answered:
            try:
                q.put_nowait(action)
                delivered += 1
            except queue.Full:
                pass
        return delivered

    def _bind(self, answered: list[tuple[queue.Queue, Binding, dict]]) -> list[tuple[queue.Queue, Binding, dict]]:
        """Replace what each terminal's page is handed by claims of that terminal and session."""
        from kiosk.db import session_for
        from kiosk.terminals import bind_action, prune_claims

        bound = []
        with session_for(self.app, write=True) as session:
            for q, binding, action in answered:
                if binding.terminal_id is not None and isinstance(action, dict):
                    action = bind_action(session, action, binding.terminal_id, binding.session_hash)
                bound.append((q, binding, action))
            if time.monotonic() - self._pruned_at > 60:
                prune_claims(session)
                self._pruned_at = time.monotonic()
            session.commit()
        return bound


@bp.route("/reader")
def reader_stream():
    """The open kiosk page's stream of card and scanner reads made at its terminal and meant for its screen."""
    from kiosk.terminals import current_terminal, refuse_not_terminal, session_binding

    app = current_app._get_current_object()
    terminal = current_terminal()
    if terminal is None:
        log.warning("reader stream refused to %s: not an enrolled terminal", request.remote_addr)
        refuse_not_terminal()
    screen = (request.args.get("screen") or "")[:100] or None
    hub: ReaderHub = app.extensions["reader_hub"]
    terminal_id, session_hash = terminal.id, session_binding()
    max_seconds = app.config.get("SSE_MAX_SECONDS", 300)
    if request.method == "HEAD":  # headers only: a body nobody reads must not hold a thread for minutes
        return stream_response(iter(()))
    client = streams.client_key()
    if streams.pump_of(request.environ) is not None:
        # Under `kiosk serve`: subscribed now (a tap right after the first line must reach the
        # page), then the worker's pump writes what the hub hands the queue; no thread waits here.
        pumped = streams.PumpQueue()
        hub.subscribe(screen, terminal_id=terminal_id, session_hash=session_hash, into=pumped)
        spec = streams.ReaderSpec(pumped, lambda: hub.unsubscribe(pumped))
        return streams.handoff(spec, client, max_seconds)
    caps = streams.caps(app)

    def generate():
        q = hub.subscribe(screen, terminal_id=terminal_id, session_hash=session_hash)
        ticket = caps.open(client)
        ticket.on_shed(lambda: _nudge(q))
        started = time.monotonic()
        try:
            yield "retry: 1000\n\n"
            while time.monotonic() - started < max_seconds:
                if ticket.shed:
                    yield streams.shed_line()
                    return
                try:
                    action = q.get(timeout=HEARTBEAT_SECONDS)
                except queue.Empty:
                    yield ": keep-alive\n\n"
                    continue
                if action is _SHED:
                    continue
                yield _sse("reader", action)
        finally:
            caps.close(ticket)
            hub.unsubscribe(q)

    return stream_response(generate())


#: Put in a waiting reader stream's queue to wake it when it is shed.
_SHED = object()


def _nudge(q: queue.Queue) -> None:
    try:
        q.put_nowait(_SHED)
    except queue.Full:  # the stream is busy reading its queue: it sees the flag at its next turn
        pass


def init_app(app) -> None:
    app.extensions["reader_hub"] = ReaderHub(app)
