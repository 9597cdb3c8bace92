"""A district on one machine: a hub and stations as real ``kiosk serve`` processes, linked through cuttable relays.

The proof of issue 15 needs the parts an operator runs, not an in-process
imitation of them:

- the **hub** is ``kiosk serve`` with ``KIOSK_ROLE=hub`` on a PostgreSQL database
  of its own (created on ``KIOSK_TEST_DATABASE_URL``'s server, dropped at the end),
  on its own port, with a dispatch webhook receiver (:class:`Dispatch`) when asked;
- each **station** is ``kiosk serve`` on an SQLite file in its own instance folder
  and port, printing to a fake TCP receipt printer
  (``kiosk_hardware.testing.fake_printer.FakeNetworkPrinter``) so receipts can be
  decoded, and reading cards from a serial card reader on a pseudo-terminal
  (:class:`CardReader`), the device path a real reader takes;
- each station reaches the hub only through a :class:`Relay`, a threaded TCP proxy
  the test cuts (every connection dropped, new ones refused) and restores, like
  a community's broadband going down and coming back;
- enrolment is the CLI an operator types: ``kiosk stations enrol CODE …`` on the
  hub's environment prints a one-time token, ``kiosk sync join URL TOKEN`` on the
  station's environment exchanges it (through the relay).

Every process is started in a session of its own and killed by process group
at the end, whatever the test did. Phones and screens are :class:`Browser`
objects: a requests session that keeps cookies and the page's CSRF token, as the
other HTTP tests do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from kiosk.testing import IME_CACHE_DIR, PG_URL, create_pg_database, drop_pg_database

SECRET = "district-harness-secret-0123456789abcdef"
#: The hub's dispatch secret; the stations are given a different one to show whose signs.
HUB_WEBHOOK_SECRET = "hub-dispatch-secret-福田"
STATION_WEBHOOK_SECRET = "station-secret-must-not-sign"
STAFF_PASSWORD = "district-staff-pw-1"
#: Every test client sends from 127.0.0.1: the per-address petition limit would refuse them.
NO_RATE_LIMIT = """
[plugins.petitions.rate_limit]
kiosk = [1000000, 600]
mobile = [1000000, 600]
api = [1000000, 600]
"""
CSRF_META = re.compile(r'name="csrf-token" content="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, seconds: float, what: str, every: float = 0.1):
    """Poll ``check()`` until it returns something true; fail saying ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds} s waiting for {what}")
        time.sleep(every)


# -- the link -----------------------------------------------------------------------------------
class Relay:
    """A TCP relay from a fixed local port to ``target``: :meth:`cut` it like a pulled cable, :meth:`restore` it.

    ``connections`` counts the connections it has accepted (a test can check the
    station really came through it).
    """

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.listener: socket.socket | None = None
        self.live: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.connections = 0
        #: Bytes per second each direction of each connection may carry (None: as fast as it goes);
        #: a slow link makes a batch take long enough for a test to act while it is on its way.
        self.throttle: int | None = None
        #: What a new connection meets: ``"pass"`` (relayed), ``"blackhole"`` (accepted, read and never
        #: answered: packets dropped somewhere), ``"reset"`` (accepted, then a TCP RST), ``"drip"``
        #: (relayed, but the hub's answer trickles back one byte every :attr:`drip_every` seconds) or
        #: ``"answer"`` (:attr:`canned`, the raw HTTP answer of a reverse proxy whose hub is away).
        self.mode = "pass"
        self.drip_every = 1.0
        self.canned = (
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 48\r\n"
            b"Connection: close\r\n\r\n<html><body><h1>502 Bad Gateway</h1></body></html>"
        )

    @property
    def is_open(self) -> bool:
        return self.listener is not None

    def restore(self) -> Relay:
        """Listen (again) on the same port."""
        if self.listener is not None:
            return self
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="relay-accept").start()
        return self

    open = restore

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            if self.mode != "pass" and self.mode != "drip":
                with self.lock:
                    self.live.add(client)
                    self.connections += 1
                threading.Thread(target=self._misbehave, args=(client, self.mode), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.listener is not listener:  # cut while connecting
                    client.close()
                    upstream.close()
                    return
                self.live.update((client, upstream))
                self.connections += 1
            drip = self.drip_every if self.mode == "drip" else None
            for a, b, slow in ((client, upstream, None), (upstream, client, drip)):
                threading.Thread(target=self._pipe, args=(a, b, slow), daemon=True, name="relay-pipe").start()

    def _misbehave(self, client: socket.socket, mode: str) -> None:
        """A connection that never reaches the hub: answered as ``mode`` says."""
        try:
            if mode == "reset":
                client.recv(65536)
                # SO_LINGER with a zero timeout: close() sends a RST instead of a FIN.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif mode == "answer":
                client.recv(65536)
                client.sendall(self.canned)
                client.shutdown(socket.SHUT_WR)
                while client.recv(65536):
                    pass
            else:  # blackhole: take whatever comes, answer nothing, until the test cuts the link
                while client.recv(65536):
                    pass
                return
        except OSError:
            pass
        with self.lock:
            self.live.discard(client)
        client.close()

    def _pipe(self, source: socket.socket, sink: socket.socket, drip: float | None = None) -> None:
        try:
            while data := source.recv(4096 if self.throttle else 65536):
                if drip is not None:
                    for i in range(len(data)):  # a byte at a time, each after a pause
                        time.sleep(drip)
                        sink.sendall(data[i : i + 1])
                    continue
                sink.sendall(data)
                if self.throttle:
                    time.sleep(len(data) / self.throttle)
        except OSError:
            pass
        for sock in (source, sink):  # one side ended: end the other too, as a cable would
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self.lock:
            for sock in (source, sink):
                if sock in self.live:
                    self.live.discard(sock)
                    sock.close()

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        with self.lock:
            listener, self.listener = self.listener, None
            live, self.live = self.live, set()
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            except OSError:
                pass
            listener.close()
        for sock in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


# -- devices at a station ----------------------------------------------------------------------
class CardReader:
    """A serial card reader on a pseudo-terminal: the station opens ``device`` as it would ``/dev/ttyACM0``."""

    def __init__(self, folder: Path):
        self.master, self.slave = os.openpty()
        self.device = str(folder / "ttyCARD")
        os.symlink(os.ttyname(self.slave), self.device)

    def tap(self, uid: str) -> None:
        """A card laid on the reader: its id as the reader sends it (one CR LF-framed line)."""
        os.write(self.master, uid.encode("ascii") + b"\r\n")

    def config(self) -> str:
        return (
            "\n[devices.readers.card]\n"
            f'type = "serial"\ndevice = "{self.device}"\nbaudrate = 9600\nframing = "crlf"\nkind = "card"\n'
        )

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class Dispatch:
    """The district's event-dispatch system: a local HTTP server that checks each body's signature.

    ``got`` holds the JSON bodies it accepted (signed with ``secret``);
    ``rejected`` counts bodies with a wrong or missing signature.
    """

    def __init__(self, secret: str = HUB_WEBHOOK_SECRET):
        self.secret = secret.encode()
        self.got: list[dict] = []
        self.rejected = 0
        dispatch = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stamp = self.headers.get("X-Petition-Timestamp", "")
                signed = stamp.encode() + b"." + body
                expected = "v1=" + hmac.new(dispatch.secret, signed, hashlib.sha256).hexdigest()
                fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= 300
                if not (hmac.compare_digest(self.headers.get("X-Petition-Signature", ""), expected) and fresh):
                    dispatch.rejected += 1
                    self.send_response(401)
                else:
                    dispatch.got.append(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/events"
        threading.Thread(target=self.server.serve_forever, daemon=True, name="dispatch").start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- a browser ----------------------------------------------------------------------------------
class Browser:
    """One screen or phone: its cookies and CSRF token; redirects are answers, not followed."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.http = requests.Session()
        self.token = ""

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def get(self, path: str, **kwargs) -> requests.Response:
        response = self.http.get(self._url(path), timeout=60, allow_redirects=False, **kwargs)
        found = CSRF_META.search(response.text) if "text/html" in response.headers.get("Content-Type", "") else None
        if found:
            self.token = found.group(1)
        return response

    def post(self, path: str, data: dict | None = None, **kwargs) -> requests.Response:
        if not self.token:
            self.get("/staff/login" if path.startswith("/staff") else "/")
        form = {**(data or {}), "csrf_token": self.token}
        response = self.http.post(self._url(path), data=form, timeout=60, allow_redirects=False, **kwargs)
        found = CSRF_META.search(response.text) if "text/html" in response.headers.get("Content-Type", "") else None
        if found:
            self.token = found.group(1)
        return response

    def json(self, path: str) -> tuple[int, dict]:
        response = self.get(path)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {}

    def login(self, username: str, password: str = STAFF_PASSWORD) -> None:
        self.get("/staff/login")
        response = self.post("/staff/login", {"username": username, "password": password})
        assert response.status_code in (302, 303), (response.status_code, response.text[:500])


def expect_redirect(response: requests.Response, to: str) -> str:
    location = response.headers.get("Location", "")
    assert response.status_code in (302, 303) and to in location, (
        response.status_code,
        location,
        response.text[:800],
    )
    return location


# -- processes ----------------------------------------------------------------------------------
class Node:
    """A kiosk instance folder (hub or station) and the ``kiosk serve`` process started on it."""

    role = "station"

    def __init__(self, folder: Path, code: str, database_url: str):
        self.folder = folder
        self.code = code
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        folder.mkdir(parents=True, exist_ok=True)
        self.station_file = folder / "station.toml"

    def env(self, **extra: str) -> dict:
        env = dict(
            os.environ,
            KIOSK_INSTANCE_PATH=str(self.folder),
            KIOSK_SECRET_KEY=SECRET,
            KIOSK_DATABASE_URL=self.database_url,
            KIOSK_STATION_FILE=str(self.station_file),
            KIOSK_ROLE=self.role,
            KIOSK_IME_CACHE_DIR=IME_CACHE_DIR,
            PYTHONPATH=os.pathsep.join(sys.path),
        )
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(extra)
        return env

    def cli(self, *args: str, check: bool = True, timeout: float = 180, input: str | None = None):
        """``kiosk <args>`` in this node's environment; fails the test with its output unless ``check=False``."""
        done = subprocess.run(
            [sys.executable, "-m", "kiosk.cli", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            cwd=str(self.folder),
        )
        if check:
            assert done.returncode == 0, (
                f"kiosk {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    @property
    def log_path(self) -> Path:
        return self.folder / f"serve-{self.starts}.log"

    def start(self, workers: int = 1, wait: bool = True) -> Node:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        command = [sys.executable, "-m", "kiosk.cli", "serve", "--port", str(self.port), "--workers", str(workers)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command, env=self.env(), stdout=log, stderr=log, start_new_session=True, cwd=str(self.folder)
            )
        if wait:
            try:
                wait_for(self._answers, 90, f"{self.code} ({self.role}) to answer /healthz", every=0.2)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; its log ends:\n{self.log()[-3000:]}") from None
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.code}: kiosk serve exited {self.proc.returncode}:\n{self.log()[-4000:]}")
        try:
            return requests.get(self.url + "/healthz", timeout=5).status_code < 500
        except requests.RequestException:
            return False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (gunicorn master and workers); SIGKILL runs none of their clean-up."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(20)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; every process of the group ends either way."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(3)  # open push streams would hold gunicorn's graceful stop for 10 s
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # workers left behind by a master that died first
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            pass

    def log(self) -> str:
        out = []
        for n in range(1, self.starts + 1):
            path = self.folder / f"serve-{n}.log"
            if path.exists():
                out.append(path.read_text(encoding="utf-8", errors="replace"))
        return "\n".join(out)

    def browser(self) -> Browser:
        return Browser(self.url)

    def create_account(self, username: str, role: str = "staff") -> str:
        self.cli("users", "create", username, "--role", role, "--password", STAFF_PASSWORD)
        return username


class Hub(Node):
    """The district hub: ``role = "hub"`` on its own PostgreSQL database; phones reach it at ``url``."""

    role = "hub"

    def __init__(self, folder: Path, database_url: str, dispatch: Dispatch | None = None, extra_toml: str = ""):
        super().__init__(folder, "district", database_url)
        webhook = ""
        if dispatch is not None:
            webhook = (
                "\n[plugins.petitions.webhook]\n"
                f'url = "{dispatch.url}"\nsecret = "{dispatch.secret.decode()}"\ntimeout = 3\n'
            )
        self.station_file.write_text(
            'role = "hub"\n\n[station]\ncode = "district"\nname = "龙岗区党群服务中心（区级枢纽）"\n'
            'kind = "party_service"\nlanguages = ["zh_Hans", "zh_Hant", "en"]\ntimezone = "Asia/Shanghai"\n'
            f'public_url = "{self.url}"\n\n[hub]\nstale_after_minutes = 15\n' + webhook + NO_RATE_LIMIT + extra_toml,
            encoding="utf-8",
        )

    def enrol(self, code: str, name: str, kind: str, tag: str | None = None) -> str:
        """``kiosk stations enrol``: the one-time token it prints for the station."""
        args = ["stations", "enrol", code, "--name", name, "--kind", kind]
        if tag:
            args += ["--tag", tag]
        done = self.cli(*args)
        return parse_token(done.stdout + done.stderr)

    def sql(self, query: str, **params):
        """Rows of a query on the hub's database (a short connection of the test's own)."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return conn.execute(text(query), params).all()
        finally:
            engine.dispose()

    def station_id(self, code: str) -> int | None:
        rows = self.sql("SELECT id FROM station WHERE code = :code", code=code)
        return rows[0][0] if rows else None

    def last_seq(self, code: str) -> int:
        rows = self.sql(
            "SELECT p.last_seq FROM sync_peer p JOIN station s ON s.id = p.station_id WHERE s.code = :code", code=code
        )
        return rows[0][0] if rows else -1


def parse_token(output: str) -> str:
    """The token in ``kiosk stations enrol``'s output: the one in the station-side command it prints."""
    found = re.search(r"sync join\s+\S+\s+(\S+)", output) or re.search(r"token[:=\s]+([A-Za-z0-9_\-.]{16,})", output)
    assert found, f"no token in the enrol output:\n{output}"
    return found.group(1).strip("'\"")


class Station(Node):
    """A station node: SQLite in its instance folder, a fake TCP printer, a serial card reader, a relay to the hub."""

    def __init__(
        self, folder: Path, code: str, name: str, kind: str, hub: Hub, tag: str | None = None, reader: bool = True
    ):
        from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

        super().__init__(folder, code, "sqlite:///" + str(folder / "kiosk.db"))
        self.name, self.kind, self.tag = name, kind, tag
        self.printer = FakeNetworkPrinter().start()
        self.reader = CardReader(folder) if reader else None
        self.relay = Relay(("127.0.0.1", hub.port)).restore()
        self.station_file.write_text(self.toml(), encoding="utf-8")

    def toml(self) -> str:
        tag = f'tag = "{self.tag}"\n' if self.tag else ""
        return (
            f'[station]\ncode = "{self.code}"\nname = "{self.name}"\nkind = "{self.kind}"\n'
            'languages = ["zh_Hans", "zh_Hant", "en"]\ntimezone = "Asia/Shanghai"\n' + tag + "\n"
            "[devices.printer]\n"
            f'type = "network"\nhost = "{self.printer.host}"\nport = {self.printer.port}\nprofile = "80mm"\n'
            "timeout = 5.0\n"
            + (self.reader.config() if self.reader else "")
            + NO_RATE_LIMIT
            + "\n[plugins.petitions.webhook]\n"
            f'url = "http://127.0.0.1:9/never"\nsecret = "{STATION_WEBHOOK_SECRET}"\n'
        )

    def enrol_terminal(self, browser: Browser, name: str = "kiosk-1") -> Browser:
        """Make ``browser`` the station's kiosk terminal ``name`` (the one its card reader belongs to).

        As an operator does: ``kiosk terminals link`` (or ``add`` the first time)
        prints a one-time link, and the screen's browser opens it once.
        """
        done = self.cli("terminals", "link", name, check=False)
        if done.returncode != 0:
            done = self.cli("terminals", "add", name, "--kind", "kiosk")
        found = re.search(r"(/terminal/enrol/\S+)", done.stdout)
        assert found, f"no enrolment link in:\n{done.stdout}{done.stderr}"
        response = browser.get(found.group(1))
        assert response.status_code in (200, 302, 303), (response.status_code, response.text[:300])
        return browser

    def join(self, token: str) -> None:
        """``kiosk sync join`` through the relay (the station reaches the hub only that way)."""
        self.cli("sync", "join", self.relay.url, token)

    def sql(self, query: str, *params):
        conn = sqlite3.connect(str(self.folder / "kiosk.db"), timeout=30)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    def run_out_pusher_lease(self) -> None:
        """Let the lease of a killed station's pusher run out now rather than in ``LEASE_SECONDS`` (15 s).

        Its successor takes an expired lease by the same path as after the wait.
        """
        conn = sqlite3.connect(str(self.folder / "kiosk.db"), timeout=30)
        try:
            with conn:
                held = conn.execute(
                    "UPDATE job_run SET lease_until = '2000-01-01 00:00:00.000000' "
                    "WHERE name LIKE 'kiosk.sync.pusher@%' AND lease_until IS NOT NULL"
                ).rowcount
        finally:
            conn.close()
        assert held == 1, f"{self.code}: the killed pusher held no lease"

    def sync_error(self) -> str:
        """The error of the station's last failed sync pass ("" once a pass succeeds)."""
        rows = self.sql("SELECT last_error FROM sync_state")
        return rows[0][0] if rows else ""

    def outbox_top(self) -> int:
        """The highest sequence number the station has given (0: none yet)."""
        return self.sql("SELECT coalesce(max(seq), 0) FROM sync_outbox")[0][0]

    def outbox_waiting(self) -> int:
        """Entries not yet acknowledged by the hub (sequenced or not)."""
        return self.sql("SELECT count(*) FROM sync_outbox WHERE sent_at IS NULL")[0][0]

    def close_devices(self) -> None:
        self.printer.close()
        if self.reader is not None:
            self.reader.close()
        self.relay.cut()


class District:
    """A hub and its stations for one test; :meth:`close` ends every process and drops the hub's database."""

    def __init__(self, folder: Path, dispatch: bool = False, hub_toml: str = ""):
        if not PG_URL:
            raise RuntimeError("the district harness needs KIOSK_TEST_DATABASE_URL")
        self.folder = folder
        self.db_name = f"kiosk_district_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.dispatch = Dispatch() if dispatch else None
        self.stations: dict[str, Station] = {}
        self.hub = Hub(folder / "hub", create_pg_database(self.db_name), self.dispatch, hub_toml)

    def start_hub(self, workers: int = 1) -> Hub:
        self.hub.cli("db", "upgrade")
        self.hub.start(workers=workers)
        return self.hub

    def add_station(
        self,
        code: str,
        name: str,
        kind: str = "party_service",
        tag: str | None = None,
        enrol: bool = True,
        start: bool = True,
        reader: bool = True,
    ) -> Station:
        station = Station(self.folder / code, code, name, kind, self.hub, tag, reader)
        self.stations[code] = station
        station.cli("db", "upgrade")
        if enrol:
            station.join(self.hub.enrol(code, name, kind, tag))
        if start:
            station.start()
        return station

    def synced(self, station: Station, seconds: float = 60) -> int:
        """Wait until the hub has applied everything the station has recorded; the last sequence number."""

        def caught_up():
            if station.outbox_waiting():
                return 0
            top = station.outbox_top()
            return top if top and self.hub.last_seq(station.code) == top else 0

        return wait_for(caught_up, seconds, f"{station.code}'s outbox to reach the hub", every=0.2)

    def close(self) -> None:
        for station in self.stations.values():
            station.stop()
        self.hub.stop()
        for station in self.stations.values():
            station.close_devices()
        if self.dispatch is not None:
            self.dispatch.stop()
        try:
            drop_pg_database(self.db_name)
        except Exception:  # noqa: BLE001 - a failed drop must not hide the test's own failure
            pass

    def __enter__(self) -> District:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- decoding receipts --------------------------------------------------------------------------
def receipt_qr_codes(job) -> list[str]:
    """The QR codes on one receipt the fake printer received, read from the raster it printed."""
    import zxingcpp

    return [r.text for r in zxingcpp.read_barcodes(job.parse().raster().convert("L")) if r.format.name == "QRCode"]
