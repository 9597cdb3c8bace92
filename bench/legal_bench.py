"""Benchmark: issuing a legal-queue ticket at the kiosk, server-side time per request.

One request = ``POST /k/legal/take/<service>``: validate, number the ticket
under the day-counter lock, place it in the queue, build the ``legal.ticket``
receipt and hand it to the print queue (a fake ESC/POS printer on TCP takes
the jobs, so the worker really renders and sends them in the background).
The time is measured around the WSGI call inside the process, so it is the
server's time, not the test client's.

Run ``python bench/legal_bench.py [iterations]``; with ``KIOSK_TEST_DATABASE_URL``
set it runs on PostgreSQL too (in a scratch database it creates and drops).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

SERVICES = ("consultation", "mediation", "arbitration", "notarisation", "legal_aid")


def _config(instance: str, url: str, printer: dict) -> dict:
    return {
        "TESTING": True, "SECRET_KEY": "bench-secret-key-not-for-production", "DATABASE_URL": url,
        "INSTANCE_PATH": instance, "STATION_FILE": "", "START_DEVICES": False, "RUN_JOBS": False,
        "TESTING_NO_LISTENER": True, "IME_PRELOAD": False,
        "STATION": {"code": "shuibei", "name": "水贝社区党群服务中心", "kind": "party_service"},
        "DEVICES": {"printer": printer, "readers": {}},
    }


def _timed(app, samples: list[float], cpu: list[float]):
    """Record each POST's wall time and the CPU time of the thread that served it.

    On a shared machine the wall time includes waiting for other processes;
    the thread's CPU time is what the request itself cost.
    """
    inner = app.wsgi_app

    def wsgi(environ, start_response):
        started, started_cpu = time.perf_counter(), time.thread_time()
        try:
            return inner(environ, start_response)
        finally:
            if environ.get("REQUEST_METHOD") == "POST":
                samples.append((time.perf_counter() - started) * 1000)
                cpu.append((time.thread_time() - started_cpu) * 1000)

    app.wsgi_app = wsgi


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_one(url: str, iterations: int, paced: bool = True) -> dict:
    """Issue ``iterations`` tickets on one database; returns timing figures in milliseconds.

    ``paced``: wait (untimed) until the previous ticket has printed before the
    next request, as at a kiosk where one resident takes a ticket at a time;
    otherwise requests go back to back while the print worker renders behind them.
    """
    from kiosk.app import create_app
    from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

    with tempfile.TemporaryDirectory() as instance, FakeNetworkPrinter() as printer:
        app = create_app(_config(instance, url, printer.printer_config(profile="80mm")))
        samples: list[float] = []
        cpu: list[float] = []
        _timed(app, samples, cpu)
        client = app.test_client()
        client.get("/")
        with client.session_transaction() as sess:
            token = sess["_csrf"]
        for i in range(20):  # warm caches (templates, fonts, QR encoder), not counted
            client.post(f"/k/legal/take/{SERVICES[i % 5]}", data={"csrf_token": token, "phone": ""})
        samples.clear()
        cpu.clear()
        for i in range(iterations):
            # A mix like a real morning: one in four leaves a phone, one in six is a priority ticket.
            data = {"csrf_token": token, "phone": "13812345678" if i % 4 == 0 else "",
                    "priority": "elderly" if i % 6 == 0 else ""}
            response = client.post(f"/k/legal/take/{SERVICES[i % 5]}", data=data)
            if response.status_code != 302:
                raise RuntimeError(f"issue failed with {response.status_code}")
            if paced:
                with client.session_transaction() as sess:
                    job = sess["legal_issued"]["job"]
                app.extensions["kiosk_printing"].queue.wait(job, 10.0)
        app.extensions["kiosk_printing"].shutdown()
        app.extensions["db"].dispose()
    return {"requests": len(samples), "median_ms": round(statistics.median(samples), 2),
            "p99_ms": round(_percentile(samples, 0.99), 2), "max_ms": round(max(samples), 2),
            "cpu_median_ms": round(statistics.median(cpu), 2), "cpu_p99_ms": round(_percentile(cpu, 0.99), 2),
            "load_average": round(os.getloadavg()[0], 2)}


def _pg_scratch(base_url: str):
    name = f"legal_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return admin, name, make_url(base_url).set(database=name).render_as_string(hide_password=False)


def run(iterations: int = 1000) -> dict:
    """Issue ``iterations`` tickets on SQLite (and PostgreSQL if configured), paced and back to back."""
    results = {}
    for paced in (True, False):
        mode = "paced" if paced else "burst"
        with tempfile.TemporaryDirectory() as folder:
            results[f"sqlite/{mode}"] = bench_one("sqlite:///" + os.path.join(folder, "bench.db"), iterations, paced)
        pg = os.environ.get("KIOSK_TEST_DATABASE_URL")
        if pg:
            admin, name, url = _pg_scratch(pg)
            try:
                results[f"postgresql/{mode}"] = bench_one(url, iterations, paced)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    return results


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    for backend, figures in run(count).items():
        print(f"legal ticket issue ({backend}): {figures['requests']} requests, "
              f"median {figures['median_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms; "
              f"CPU median {figures['cpu_median_ms']} ms, p99 {figures['cpu_p99_ms']} ms "
              f"(target p99 <= 15 ms; load average {figures['load_average']})")
