"""The stream pump on its own, on real sockets: a reader that stops reading is dropped, and stopping closes all.

(The pump under ``kiosk serve`` is tests/test_streams_serve.py.)
"""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest

from kiosk import events, streams
from kiosk.streams import FIRST_LINE, MAX_BUFFER, EventsSpec, Pending, PumpQueue, ReaderSpec, StreamPump, caps
from kiosk.testing import wait_for


@pytest.fixture
def app(make_app, sqlite_template, tmp_path):
    shutil.copy(sqlite_template, tmp_path / "pump.db")
    return make_app("sqlite:///" + str(tmp_path / "pump.db"))


def reader_stream(app, pump: StreamPump, released: list) -> tuple[socket.socket, PumpQueue]:
    """A reader stream handed to ``pump``: the client's end of its socket, and the queue the hub would fill."""
    server_end, client_end = socket.socketpair()
    server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    client_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    pumped = PumpQueue()
    pending = Pending(app, "a:10.0.0.1", ReaderSpec(pumped, lambda: released.append(pumped)), 60)
    pump.attach(server_end, pending)
    return client_end, pumped


def read_to_end(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_reader_that_stops_reading_is_dropped_and_the_rest_carry_on(app):
    app.config["STREAMS_PER_CLIENT"] = 10
    pump = StreamPump()
    released: list = []
    try:
        stalled, stalled_queue = reader_stream(app, pump, released)
        alive, alive_queue = reader_stream(app, pump, released)
        alive.settimeout(10)
        assert alive.recv(len(FIRST_LINE)) == FIRST_LINE
        wait_for(lambda: pump.open_count == 2, 5, "both streams attached")
        big = {"fill": {"note": "x" * 4000}}
        for _ in range(2 * MAX_BUFFER // 4000 + 20):  # the stalled page never reads: more than its buffer
            stalled_queue.put_nowait(big)
        # The pump leaves its list of streams first, then frees the stream's place and releases its
        # queue: wait for the whole close (a loaded CI machine once checked in between).
        wait_for(lambda: pump.open_count == 1 and released, 10, "the stalled stream dropped and released")
        assert released == [stalled_queue]  # unsubscribed from the reader hub
        assert caps(app).open_count == 1
        received = read_to_end(stalled)  # what was sent before the drop, then the end
        assert received.startswith(FIRST_LINE) and len(received) < 2 * MAX_BUFFER
        alive_queue.put_nowait({"submit": "#checkin-form"})
        data = b""
        while b"checkin-form" not in data:
            data += alive.recv(4096)
        assert b"event: reader" in data
    finally:
        pump.stop()
    # Stopping closes every stream (their pages reconnect to the next worker) and frees their places.
    read_to_end(alive)  # returns at the end of the stream only (a socket timeout otherwise)
    assert pump.open_count == 0 and caps(app).open_count == 0
    assert released == [stalled_queue, alive_queue]


def event_stream(app, pump: StreamPump, n: int) -> socket.socket:
    """An event stream of the legal channel handed to ``pump``; the client's end of its socket."""
    server_end, client_end = socket.socketpair()
    spec = EventsSpec(
        app.extensions["kiosk_station_id"], ("legal",), events.latest_id(app), events.EventCursor, events.poll_seconds
    )
    pump.attach(server_end, Pending(app, f"a:10.0.1.{n}", spec, 60))
    client_end.settimeout(10)
    return client_end


def read_until(sock: socket.socket, marks: list[bytes], data: bytes = b"") -> bytes:
    while not all(m in data for m in marks):
        data += sock.recv(65536)
    return data


def emit(app, number: str) -> None:
    with app.app_context():
        events.emit("legal.called", {"number": number}, channel="legal")


def test_the_events_of_one_read_go_to_each_stream_in_one_write(app):
    """A burst of events is one write per socket (not one per event per socket), every event to every stream."""
    pump = StreamPump()
    try:
        phones = [event_stream(app, pump, n) for n in range(3)]
        for phone in phones:
            assert read_until(phone, [FIRST_LINE]).startswith(FIRST_LINE)
        wait_for(lambda: any(f.reads for f in pump._feeds.values()), 5, "the feed's first read")
        assert len(pump._feeds) == 1  # one station, one channel: one feed, one subscription
        gate, held = threading.Event(), threading.Event()
        pump._call(lambda: (held.set(), gate.wait(10)))  # the pump busy elsewhere while a burst is emitted
        assert held.wait(5)
        writes = pump.writes
        for n in range(5):
            emit(app, f"A{n:03d}")
        gate.set()
        marks = [f"A{n:03d}".encode() for n in range(5)]
        received = [read_until(phone, marks) for phone in phones]
        assert all(r.index(b"A000") < r.index(b"A004") for r in received)  # in order
        assert pump.writes == writes + 3  # one read found all five: one write to each stream
    finally:
        pump.stop()


def test_a_busy_feed_waits_after_a_read_longer_the_more_streams_it_writes(app, monkeypatch):
    assert streams.batch_seconds(4) < 0.001  # a calling display's feed: no wait to speak of
    assert streams.batch_seconds(500) == streams.BATCH_MAX_SECONDS == 0.1  # 500 phones: at most 10 writes a second
    monkeypatch.setattr(streams, "BATCH_SECONDS_PER_STREAM", 0.15)
    monkeypatch.setattr(streams, "BATCH_MAX_SECONDS", 0.3)  # two streams: 0.3 s from a read to the next
    pump = StreamPump()
    try:
        phones = [event_stream(app, pump, n) for n in range(2)]
        emit(app, "B001")
        for phone in phones:
            read_until(phone, [b"B001"])
        (feed,) = pump._feeds.values()
        not_before = feed.not_before  # set by the read that found B001 (or a later one)
        emit(app, "B002")  # rings the feed at once, within the pause
        for phone in phones:
            read_until(phone, [b"B002"])
        assert time.monotonic() >= not_before  # not read before the pause was over
    finally:
        pump.stop()
