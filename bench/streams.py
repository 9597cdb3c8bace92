"""``python -m bench streams``: push streams held open by phones while the station serves (issue 17 point 1).

Two figures against a real ``kiosk serve`` (one worker):

- **station node** (16 request threads, SQLite, the demo station printing to a
  TCP printer here): the home screen and then ticket issue under 8 keep-alive
  clients, first with no stream open, then with 500 ``/events/stream``
  connections open, each from its own address behind one trusted proxy;
  targets p99 ≤ 100 ms and ≤ 150 ms with the streams. Every ticket's event
  must reach the open streams: the bench counts how many events arrived.
- **hub process** (role hub, PostgreSQL when ``KIOSK_BENCH_DATABASE_URL`` or
  ``KIOSK_TEST_DATABASE_URL`` is set, else SQLite): 5,000 streams on one
  process, the time to open them, ``/healthz`` while they are open, the
  worker's memory, and how long one event takes to reach all of them.

The bench process holds every client socket in one selector thread; the open
file limit is raised (``resource.setrlimit``) in the bench and in the worker
(:func:`kiosk.streams.raise_open_files_limit`). Figures are for the machine it
runs on; the load generator shares its CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import socket
import sys
import threading
import time
from datetime import UTC, datetime

from bench import load, pg
from bench.serve import BENCH_STATION, Server

HOME_P99_TARGET_MS = 100
TICKET_P99_TARGET_MS = 150
STREAM_PATH = "/events/stream?channel=legal"


def worker_pid(server) -> int:
    """The pid of the server's (one) gunicorn worker."""
    with open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children") as fh:
        return int(fh.read().split()[0])


def thread_cpu(pid: int) -> dict:
    """CPU seconds of process ``pid``'s pump thread (named ``kiosk-pump``) and of all its other threads.

    From /proc, in clock ticks (10 ms): measure over seconds, not single events. A thread that
    ended in between is not counted.
    """
    tick = os.sysconf("SC_CLK_TCK")
    out = {"pump_s": 0.0, "others_s": 0.0}
    for tid in os.listdir(f"/proc/{pid}/task"):
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/comm") as fh:
                pump = fh.read().strip() == "kiosk-pump"
            with open(f"{base}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            seconds = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        except OSError:
            continue
        out["pump_s" if pump else "others_s"] += seconds
    return out


def cpu_between(before: dict, after: dict) -> dict:
    return {key: round(after[key] - before[key], 3) for key in before}


def raise_fd_limit(want: int) -> int:
    """This process's soft open-file limit, raised to ``want`` if the hard limit allows; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Phones:
    """Many push streams held open by one thread: opened in batches, then read until told to stop.

    ``marks[n]`` counts the streams that have received the text ``n`` (an
    event's number) and ``done_at[n]`` when the last of ``want`` did.
    """

    def __init__(self, port: int, path: str, headers: dict | None = None):
        self.port, self.path = port, path
        self.headers = headers or {}
        self.sel = selectors.DefaultSelector()
        self.socks: dict[socket.socket, bytearray] = {}
        self.closed = 0
        self.events = 0
        self.lock = threading.Lock()
        self.watch: dict[str, tuple[int, set]] = {}  # mark → (streams wanted, sockets that have it)
        self.done_at: dict[str, float] = {}
        self._stop = False
        self.thread: threading.Thread | None = None
        self.cpu_s = self._cpu_now = 0.0

    def open(self, count: int, batch: int = 250, timeout: float = 60.0) -> float:
        """Open ``count`` streams (each with its own X-Forwarded-For); seconds it took to see every first line."""
        started = time.perf_counter()
        opened = 0
        while opened < count:
            wave = []
            for i in range(opened, min(count, opened + batch)):
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
                address = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
                extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
                sock.sendall(
                    f"GET {self.path} HTTP/1.1\r\nHost: kiosk\r\nAccept: text/event-stream\r\n"
                    f"X-Forwarded-For: {address}\r\n{extra}\r\n".encode()
                )
                wave.append(sock)
            deadline = time.monotonic() + timeout
            for sock in wave:
                data = b""
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                while b"retry: 1000\n\n" not in data:
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise RuntimeError(f"a stream closed before its first line: {data[:200]!r}")
                    data += chunk
                if not data.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"a stream was refused: {data[:200]!r}")
                sock.setblocking(False)
                with self.lock:
                    self.socks[sock] = bytearray()
                    self.sel.register(sock, selectors.EVENT_READ)
            opened += len(wave)
        return time.perf_counter() - started

    def start(self) -> None:
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def expect(self, mark: str, want: int) -> None:
        with self.lock:
            self.watch[mark] = (want, set())

    def wait(self, mark: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if mark in self.done_at:
                return self.done_at[mark]
            time.sleep(0.005)
        return None

    def reached(self, mark: str) -> int:
        with self.lock:
            return len(self.watch.get(mark, (0, set()))[1])

    def _read(self) -> None:
        try:
            self._read_loop()
        finally:
            self.cpu_s = time.thread_time()

    def cpu(self) -> float:
        """CPU seconds the reading thread has used so far (the load generator's cost of the streams)."""
        return self.cpu_s if self._stop else self._cpu_now

    def _read_loop(self) -> None:
        while not self._stop:
            self._cpu_now = time.thread_time()
            ready = self.sel.select(0.2) if self.socks else []  # only this thread changes the selector now
            for key, _mask in ready:
                sock = key.fileobj
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                with self.lock:
                    if not chunk:
                        self.sel.unregister(sock)
                        self.socks.pop(sock, None)
                        sock.close()
                        self.closed += 1
                        continue
                    # With the end of the previous read: a line cut between two reads is still seen, once.
                    tail = bytes(self.socks[sock])
                    seen = tail + chunk
                    self.events += seen.count(b"\nevent: ") - tail.count(b"\nevent: ")
                    self.socks[sock] = bytearray(seen[-32:])
                    for mark, (want, have) in self.watch.items():
                        if sock not in have and mark.encode() in seen:
                            have.add(sock)
                            if len(have) >= want and mark not in self.done_at:
                                self.done_at[mark] = time.perf_counter()
            if not ready:
                time.sleep(0.001)

    @property
    def open_count(self) -> int:
        with self.lock:
            return len(self.socks)

    def close(self) -> None:
        self._stop = True
        if self.thread is not None:
            self.thread.join(5)
        for sock in list(self.socks):
            sock.close()
        self.sel.close()


def station_file(printer_host: str, printer_port: int) -> str:
    """The bench station, with the phones' addresses believed from one proxy and room for every stream."""
    text = BENCH_STATION.format(host=printer_host, port=printer_port)
    text = text.replace("demo = false\n", "demo = false\nsse_max_seconds = 3600\n", 1)
    return text.replace("rate_limits = false\n", "rate_limits = false\ntrusted_proxy_hops = 1\n", 1)


def station_node(streams: int, seconds: float, clients: int) -> dict:
    """Home screen and ticket issue with ``streams`` push streams open on one 16-thread worker."""
    from bench import legal_bench
    from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

    out: dict = {"streams": streams, "threads": 16, "clients": clients, "database": "sqlite"}
    with FakeNetworkPrinter() as printer:
        server = Server(workers=1, threads=16, station_toml=station_file(printer.host, printer.port))
        server.prepare()
        phones = Phones(server.port, STREAM_PATH)
        try:
            server.start("/")
            # The same loads with no stream open first: on a shared machine the difference is the streams' cost.
            out["home, no streams"] = _pick(
                load.run(server.url, load.get_home, clients=clients, seconds=seconds, expect=(200,))
            )
            worker = worker_pid(server)
            cpu = thread_cpu(worker)
            tickets = legal_bench.http_load(server, clients=clients, seconds=seconds)
            out["ticket_issue, no streams"] = _pick(tickets)
            out["worker_cpu_ms_per_ticket, no streams"] = _per(cpu_between(cpu, thread_cpu(worker)), tickets)
            out["open_s"] = round(phones.open(streams), 2)
            phones.start()
            home = load.run(server.url, load.get_home, clients=clients, seconds=seconds, expect=(200,))
            out["home"] = _pick(home)
            before, first_id = phones.events, _legal_events(server, 0)[1]
            cpu, phones_cpu = thread_cpu(worker), phones.cpu()
            tickets = legal_bench.http_load(server, clients=clients, seconds=seconds)
            out["ticket_issue"] = _pick(tickets)
            used = cpu_between(cpu, thread_cpu(worker))
            events = _legal_events(server, first_id)[0]
            out["events_expected"] = events * streams
            out["events_received"] = _settled(lambda: phones.events - before, out["events_expected"])
            out["worker_cpu_ms_per_ticket"] = _per(used, tickets)
            # The pump's cost hardly depends on the machine's load (CPU, not wall time): per event, and per
            # event and stream (a write to a socket is most of it: one per stream per read of the feed).
            out["pump"] = {
                "cpu_s": used["pump_s"],
                "events": events,
                "cpu_ms_per_event": round(used["pump_s"] * 1000 / max(events, 1), 3),
                "cpu_us_per_event_per_stream": round(used["pump_s"] * 1e6 / max(events * streams, 1), 2),
            }
            out["bench_stream_reader_cpu_s"] = round(phones.cpu() - phones_cpu, 3)
            out["streams_open_after"] = phones.open_count
            out["worker_memory_mib"] = server.worker_memory_mib()
        finally:
            phones.close()
            server.stop()
    out["home_p99_target_ms"] = HOME_P99_TARGET_MS
    out["ticket_p99_target_ms"] = TICKET_P99_TARGET_MS
    out["met"] = bool(
        out["home"]["p99_ms"] is not None
        and out["home"]["p99_ms"] <= HOME_P99_TARGET_MS
        and out["ticket_issue"]["p99_ms"] is not None
        and out["ticket_issue"]["p99_ms"] <= TICKET_P99_TARGET_MS
        and out["streams_open_after"] == streams
        and out["events_received"] == out["events_expected"]
    )
    return out


HUB_TOML = """role = "hub"
sse_max_seconds = 3600
streams_per_process = 6000

[station]
code = "district"
name = "龙岗区（基准测试）"
kind = "party_service"
languages = ["zh_Hans", "zh_Hant", "en"]
timezone = "Asia/Shanghai"
public_url = "https://district.example.gov.cn"

[security]
rate_limits = false
trusted_proxy_hops = 1
"""


def hub_process(streams: int, database_url: str | None) -> dict:
    """``streams`` push streams on one hub worker: opening, /healthz meanwhile, memory, one event to all."""
    import subprocess

    out: dict = {"streams": streams, "database": "postgresql" if database_url else "sqlite"}
    server = Server(workers=1, threads=16, database_url=database_url, station_toml=HUB_TOML, env={"KIOSK_ROLE": "hub"})
    subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "db", "upgrade"], env=server.env, check=True, capture_output=True
    )
    phones = Phones(server.port, STREAM_PATH)
    try:
        server.start("/healthz")
        out["worker_memory_mib_before"] = server.worker_memory_mib()
        out["open_s"] = round(phones.open(streams), 2)
        phones.start()
        health = load.run(server.url, _get_healthz, clients=4, seconds=5, expect=(200,))
        out["healthz_while_open"] = _pick(health)
        out["worker_memory_mib_open"] = server.worker_memory_mib()
        # One call at the district's station, emitted by another process: to every stream.
        delays = []
        worker = worker_pid(server)
        with server.app() as app:
            cpu = thread_cpu(worker)
            for n in range(3):
                mark = f"H{n:03d}-{os.getpid()}"
                phones.expect(mark, streams)
                started = time.perf_counter()
                _emit(app, mark)
                done = phones.wait(mark, 60)
                delays.append(round((done - started) * 1000, 1) if done else None)
                if done is None:
                    out["reached_on_timeout"] = phones.reached(mark)
            used = cpu_between(cpu, thread_cpu(worker))
        out["one_event_to_all_ms"] = delays
        out["pump, one event at a time"] = {
            "cpu_ms_per_event": round(used["pump_s"] * 1000 / 3, 1),
            "cpu_us_per_event_per_stream": round(used["pump_s"] * 1e6 / (3 * streams), 2),
        }
        out["streams_open_after"] = phones.open_count
    finally:
        phones.close()
        server.stop()
    out["met"] = bool(out["streams_open_after"] == streams and all(d is not None for d in out["one_event_to_all_ms"]))
    return out


def _legal_events(server, after: int) -> tuple[int, int]:
    """(events on the legal channel after id ``after``, the newest event id), read from the server's database."""
    from sqlalchemy import func, select

    from kiosk.models import KioskEvent

    with server.app() as app:
        session = app.extensions["db"].Session()
        try:
            count = session.scalar(select(func.count()).where(KioskEvent.id > after, KioskEvent.channel == "legal"))
            newest = session.scalar(select(func.coalesce(func.max(KioskEvent.id), 0)))
        finally:
            session.close()
    return int(count or 0), int(newest or 0)


def _settled(read, want: int, quiet: float = 2.0, limit: float = 60.0) -> int:
    """``read()`` once it reaches ``want`` or has not changed for ``quiet`` seconds (at most ``limit``)."""
    started = changed = time.monotonic()
    value = read()
    while value < want and time.monotonic() - changed < quiet and time.monotonic() - started < limit:
        time.sleep(0.1)
        now = read()
        if now != value:
            value, changed = now, time.monotonic()
    return value


def _get_healthz(i, state):
    return ("GET", "/healthz", None, {})


def _emit(app, mark: str) -> None:
    from kiosk.events import emit

    with app.app_context():
        emit("legal.called", {"number": mark}, channel="legal", station_id=app.extensions["kiosk_station_id"])


def _per(used: dict, tickets: dict) -> dict:
    """The worker's CPU per measured ticket: its pump and all its other threads (request threads, printing)."""
    n = max(tickets.get("requests") or 0, 1)
    return {"others": round(used["others_s"] * 1000 / n, 2), "pump": round(used["pump_s"] * 1000 / n, 2)}


def _pick(figures: dict) -> dict:
    keys = ("requests", "throughput_rps", "median_ms", "p99_ms", "errors", "statuses")
    return {k: figures.get(k) for k in keys}


def run(quick: bool = False) -> dict:
    """Both figures (``quick``: shorter loads, 1,000 hub streams)."""
    limit = raise_fd_limit(16384)
    out: dict = {"open_files_limit": limit}
    out["station node, 500 streams"] = station_node(500, 3 if quick else 10, 8)
    hub_streams = 1000 if quick else 5000
    base = pg.base_url()
    if base:
        with pg.scratch("streams_bench", base) as url:
            out[f"hub process, {hub_streams} streams"] = hub_process(hub_streams, url)
    else:
        out[f"hub process, {hub_streams} streams"] = hub_process(hub_streams, None)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench streams", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    figures = run(args.quick)
    figures["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    figures["machine"] = {
        "cpus": os.cpu_count(),
        "load_average_at_start": round(load_before, 2),  # it was read at the end before
        "load_average_at_end": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    print(f"[streams done in {time.perf_counter() - started:.1f} s]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
