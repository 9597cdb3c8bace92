"""A district fleet: two `kiosk serve` servers, two workers each, one PostgreSQL database.

Everything goes over real HTTP to real gunicorn processes: a ticket taken on
server A's kiosk pages is called by a staff member logged in on server B, and
the calling display's event stream on server A receives the call. Then the
district dashboard, on either server, shows both stations' figures.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from kiosk.testing import PG_SKIP, PG_URL, EventStream, create_pg_database, drop_pg_database

pytestmark = pytest.mark.skipif(not PG_URL, reason=PG_SKIP)

PLATFORM = {
    "KIOSK_STATION__code": "luohu-platform",
    "KIOSK_STATION__name": "罗湖区服务平台",
    "KIOSK_STATION__kind": "party_service",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(url: str, instance: str, **extra) -> dict:
    env = dict(
        os.environ,
        KIOSK_DATABASE_URL=url,
        KIOSK_SECRET_KEY="fleet-test-secret-" + "x" * 32,
        KIOSK_INSTANCE_PATH=instance,
        KIOSK_FLEET="true",
        KIOSK_STATION_FILE=os.path.join(instance, "none.toml"),
        KIOSK_IME_PRELOAD="false",
        **PLATFORM,
    )
    env.update(extra)
    return env


def _kiosk(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Server:
    """One `kiosk serve --workers 2` process group on a port of its own."""

    def __init__(self, env: dict):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk.cli", "serve", "--port", str(self.port), "--workers", "2", "--threads", "8"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("server died: " + self.proc.stderr.read().decode()[-2000:])
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # it answers; an unhealthy device still means it serves
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"server on {self.port} did not answer in {timeout} s")

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


class Browser:
    """A browser session against one server: cookies kept, CSRF token read from the page."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = ""

    def get(self, path: str, **headers) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path, headers=headers))

    def post(self, path: str, **form) -> tuple[int, str]:
        """Submit a form; redirects are followed, so a success is the 200 of the page it leads to."""
        data = urllib.parse.urlencode(dict(form, csrf_token=self.csrf)).encode()
        return self._open(urllib.request.Request(self.base + path, data=data))

    def _open(self, request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=10) as response:
                status, body = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        # Logging in starts a new session with a new token: always keep the latest.
        found = re.search(r'<meta name="csrf-token" content="([^"]+)"', body)
        if found:
            self.csrf = found.group(1)
        return status, body

    def login(self, username: str, password: str) -> None:
        self.get("/staff/login")
        status, body = self.post("/staff/login", username=username, password=password)
        assert status == 200 and "/staff/logout" in body, body[:500]


@pytest.fixture
def fleet(tmp_path):
    """A fresh database with two stations and accounts, and two servers on it."""
    name = f"kiosk_fleet_{uuid.uuid4().hex[:10]}"
    url = create_pg_database(name)
    servers = []
    try:
        setup = _env(url, str(tmp_path / "setup"))
        os.makedirs(tmp_path / "setup")
        _kiosk(setup, "db", "upgrade")
        shuibei = dict(setup, KIOSK_STATION__code="shuibei", KIOSK_STATION__name="水贝社区党群服务中心")
        _kiosk(shuibei, "users", "create", "lawyer-desk", "--password", "counter-pass-1", "--name", "值班律师")
        sungang = dict(
            setup,
            KIOSK_STATION__code="sungang-bee",
            KIOSK_STATION__name="笋岗暖蜂驿站",
            KIOSK_STATION__kind="courier_station",
        )
        _kiosk(sungang, "users", "create", "district1", "--role", "district", "--password", "district-pass-1")
        for label in ("a", "b"):
            os.makedirs(tmp_path / label)
            servers.append(Server(_env(url, str(tmp_path / label))))
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()
        drop_pg_database(name)


def test_a_ticket_taken_on_one_server_is_called_from_the_other_and_shown_on_the_first(fleet):
    a, b = fleet
    kiosk = Browser(a.url)
    status, home = kiosk.get("/?station=shuibei")
    assert status == 200 and "水贝社区党群服务中心" in home
    status, issued = kiosk.post("/k/legal/take/consultation", phone="", priority="")
    assert status == 200, issued[:500]
    ticket = re.search(r'data-testid="ticket-number">([A-Z]\d+)<', issued).group(1)
    assert ticket == "A001"

    # The wall display of the same station, connected to server A: open once its
    # first line is in, by which time the stream has read its starting point.
    display = EventStream(a.url, "/events/stream?channel=legal&station=shuibei", timeout=20)
    try:
        staff = Browser(b.url)
        staff.login("lawyer-desk", "counter-pass-1")
        assert staff.post("/staff/legal/counter/1/take")[0] == 200
        pressed = time.monotonic()
        status, counter = staff.post("/staff/legal/counter/1/call")
        assert status == 200 and f'data-testid="current-ticket">{ticket}<' in counter

        got = display.wait_at("legal.ticket_called", timeout=5)
    finally:
        display.close()
    assert got is not None, f"the call never reached the display on server A: {display.events}"
    at, data = got
    assert data["ticket"] == ticket and data["counter"] == 1
    print(f"call on server B reached the display on server A in {at - pressed:.3f} s")
    assert at - pressed < 2.0

    # The board's own state, read from the other server, agrees.
    board = Browser(b.url)
    board.get("/?station=shuibei")
    status, state = board.get("/k/legal/display/state.json")
    assert status == 200 and json.loads(state)["calls"][0]["ticket"] == ticket

    # The district dashboard on either server shows both stations' figures.
    for server in (a, b):
        district = Browser(server.url)
        district.login("district1", "district-pass-1")
        status, body = district.get("/admin/district/summary.json")
        assert status == 200
        stations = {s["code"]: {f["key"]: f["value"] for f in s["figures"]} for s in json.loads(body)["stations"]}
        assert {"shuibei", "sungang-bee", "luohu-platform"} <= set(stations)
        assert stations["shuibei"]["legal.tickets_issued"] == 1
        assert stations["shuibei"]["legal.tickets_waiting"] == 0  # called, no longer waiting
        assert stations["sungang-bee"]["courier_rest.checkins"] == 0
        status, page = district.get("/admin/district/")
        assert status == 200 and "笋岗暖蜂驿站" in page and "水贝社区党群服务中心" in page
