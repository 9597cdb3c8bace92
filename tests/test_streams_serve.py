"""Push streams against a real ``kiosk serve``: they hold no request thread, and the caps shed the oldest.

One server per database (one worker, 4 request threads), 40 and more raw
sockets held open as residents' phones hold them; events are emitted by an app
in this process on the same database, so on SQLite the server's pump finds them
by reading the file and on PostgreSQL through its LISTEN connection (issue 17
point 1). Each phone comes from its own address through the one trusted proxy
(``X-Forwarded-For``), as behind the hub's nginx.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime

import pytest

from kiosk.testing import IME_CACHE_DIR, free_port, terminal_credential, wait_for

pytestmark = pytest.mark.timeout(180)

STATION_FILE = """
streams_per_client = 3
streams_per_process = 50
sse_max_seconds = 120

[station]
code = "shuibei"
name = "水贝社区党群服务中心"
kind = "party_service"

[security]
trusted_proxy_hops = 1
"""


class RawStream:
    """One ``/events/…`` stream on a plain socket, as a phone's EventSource holds it."""

    def __init__(self, port: int, path: str, address: str, headers: dict | None = None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        request = (
            f"GET {path} HTTP/1.1\r\nHost: kiosk\r\nAccept: text/event-stream\r\n"
            f"X-Forwarded-For: {address}\r\n{extra}\r\n"
        )
        self.sock.sendall(request.encode())
        self.data = b""
        self.closed = False
        self.read_until(lambda d: b"retry: 1000\n\n" in d, 10)
        head = self.data.split(b"\r\n\r\n", 1)[0].decode()
        assert head.startswith("HTTP/1.1 200"), head
        assert "text/event-stream" in head

    def read_until(self, done, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done(self.data):
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return done(self.data)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
            self.data += chunk
        return True

    def events(self) -> list[tuple[int | None, str, dict]]:
        """``(id, name, data)`` of every event read so far."""
        found = []
        for block in self.data.split(b"\r\n\r\n", 1)[-1].decode().split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "event" in fields and "data" in fields:
                found.append(
                    (int(fields["id"]) if "id" in fields else None, fields["event"], json.loads(fields["data"]))
                )
        return found

    def wait_event(self, name: str, timeout: float = 10.0, **where) -> dict | None:
        def match(_data: bytes):
            return any(e == name and all(d.get(k) == v for k, v in where.items()) for _i, e, d in self.events())

        self.read_until(match, timeout)
        for _i, event, data in self.events():
            if event == name and all(data.get(k) == v for k, v in where.items()):
                return data
        return None

    def wait_closed(self, timeout: float = 10.0) -> bool:
        self.read_until(lambda _d: self.closed, timeout)
        return self.closed

    def close(self) -> None:
        self.sock.close()


def get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode()


@pytest.fixture
def serve(make_app, database_url, tmp_path):
    """``kiosk serve`` (1 worker, 4 threads) on this run's database, and an app here on the same database."""
    folder = tmp_path / "serve"
    folder.mkdir()
    station_file = folder / "station.toml"
    station_file.write_text(STATION_FILE, encoding="utf-8")
    here = make_app(database_url, STATION_FILE=str(station_file), TESTING_NO_LISTENER=True)
    env = dict(
        os.environ,
        KIOSK_INSTANCE_PATH=str(folder),
        KIOSK_STATION_FILE=str(station_file),
        KIOSK_SECRET_KEY="streams-serve-test-secret-0123456789",
        KIOSK_DATABASE_URL=database_url,
        KIOSK_IME_CACHE_DIR=IME_CACHE_DIR,
        KIOSK_IME_PRELOAD="false",
        KIOSK_RUN_JOBS="false",
    )
    for name in ("KIOSK_ROLE", "KIOSK_METRICS_TOKEN", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    command = [sys.executable, "-m", "kiosk.cli", "serve", "--port", str(port), "--workers", "1", "--threads", "4"]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return get(url + "/healthz", timeout=2)[0] == 200
        except OSError:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
            return False

    try:
        wait_for(up, 60, "kiosk serve to answer")
        yield here, port, url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def emit_call(app, number: str) -> int:
    """A ticket called at the served station (its row, by code), emitted from this process; returns its id."""
    from sqlalchemy import select

    from kiosk.db import session_for
    from kiosk.events import emit
    from kiosk.models import Station

    with app.app_context():
        with session_for(app) as session:
            station_id = session.scalar(select(Station.id).where(Station.code == "shuibei"))
        return emit("legal.called", {"number": number}, channel="legal", station_id=station_id).id


def stream_gauge(url: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    _status, text = get(url + "/metrics")
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "kiosk_push_streams_open" and sample.labels.get("endpoint") == "events.stream":
                return sample.value
    return 0.0


def test_streams_hold_no_thread_and_the_oldest_are_shed(serve):
    """40 to 51 streams on 4 threads: the station answers, every stream gets its events, caps shed the oldest."""
    app, port, url = serve
    path = "/events/stream?channel=legal"
    phones: list[RawStream] = []
    try:
        # 40 residents' phones, ten times the worker's request threads: the station still answers.
        phones = [RawStream(port, path, f"10.0.{i}.1") for i in range(40)]
        assert get(url + "/")[0] == 200
        assert get(url + "/healthz")[0] == 200
        # Nor do HEAD requests, which are not handed to the pump: twice the threads of them, then GET / still answers.
        for _ in range(8):
            with urllib.request.urlopen(urllib.request.Request(url + path, method="HEAD"), timeout=10) as response:
                assert response.status == 200
        assert get(url + "/", timeout=10)[0] == 200
        first = emit_call(app, "A001")
        for phone in phones:
            assert phone.wait_event("legal.called", number="A001"), phone.data[-300:]
        wait_for(lambda: stream_gauge(url) == 40, 10, "40 streams counted open")

        # One client over its cap of 3: its oldest stream is told to come back later and closed,
        # the new one works, nobody else's stream is touched.
        mine = [RawStream(port, path, "10.9.9.9") for _ in range(4)]
        assert mine[0].wait_closed(), "the client's oldest stream stays open"
        assert b"retry: 30000" in mine[0].data
        emit_call(app, "A002")
        for phone in mine[1:] + phones:
            assert phone.wait_event("legal.called", number="A002"), phone.data[-300:]

        # The process's cap of 50 (43 open now): nine more phones shed the two oldest of all.
        more = [RawStream(port, path, f"10.1.{i}.1") for i in range(9)]
        assert phones[0].wait_closed() and phones[1].wait_closed()
        emit_call(app, "A003")
        for phone in [phones[2], phones[-1], mine[3], more[-1]]:
            assert phone.wait_event("legal.called", number="A003"), phone.data[-300:]
        assert not phones[2].closed
        wait_for(lambda: stream_gauge(url) == 50, 10, "50 streams counted open")

        # A page that lost its stream comes back with Last-Event-ID: what it missed arrives, once.
        back = RawStream(port, path, "10.0.0.1", headers={"Last-Event-ID": str(first)})
        assert back.wait_event("legal.called", number="A003")
        assert [d["number"] for _i, e, d in back.events() if e == "legal.called"] == ["A002", "A003"]
        assert phones[2].wait_closed(), "the 51st stream did not shed the oldest"
        # The same when no other stream shows its channels (a feed of its own starts at its Last-Event-ID).
        alone = RawStream(port, path + "&channel=notices", "10.0.0.2", headers={"Last-Event-ID": str(first)})
        assert alone.wait_event("legal.called", number="A003")
        assert [d["number"] for _i, e, d in alone.events() if e == "legal.called"] == ["A002", "A003"]
        assert phones[3].wait_closed()

        # A phone that hangs up is counted closed.
        for phone in more:
            phone.close()
        wait_for(lambda: stream_gauge(url) == 41, 10, "closed streams no longer counted")
        assert get(url + "/")[0] == 200

        # The terminal's card and scanner reads go the same way, to their page only.
        reader_stream_is_pumped_to_its_page(app, port, url)
    finally:
        for phone in phones + locals().get("mine", []) + locals().get("more", []):
            phone.close()


def reader_stream_is_pumped_to_its_page(app, port: int, url: str) -> None:
    """A scan at a terminal reaches the check-in pages' pumped ``/events/reader`` streams."""
    credential = terminal_credential(app, "hall-1")
    cookie = {"Cookie": f"kiosk_terminal={credential}"}
    pages = [RawStream(port, "/events/reader?screen=legal.checkin", "10.0.0.9", headers=cookie) for _ in range(2)]
    try:
        body = json.dumps(
            {"source": "scanner", "kind": "code", "value": "12345678", "at": datetime.now(UTC).isoformat()}
        ).encode()
        request = urllib.request.Request(
            url + "/agent/v1/reads",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {credential}",
                "Kiosk-Agent-Protocol": "1",
                "Kiosk-Agent-Session": f"{int(time.time() * 1000)}-abcdef12",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["delivered"] == 2
        for page in pages:
            action = page.wait_event("reader")
            assert action is not None and action["submit"] == "#checkin-form", page.data[-300:]
    finally:
        for page in pages:
            page.close()
