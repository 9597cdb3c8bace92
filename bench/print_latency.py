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


def run(quick: bool = False) -> dict:
    """The figures for ``python -m bench``."""
    return {"legal ticket over TCP (sqlite)": measure(samples=20 if quick else 100)}


def main(argv: list[str]) -> int:
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
