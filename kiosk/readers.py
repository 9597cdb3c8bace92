"""Card and scanner reads for the page in front of the user (never stored).

A read belongs to the screen open right now: :class:`ReaderHub` offers it to the
plugins with that screen and pushes what they answer to the page's
``/events/reader`` stream, or drops it.
"""

from __future__ import annotations

import queue
import threading
import time

from flask import Blueprint, current_app, request

from kiosk.events import HEARTBEAT_SECONDS, _sse, stream_response

bp = Blueprint("readers", __name__, url_prefix="/events")


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


def init_app(app) -> None:
    app.extensions["reader_hub"] = ReaderHub(app)
