"""The district bench: N simulated stations syncing to one hub (`python -m bench district [--stations N]`).

The hub is a real `kiosk serve` (role hub, 2 workers, a bounded pool of
``DATABASE_CONNECTIONS`` per worker) on a scratch PostgreSQL database. Each
simulated station is a light client in this process that speaks the real sync
protocol over HTTP with credentials of its own: it is enrolled with the hub's
`kiosk stations enrol` (run in-process) and `POST /sync/v1/enrol`, then pushes
real kinds the plugins declare — ``legal.ticket`` (issued, called, served, at
a busy 党群服务中心's peak rate) and ``courier_rest.visit`` (a few rider
check-ins, which also make the hub publish its rider registry to every
station) — as soon as each happens, and pulls every 2 s like the station's
pusher. Each station has 3 push streams open at the hub
(``/events/stream?channel=legal&station=<code>``, what the phone page and a
dashboard hold), all read by one selector thread.

Measured for N = 50 and N = ``--stations`` (default 200):

- sync lag: from the moment a station creates an entry to the event on that
  station's stream at the hub, p50/p99 (first of its 3 streams);
- hub CPU per synced entry: user+system time of the hub's processes (from
  /proc) over the measured window, divided by the entries applied; and the
  hub's CPU while only pulls and streams run (idle), per second;
- the hub's PostgreSQL connections (pg_stat_activity, sampled twice a second):
  they must not grow with N;
- stream wake-ups: deliveries per event, and deliveries to another station's
  streams (must be 0: an event wakes only its own station's streams).

Ticket codes are unique across the district (station index + number), so a
delivery's station is known from its payload. Figures, not pass/fail; the
README quotes them with the machine they came from.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime

from bench import pg
from bench.serve import free_port
from kiosk.sync.pusher import IDLE_SECONDS

SECRET_KEY = "bench-district-secret-0123456789abcdef"
WORKERS = 2
#: Every open push stream holds a worker thread: 3 per station, plus room for pushes and pulls.
THREADS = 512
#: One bounded pool per hub process, whatever the number of stations.
CONNECTIONS_PER_WORKER = 20
STREAMS_PER_STATION = 3
#: Streams opened at once; the next wave waits until these answered.
STREAM_WAVE = 30
#: As often as a station's pusher pulls when all is well.
PULL_EVERY = IDLE_SECONDS
#: A busy centre's peak, sped up so a minute shows enough: a ticket step every ~6 s, a rider every ~60 s.
TICKET_STEP_EVERY = 6.0
RIDER_EVERY = 60.0
PROTOCOL_HEADER = "Kiosk-Sync-Protocol"

HUB_TOML = """role = "hub"

[station]
code = "district"
name = "龙岗区（基准测试）"
kind = "party_service"
languages = ["zh_Hans", "zh_Hant", "en"]
timezone = "Asia/Shanghai"
public_url = "https://district.example.gov.cn"

[hub]
stale_after_minutes = 15

[security]
# The hub is reached through a TLS proxy (docs/deploy.md); each phone's stream carries its own address.
trusted_proxy_hops = 1
"""


def _pct(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def _ms(value: float | None) -> float | None:
    return round(value * 1000, 1) if value is not None else None


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }


# -- the hub -------------------------------------------------------------------------------------
class Hub:
    """`kiosk serve --workers 2` with role hub on ``database_url``; its processes' CPU time from /proc."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.instance = tempfile.mkdtemp(prefix="kiosk-bench-hub-")
        self.station_file = os.path.join(self.instance, "hub.toml")
        with open(self.station_file, "w", encoding="utf-8") as fh:
            fh.write(HUB_TOML)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            KIOSK_ROLE="hub",
            KIOSK_INSTANCE_PATH=self.instance,
            KIOSK_STATION_FILE=self.station_file,
            KIOSK_SECRET_KEY=SECRET_KEY,
            KIOSK_DATABASE_URL=database_url,
            KIOSK_DATABASE_CONNECTIONS=str(CONNECTIONS_PER_WORKER),
            # A stream is not cut (and reopened) while the bench runs.
            KIOSK_SSE_MAX_SECONDS="3600",
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "kiosk.cli", "db", "upgrade"], env=self.env, check=True, capture_output=True
        )
        self.log = open(os.path.join(self.instance, "serve.log"), "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kiosk.cli",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(WORKERS),
                "--threads",
                str(THREADS),
            ],
            env=self.env,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the hub exited: {self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the hub did not answer within 90 s")

    def log_tail(self, size: int = 2000) -> str:
        with open(os.path.join(self.instance, "serve.log"), "rb") as fh:
            return fh.read()[-size:].decode("utf-8", "replace")

    def pids(self) -> list[int]:
        assert self.proc is not None
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as fh:
                children = [int(p) for p in fh.read().split()]
        except OSError:
            children = []
        return [self.proc.pid, *children]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the master and its workers so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
            except (OSError, IndexError, ValueError):
                continue
        return total / ticks

    def enrol(self, count: int) -> list[tuple[str, str]]:
        """``kiosk stations enrol`` for ``count`` stations, in this process; (code, one-time token) each."""
        from kiosk.app import create_app

        app = create_app(
            {
                "ROLE": "hub",
                "SECRET_KEY": SECRET_KEY,
                "DATABASE_URL": self.database_url,
                "INSTANCE_PATH": self.instance,
                "STATION_FILE": self.station_file,
                "RUN_JOBS": False,
                "START_DEVICES": False,
                "IME_PRELOAD": False,
                "TESTING_NO_LISTENER": True,
                "SECURITY": {"rate_limits": False},
            }
        )
        from click.testing import CliRunner
        from flask.cli import ScriptInfo

        from kiosk.cli import cli

        runner, info = CliRunner(), ScriptInfo(create_app=lambda: app)
        out = []
        try:
            for i in range(count):
                code = f"bench-{i:03d}"
                args = ["stations", "enrol", code, "--name", f"基准社区{i:03d}", "--kind", "party_service"]
                result = runner.invoke(cli, [*args, "--tag", f"B{i:03d}"], obj=info)
                found = re.search(r"sync join\s+\S+\s+(\S+)", result.output)
                if result.exit_code != 0 or not found:
                    raise RuntimeError(f"kiosk stations enrol {code}: {result.output[-500:]}")
                out.append((code, found.group(1)))
        finally:
            printing = app.extensions.get("kiosk_printing")
            if printing is not None:
                printing.shutdown()
            app.extensions["db"].dispose()
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)
        self.proc = None
        shutil.rmtree(self.instance, ignore_errors=True)


# -- the streams ---------------------------------------------------------------------------------
#: Seconds before a lost stream is opened again when the server said nothing (an EventSource's default is
#: about that); the server's ``retry:`` line overrides it.
DEFAULT_RETRY = 1.0


def phone_address(index: int, slot: int) -> str:
    """The address the proxy reports for stream ``slot`` of station ``index``: every stream is another phone."""
    number = index * STREAMS_PER_STATION + slot
    return f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"


class Streams:
    """Every station's push streams at the hub, read by one thread with a selector (HTTP/1.0, so no chunking).

    Streams are opened in waves of :data:`STREAM_WAVE` (each wave waits until its
    streams answered), the way phones arrive over minutes rather than in one
    instant. Each stream is another phone: its own address in ``X-Forwarded-For``
    from the proxy the hub trusts, so the hub's per-client cap (8 streams) is
    not one cap over the whole bench. A stream that is refused or dropped is
    counted and opened again after the server's last ``retry:`` (a second if it
    sent none), as a browser's EventSource does.
    """

    def __init__(self, hub: Hub, codes: list[str]):
        self.hub = hub
        self.codes = codes
        self.selector = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.opened = 0
        self.refused = 0
        self.dropped = 0
        self.reopen: list[tuple[float, tuple[int, int]]] = []
        #: (arrival time, the stream's station index, event name, ticket code)
        self.deliveries: list[tuple[float, int, str, str]] = []
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True, name="bench-streams")
        self.thread.start()

    def _connect(self, index: int, slot: int) -> None:
        sock = socket.create_connection(("127.0.0.1", self.hub.port))
        sock.sendall(
            f"GET /events/stream?channel=legal&station={self.codes[index]} HTTP/1.0\r\n"
            f"Host: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            f"X-Forwarded-For: {phone_address(index, slot)}\r\n\r\n".encode()
        )
        sock.setblocking(False)
        state = {"index": index, "slot": slot, "buffer": b"", "open": False, "retry": DEFAULT_RETRY}
        with self.lock:
            self.selector.register(sock, selectors.EVENT_READ, state)

    def open_all(self, timeout: float = 300) -> float:
        """Open every station's streams, wave by wave; seconds it took until all were open."""
        started = time.monotonic()
        wanted = [(i, slot) for i in range(len(self.codes)) for slot in range(STREAMS_PER_STATION)]
        for first in range(0, len(wanted), STREAM_WAVE):
            for index, slot in wanted[first : first + STREAM_WAVE]:
                self._connect(index, slot)
            target = min(first + STREAM_WAVE, len(wanted))
            while self.opened < target and time.monotonic() - started < timeout:
                time.sleep(0.02)
        return time.monotonic() - started

    def _read(self) -> None:
        while self.running:
            with self.lock:
                due = [stream for at, stream in self.reopen if at <= time.monotonic()]
                self.reopen = [(at, stream) for at, stream in self.reopen if at > time.monotonic()]
            for index, slot in due:
                try:
                    self._connect(index, slot)
                except OSError:
                    with self.lock:
                        self.reopen.append((time.monotonic() + DEFAULT_RETRY, (index, slot)))
            if not self.selector.get_map():
                time.sleep(0.05)
                continue
            for key, _ in self.selector.select(timeout=0.2):
                state = key.data
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self._lost(key, state)
                    continue
                now = time.monotonic()
                state["buffer"] += data
                if not state["open"] and b"\r\n\r\n" in state["buffer"]:
                    head, state["buffer"] = state["buffer"].split(b"\r\n\r\n", 1)
                    if b" 200 " not in head.split(b"\r\n", 1)[0] or b"text/event-stream" not in head:
                        with self.lock:
                            self.refused += 1
                        self._lost(key, state, counted=True)
                        continue
                    state["open"] = True
                    with self.lock:
                        self.opened += 1
                while b"\n\n" in state["buffer"]:
                    message, state["buffer"] = state["buffer"].split(b"\n\n", 1)
                    self._message(now, state, message.decode("utf-8", "replace"))

    def _lost(self, key, state: dict, counted: bool = False) -> None:
        with self.lock:
            self.selector.unregister(key.fileobj)
            if state["open"]:
                self.opened -= 1
                self.dropped += 1
            if self.running:
                # As an EventSource does: again after the last ``retry:`` the server sent (a shed stream is
                # told to wait half a minute), else after a second.
                self.reopen.append((time.monotonic() + state["retry"], (state["index"], state["slot"])))
        try:
            key.fileobj.close()
        except OSError:
            pass

    def _message(self, at: float, state: dict, message: str) -> None:
        index = state["index"]
        name, data = None, None
        for line in message.splitlines():
            if line.startswith("retry: ") and line[7:].strip().isdigit():
                state["retry"] = int(line[7:].strip()) / 1000
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if not name or not data or not name.startswith("legal."):
            return
        try:
            ticket = str(json.loads(data).get("ticket") or "")
        except ValueError:
            return
        with self.lock:
            self.deliveries.append((at, index, name, ticket))

    def close(self) -> None:
        self.running = False
        self.thread.join(5)
        for key in list(self.selector.get_map().values()):
            try:
                key.fileobj.close()
            except OSError:
                pass


# -- a simulated station -------------------------------------------------------------------------
EVENT_OF = {"waiting": "legal.ticket_issued", "called": "legal.ticket_called", "served": "legal.ticket_served"}


class SimStation:
    """One station's pusher: its own key, its sequence numbers, a keep-alive connection to the hub."""

    def __init__(self, hub: Hub, index: int, code: str, token: str, rng: random.Random):
        self.hub, self.index, self.code = hub, index, code
        self.rng = rng
        self.seq = self.acked = self.pulled = 0
        self.pending: list[dict] = []
        self.tickets: list[dict] = []
        self.number = 0
        self.riders = 0
        self.created: dict[tuple[str, str], float] = {}
        self.entries = 0
        self.statuses: dict[int, int] = {}
        self.error = ""
        self.failed_requests = self.backoff = 0
        self.retry_at = 0.0
        self.last_failure = ""
        self.conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=60)
        body = json.dumps({"code": code, "token": token, "signing_key": uuid.uuid4().hex, "protocol": self._protocol()})
        status, answer = self._request("POST", "/sync/v1/enrol", body, auth=False)
        if status != 200:
            raise RuntimeError(f"enrolling {code}: {status} {answer}")
        self.key = answer["station_key"]

    @staticmethod
    def _protocol() -> int:
        from kiosk import sync

        return sync.PROTOCOL

    def _request(self, method: str, path: str, body: str | None = None, auth: bool = True) -> tuple[int, dict]:
        headers = {PROTOCOL_HEADER: str(self._protocol()), "Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.code}:{self.key}"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body.encode("utf-8") if body else None, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                if attempt:
                    raise
        self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {}
        if response.status == 429:
            time.sleep(float(response.getheader("Retry-After") or 1))
        return response.status, answer

    # What happens at the station.
    def _ticket_step(self, now_wall: datetime) -> None:
        waiting = [t for t in self.tickets if t["status"] == "waiting"]
        called = [t for t in self.tickets if t["status"] == "called"]
        roll = self.rng.random()
        if called and roll < 0.3:
            ticket = called[0]
            ticket["status"], ticket["finished_at"] = "served", now_wall.isoformat()
        elif waiting and roll < 0.65:
            ticket = waiting[0]
            ticket["status"], ticket["called_at"] = "called", now_wall.isoformat()
            ticket["counter"], ticket["calls"] = 1 + self.rng.randrange(2), 1
        else:
            self.number += 1
            ticket = {
                "token": uuid.uuid4().hex[:22],
                "place": self.number,
                "day": now_wall.astimezone(UTC).date().isoformat(),
                "number": self.number,
                "code": f"{self.index:03d}{self.number:05d}",
                "service": "consultation",
                "status": "waiting",
                "priority": False,
                "queue_at": now_wall.isoformat(),
                "issued_at": now_wall.isoformat(),
                "called_at": None,
                "finished_at": None,
                "counter": None,
                "calls": 0,
                "skips": 0,
                "transferred_from": "",
            }
            self.tickets.append(ticket)
        self.tickets = [t for t in self.tickets if t["status"] != "served"]
        self.created[(ticket["code"], EVENT_OF[ticket["status"]])] = time.monotonic()
        self._add("legal.ticket", ticket["token"], dict(ticket))

    def _rider_visit(self, now_wall: datetime) -> None:
        self.riders += 1
        uid = uuid.uuid4().hex[:20]
        rider = {
            "uid": uid,
            "name": "骑手",
            "phone": f"139{self.index:03d}{self.riders:05d}",
            "platform": "meituan",
            "vehicle": "ebike",
            "card_uid": None,
            "pass_token": uuid.uuid4().hex,
            "home_station": self.code,
            "created_at": now_wall.isoformat(),
        }
        self._add("courier_rest.rider", uid, rider)
        visit = {
            "uid": uuid.uuid4().hex[:20],
            "rider": uid,
            "rider_data": rider,
            "checked_in_at": now_wall.isoformat(),
            "checked_out_at": None,
            "method_in": "phone",
            "method_out": "",
            "auto_closed": False,
            "uses": [],
        }
        self._add("courier_rest.visit", visit["uid"], visit)

    def _add(self, kind: str, key: str, data: dict) -> None:
        self.seq += 1
        at = datetime.now(UTC).isoformat()
        self.pending.append({"seq": self.seq, "kind": kind, "key": key, "data": data, "at": at})

    def push(self) -> None:
        while self.pending:
            batch = self.pending[:200]
            status, answer = self._request(
                "POST", "/sync/v1/push", json.dumps({"after": self.acked, "entries": batch}, ensure_ascii=False)
            )
            if status == 200 or (status == 409 and "last_seq" in answer):
                self.acked = int(answer["last_seq"])
                done = len([e for e in self.pending if e["seq"] <= self.acked])
                self.entries += done if status == 200 else 0
                self.pending = [e for e in self.pending if e["seq"] > self.acked]
            elif status == 429:
                continue
            else:
                raise RuntimeError(f"push from {self.code}: {status} {answer}")

    def pull(self) -> None:
        while True:
            status, answer = self._request("GET", f"/sync/v1/pull?after={self.pulled}")
            if status != 200:
                return
            entries = answer.get("entries") or []
            if entries:
                self.pulled = max(int(e["id"]) for e in entries)
            if not answer.get("more"):
                return

    def _safely(self, step) -> None:
        """A push or pull; when the hub cannot be reached, back off as the station's pusher does."""
        try:
            step()
            self.backoff = 0
        except (OSError, http.client.HTTPException, RuntimeError) as exc:
            self.failed_requests += 1
            self.last_failure = f"{type(exc).__name__}: {exc}"[:200]
            self.conn.close()
            self.backoff += 1
            self.retry_at = time.monotonic() + min(60.0, PULL_EVERY * 2**self.backoff) * self.rng.uniform(0.5, 1.0)

    def run(self, until: float, active: threading.Event) -> None:
        """:meth:`loop`, keeping what stopped it (a station that fails is counted, not silent)."""
        try:
            self.loop(until, active)
        except Exception as exc:  # noqa: BLE001 - reported in the figures
            self.error = f"{type(exc).__name__}: {exc}"[:300]

    def loop(self, until: float, active: threading.Event) -> None:
        """Until ``until``: pull every 2 s; while ``active`` is set, make and push entries at the station's rate."""
        next_ticket = time.monotonic() + self.rng.expovariate(1 / TICKET_STEP_EVERY)
        next_rider = time.monotonic() + self.rng.expovariate(1 / RIDER_EVERY)
        next_pull = time.monotonic() + self.rng.uniform(0, PULL_EVERY)
        while True:
            now = time.monotonic()
            if now >= until:
                return
            if active.is_set():
                if now >= next_ticket:
                    self._ticket_step(datetime.now(UTC))
                    next_ticket = now + self.rng.expovariate(1 / TICKET_STEP_EVERY)
                if now >= next_rider:
                    self._rider_visit(datetime.now(UTC))
                    next_rider = now + self.rng.expovariate(1 / RIDER_EVERY)
                if self.pending and now >= self.retry_at:
                    self._safely(self.push)
            else:
                next_ticket = max(next_ticket, now)
                next_rider = max(next_rider, now)
            if now >= next_pull and now >= self.retry_at:
                self._safely(self.pull)
                next_pull = now + PULL_EVERY
            time.sleep(max(0.0, min(next_ticket, next_rider, next_pull, until) - time.monotonic()))


# -- one run -------------------------------------------------------------------------------------
class PgSampler:
    """The hub database's connections in pg_stat_activity, twice a second."""

    def __init__(self, database_url: str):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        url = make_url(database_url)
        self.name = url.database
        self.engine = create_engine(url.set(database="postgres"), pool_size=1, max_overflow=0)
        self.samples: list[tuple[int, int]] = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True, name="bench-pg-sampler")
        self.thread.start()

    def _run(self) -> None:
        from sqlalchemy import text

        query = text(
            "SELECT count(*), count(*) FILTER (WHERE state = 'active') FROM pg_stat_activity WHERE datname = :name"
        )
        while self.running:
            with self.engine.connect() as conn:
                total, active = conn.execute(query, {"name": self.name}).one()
            self.samples.append((int(total), int(active)))
            time.sleep(0.5)

    def stop(self) -> dict:
        self.running = False
        self.thread.join(5)
        self.engine.dispose()
        totals = [t for t, _ in self.samples] or [0]
        actives = [a for _, a in self.samples] or [0]
        return {
            "samples": len(self.samples),
            "max": max(totals),
            "median": statistics.median(totals),
            "active_max": max(actives),
            "per_worker_pool": CONNECTIONS_PER_WORKER,
            "workers": WORKERS,
        }


def run_once(count: int, seconds: float, idle_seconds: float, seed: int = 15) -> dict:
    """One hub, ``count`` stations: an idle window (pulls and streams only), then ``seconds`` of traffic."""
    rng = random.Random(seed)
    with pg.scratch("district_bench") as url:
        hub = Hub(url)
        hub.start()
        streams = None
        try:
            enrolled = hub.enrol(count)
            stations = [
                SimStation(hub, i, code, token, random.Random(rng.random())) for i, (code, token) in enumerate(enrolled)
            ]
            streams = Streams(hub, [s.code for s in stations])
            open_seconds = streams.open_all()
            opened = streams.opened
            active = threading.Event()
            started = time.monotonic()
            until = started + idle_seconds + seconds
            threads = [
                threading.Thread(target=s.run, args=(until, active), daemon=True, name=f"bench-{s.code}")
                for s in stations
            ]
            sampler = PgSampler(url)
            for thread in threads:
                thread.start()
            time.sleep(min(2.0, idle_seconds))  # every station has pulled once
            cpu0, t0 = hub.cpu_seconds(), time.monotonic()
            time.sleep(max(0.0, started + idle_seconds - time.monotonic()))
            cpu1, t1 = hub.cpu_seconds(), time.monotonic()
            own1 = time.process_time()
            active.set()
            for thread in threads:
                thread.join(seconds + 120)
            cpu2, t2 = hub.cpu_seconds(), time.monotonic()
            own2 = time.process_time()
            time.sleep(1.0)  # the last events reach their streams
            connections = sampler.stop()
        finally:
            if streams is not None:
                streams.close()
            hub.stop()
    entries = sum(s.entries for s in stations)
    created: dict[tuple[str, str], float] = {}
    for s in stations:
        created.update(s.created)
    first: dict[tuple[str, str], float] = {}
    cross = 0
    for at, index, name, ticket in streams.deliveries:
        owner = int(ticket[:3]) if ticket[:3].isdigit() else -1
        if owner != index:
            cross += 1
            continue
        key = (ticket, name)
        if key in created and key not in first:
            first[key] = at
    lags = [first[k] - created[k] for k in first]
    statuses: dict[str, int] = {}
    for s in stations:
        for status, n in s.statuses.items():
            statuses[str(status)] = statuses.get(str(status), 0) + n
    idle_cpu = (cpu1 - cpu0) / max(t1 - t0, 1e-9)
    busy_cpu = cpu2 - cpu1
    return {
        "stations": count,
        "streams_open": opened,
        "streams_open_seconds": round(open_seconds, 1),
        "streams_refused_while_opening_or_running": streams.refused,
        "streams_dropped": streams.dropped,
        "seconds": round(t2 - t1, 1),
        "entries_synced": entries,
        "entries_per_s": round(entries / max(t2 - t1, 1e-9), 1),
        "ticket_events": len(created),
        "events_seen": len(first),
        "sync_lag_p50_ms": _ms(_pct(lags, 50)),
        "sync_lag_p99_ms": _ms(_pct(lags, 99)),
        "sync_lag_max_ms": _ms(max(lags) if lags else None),
        "hub_cpu_ms_per_entry": round(busy_cpu * 1000 / entries, 2) if entries else None,
        "hub_cpu_ms_per_entry_less_idle": round((busy_cpu - idle_cpu * (t2 - t1)) * 1000 / entries, 2)
        if entries
        else None,
        "hub_cpu_idle_ms_per_s": round(idle_cpu * 1000, 1),
        "hub_pg_connections": connections,
        # The simulated stations and their streams run on the same CPUs as the hub.
        "bench_client_cpu_ms_per_s": round((own2 - own1) * 1000 / max(t2 - t1, 1e-9), 1),
        "load_average_after": round(os.getloadavg()[0], 2),
        "stream_deliveries_per_event": round((len(streams.deliveries) - cross) / len(created), 2) if created else None,
        "deliveries_to_other_stations_streams": cross,
        "http_statuses": statuses,
        "stations_failed": sum(1 for s in stations if s.error),
        "failures": sorted({s.error for s in stations if s.error})[:5],
        "requests_failed_then_retried": sum(s.failed_requests for s in stations),
        "request_failures": sorted({s.last_failure for s in stations if s.last_failure})[:5],
    }


def run(stations: int = 200, seconds: float = 60, idle_seconds: float = 10, quick: bool = False) -> dict:
    """N = 50 and N = ``stations`` (one when they are the same); ``quick``: shorter windows."""
    if not pg.base_url():
        return {"skipped": "needs PostgreSQL: set KIOSK_TEST_DATABASE_URL or KIOSK_BENCH_DATABASE_URL"}
    if quick:
        seconds, idle_seconds = min(seconds, 20), min(idle_seconds, 5)
    out: dict = {"machine": machine()}
    for count in sorted({min(50, stations), stations}):
        out[f"N={count}"] = run_once(count, seconds, idle_seconds)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench district", description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--idle-seconds", type=float, default=10)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.stations, args.seconds, args.idle_seconds, args.quick)
    print(json.dumps(results, ensure_ascii=False, indent=2))
    if "machine" in results:
        m = results["machine"]
        print(f"\n{m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, load {m['load_average_at_start']}")
        for key, figures in results.items():
            if not key.startswith("N="):
                continue
            c = figures["hub_pg_connections"]
            print(
                f"{key}: lag p50 {figures['sync_lag_p50_ms']} ms, p99 {figures['sync_lag_p99_ms']} ms; "
                f"hub CPU {figures['hub_cpu_ms_per_entry']} ms/entry (idle {figures['hub_cpu_idle_ms_per_s']} ms/s); "
                f"PostgreSQL connections max {c['max']}; "
                f"{figures['stream_deliveries_per_event']} deliveries/event, "
                f"{figures['deliveries_to_other_stations_streams']} to other stations' streams"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
