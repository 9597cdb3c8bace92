"""Caps on push streams where no pump runs (``kiosk run``, the test client): the generators shed the oldest too.

The caps themselves (:class:`kiosk.streams.StreamCaps`), then a real threaded
werkzeug server (``kiosk run``'s) behind one trusted proxy: a client over its
cap loses its oldest stream, told to come back later; other clients keep theirs.
"""

from __future__ import annotations

import shutil

from kiosk.streams import SHED_RETRY_MS, StreamCaps
from kiosk.testing import EventStream, LiveServer, wait_for


def test_caps_shed_the_oldest_of_the_client_then_of_the_process():
    caps = StreamCaps(per_client=2, per_process=4)
    shed: list[str] = []
    a1, a2 = caps.open("a:10.0.0.1"), caps.open("a:10.0.0.1")
    a1.on_shed(lambda: shed.append("a1"))
    a3 = caps.open("a:10.0.0.1")  # a1 goes, never the new one
    assert shed == ["a1"] and a1.shed and not a2.shed and not a3.shed
    b1, b2 = caps.open("a:10.0.0.2"), caps.open("a:10.0.0.3")
    assert caps.open_count == 4 and not a2.shed
    c1 = caps.open("a:10.0.0.4")  # over the process's 4: the oldest of all (a2)
    assert a2.shed and not (a3.shed or b1.shed or b2.shed or c1.shed)
    assert caps.open_count == 4 and caps.shed_count == 2
    caps.close(b1)
    caps.close(b1)  # closing twice is harmless
    caps.open("a:10.0.0.5")
    assert not a3.shed and caps.open_count == 4
    late: list[str] = []
    a1.on_shed(lambda: late.append("now"))  # already shed: called at once
    assert late == ["now"]


def test_generator_streams_are_capped_per_client_address(make_app, sqlite_template, tmp_path):
    shutil.copy(sqlite_template, tmp_path / "caps.db")
    app = make_app(
        "sqlite:///" + str(tmp_path / "caps.db"),
        STREAMS_PER_CLIENT=2,
        SECURITY={"trusted_proxy_hops": 1},
        SSE_MAX_SECONDS=60,
    )
    path = "/events/stream?channel=legal"
    with LiveServer(app) as server:
        phone = {"X-Forwarded-For": "10.0.0.7"}
        first, second = EventStream(server.url, path, headers=phone), EventStream(server.url, path, headers=phone)
        other = EventStream(server.url, path, headers={"X-Forwarded-For": "10.0.0.8"})
        try:
            third = EventStream(server.url, path, headers=phone)
            first.thread.join(10)
            assert not first.thread.is_alive(), "the client's oldest stream stays open"
            assert second.thread.is_alive() and third.thread.is_alive() and other.thread.is_alive()
            assert wait_for(lambda: app.extensions["kiosk_stream_caps"].open_count == 3, 5, "three streams open")
            with app.app_context():
                from kiosk.events import emit

                emit("legal.called", {"number": "A007"}, channel="legal", station_id=app.extensions["kiosk_station_id"])
            for stream in (second, third, other):
                assert stream.wait_for("legal.called", timeout=10) == {
                    "name": "legal.called",
                    "channel": "legal",
                    "number": "A007",
                }
            assert SHED_RETRY_MS >= 10_000  # a shed page comes back later, not in a second
        finally:
            for stream in (first, second, other, locals().get("third")):
                if stream is not None:
                    stream.close()
