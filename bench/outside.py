"""``python -m bench outside``: what a kiosk browser outside the server sees, and what each part costs.

One `kiosk serve` (one worker, its default threads) on demo data, with a
station file whose receipt printer is the project's fake TCP printer
(:class:`kiosk_hardware.testing.fake_printer.FakeNetworkPrinter`) running in a
process of its own. N client processes (4, 8 and 32), each one keep-alive
``http.client`` connection, open the take-a-ticket page once (session cookie
and CSRF token), then post ``/k/legal/take/consultation`` for the window.

CPU seconds are read from ``/proc`` and split three ways, so a figure from a
shared 2-core machine can be judged by what each part costs rather than by
wall time: the server (its request path: the worker process less its print
thread), the print path (the worker's print thread, which renders and sends
each receipt, plus the printer process) and the load generator (the client
processes' own CPU time in the window). Then: cold start from outside
(process start to the first 200 of the home page, existing database), the
worker's resident memory after 10,000 tickets, and what grew and what holds
memory in an app after 3,000 tickets in-process (tracemalloc's top entries).
Last, the framework floor: the same clients against a bare Flask app on the
same gunicorn worker (:mod:`bench.floor_app`: session cookie, CSRF check,
302, nothing else), whose CPU per request is the part of a ticket's cost
that is Flask, Werkzeug and gunicorn alone; and the stack floor, the same
app also writing each ticket and its print job to SQLite with SQLAlchemy in
one transaction: what a ticket costs on the brief's base stack before any of
the kiosk's own work, in CPU and in the worker's resident memory.

    python -m bench outside [--quick] [--seconds S] [--tickets N] [--trace-tickets N]
                            [--only cold,load,memory,trace,floor] [--starts N]

``--only`` runs some parts: ``cold`` (the starts), ``load`` (4, 8 and 32
clients), ``memory`` (the worker's memory after the tickets, read once the
worker has given back what the busy spell freed, with what its mappings hold
from ``/proc/<pid>/smaps`` and what holds it inside, at start and after:
Python's arenas used and free, malloc's used and free, SQLite's own memory,
SQLAlchemy's caches and the bill of the code by package, see
:mod:`bench.worker_memory`; asked of the worker through gdb where gdb can
attach, else from an app in a process of its own), ``trace`` (tracemalloc
in-process), ``floor`` (the framework and stack floors, 4 clients).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import subprocess
import sys
import time

from bench import load, machine, worker_memory
from bench.serve import Server, station_toml

CLIENTS = (4, 8, 32)
PATH = "/k/legal/take/consultation"
TICKETS_FOR_MEMORY = 10_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: The OS name of the print queue's worker thread for the station's default printer (15 characters at most).
PRINT_THREAD = "print-queue-def"


# -- CPU time from /proc ------------------------------------------------------------
def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU seconds of a process (or of one of its threads)."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    with open(path) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    # After the command's closing parenthesis: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_named(pid: int, name: str) -> int | None:
    """The id of ``pid``'s thread whose OS name is ``name``, if any."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as fh:
                if fh.read().strip() == name:
                    return int(tid)
        except OSError:
            continue
    return None


def server_cpu(server: Server) -> float:
    """CPU seconds of `kiosk serve` so far: its master and its workers."""
    assert server.proc is not None
    with open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children") as fh:
        pids = [server.proc.pid, *map(int, fh.read().split())]
    return sum(cpu_seconds(pid) for pid in pids)


def cold_start(server: Server) -> tuple[float, float, float]:
    """One start of the server: (seconds from process start to the first 200 of /, CPU seconds, the master's part).

    The worker is forked from the master after the master's imports, so the
    two CPU figures add up to what the start cost; the master's part is what
    it imported and checked before forking.
    """
    wall = server.start("/")
    assert server.proc is not None
    master = cpu_seconds(server.proc.pid)
    cpu = server_cpu(server)
    server.halt()
    return wall, cpu, master


def cold_starts(server: Server, starts: int) -> dict:
    """The first start of a new instance, then the best of ``starts`` restarts (wall and CPU)."""
    out: dict = {}
    # A new instance's first start also fills its caches (compiled templates, bytecode).
    out["first_start_to_first_200_s"] = round(cold_start(server)[0], 3)
    runs = [cold_start(server) for _ in range(starts)]
    # The best of a few: other work on the machine only ever adds to a start.
    out["cold_start_to_first_200_s"] = round(min(wall for wall, _, _ in runs), 3)
    # Its CPU seconds (master and worker) say the same where the wall time is noisy.
    out["cold_start_cpu_s"] = round(min(cpu for _, cpu, _ in runs), 3)
    out["cold_start_cpu_s_master"] = round(min(master for _, _, master in runs), 3)
    out["cold_start_runs_s"] = [f"{wall:.3f} s, CPU {cpu:.3f} s (master {master:.3f} s)" for wall, cpu, master in runs]
    return out


def worker_pid(server: Server | subprocess.Popen) -> int:
    """The gunicorn worker (the master's one child) of a `kiosk serve` or of a gunicorn process."""
    proc = server.proc if isinstance(server, Server) else server
    assert proc is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as fh:
            children = fh.read().split()
        if children:
            return int(children[0])
        time.sleep(0.01)
    raise RuntimeError("kiosk serve has no worker")


# -- what a worker's memory is ------------------------------------------------------
def memory_map(pid: int, top: int = 10) -> dict:
    """What holds a process's resident memory, from ``/proc/<pid>/smaps`` (MiB).

    ``rss`` counts pages shared with the master and other processes in full,
    ``pss`` shares them out, ``private`` is what this process alone holds (what
    ending it would free). By kind: ``heap`` (malloc's main arena), ``anon``
    (other anonymous mappings: Python's object arenas, malloc's other arenas
    and large blocks, thread stacks), ``stacks`` (the anonymous mappings that
    follow a guard page: the threads'), ``file`` (mapped files: libraries,
    fonts, the pinyin dictionary's index). ``largest_files``: the mapped files
    holding the most.
    """
    kinds = {"heap": 0, "anon": 0, "stacks": 0, "file": 0}
    files: dict[str, int] = {}
    totals = {"Rss": 0, "Pss": 0, "Private_Clean": 0, "Private_Dirty": 0}
    mapping: tuple[str, bool] | None = None  # (file name or "", follows a guard page)
    guard = False  # the last mapping was a guard page (---p, no file): a thread's stack follows it
    rss = 0
    with open(f"/proc/{pid}/smaps") as fh:
        for line in fh:
            head = line.split(None, 5)
            if not head[0].endswith(":"):  # "start-end perms offset dev inode [name]": a new mapping
                if mapping is not None:
                    _account(kinds, files, *mapping, rss)
                name = head[5].strip() if len(head) > 5 else ""
                mapping, guard = (name, guard), head[1] == "---p" and not name
                rss = 0
                continue
            key = head[0][:-1]
            if key in totals:
                totals[key] += int(head[1])
                if key == "Rss":
                    rss = int(head[1])
    if mapping is not None:
        _account(kinds, files, *mapping, rss)
    mib = lambda kib: round(kib / 1024, 1)  # noqa: E731
    largest = sorted(files.items(), key=lambda item: -item[1])[:top]
    return {
        "rss": mib(totals["Rss"]),
        "pss": mib(totals["Pss"]),
        "private": mib(totals["Private_Clean"] + totals["Private_Dirty"]),
        **{kind: mib(kib) for kind, kib in kinds.items()},
        "largest_files": [f"{mib(kib)} MiB {path}" for path, kib in largest],
    }


def _account(kinds: dict, files: dict, name: str, after_guard: bool, rss: int) -> None:
    if not rss:
        return
    if name == "[heap]":
        kinds["heap"] += rss
    elif name.startswith("/"):
        kinds["file"] += rss
        files[name] = files.get(name, 0) + rss
    elif after_guard and not name:
        kinds["stacks"] += rss
    else:
        kinds["anon"] += rss


# -- the printer in a process of its own --------------------------------------------
def _printer_process(conn) -> None:
    """Run a fake network printer; answer "count" with the receipts received so far, "stop" to end."""
    from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

    received = 0
    with FakeNetworkPrinter() as printer:
        conn.send(printer.port)
        while True:
            command = conn.recv()
            with printer.core.changed:
                # Counted and dropped: 10,000 receipts' bytes would fill this process.
                received += sum(1 for job in printer.core.jobs if job.complete)
                printer.core.jobs.clear()
                printer.core.status_queries.clear()
            if command == "stop":
                conn.send(received)
                return
            conn.send(received)


class PrinterProcess:
    """The fake TCP printer in its own process, as a real printer is another machine."""

    def __enter__(self) -> PrinterProcess:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_printer_process, args=(child,), daemon=True)
        self.proc.start()
        self.port = self._conn.recv()
        self.host = "127.0.0.1"
        return self

    def received(self) -> int:
        """Complete receipts received so far."""
        self._conn.send("count")
        return self._conn.recv()

    def cpu(self) -> float:
        assert self.proc.pid is not None
        return cpu_seconds(self.proc.pid)

    def settled(self, expected: int = 0, quiet: float = 2.0, limit: float = 300.0) -> tuple[int, float]:
        """Wait until ``expected`` receipts are in, or none arrived for ``quiet`` seconds.

        Returns (received, seconds waited): the print queue's backlog after a load.
        """
        started = changed = time.perf_counter()
        count = self.received()
        while count < expected and time.perf_counter() - changed < quiet and time.perf_counter() - started < limit:
            time.sleep(0.1)
            now = self.received()
            if now != count:
                count, changed = now, time.perf_counter()
        return count, round(max(0.0, changed - started), 2)

    def __exit__(self, *exc) -> None:
        try:
            self._conn.send("stop")
            self._conn.recv()
        finally:
            self.proc.join(10)


# -- the framework floor -----------------------------------------------------------
def framework_floor(clients: int = 4, seconds: float = 10.0, threads: int = 16, database: bool = False) -> dict:
    """The outside clients against :mod:`bench.floor_app` under gunicorn's gthread worker: CPU per request.

    The same load generator, keep-alive connections, session cookie, CSRF token
    and 302 as the ticket load, against an app that does nothing else: what
    the web stack alone costs a request on this machine (the worker's CPU, read
    from ``/proc`` around the window, as for ``kiosk serve``), and the worker's
    resident memory after its first requests and after the load.
    ``database``: the stack floor, each ticket and its print job written to
    SQLite with SQLAlchemy in one transaction (see :mod:`bench.floor_app`).
    """
    import tempfile

    from bench.serve import free_port

    port = free_port()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    folder = tempfile.TemporaryDirectory(prefix="kiosk-floor-")
    env.pop("BENCH_FLOOR_DATABASE", None)
    if database:
        env["BENCH_FLOOR_DATABASE"] = os.path.join(folder.name, "floor.db")
    command = [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1"]
    command += ["--threads", str(threads), "--bind", f"127.0.0.1:{port}", "bench.floor_app:app"]
    proc = subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            conn = load._connect("127.0.0.1", port)
            try:
                load.open_form(conn, PATH)
                break
            except (OSError, RuntimeError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the floor app did not start under gunicorn") from None
                time.sleep(0.1)
            finally:
                conn.close()
        pid = worker_pid(proc)
        figures: dict = {}
        rss: list[float] = []
        for window in (min(1.0, seconds), seconds):  # a short warm-up first (imports, the template), then the count
            rss.append(resident_mib(pid))
            before = cpu_seconds(pid)
            figures = ticket_load(url, clients, window)
            worker_cpu = cpu_seconds(pid) - before
        rss.append(resident_mib(pid))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    try:
        written = _rows_written(env["BENCH_FLOOR_DATABASE"]) if database else {}
    finally:
        folder.cleanup()
    answered = figures["statuses"].get("302", 0)
    return {
        "database": "SQLAlchemy on SQLite" if database else None,
        **written,
        "clients": clients,
        "seconds": seconds,
        "requests": answered,
        "throughput_rps": figures["throughput_rps"],
        "errors": figures["errors"],
        "worker_cpu_ms_per_request": round(1000 * worker_cpu / answered, 3) if answered else None,
        "worker_rss_mib_after_first_request": rss[0],
        "worker_rss_mib_after_load": rss[-1],
    }


def _rows_written(path: str) -> dict:
    """What the stack floor wrote: its tickets and print jobs, every request's (warm-up included)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:
        tickets = conn.execute("SELECT count(*) FROM ticket").fetchone()[0]
        jobs = conn.execute("SELECT count(*) FROM print_job").fetchone()[0]
    return {"tickets_written": tickets, "print_jobs_written": jobs}


def resident_mib(pid: int) -> float:
    """A process's resident memory (``VmRSS``), in MiB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")


# -- the clients --------------------------------------------------------------------
def open_take_page(conn, index: int) -> dict:
    """A kiosk browser that opened the take-a-ticket page: its cookie and CSRF token."""
    return load.open_form(conn, PATH, index)


def take_ticket(i: int, state: dict) -> tuple:
    """One resident taking a consultation ticket (no phone, no priority)."""
    return load.post(state, PATH, {"phone": "", "priority": ""})


def ticket_load(url: str, clients: int, seconds: float) -> dict:
    """``clients`` kiosk browsers taking tickets at ``url`` for ``seconds``: a success is a 302 to the issued page."""
    return load.run(
        url,
        take_ticket,
        clients=clients,
        seconds=seconds,
        setup=open_take_page,
        on_response=load.keep_cookies,
        expect=(302,),
        expect_location="/k/legal/issued",
    )


def _accounts(server_pid: int, printer: PrinterProcess) -> dict:
    tid = thread_named(server_pid, PRINT_THREAD)
    return {
        "worker": cpu_seconds(server_pid),
        "print_thread": cpu_seconds(server_pid, tid) if tid else 0.0,
        "printer": printer.cpu(),
        "found_print_thread": tid is not None,
    }


def measured_load(server: Server, server_pid: int, printer: PrinterProcess, clients: int, seconds: float) -> dict:
    """One load of ``clients`` processes; the receipts it caused; CPU seconds per part."""
    before_receipts = printer.received()
    before = _accounts(server_pid, printer)
    figures = ticket_load(server.url, clients, seconds)
    tickets = figures["statuses"].get("302", 0)
    received, backlog = printer.settled(before_receipts + tickets)
    after = _accounts(server_pid, printer)
    print_thread = after["print_thread"] - before["print_thread"]
    request_path = after["worker"] - before["worker"] - print_thread
    printer_cpu = after["printer"] - before["printer"]
    figures.update(
        tickets=tickets,
        receipts_received=received - before_receipts,
        print_backlog_s=backlog,
        cpu_s_server_request_path=round(request_path, 2),
        cpu_s_print_thread=round(print_thread, 2),
        cpu_s_printer_process=round(printer_cpu, 2),
        cpu_s_load_generator=round(figures.pop("client_cpu_s", 0.0), 2),
        print_thread_found=after["found_print_thread"],
    )
    if tickets:
        figures["server_cpu_ms_per_ticket"] = round(1000 * (request_path + print_thread) / tickets, 2)
        figures["request_path_cpu_ms_per_ticket"] = round(1000 * request_path / tickets, 2)
        figures["print_path_cpu_ms_per_ticket"] = round(1000 * (print_thread + printer_cpu) / tickets, 2)
        figures["load_generator_cpu_ms_per_ticket"] = round(1000 * figures["cpu_s_load_generator"] / tickets, 2)
    return figures


def fill(server: Server, printer: PrinterProcess, total: int, issued: int) -> int:
    """Issue tickets with 8 clients until ``total`` have been issued since start (not measured)."""
    while issued < total:
        figures = load.run(
            server.url,
            take_ticket,
            clients=8,
            seconds=min(30.0, max(2.0, (total - issued) / 100)),
            setup=open_take_page,
            on_response=load.keep_cookies,
            expect=(302,),
        )
        issued += figures["statuses"].get("302", 0)
    printer.settled(issued)
    return issued


SECTIONS = ("cold", "load", "memory", "trace", "floor")


def run(
    quick: bool = False,
    seconds: float | None = None,
    tickets: int | None = None,
    sections: tuple[str, ...] = ("cold", "load", "memory"),
    starts: int | None = None,
) -> dict:
    """Every figure of the outside view, one dict (see the module docstring); ``sections`` picks parts."""
    seconds = seconds or (3.0 if quick else 10.0)
    tickets = tickets if tickets is not None else (2_000 if quick else TICKETS_FOR_MEMORY)
    out: dict = {}
    with PrinterProcess() as printer:
        server = Server(workers=1, station_toml=station_toml(printer.host, printer.port))
        server.prepare()
        try:
            if "cold" in sections:
                out.update(cold_starts(server, starts or (1 if quick else 5)))
            if "load" not in sections and "memory" not in sections:
                return out
            server.start("/")
            pid = worker_pid(server)
            out["worker_memory_mib_at_start"] = server.worker_memory_mib()
            if "memory" in sections:
                out["worker_memory_map_at_start"] = memory_map(pid)
                out["worker_memory_bill_at_start"] = worker_memory.from_process(pid)
                # The bill ran code in the worker (its imports, a list of every object): a fresh
                # start carries the load, so the after-figures hold none of it.
                server.halt()
                server.start("/")
                pid = worker_pid(server)
            issued = 0
            if "load" in sections:
                for clients in CLIENTS:
                    figures = measured_load(server, pid, printer, clients, seconds)
                    issued += figures["tickets"]
                    out[f"tickets, {clients} clients"] = figures
            if "memory" in sections:
                issued = fill(server, printer, tickets, issued)
                # Imported here: the in-process tracemalloc run counts this process's modules, and
                # kiosk.server brings gunicorn's (about 30), which an app alone does not load.
                from kiosk.server import QUIET_SECONDS

                # The worker gives freed memory back once its requests have stopped for a while
                # (kiosk.server.AfterBusySpell): what it holds after the spell is what it keeps.
                time.sleep(QUIET_SECONDS + 1.5)
                out[f"worker_memory_mib_after_{issued}_tickets"] = server.worker_memory_mib()
                out["worker_memory_map_after"] = memory_map(pid)
                # trim: one more malloc_trim in the worker, timed; it gives little if the worker's ran.
                out["worker_memory_bill_after"] = worker_memory.from_process(pid, trim=True)
            out["tickets_issued"] = issued
        finally:
            server.stop()
    if "memory" in sections and "unavailable" in out.get("worker_memory_bill_after", {}):
        # No gdb (or no leave to attach): the same bill from an app in a process of its own.
        out["app_memory_bill_in_process"] = memory_bill_in_process(min(tickets, 3_000))
    return out


def memory_bill_in_process(tickets: int) -> dict:
    """:func:`bench.worker_memory.report` of an app in a child process after ``tickets`` tickets (test client).

    Where gdb cannot ask the server's worker: one thread instead of the
    worker's sixteen, so malloc's free share is smaller than a worker's, but
    the code, Python's arenas, SQLite and the SQLAlchemy caches are the same.
    """
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as instance, PrinterProcess() as printer:
        _create_database(instance, printer)
        path = os.path.join(instance, "bill.json")
        code = (
            "import sys, types\n"
            "from bench.outside import _bill_child\n"
            "printer = types.SimpleNamespace(host=sys.argv[2], port=int(sys.argv[3]))\n"
            "_bill_child(sys.argv[1], printer, int(sys.argv[4]), sys.argv[5])\n"
        )
        subprocess.run(
            [sys.executable, "-c", code, instance, printer.host, str(printer.port), str(tickets), path],
            cwd=worker_memory.ROOT,
            check=True,
            timeout=900,
        )
        with open(path) as fh:
            return {"tickets": tickets, **json.load(fh)}


def _bill_child(instance: str, printer, tickets: int, path: str) -> None:
    from kiosk.app import close_app, create_app

    app = create_app(in_process_config(instance, printer))
    client = app.test_client()
    client.get(PATH)
    with client.session_transaction() as sess:
        token = sess["_csrf"]
    printing = app.extensions["kiosk_printing"]
    for i in range(tickets):
        client.post(PATH, data={"csrf_token": token})
        if i % 500 == 499:
            printing.queue.wait_idle(60)
    printing.queue.wait_idle(60)
    from kiosk.server import QUIET_SECONDS

    time.sleep(QUIET_SECONDS)
    worker_memory.dump(path, trim=True)  # gives back what malloc keeps, as the worker does after a busy spell
    close_app(app)


def memory_holders(tickets: int = 3_000, top: int = 12) -> dict:
    """tracemalloc's view of a kiosk app after ``tickets`` tickets in this process: what grew, what holds.

    The app is the server's (same station file, receipts to the printer in its
    own process); tracemalloc slows every allocation, so this runs in-process
    and shorter than the outside run whose resident memory it explains. Its
    database is created beforehand in a child process, as a restarted
    server's already exists: migrating imports Alembic, Mako and Pygments
    (about 150 modules, 10 MiB of the heap) that such a worker never loads.
    """
    import tempfile
    import tracemalloc

    from kiosk.app import close_app, create_app

    with tempfile.TemporaryDirectory() as instance, PrinterProcess() as printer:
        _create_database(instance, printer)
        tracemalloc.start(1)
        app = create_app(in_process_config(instance, printer))
        client = app.test_client()
        client.get(PATH)
        with client.session_transaction() as sess:
            token = sess["_csrf"]
        for _ in range(50):
            client.post(PATH, data={"csrf_token": token})
        printing = app.extensions["kiosk_printing"]
        printing.queue.wait_idle(60)
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        started = tracemalloc.take_snapshot().filter_traces(ignore)
        started_size = tracemalloc.get_traced_memory()[0]
        for i in range(tickets):
            client.post(PATH, data={"csrf_token": token})
            if i % 500 == 499:
                printing.queue.wait_idle(60)  # the printer keeps up, as at a station
        printing.queue.wait_idle(60)
        ended = tracemalloc.take_snapshot().filter_traces(ignore)
        ended_size, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows = ended.compare_to(started, "lineno")[:top]
        held = ended.statistics("filename")[:top]
        close_app(app)
    return {
        "tickets": tickets,
        "traced_mib_after_warmup": round(started_size / 2**20, 1),
        "traced_mib_after": round(ended_size / 2**20, 1),
        "traced_peak_mib": round(peak / 2**20, 1),
        "modules": len(sys.modules),
        "grew_by_line": [f"{r.size_diff / 1024:+.0f} KiB {r.count_diff:+d} blocks {r.traceback[0]}" for r in rows],
        "held_by_file": [f"{s.size / 1024:.0f} KiB {s.traceback[0].filename}" for s in held],
    }


def _create_database(instance: str, printer) -> None:
    """Build the in-process app's database (migrations) in a child process, then leave it."""
    code = (
        "import sys, types\n"
        "from bench.outside import in_process_config\n"
        "from kiosk.app import close_app, create_app\n"
        "printer = types.SimpleNamespace(host=sys.argv[2], port=int(sys.argv[3]))\n"
        "close_app(create_app(in_process_config(sys.argv[1], printer)))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(
        [sys.executable, "-c", code, instance, printer.host, str(printer.port)], cwd=root, check=True, timeout=300
    )


def _print_table(results: dict) -> None:
    from bench import targets

    for key, value in results.items():
        if isinstance(value, dict):
            print(f"\n{key}")
            _print_items(value, "  ")
        else:
            print(f"{key:<38} {value}")
    print()
    print(targets.table(targets.outside_rows(results)))


def _print_items(items: dict, indent: str) -> None:
    for k, v in items.items():
        if isinstance(v, list) and v:
            print(f"{indent}{k}:")
            for line in v:
                print(f"{indent}  {line}")
        elif isinstance(v, dict) and any(isinstance(x, dict | list) for x in v.values()):
            print(f"{indent}{k}:")
            _print_items(v, indent + "  ")
        else:
            print(f"{indent}{k:<{max(1, 38 - len(indent))}} {v}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench outside", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s loads, 2,000 tickets before the memory figures")
    parser.add_argument("--seconds", type=float, default=None, help="length of each measured load")
    parser.add_argument("--tickets", type=int, default=None, help="tickets issued before the memory figures")
    parser.add_argument(
        "--trace-tickets", type=int, default=None, help="tickets of the in-process tracemalloc run (3,000; 0 skips it)"
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help="comma-separated parts to run: cold, load, memory, trace, floor (default: all)",
    )
    parser.add_argument("--starts", type=int, default=None, help="cold starts after the first (5; --quick: 1)")
    args = parser.parse_args(argv)
    sections = tuple(part.strip() for part in args.only.split(",") if part.strip())
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}: choose from {', '.join(SECTIONS)}")
    results: dict = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count()}
    results["load_average_at_start"] = round(os.getloadavg()[0], 2)
    # The CPU figures below are this machine's; this says how fast it runs Python (bench/machine.py).
    results["python_speed_ms"] = machine.python_speed()
    if set(sections) - {"trace", "floor"}:
        results["outside"] = run(args.quick, args.seconds, args.tickets, sections, args.starts)
    if "floor" in sections:
        floor_seconds = args.seconds or (3.0 if args.quick else 10.0)
        results["framework_floor"] = framework_floor(seconds=floor_seconds)
        results["stack_floor"] = framework_floor(seconds=floor_seconds, database=True)
    trace = args.trace_tickets if args.trace_tickets is not None else (500 if args.quick else 3_000)
    if trace and "trace" in sections:
        results["memory_holders"] = memory_holders(trace)
    _print_table(results)
    return 0


def in_process_config(instance: str, printer) -> dict:
    """An in-process app's settings for a bench: SQLite in ``instance``, receipts to ``printer`` (a PrinterProcess)."""
    return {
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "DATABASE_URL": "sqlite:///" + os.path.join(instance, "bench.db"),
        "INSTANCE_PATH": instance,
        "STATION_FILE": "",
        "RUN_JOBS": False,
        "TESTING_NO_LISTENER": True,
        "IME_PRELOAD": False,
        "SECURITY": {"rate_limits": False},
        "STATION": {"code": "shuibei", "name": "水贝社区党群服务中心", "kind": "party_service"},
        "DEVICES": {
            "printer": {"type": "network", "host": printer.host, "port": printer.port, "profile": "80mm"},
            "readers": {},
        },
    }


if __name__ == "__main__":
    sys.exit(main())
