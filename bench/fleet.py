"""The fleet benchmark: `kiosk serve --workers 4` on PostgreSQL.

* Tickets issued per second across the four workers (the legal bench's
  kiosk browsers over keep-alive HTTP), then the database is checked: no two
  tickets of one station, day and queue share a number, every 302 the
  clients got is a stored ticket, and the numbers have no gaps.
* Display push latency: calling displays hold the legal channel's event
  stream open (server-sent events) while a staff member, logged in with a
  session and CSRF token like the console, presses "call next" again and
  again (a resident takes a ticket at a kiosk before each call, so there is
  always someone to call); each delay is from sending the call to the
  ``legal.ticket_called`` event arriving on a display's stream. Measured on a
  quiet server and while kiosks keep issuing tickets. Four displays, so some
  streams are almost surely held by other workers than the one taking the
  call (PostgreSQL NOTIFY must wake them).

The scratch database is created and dropped here. Skipped without PostgreSQL.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
import urllib.parse

from bench import legal_bench, load, pg
from bench.serve import Server, printer_settled, station_toml

WORKERS = 4
DISPLAYS = 4
CALL_TIMEOUT = 5.0
STAFF = ("staff", "kiosk-staff-demo")  # the demo account `kiosk demo` creates
COUNTER = 1


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


class EventStream:
    """One calling display's push stream, read in a thread; events are timestamped on arrival.

    ``arrived`` holds (arrival time, event name, event id) in the order received.
    """

    def __init__(self, url: str, path: str = "/events/stream?channel=legal"):
        self.conn = _connection(url)
        self.conn.timeout = 120
        self.arrived: list[tuple[float, str, int | None]] = []
        self.changed = threading.Condition()
        self.connected = threading.Event()
        self.path = path
        self.thread = threading.Thread(target=self._read, daemon=True, name="bench-display")
        self.thread.start()

    def _read(self) -> None:
        self.conn.request("GET", self.path, headers={"Accept": "text/event-stream"})
        response = self.conn.getresponse()
        self.connected.set()
        name, event_id = None, None
        try:
            for raw in response:
                line = raw.decode("utf-8").rstrip("\n")
                if line.startswith("id: "):
                    event_id = int(line[4:])
                elif line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name:
                    json.loads(line[6:])  # a display that cannot read the event has not received it
                    with self.changed:
                        self.arrived.append((time.perf_counter(), name, event_id))
                        self.changed.notify_all()
        except (OSError, ValueError, http.client.HTTPException):
            return  # closed by close()

    def mark(self) -> int:
        with self.changed:
            return len(self.arrived)

    def wait_for(self, name: str, since: int, timeout: float) -> float | None:
        """Arrival time of the first ``name`` event after position ``since``, or None."""
        deadline = time.perf_counter() + timeout
        with self.changed:
            while True:
                for at, event, _ in self.arrived[since:]:
                    if event == name:
                        return at
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.changed.wait(left)

    def received_ids(self) -> list[int]:
        with self.changed:
            return [event_id for _, _, event_id in self.arrived if event_id is not None]

    def close(self) -> None:
        if self.conn.sock is not None:
            self.conn.sock.close()


class Counter:
    """A staff member logged in at a counter, pressing "call next" over one keep-alive connection."""

    def __init__(self, url: str):
        self.conn = _connection(url)
        self.state: dict = {"cookies": {}}
        load.browse(self.conn, self.state, "GET", "/staff/login")
        status, _, _ = load.browse(
            self.conn, self.state, "POST", "/staff/login", {"username": STAFF[0], "password": STAFF[1]}
        )
        if status != 302:
            raise RuntimeError(f"staff login answered {status}")
        load.browse(self.conn, self.state, "GET", "/staff/legal/")  # a new session: a new CSRF token
        status, _, _ = load.browse(self.conn, self.state, "POST", f"/staff/legal/counter/{COUNTER}/take", {})
        if status != 302:
            raise RuntimeError(f"taking counter {COUNTER} answered {status}")

    def call_next(self) -> int:
        status, _, _ = load.browse(self.conn, self.state, "POST", f"/staff/legal/counter/{COUNTER}/call", {})
        return status

    def close(self) -> None:
        self.conn.close()


class Kiosk:
    """A kiosk where a resident takes a consultation ticket before each call, so there is always one to call."""

    def __init__(self, url: str):
        self.conn = _connection(url)
        self.state = load.open_form(self.conn, "/k/legal/take/consultation")

    def take_ticket(self) -> None:
        status, _, _ = load.browse(
            self.conn, self.state, "POST", "/k/legal/take/consultation", {"phone": "", "priority": ""}
        )
        if status != 302:
            raise RuntimeError(f"taking a ticket answered {status}")

    def close(self) -> None:
        self.conn.close()


def push_latency(url: str, database_url: str, calls: int | None = None, until=None) -> dict:
    """Call next ``calls`` times (or while ``until()`` is true); delays to every display, in ms.

    Each call is preceded by a ticket taken at a kiosk (so ``calls`` tickets
    are issued here). ``missed``: calls a display had not shown after
    :data:`CALL_TIMEOUT` seconds; ``events_lost``: see :func:`events_lost`.
    """
    displays = [EventStream(url) for _ in range(DISPLAYS)]
    counter, kiosk = Counter(url), Kiosk(url)
    delays: list[float] = []
    missed = done = 0
    try:
        for display in displays:
            if not display.connected.wait(10):
                raise RuntimeError("a display's event stream did not open")
        time.sleep(0.5)  # a stream reads its starting point right after connecting
        while (done < calls) if calls is not None else until():
            kiosk.take_ticket()
            marks = [d.mark() for d in displays]
            sent = time.perf_counter()
            status = counter.call_next()
            done += 1
            if status != 302:
                missed += len(displays)
                continue
            for display, mark in zip(displays, marks, strict=False):
                at = display.wait_for("legal.ticket_called", mark, CALL_TIMEOUT)
                if at is None:
                    missed += 1
                else:
                    delays.append(at - sent)
    finally:
        counter.close()
        kiosk.close()
        for display in displays:
            display.close()
    return {
        "calls": done,
        "displays": DISPLAYS,
        "deliveries": len(delays),
        "missed": missed,
        "events_lost": events_lost(database_url, displays),
        "median_ms": round(statistics.median(delays) * 1000, 1) if delays else None,
        "p99_ms": round(load.percentile(delays, 99) * 1000, 1) if delays else None,
        "max_ms": round(max(delays) * 1000, 1) if delays else None,
    }


def push_under_load(server, seconds: float, clients: int = 8) -> dict:
    """Push latency while ``clients`` kiosks issue tickets for ``seconds`` (their figures included)."""
    background: dict = {}

    def issue():
        background.update(legal_bench.http_load(server, clients, seconds))

    thread = threading.Thread(target=issue, name="bench-background-load")
    thread.start()
    watcher = EventStream(server.url)
    try:
        # Start calling once tickets flow: the clients take a moment to start.
        mark = watcher.mark()
        if watcher.wait_for("legal.ticket_issued", mark, 120) is None:
            raise RuntimeError("the background load issued no ticket")
    finally:
        watcher.close()
    push = push_latency(server.url, server.database_url, until=thread.is_alive)
    thread.join()
    return {**push, "background_tickets": background}


def _query(database_url: str, sql: str, **params) -> list:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def events_lost(database_url: str, displays: list[EventStream]) -> int:
    """Legal-channel events in the database that a display's stream skipped, summed over the displays.

    Only events between the first and the last one each display received
    count, so nothing from before it connected or after it closed.
    """
    received = [ids for ids in (d.received_ids() for d in displays) if ids]
    if not received:
        return 0
    stored = [
        row[0]
        for row in _query(
            database_url,
            "SELECT id FROM kiosk_event WHERE channel = 'legal' AND id BETWEEN :low AND :high",
            low=min(ids[0] for ids in received),
            high=max(ids[-1] for ids in received),
        )
    ]
    lost = 0
    for ids in received:
        got = set(ids)
        lost += sum(1 for event_id in stored if ids[0] < event_id < ids[-1] and event_id not in got)
    return lost


def last_ticket_id(database_url: str) -> int:
    """The newest ticket before the load (the demo data has past days' tickets)."""
    return _query(database_url, "SELECT coalesce(max(id), 0) FROM legal_ticket")[0][0]


def check_numbers(database_url: str, issued: int, after_id: int) -> dict:
    """Duplicate numbers, stored vs issued tickets and gaps, read from the database after the load."""
    duplicates = _query(
        database_url,
        (
            "SELECT count(*) FROM (SELECT 1 FROM legal_ticket GROUP BY station_id, day, numbered_service, number"
            " HAVING count(*) > 1) d"
        ),
    )[0][0]
    stored, gaps = _query(
        database_url,
        (
            "SELECT coalesce(sum(n), 0), coalesce(sum(top - bottom + 1 - n), 0) FROM (SELECT count(*) AS n,"
            " max(number) AS top, min(number) AS bottom FROM legal_ticket"
            " WHERE id > :after GROUP BY station_id, day, numbered_service) q"
        ),
        after=after_id,
    )[0]
    return {
        "duplicate_numbers": duplicates,
        "tickets_stored": int(stored),
        "tickets_issued_302": issued,
        "number_gaps": int(gaps),
    }


def run(quick: bool, printer) -> dict:
    """The fleet figures; ``printer`` is the fake TCP printer the four workers print to."""
    if not pg.base_url():
        return {"skipped": "no PostgreSQL (set KIOSK_BENCH_DATABASE_URL or KIOSK_TEST_DATABASE_URL)"}
    seconds = 3 if quick else 10
    out: dict = {"workers": WORKERS}
    with pg.scratch("kiosk_bench_fleet") as url:
        server = Server(
            workers=WORKERS, threads=16, database_url=url, station_toml=station_toml(printer.host, printer.port)
        )
        server.prepare()
        try:
            out["cold_start_to_first_200_s"] = round(server.start("/"), 3)
            jobs_before, first_id = len(printer.jobs), last_ticket_id(url)
            for clients in (8, 32):
                out[f"tickets, {clients} clients"] = legal_bench.http_load(server, clients, seconds)
            out["display push, quiet"] = push_latency(server.url, url, calls=100 if quick else 300)
            out["display push, under load"] = push_under_load(server, 12 if quick else 45)
            issued = sum(v["statuses"].get("302", 0) for k, v in out.items() if k.startswith("tickets,"))
            issued += out["display push, under load"]["background_tickets"]["statuses"].get("302", 0)
            issued += out["display push, quiet"]["calls"] + out["display push, under load"]["calls"]  # a ticket each
            out["numbers"] = check_numbers(url, issued, first_id)
            out["worker_memory_mib_after_load"] = server.worker_memory_mib()
            out["receipts_received"], out["print_backlog_s"] = printer_settled(printer, jobs_before)
        finally:
            server.stop()
    return out
