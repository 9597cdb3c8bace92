"""Benchmark: tap-to-last-byte latency of a legal-queue ticket printed over TCP.

One sample = a resident's tap on "take a ticket" (``POST /k/legal/take/<service>``
through the app in-process, SQLite) until the fake network printer
(:class:`kiosk_hardware.testing.fake_printer.FakeNetworkPrinter` on
127.0.0.1) has received the ticket's last byte, its cut; and until the job is
``done`` in the database, i.e. the printer answered the status question asked
after the job (what the resident's page waits for). Tickets are paced, one
resident at a time, as at a kiosk; the first few warm the renderer and are
not counted.

    python -m bench.print_latency [samples]

``python -m bench --only print_latency`` runs it with the other benchmarks.

``python -m bench.print_latency cpu [receipts] [--profile FILE]``: the CPU the
print path costs per receipt, judged by CPU seconds rather than wall time (a
shared machine's load does not enter them): the request side of submitting a
legal ticket's receipt (``kiosk.printing.submit``, its own transaction and
inside a ``write_transaction()`` block with a ticket's write), the print
thread per receipt (``/proc``, paced one at a time as at a kiosk, and
back to back), the fake TCP printer's process, the SQL statements each
side sends and the print side's commits (its write transactions).
``--profile`` writes cProfile statistics of the print thread.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

SERVICES = ("consultation", "mediation", "arbitration", "notarisation", "legal_aid")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(samples: int = 50, warmup: int = 5) -> dict:
    """Take ``samples`` tickets one after another; latency figures in milliseconds."""
    from kiosk import visitors
    from kiosk.app import create_app
    from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

    last_byte: list[float] = []
    confirmed: list[float] = []
    response: list[float] = []
    sizes: list[int] = []
    with tempfile.TemporaryDirectory() as instance, FakeNetworkPrinter() as printer:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "bench-secret-key-not-for-production",
                "DATABASE_URL": "sqlite:///" + os.path.join(instance, "bench.db"),
                "INSTANCE_PATH": instance,
                "STATION_FILE": "",
                "START_DEVICES": False,
                "RUN_JOBS": False,
                "TESTING_NO_LISTENER": True,
                "IME_PRELOAD": False,
                "SECURITY": {"rate_limits": False},
                "STATION": {"code": "shuibei", "name": "水贝社区党群服务中心", "kind": "party_service"},
                "DEVICES": {"printer": printer.printer_config(), "readers": {}},
            }
        )
        printing = app.extensions["kiosk_printing"]
        client = app.test_client()
        client.get("/")
        with client.session_transaction() as sess:
            token = sess["_csrf"]
        try:
            for i in range(warmup + samples):
                before = len(printer.jobs)
                tapped = time.monotonic()
                reply = client.post(f"/k/legal/take/{SERVICES[i % 5]}", data={"csrf_token": token, "phone": ""})
                answered = time.monotonic()
                if reply.status_code != 302:
                    raise RuntimeError(f"taking a ticket failed with {reply.status_code}")
                cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
                with app.test_request_context(headers={"Cookie": f"{cookie.key}={cookie.value}"}):
                    job_id = visitors.recall("legal", "issued")["job"]
                job = printing.queue.wait(job_id, 10.0)
                done = time.monotonic()
                received = printer.wait_for_jobs(before + 1, 10.0)[before]
                if job.state.value != "done" or not received.complete:
                    raise RuntimeError(f"ticket {i} did not print: {job.state.value} {job.error}")
                if i < warmup:
                    continue
                response.append((answered - tapped) * 1000)
                last_byte.append((received.at - tapped) * 1000)
                confirmed.append((done - tapped) * 1000)
                sizes.append(len(received.data))
        finally:
            printing.shutdown()
            app.extensions["db"].dispose()
    return {
        "tickets": len(last_byte),
        "bytes_per_ticket": int(statistics.median(sizes)),
        "tap_to_page_median_ms": round(statistics.median(response), 1),
        "tap_to_last_byte_median_ms": round(statistics.median(last_byte), 1),
        "tap_to_last_byte_p95_ms": round(_pct(last_byte, 0.95), 1),
        "tap_to_last_byte_max_ms": round(max(last_byte), 1),
        "tap_to_confirmed_median_ms": round(statistics.median(confirmed), 1),
        "tap_to_confirmed_p95_ms": round(_pct(confirmed, 0.95), 1),
        "load_average": round(os.getloadavg()[0], 2),
    }


def measure_cpu(receipts: int = 500, profile: str | None = None) -> dict:
    """CPU per receipt of the request side and of the print path (see the module docstring)."""
    import threading

    from sqlalchemy import event

    from bench.outside import PRINT_THREAD, PrinterProcess, cpu_seconds, in_process_config, thread_named
    from kiosk import printing
    from kiosk.app import close_app, create_app
    from kiosk.db import write_transaction
    from kiosk.models import KioskEvent
    from kiosk.stations import current_station
    from kiosk_plugins.legal.receipts import sample_ticket_context

    out: dict = {"receipts": receipts}
    with tempfile.TemporaryDirectory() as instance, PrinterProcess() as printer:
        app = create_app(in_process_config(instance, printer))
        queue = app.extensions["kiosk_printing"].queue
        engine = app.extensions["db"].engine
        station_id = app.extensions["kiosk_station_id"]
        counts: dict[int, int] = {}
        me = threading.get_ident()

        submitting = [False]

        def count(*_args) -> None:
            thread = threading.get_ident()
            if thread != me or submitting[0]:  # the request thread's own: only while it submits
                counts[thread] = counts.get(thread, 0) + 1

        commits: dict[int, int] = {}

        def count_commit(*_args) -> None:
            thread = threading.get_ident()
            if thread != me:
                commits[thread] = commits.get(thread, 0) + 1

        def receipt(n: int):
            # Each ticket its own number and its own link, as issued: the QR code is built for every receipt.
            url = f"https://hub.example.cn/m/legal/t/7Qx9Kp{n:06d}?s=SZ-LG-0042"
            return printing.build_receipt("legal.ticket", sample_ticket_context(ticket=f"A{n % 1000:03d}", url=url))

        def ticket_block(built) -> tuple[float, str]:
            """A ticket's write with (or without) its receipt in one write_transaction() block.

            CPU seconds of the receipt's submit and of the block's commit (its wake-up after the commit included).
            """
            spent, job_id = 0.0, ""
            with write_transaction() as session:
                session.add(KioskEvent(station_id=station_id, channel="bench", name="t", payload={}))
                session.flush()
                if built is not None:
                    submitting[0] = True
                    started = time.thread_time()
                    job_id = printing.submit(built, "legal.ticket")["job_id"]
                    spent = time.thread_time() - started
                started = time.thread_time()
            spent += time.thread_time() - started
            submitting[0] = False
            return spent, job_id

        def submit_one(n: int, inside: bool) -> tuple[float, str]:
            """CPU seconds of the request side of one receipt (its build not included), and its job id."""
            with app.test_request_context("/"):
                built = receipt(n)
                current_station()
                if inside:
                    # What the receipt adds to a ticket's transaction: the same block without it is subtracted.
                    without, _ = ticket_block(None)
                    spent, job_id = ticket_block(built)
                    return spent - without, job_id
                submitting[0] = True
                started = time.thread_time()
                job_id = printing.submit(built, "legal.ticket")["job_id"]
                spent = time.thread_time() - started
                submitting[0] = False
            return spent, job_id

        for n in range(30):  # warm-up: the renderer, the printer's connection, statement caches
            queue.wait(submit_one(n, False)[1], 30)
        tid = thread_named(os.getpid(), PRINT_THREAD)
        profiler = None
        profiling = threading.Event()
        if profile:
            import cProfile

            profiler = cProfile.Profile(time.thread_time)  # CPU, not the waits for the printer

            def switch(_job) -> None:
                # The print thread runs already: it turns its own profiler on (and off) when it notifies.
                if threading.current_thread().name != "print-queue-default":
                    return
                if measuring.is_set() and not profiling.is_set():
                    profiler.enable()
                    profiling.set()
                elif profiling.is_set() and not measuring.is_set():
                    profiler.disable()

            measuring = threading.Event()
            measuring.set()
            queue.add_listener(switch)
        event.listen(engine, "before_cursor_execute", count)
        event.listen(engine, "commit", count_commit)
        for first, mode in ((100_000, "paced"), (200_000, "burst"), (300_000, "in_transaction")):
            try:
                queue.wait(submit_one(0, mode == "in_transaction")[1], 30)
            except Exception as exc:  # before 2026-12-06 a receipt could not be submitted inside a block
                out[mode] = f"refused: {type(exc).__name__}"
                continue
            counts.clear()
            commits.clear()
            print_before = cpu_seconds(os.getpid(), tid) if tid else 0.0
            printer_before = printer.cpu()
            received_before = printer.received()
            request_cpu = 0.0
            ids: list[str] = []
            for n in range(receipts):
                spent, job_id = submit_one(first + n, mode == "in_transaction")
                request_cpu += spent
                ids.append(job_id)
                if mode != "burst":
                    queue.wait(job_id, 30)
            for job_id in ids:
                queue.wait(job_id, 60)
            received, _ = printer.settled(received_before + receipts)
            print_cpu = (cpu_seconds(os.getpid(), tid) if tid else 0.0) - print_before
            others = sum(v for k, v in counts.items() if k != me)
            out[mode] = {
                "request_cpu_ms_per_receipt": round(1000 * request_cpu / receipts, 3),
                "request_statements_per_receipt": round(counts.get(me, 0) / receipts, 2),
                "print_thread_cpu_ms_per_receipt": round(1000 * print_cpu / receipts, 3),
                "print_side_statements_per_receipt": round(others / receipts, 2),
                "print_side_commits_per_receipt": round(sum(commits.values()) / receipts, 2),
                "printer_process_cpu_ms_per_receipt": round(1000 * (printer.cpu() - printer_before) / receipts, 3),
                "receipts_received": received - received_before,
            }
        event.remove(engine, "before_cursor_execute", count)
        event.remove(engine, "commit", count_commit)
        if profiler is not None and profile:
            measuring.clear()
            queue.wait(submit_one(0, False)[1], 30)
            profiler.dump_stats(profile)
        close_app(app)
    out["load_average"] = round(os.getloadavg()[0], 2)
    return out


def run(quick: bool = False) -> dict:
    """The figures for ``python -m bench``."""
    return {"legal ticket over TCP (sqlite)": measure(samples=20 if quick else 100)}


def main(argv: list[str]) -> int:
    if argv[:1] == ["cpu"]:
        import json

        rest = argv[1:]
        profile = None
        if "--profile" in rest:
            at = rest.index("--profile")
            profile = rest[at + 1]
            del rest[at : at + 2]
        print(json.dumps(measure_cpu(int(rest[0]) if rest else 500, profile), indent=2))
        return 0
    figures = measure(samples=int(argv[0]) if argv else 50)
    print(
        f"legal ticket over TCP: {figures['tickets']} tickets of {figures['bytes_per_ticket']} bytes; "
        f"tap to page {figures['tap_to_page_median_ms']} ms; tap to last byte median "
        f"{figures['tap_to_last_byte_median_ms']} ms, p95 {figures['tap_to_last_byte_p95_ms']} ms, "
        f"max {figures['tap_to_last_byte_max_ms']} ms; tap to confirmed median "
        f"{figures['tap_to_confirmed_median_ms']} ms, p95 {figures['tap_to_confirmed_p95_ms']} ms "
        f"(load average {figures['load_average']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
