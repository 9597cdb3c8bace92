"""Benchmark: issuing a legal-queue ticket at the kiosk, server-side time per request.

One request = ``POST /k/legal/take/<service>``: validate, number the ticket
under the day-counter lock, place it in the queue, build the ``legal.ticket``
receipt and hand it to the print queue (a fake ESC/POS printer on TCP takes
the jobs, so the worker really renders and sends them in the background).
The time is measured around the WSGI call inside the process, so it is the
server's time, not the test client's.

Run ``python -m bench.legal_bench [iterations]``; with ``KIOSK_TEST_DATABASE_URL``
set it runs on PostgreSQL too (in a scratch database it creates and drops).

:func:`http_load` is the same action over real HTTP against `kiosk serve`:
each client is a kiosk browser that opened the take-a-ticket form.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

from bench import load, pg

SERVICES = ("consultation", "mediation", "arbitration", "notarisation", "legal_aid")


def _config(instance: str, url: str, printer: dict) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "DATABASE_URL": url,
        "INSTANCE_PATH": instance,
        "STATION_FILE": "",
        "START_DEVICES": False,
        "RUN_JOBS": False,
        "TESTING_NO_LISTENER": True,
        "SECURITY": {"rate_limits": False},
        "IME_PRELOAD": False,
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
    from kiosk import visitors
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
            data = {
                "csrf_token": token,
                "phone": "13812345678" if i % 4 == 0 else "",
                "priority": "elderly" if i % 6 == 0 else "",
            }
            response = client.post(f"/k/legal/take/{SERVICES[i % 5]}", data=data)
            if response.status_code != 302:
                raise RuntimeError(f"issue failed with {response.status_code}")
            if paced:
                cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
                with app.test_request_context(headers={"Cookie": f"{cookie.key}={cookie.value}"}):
                    job = visitors.recall("legal", "issued")["job"]  # what the "issued" page polls
                app.extensions["kiosk_printing"].queue.wait(job, 10.0)
        app.extensions["kiosk_printing"].shutdown()
        app.extensions["db"].dispose()
    return {
        "requests": len(samples),
        "median_ms": round(statistics.median(samples), 2),
        "p99_ms": round(_percentile(samples, 0.99), 2),
        "max_ms": round(max(samples), 2),
        "cpu_median_ms": round(statistics.median(cpu), 2),
        "cpu_p99_ms": round(_percentile(cpu, 0.99), 2),
        "load_average": round(os.getloadavg()[0], 2),
    }


def run(iterations: int = 1000) -> dict:
    """Issue ``iterations`` tickets on SQLite (and PostgreSQL if configured), paced and back to back."""
    results = {}
    for paced in (True, False):
        mode = "paced" if paced else "burst"
        with tempfile.TemporaryDirectory() as folder:
            results[f"sqlite/{mode}"] = bench_one("sqlite:///" + os.path.join(folder, "bench.db"), iterations, paced)
        if pg.base_url():
            with pg.scratch("legal_bench") as url:
                results[f"postgresql/{mode}"] = bench_one(url, iterations, paced)
    return results


# -- over HTTP -------------------------------------------------------------------
def open_take_form(conn, index: int) -> dict:
    """A kiosk browser on the take-a-ticket form of one queue (cookie and CSRF token)."""
    return load.open_form(conn, f"/k/legal/take/{SERVICES[index % len(SERVICES)]}", index)


def take_ticket(i: int, state: dict) -> tuple:
    """The form's POST, with the same mix of phones and priority as :func:`bench_one`."""
    service = SERVICES[(state["index"] + i) % len(SERVICES)]
    data = {"phone": "13812345678" if i % 4 == 0 else "", "priority": "elderly" if i % 6 == 0 else ""}
    return load.post(state, f"/k/legal/take/{service}", data)


def http_load(server, clients: int, seconds: float) -> dict:
    """Tickets issued by ``clients`` kiosks at once; a ticket is a 302 to the issued page."""
    return load.run(
        server.url,
        take_ticket,
        clients=clients,
        seconds=seconds,
        setup=open_take_form,
        on_response=load.keep_cookies,
        expect=(302,),
        expect_location="/k/legal/issued",
    )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    for backend, figures in run(count).items():
        print(
            f"legal ticket issue ({backend}): {figures['requests']} requests, "
            f"median {figures['median_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms; "
            f"CPU median {figures['cpu_median_ms']} ms, p99 {figures['cpu_p99_ms']} ms "
            f"(target p99 <= 15 ms; load average {figures['load_average']})"
        )
