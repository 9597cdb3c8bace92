"""``python -m bench.core_cpu``: the core's CPU per ticket, in-process (issue 22, points 2 and 4).

One kiosk app on a fresh SQLite file with the bench station (receipts to the
fake TCP printer in its own process); N posts of ``/k/legal/take/consultation``
through ``app.test_client()`` on one keep-alive session. CPU seconds are
read per thread (``time.thread_time`` for the requesting thread, ``/proc`` for
the print thread), so a shared machine's load does not enter the figures:

    python -m bench.core_cpu [--tickets N] [--profile FILE] [--postgres]

Besides CPU: the SQL statements the request path sends per ticket and its
write transactions (transactions that wrote and committed), both figures the
machine's load does not move, counted in a pass of their own after the
measured one (the counter is an engine listener, which would slow every
statement down). ``--profile`` writes cProfile's statistics of
the request loop (pstats file), timed by the request thread's CPU clock, so
time spent waiting for the lock, the GIL or the disk does not show; it also
reports the Python function calls per ticket, a measure of the request's work
that no other load on the machine moves. The same flag profiles the print
thread (its own cProfile, in the print thread, by its CPU clock: written to
FILE.print) from the first measured receipt's claim to the last one's
outcome, and reports ``print_python_calls_per_receipt``: the print thread's
work per receipt (claim, encoding, sending, status, storing the outcome) in a
figure the machine's load does not move.
``--postgres`` runs on a scratch database of the PostgreSQL server of
``KIOSK_BENCH_DATABASE_URL`` (or ``KIOSK_TEST_DATABASE_URL``), dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time

from bench.outside import PATH, PRINT_THREAD, PrinterProcess, cpu_seconds, in_process_config, thread_named
from kiosk_hardware.job_store import JobState

WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
#: Tickets of the pass that counts statements (after the measured pass).
COUNTED_TICKETS = 200


class PrintThreadProfile:
    """cProfile in the print thread, from the first job claimed after :meth:`arm` until ``receipts`` finished.

    Python 3.11's profilers are per thread and a thread can only profile
    itself: a print-queue listener (called in the print thread at each job
    change) switches it on and off there.
    """

    def __init__(self, thread_name: str) -> None:
        import cProfile

        self.thread_name = thread_name
        # The print thread's CPU clock: its waits (the printer's reply, the GIL) do not count.
        self.profiler = cProfile.Profile(time.thread_time)
        self.armed = False
        self.running = False
        self.wanted = 0
        self.claimed: set[str] = set()
        self.finished = 0
        self.done = threading.Event()

    def arm(self, receipts: int) -> None:
        """Profile from the next job claimed on until ``receipts`` jobs claimed since have finished."""
        self.wanted = receipts
        self.armed = True

    def __call__(self, job) -> None:
        if not self.armed or threading.current_thread().name != self.thread_name:
            return
        if not self.running:
            if job.state is not JobState.PRINTING:
                return
            self.running = True
            self.profiler.enable()
        if job.state is JobState.PRINTING:
            self.claimed.add(job.id)
        elif job.finished and job.id in self.claimed:
            self.finished += 1
            if self.finished >= self.wanted:
                self.profiler.disable()
                self.armed = self.running = False
                self.done.set()

    def calls(self) -> int:
        import pstats

        return pstats.Stats(self.profiler).total_calls  # type: ignore[attr-defined]


class SqlCounter:
    """Statements and write transactions of one thread on ``engine``, while listening."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.thread: int | None = threading.get_ident()
        self.statements = 0
        self.writes = 0

    def _statement(self, conn, _cursor, statement, *_args) -> None:
        if threading.get_ident() == self.thread:
            self.statements += 1
            if statement.lstrip()[:7].upper().startswith(WRITE_VERBS):
                conn.info["bench_wrote"] = True

    def _commit(self, conn) -> None:
        if conn.info.pop("bench_wrote", False) and threading.get_ident() == self.thread:
            self.writes += 1

    def _rollback(self, conn) -> None:
        conn.info.pop("bench_wrote", None)

    def __enter__(self) -> SqlCounter:
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)
        event.listen(self.engine, "rollback", self._rollback)
        return self

    def __exit__(self, *_exc) -> None:
        # The listeners stay and stop counting: removing them while the print thread runs a
        # statement mutates the list SQLAlchemy is iterating ("deque mutated during iteration").
        self.thread = None


def run(tickets: int = 1000, profile: str | None = None, postgres: bool = False) -> dict:
    """CPU per ticket of the request path and of the print thread, and the app's start CPU."""
    if postgres:
        from bench.pg import scratch

        with scratch("core_cpu") as url:
            return _run(tickets, profile, url)
    return _run(tickets, profile, None)


def _run(tickets: int, profile: str | None, database_url: str | None) -> dict:
    from kiosk.app import close_app, create_app

    with tempfile.TemporaryDirectory() as instance, PrinterProcess() as printer:
        config = in_process_config(instance, printer)
        if database_url:
            config["DATABASE_URL"] = database_url
        started = time.process_time()
        app = create_app(config)
        create_cpu = time.process_time() - started
        try:
            client = app.test_client()
            client.get(PATH)
            with client.session_transaction() as sess:
                token = sess["_csrf"]
            printing = app.extensions["kiosk_printing"]
            for _ in range(50):  # warm-up: caches, the print thread, the printer's connection
                assert client.post(PATH, data={"csrf_token": token}).status_code in (200, 302, 303)
            printing.queue.wait_idle(60)
            print_profile = None
            if profile:
                print_profile = PrintThreadProfile("print-queue-" + next(iter(printing.queue.printers)))
                printing.queue.add_listener(print_profile)
                print_profile.arm(tickets)
            tid = thread_named(os.getpid(), PRINT_THREAD)
            print_before = cpu_seconds(os.getpid(), tid) if tid else 0.0
            received_before = printer.received()
            profiler = None
            if profile:
                import cProfile

                # The request thread's CPU clock: waits (the writer lock, the GIL, the disk) do not count.
                profiler = cProfile.Profile(time.thread_time)
                profiler.enable()
            request_before = time.thread_time()
            for _ in range(tickets):
                client.post(PATH, data={"csrf_token": token})
            request_cpu = time.thread_time() - request_before
            calls = None
            if profiler is not None and profile:
                profiler.disable()
                profiler.dump_stats(profile)
                import pstats

                calls = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]
            printing.queue.wait_idle(120)
            print_calls = None
            if print_profile is not None and profile:
                if print_profile.done.wait(60):
                    print_profile.profiler.dump_stats(profile + ".print")
                    print_calls = print_profile.calls()
                printing.queue.remove_listener(print_profile)
            print_cpu = (cpu_seconds(os.getpid(), tid) if tid else 0.0) - print_before
            received, _ = printer.settled(received_before + tickets)
            # Statements are counted in a pass of their own, after the measured one: the counter is
            # an engine listener, and any engine listener puts every statement (the print thread's
            # too) on SQLAlchemy's slower event path, which the app itself no longer takes on SQLite.
            counted = min(tickets, COUNTED_TICKETS)
            with SqlCounter(app.extensions["db"].engine) as counter:
                for _ in range(counted):
                    client.post(PATH, data={"csrf_token": token})
            printing.queue.wait_idle(120)
        finally:
            close_app(app)
    return {
        "tickets": tickets,
        "database": app.extensions["db"].dialect,
        "create_app_cpu_s": round(create_cpu, 3),
        "request_cpu_ms_per_ticket": round(1000 * request_cpu / tickets, 3),
        "request_statements_per_ticket": round(counter.statements / counted, 2),
        "request_write_transactions_per_ticket": round(counter.writes / counted, 2),
        "print_thread_cpu_ms_per_receipt": round(1000 * print_cpu / tickets, 3),
        **({"request_python_calls_per_ticket": round(calls / tickets)} if calls is not None else {}),
        **({"print_python_calls_per_receipt": round(print_calls / tickets)} if print_calls is not None else {}),
        "receipts_received": received - received_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument(
        "--profile",
        default=None,
        help="write cProfile statistics here (request thread's CPU; the print thread's to FILE.print)",
    )
    parser.add_argument("--postgres", action="store_true", help="on a scratch PostgreSQL database, not SQLite")
    args = parser.parse_args()
    print(json.dumps(run(args.tickets, args.profile, args.postgres), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
