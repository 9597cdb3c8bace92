"""The stream pump on its own, on real sockets: a reader that stops reading is dropped, and stopping closes all.

(The pump under ``kiosk serve`` is tests/test_streams_serve.py.)
"""

from __future__ import annotations

import shutil
import socket

import pytest

from kiosk.streams import FIRST_LINE, MAX_BUFFER, Pending, PumpQueue, ReaderSpec, StreamPump, caps
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
        wait_for(lambda: pump.open_count == 1, 10, "the stalled stream dropped")
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
