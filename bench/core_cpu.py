"""``python -m bench.core_cpu``: the core's CPU per ticket, in-process (issue 22, points 2 and 4).

One kiosk app on a fresh SQLite file with the bench station (receipts to the
fake TCP printer in its own process); N posts of ``/k/legal/take/consultation``
through ``app.test_client()`` on one keep-alive session. CPU seconds are
read per thread (``time.thread_time`` for the requesting thread, ``/proc`` for
the print thread), so a shared machine's load does not enter the figures:

    python -m bench.core_cpu [--tickets N] [--profile FILE]

``--profile`` writes cProfile's statistics of the request loop (pstats file).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time

from bench.outside import PATH, PRINT_THREAD, PrinterProcess, cpu_seconds, in_process_config, thread_named


def run(tickets: int = 1000, profile: str | None = None) -> dict:
    """CPU per ticket of the request path and of the print thread, and the app's start CPU."""
    from kiosk.app import close_app, create_app

    with tempfile.TemporaryDirectory() as instance, PrinterProcess() as printer:
        started = time.process_time()
        app = create_app(in_process_config(instance, printer))
        create_cpu = time.process_time() - started
        client = app.test_client()
        client.get(PATH)
        with client.session_transaction() as sess:
            token = sess["_csrf"]
        printing = app.extensions["kiosk_printing"]
        for _ in range(50):  # warm-up: caches, the print thread, the printer's connection
            assert client.post(PATH, data={"csrf_token": token}).status_code in (200, 302, 303)
        printing.queue.wait_idle(60)
        tid = thread_named(os.getpid(), PRINT_THREAD)
        print_before = cpu_seconds(os.getpid(), tid) if tid else 0.0
        received_before = printer.received()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        # Statements the request path sends (this thread's only): a figure the machine's load does not move.
        from sqlalchemy import event

        engine = app.extensions["db"].engine
        statements = [0]
        me = threading.get_ident()

        def count(*_args) -> None:
            if threading.get_ident() == me:
                statements[0] += 1

        event.listen(engine, "before_cursor_execute", count)
        request_before = time.thread_time()
        for _ in range(tickets):
            client.post(PATH, data={"csrf_token": token})
        request_cpu = time.thread_time() - request_before
        event.remove(engine, "before_cursor_execute", count)
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        printing.queue.wait_idle(120)
        print_cpu = (cpu_seconds(os.getpid(), tid) if tid else 0.0) - print_before
        received, _ = printer.settled(received_before + tickets)
        close_app(app)
    return {
        "tickets": tickets,
        "create_app_cpu_s": round(create_cpu, 3),
        "request_cpu_ms_per_ticket": round(1000 * request_cpu / tickets, 3),
        "request_statements_per_ticket": round(statements[0] / tickets, 2),
        "print_thread_cpu_ms_per_receipt": round(1000 * print_cpu / tickets, 3),
        "receipts_received": received - received_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--profile", default=None, help="write cProfile statistics of the request loop here")
    args = parser.parse_args()
    print(json.dumps(run(args.tickets, args.profile), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
