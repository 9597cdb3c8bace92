"""Reliability: a server killed mid-write, the database going away and back, a full disk for receipts.

Everything is real: ``kiosk serve`` (gunicorn) processes on a demo station
prepared by ``kiosk demo``, HTTP from client threads, an SQLite file or a
scratch PostgreSQL database, a TCP relay in front of PostgreSQL that the test
cuts like a pulled cable, ``/dev/full`` as a printer device and a full tmpfs
as the preview printer's folder (mounted in the server's own mount namespace,
so nothing outlives it).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections import defaultdict
from datetime import datetime

import pytest
import requests
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from kiosk.models import DayCounter, PrintJob, Station
from kiosk.testing import (
    IME_CACHE_DIR,
    PG_SKIP,
    PG_URL,
    Auth,
    create_pg_database,
    csrf_of,
    drop_pg_database,
    free_port,
    wait_for,
)
from kiosk_plugins.courier_rest.models import Rider, Visit
from kiosk_plugins.legal.models import Ticket
from kiosk_plugins.parking.models import Household, Lot, Plate, Voucher
from kiosk_plugins.parking.plates import classify_plate
from kiosk_plugins.petitions.models import OutboxMessage, Petition, PetitionStep

SECRET = "reliability-test-secret-0123456789abcdef"
STATION_CODE = "shuibei-demo"  # what `kiosk demo` writes
#: Added to the demo's station file: every test client is one address, and it sends many petitions.
MANY_PETITIONS = "\n[plugins.petitions.rate_limit]\nkiosk = [100000, 600]\n"
UNAVAILABLE = {
    "zh_Hans": "该服务暂时无法使用",
    "zh_Hant": "該服務暫時無法使用",
    "en": "This service is temporarily unavailable",
}
KINDS = ("legal", "courier", "parking", "petitions")
WRITERS_PER_KIND = 2
ACKS_BEFORE_KILL = 20
HOUSEHOLDS_PER_WRITER = 80


# -- a station served by real processes ------------------------------------------
class Server:
    """One ``kiosk serve`` process group (gunicorn master and worker), its log in a file."""

    def __init__(self, command: list[str], env: dict, log_path: str):
        self.port = int(command[command.index("--port") + 1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)

    def status(self, path: str = "/") -> int | None:
        """The status GET ``path`` answers now, or None when nothing answers."""
        try:
            return requests.get(self.url + path, timeout=5, allow_redirects=False).status_code
        except requests.ConnectionError:
            assert self.proc.poll() is None, f"the server exited ({self.proc.returncode}):\n{self.log()[-3000:]}"
            return None

    def wait_status(self, want: int, seconds: float = 60) -> None:
        wait_for(lambda: self.status() == want, seconds, f"GET / to answer {want}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean-up code of the server runs."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()


class DemoStation:
    """An instance folder prepared by ``kiosk demo`` on a given database, and servers started on it."""

    def __init__(self, folder: str, database_url: str):
        self.folder = folder
        self.database_url = database_url
        self.servers: list[Server] = []
        os.makedirs(folder, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "kiosk.cli", "demo"], env=self.env(), capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        with open(os.path.join(folder, "station.toml"), "a", encoding="utf-8") as fh:
            fh.write(MANY_PETITIONS)

    def env(self, database_url: str | None = None) -> dict:
        env = dict(
            os.environ,
            KIOSK_INSTANCE_PATH=self.folder,
            KIOSK_SECRET_KEY=SECRET,
            KIOSK_DATABASE_URL=database_url or self.database_url,
            KIOSK_IME_CACHE_DIR=IME_CACHE_DIR,
        )
        env.pop("KIOSK_STATION_FILE", None)
        return env

    def serve(self, database_url: str | None = None, wrapper: tuple[str, ...] = ()) -> Server:
        """Start ``kiosk serve`` (one worker); does not wait for it to answer."""
        command = [*wrapper, sys.executable, "-m", "kiosk.cli", "serve", "--port", str(free_port()), "--workers", "1"]
        server = Server(command, self.env(database_url), os.path.join(self.folder, f"serve-{len(self.servers)}.log"))
        self.servers.append(server)
        return server

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def pg_database():
    """A scratch PostgreSQL database, dropped at the end (with whatever sessions are left)."""
    if not PG_URL:
        pytest.skip(PG_SKIP)
    name = f"kiosk_rel_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    yield create_pg_database(name)
    drop_pg_database(name)


@pytest.fixture
def station_database(backend, tmp_path, request):
    """The database of a served station on this run's backend: an SQLite file, or a scratch PostgreSQL one."""
    if backend == "sqlite":
        return "sqlite:///" + str(tmp_path / "station" / "kiosk.db")
    return request.getfixturevalue("pg_database")


@pytest.fixture
def stations(tmp_path):
    """Makes the test's demo station; every server started on it is stopped at the end."""
    made: list[DemoStation] = []

    def make(database_url: str) -> DemoStation:
        made.append(DemoStation(str(tmp_path / "station"), database_url))
        return made[-1]

    yield make
    for station in made:
        station.stop()


# -- a kiosk screen over real HTTP --------------------------------------------------
class CutOff(Exception):
    """The server went away while a POST was in flight: no answer, so no acknowledgement."""


#: How a killed server shows up at the client: no connection, or an answer cut off while it was
#: being read (a page's body half sent when the SIGKILL landed). Neither acknowledges anything.
LOST_ANSWER = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


class Screen:
    """One kiosk browser: its cookies and CSRF token; redirects are not followed (they are the answers)."""

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()
        self.token = ""

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.base + path, timeout=60, allow_redirects=False)

    def post(self, path: str, **data) -> requests.Response:
        if not self.token:
            self.token = re.search(r'name="csrf-token" content="([^"]+)"', self.get("/").text).group(1)
        try:
            return self.http.post(
                self.base + path, data={**data, "csrf_token": self.token}, timeout=60, allow_redirects=False
            )
        except LOST_ANSWER as exc:
            raise CutOff(path) from exc


def expect_redirect(response: requests.Response, to: str) -> str:
    location = response.headers.get("Location", "")
    assert response.status_code == 302 and to in location, (response.status_code, location, response.text[:800])
    return location


def station_today():
    """Today at the demo station (Asia/Shanghai), the day its tickets are numbered in."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def take_ticket(screen: Screen) -> str:
    """Take a legal-consultation ticket; the number the resident is shown (A012) is the acknowledgement.

    (The session cookie holds only the visitor's random id: the ticket is what the page shows.)
    """
    issued = expect_redirect(screen.post("/k/legal/take/consultation", phone="", priority=""), "/k/legal/issued")
    page = screen.get(issued.removeprefix(screen.base) if issued.startswith("http") else issued)
    assert page.status_code == 200, page.text[:500]
    return re.search(r'data-testid="ticket-number">([A-Z][0-9]{3,6})<', page.text).group(1)


def register_rider(screen: Screen, phone: str) -> str:
    """A new rider registers (and is checked in) at the 暖蜂驿站 kiosk."""
    expect_redirect(screen.post("/k/courier_rest/phone", phone=phone), "/register")
    expect_redirect(
        screen.post("/k/courier_rest/register", name="可靠性骑手", phone=phone, platform="meituan", vehicle="ebike"),
        "/k/courier_rest/result",
    )
    return phone


def issue_voucher(screen: Screen, phone: str, plate: str) -> int:
    """A household gets a parking voucher for the first free window offered."""
    expect_redirect(screen.post("/k/parking/identify", phone=phone), "/k/parking/plate")
    expect_redirect(screen.post("/k/parking/plate", plate=plate), "/k/parking/lots")
    lots = screen.get("/k/parking/lots").text
    offer = re.search(r'href="/k/parking/confirm\?window=(\d+)&amp;day=([\d-]+)"', lots)
    assert offer, "no parking window offered"
    location = expect_redirect(
        screen.post("/k/parking/issue", window=offer.group(1), day=offer.group(2)), "/k/parking/voucher/"
    )
    return int(re.search(r"/voucher/(\d+)", location).group(1))


def submit_petition(screen: Screen, marker: str) -> str:
    """A resident sends a petition from the kiosk's last step; its token is the acknowledgement."""
    location = expect_redirect(
        screen.post(
            "/k/petitions/new",
            step="4",
            go="submit",
            type="complaint",
            category="environment",
            place="other",
            description=f"楼道灯坏了，晚上很黑 {marker}",
            anonymous="1",
        ),
        "/k/petitions/done/",
    )
    return location.split("/done/")[1].split("?")[0]


# -- part 1: SIGKILL in the middle of writes ---------------------------------------------
def add_households(database_url: str, count: int) -> list[tuple[str, str]]:
    """Households with one car each, and room in the demo lots for all of them (set up directly)."""
    engine = create_engine(database_url)
    people = [(f"1370000{i:04d}", f"粤B{i:05d}") for i in range(count)]
    with Session(engine) as s:
        station_id = s.scalar(select(Station.id).where(Station.code == STATION_CODE))
        s.execute(update(Lot).where(Lot.station_id == station_id).values(spaces=100000, quota_per_month=1000))
        for n, (phone, plate) in enumerate(people):
            household = Household(
                station_id=station_id, unit=f"可靠性花园{n}号", contact_name="测试住户", phone=phone, active=True
            )
            s.add(household)
            s.flush()
            number, kind = classify_plate(plate)
            s.add(Plate(station_id=station_id, household_id=household.id, plate=number, kind=kind))
        s.commit()
    engine.dispose()
    return people


class Writers:
    """Client threads writing through every plugin at once, recording what the server acknowledged."""

    def __init__(self, base: str, households: list[tuple[str, str]]):
        self.base = base
        self.households = households
        self.acked: dict[str, list] = defaultdict(list)
        self.cut_off: list[str] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, args=(kind, n), daemon=True)
            for kind in KINDS
            for n in range(WRITERS_PER_KIND)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(60)
            assert not thread.is_alive(), "a writer did not stop after the server died"

    def each_acked(self, n: int) -> bool:
        """Whether every kind of write has been acknowledged ``n`` times yet."""
        with self.lock:
            return all(len(self.acked[kind]) >= n for kind in KINDS)

    def _write(self, screen: Screen, kind: str, n: int, i: int):
        """Writer ``n``'s ``i``-th write of ``kind``; returns what identifies the stored record."""
        if kind == "legal":
            return take_ticket(screen)
        if kind == "courier":
            return register_rider(screen, f"139{n:02d}{i:06d}")
        if kind == "parking":
            return issue_voucher(screen, *self.households[n * HOUSEHOLDS_PER_WRITER + i])
        return submit_petition(screen, f"[w{n}-{i}]")

    def _run(self, kind: str, n: int) -> None:
        screen = Screen(self.base)
        # Each household has one car, and a car one voucher a night: a parking writer runs out.
        writes = HOUSEHOLDS_PER_WRITER if kind == "parking" else 1_000_000
        try:
            for i in range(writes):
                acknowledged = self._write(screen, kind, n, i)
                with self.lock:
                    self.acked[kind].append(acknowledged)
        except CutOff as exc:
            with self.lock:
                self.cut_off.append(str(exc))
        except LOST_ANSWER:
            pass  # a page read between writes: nothing was asked to be stored
        except Exception as exc:  # reported by the test, which fails with it
            with self.lock:
                self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")


def sqlite_file_is_sound(path: str) -> None:
    """Open the file the killed server wrote, as the next process would, and check all of it."""
    assert os.path.exists(path + "-wal"), "the server was killed with its write-ahead log open"
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()
    # The last connection closing checkpoints the recovered log into the file and removes it.
    assert not os.path.exists(path + "-wal")


def no_sessions_left(database_url: str) -> None:
    """PostgreSQL ends the dead server's sessions (and rolls back what they had open)."""
    engine = create_engine(database_url)

    def left():
        with engine.connect() as conn:
            return conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )

    try:
        wait_for(lambda: left() == 0, 30, "the killed server's database sessions to end")
    finally:
        engine.dispose()


def check_acknowledged_writes_stored(database_url: str, acked: dict[str, list]) -> None:
    """Every acknowledged record is there, whole, with what was written in its transaction."""
    engine = create_engine(database_url)
    with Session(engine) as s:
        codes = set(acked["legal"])  # one service, today: a code names one ticket
        tickets = s.scalars(select(Ticket).where(Ticket.code.in_(codes), Ticket.day == station_today())).all()
        assert {t.code for t in tickets} == codes and len(tickets) == len(codes)
        numbers = s.execute(select(Ticket.numbered_service, Ticket.day, Ticket.number)).all()
        assert len(numbers) == len(set(numbers)), "a ticket number was given twice"
        counters = s.execute(
            select(DayCounter.series, DayCounter.day, DayCounter.last).where(DayCounter.series.like("legal.%"))
        )
        for series, day, last in counters:
            service = series.removeprefix("legal.")
            assert last == max(n for sv, d, n in numbers if (sv, d) == (service, day)), "counter and tickets disagree"

        phones = set(acked["courier"])
        riders = {r.phone: r.id for r in s.scalars(select(Rider).where(Rider.phone.in_(phones)))}
        assert set(riders) == phones
        visits = dict(
            s.execute(
                select(Visit.rider_id, func.count()).where(Visit.rider_id.in_(riders.values())).group_by(Visit.rider_id)
            ).all()
        )
        assert all(visits.get(rider_id) == 1 for rider_id in riders.values()), "a registration without its check-in"

        ids = set(acked["parking"])
        vouchers = s.scalars(select(Voucher).where(Voucher.id.in_(ids))).all()
        assert {v.id for v in vouchers} == ids
        assert all(v.status == "issued" and v.code for v in vouchers)

        tokens = set(acked["petitions"])
        petitions = {p.id: p for p in s.scalars(select(Petition).where(Petition.token.in_(tokens)))}
        assert {p.token for p in petitions.values()} == tokens
        received = set(s.scalars(select(PetitionStep.request_id).where(PetitionStep.action == "received")))
        created = set(s.scalars(select(OutboxMessage.request_id).where(OutboxMessage.event == "created")))
        assert set(petitions) <= received & created, "a petition without its history or dispatch message"
    engine.dispose()


def test_sigkill_mid_writes_loses_nothing_acknowledged(stations, station_database, backend):
    station = stations(station_database)
    households = add_households(station_database, WRITERS_PER_KIND * HOUSEHOLDS_PER_WRITER)
    server = station.serve()
    server.wait_status(200)
    writers = Writers(server.url, households)
    writers.start()
    wait_for(
        lambda: writers.errors or writers.each_acked(ACKS_BEFORE_KILL),
        180,
        f"{ACKS_BEFORE_KILL} acknowledged writes of each kind",
    )
    server.kill()
    writers.join()
    assert not writers.errors, writers.errors
    assert writers.cut_off, "the server was killed while no write was in flight"

    if backend == "sqlite":
        sqlite_file_is_sound(make_url(station_database).database)
    else:
        no_sessions_left(station_database)
    check_acknowledged_writes_stored(station_database, writers.acked)

    again = station.serve()
    again.wait_status(200)
    screen = Screen(again.url)
    code = take_ticket(screen)
    engine = create_engine(station_database)
    with Session(engine) as s:
        new = s.scalar(select(Ticket).where(Ticket.code == code, Ticket.day == station_today()))
        before = s.scalars(
            select(Ticket.number).where(
                Ticket.numbered_service == new.numbered_service, Ticket.day == new.day, Ticket.id != new.id
            )
        ).all()
    engine.dispose()
    assert new.number == max(before) + 1, "numbering goes on after the crash, without a gap or a duplicate"
    assert f"A{new.number:03d}" in screen.get("/k/legal/issued").text


# -- part 2: the database away and back --------------------------------------------------
class Relay:
    """A TCP relay to PostgreSQL that can be cut (listener and every live connection) and restored."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.live: set[socket.socket] = set()
        self.lock = threading.Lock()

    def open(self) -> Relay:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.live.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):  # one side ended: end the other too, as a cable would
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Refuse new connections and drop every open one, as a stopped database does."""
        if self.listener is not None:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            self.listener.close()
            self.listener = None
        with self.lock:
            live, self.live = self.live, set()
        for sock in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def url(self, database_url: str) -> str:
        return make_url(database_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)


@pytest.fixture
def relay(pg_database):
    """A relay to the test database's server, not yet listening."""
    target = make_url(pg_database)
    r = Relay((target.host or "127.0.0.1", target.port or 5432))
    yield r
    r.cut()


def count_tickets(database_url: str) -> int:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        n = conn.scalar(select(func.count()).select_from(Ticket))
    engine.dispose()
    return n


def assert_unavailable_page(response: requests.Response, lang: str) -> None:
    """A clear 503 in the user's language that loads itself again, never a 500 or a traceback."""
    assert response.status_code == 503, (response.status_code, response.text[:500])
    body = response.text
    assert UNAVAILABLE[lang] in body
    assert "Traceback" not in body and "OperationalError" not in body and "psycopg" not in body
    assert response.headers.get("Retry-After", "").isdigit()
    assert re.search(r'<meta http-equiv="refresh" content="\d+', body), "the screen must come back by itself"


def test_database_away_and_back_answers_503_then_recovers_without_restart(stations, pg_database, relay):
    station = stations(pg_database)
    relay.open()
    server = station.serve(relay.url(pg_database))
    server.wait_status(200)
    resident = Screen(server.url)
    resident.get("/k/legal/")
    visitor = Screen(server.url)
    assert visitor.post("/lang", lang="en").status_code == 302
    take_ticket(resident)
    tickets = count_tickets(pg_database)

    relay.cut()
    assert_unavailable_page(resident.get("/"), "zh_Hans")
    assert_unavailable_page(resident.get("/k/legal/"), "zh_Hans")
    taken = resident.post("/k/legal/take/consultation", phone="", priority="")
    assert_unavailable_page(taken, "zh_Hans")
    assert 'url=/"' in taken.text, "after a refused form the page goes home, never posts again"
    assert_unavailable_page(visitor.get("/"), "en")
    health = resident.get("/healthz")
    assert health.status_code == 503 and health.json()["database"]["ok"] is False
    assert count_tickets(pg_database) == tickets, "nothing half-written"

    relay.open()
    server.wait_status(200, seconds=15)
    take_ticket(resident)
    assert count_tickets(pg_database) == tickets + 1
    health = resident.get("/healthz")
    # A lost database is not the plugins' fault: they are not marked faulty for it.
    assert health.status_code == 200 and health.json()["ok"] is True, health.text
    assert "database unavailable on POST /k/legal/take/consultation" in server.log()


def test_server_started_before_its_database_waits_and_then_serves(stations, pg_database, relay):
    station = stations(pg_database)  # prepared while the database could be reached
    server = station.serve(relay.url(pg_database))  # the relay is not open: nothing answers there
    server.wait_status(503)
    page = requests.get(server.url + "/k/legal/", timeout=5)
    for lang in ("zh_Hans", "zh_Hant", "en"):
        assert_unavailable_page(page, lang)
    assert "the database cannot be reached" in server.log()

    relay.open()
    server.wait_status(200, seconds=15)
    before = count_tickets(pg_database)
    take_ticket(Screen(server.url))
    assert count_tickets(pg_database) == before + 1


# -- part 3: a full disk for receipts -------------------------------------------------------
def print_job_error(get_json, job_id: str) -> str:
    """Poll the job as the kiosk page does until it ends; it must end failed, and say why."""
    job = {}

    def ended() -> bool:
        job.update(get_json(f"/print-jobs/{job_id}"))
        return job["state"] in ("done", "failed")

    wait_for(ended, 30, f"print job {job_id} to end")
    assert job["state"] == "failed", job
    return job["error"]


def job_id_on(page: str) -> str:
    """The print job a result page follows (it polls it to say whether the paper came out)."""
    found = re.search(r'data-(?:print-job|job-url|job)="(?:/print-jobs/)?([0-9a-f]{32})"', page)
    assert found, "the page does not follow its print job"
    return found.group(1)


def test_full_printer_device_does_not_stop_ticketing(make_app, database_url):
    app = make_app(
        database_url,
        DEVICES={
            "readers": {},
            "printer": {"type": "file", "path": "/dev/full", "max_attempts": 2, "retry_delay": 0.05},
        },
    )
    client = app.test_client()

    def get_json(path):
        return client.get(path).get_json()

    def post(path, **data):
        return client.post(path, data={"csrf_token": csrf_of(client), **data})

    def take() -> str:
        assert post("/k/legal/take/consultation", phone="", priority="").status_code == 302
        return client.get("/k/legal/issued").get_data(as_text=True)

    page = take()
    assert 'data-testid="ticket-number">A001<' in page
    assert "您的号仍然有效" in page, "the resident is told to note the number when the ticket does not print"
    ticket_job = job_id_on(page)
    assert "No space left on device" in print_job_error(get_json, ticket_job)

    petition = post(
        "/k/petitions/new",
        step="4",
        go="submit",
        type="complaint",
        category="environment",
        place="other",
        description="楼道灯坏了，晚上很黑",
        anonymous="1",
    )
    assert petition.status_code == 302
    done = client.get(petition.headers["Location"]).get_data(as_text=True)
    assert re.search(r'data-testid="tracking-no">P\d{6}-[A-Z0-9]{2,6}-0001<', done)
    assert "No space left on device" in print_job_error(get_json, job_id_on(done))

    page = take()
    assert 'data-testid="ticket-number">A002<' in page, "ticketing goes on"
    print_job_error(get_json, job_id_on(page))
    assert client.get("/").status_code == 200
    staff = app.test_client()
    Auth(app, staff).login("staff")
    console = staff.get("/staff/").get_data(as_text=True)
    assert ticket_job in console and "No space left on device" in console
    with app.app_context():
        s = app.extensions["db"].Session()
        jobs = s.scalars(select(PrintJob)).all()
        s.close()
    assert len(jobs) == 3 and all(j.state == "failed" and "No space left on device" in j.error for j in jobs)


def full_tmpfs_wrapper(folder: str) -> tuple[str, ...]:
    """Run the server in its own mount namespace with a tiny tmpfs, filled up, mounted on ``folder``."""
    namespace = ("unshare", "--mount") if os.geteuid() == 0 else ("unshare", "--user", "--map-root-user", "--mount")
    script = (
        'mount -t tmpfs -o size=64k kiosk-receipts "$0" && { cat /dev/zero > "$0/filler" 2>/dev/null; true; }'
        ' && exec "$@"'
    )
    return (*namespace, "sh", "-c", script, folder)


def test_full_receipt_folder_does_not_stop_ticketing(stations, tmp_path):
    station = stations("sqlite:///" + str(tmp_path / "station" / "kiosk.db"))
    receipts = os.path.join(station.folder, "receipts")
    server = station.serve(wrapper=full_tmpfs_wrapper(receipts))
    server.wait_status(200)
    seen = f"/proc/{server.proc.pid}/root{receipts}"  # the folder as the server sees it
    assert os.statvfs(seen).f_bavail == 0, "the receipt folder is full"

    resident = Screen(server.url)
    expect_redirect(resident.post("/k/legal/take/consultation", phone="", priority=""), "/k/legal/issued")
    page = resident.get("/k/legal/issued").text
    assert 'data-testid="ticket-number">A001<' in page
    assert "您的号仍然有效" in page, "the resident is told to note the number when the ticket does not print"
    job = job_id_on(page)
    error = print_job_error(lambda path: resident.get(path).json(), job)
    assert "No space left on device" in error

    staff = Screen(server.url)
    expect_redirect(staff.post("/staff/login", username="staff", password="kiosk-staff-demo"), "/staff")
    console = staff.get("/staff/").text
    assert job in console
    assert "No space left on device" in console and "legal.ticket" in console

    expect_redirect(resident.post("/k/legal/take/consultation", phone="", priority=""), "/k/legal/issued")
    assert 'data-testid="ticket-number">A002<' in resident.get("/k/legal/issued").text, "ticketing goes on"
    assert resident.get("/").status_code == 200
    assert sorted(os.listdir(seen)) == ["filler"], "no half-written receipt files are left behind"
