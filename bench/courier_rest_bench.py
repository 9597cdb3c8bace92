"""Benchmark: a rider checking in at the kiosk, server-side time per request.

One request = ``POST /k/courier_rest/phone`` for a registered rider who is not
checked in: look the rider up, open the visit under the rider's row lock (a
write transaction), announce the new capacity on the ``courier_rest`` channel,
and redirect to the rider's menu. The time is measured around the WSGI call
inside the process (the server's time, not the test client's). Between two
check-ins the rider is checked out again, untimed, so every timed request
opens a new visit, as in a day of 20–30 riders.

Run ``python -m bench.courier_rest_bench [iterations]``; with
``KIOSK_TEST_DATABASE_URL`` set it runs on PostgreSQL too (in a scratch
database it creates and drops).

:func:`http_load` is the same over real HTTP against `kiosk serve`: each
client is a kiosk where one rider registered once, then checks out and in
again; only the check-ins are counted.
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import tempfile
import time

from bench import load, pg

RIDERS = 200


def _config(instance: str, url: str) -> dict:
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
        "STATION": {"code": "sungang-nf", "name": "笋岗街道暖蜂驿站", "kind": "courier_station"},
        "DEVICES": {"printer": {"type": "preview"}, "readers": {}},
    }


def _timed(app, samples: list[float], path: str):
    inner = app.wsgi_app

    def wsgi(environ, start_response):
        started = time.perf_counter()
        try:
            return inner(environ, start_response)
        finally:
            if environ.get("PATH_INFO") == path:
                samples.append((time.perf_counter() - started) * 1000)

    app.wsgi_app = wsgi


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _riders(app) -> list[str]:
    from kiosk_plugins.courier_rest.models import Rider

    phones = [f"1390{i:07d}" for i in range(RIDERS)]
    with app.app_context():
        session = app.extensions["db"].Session()
        station_id = app.extensions["kiosk_station_id"]
        session.add_all(
            Rider(
                station_id=station_id,
                name=f"骑手{i}",
                phone=p,
                platform="meituan",
                vehicle="ebike",
                pass_token=secrets.token_urlsafe(18),
            )
            for i, p in enumerate(phones)
        )
        session.commit()
        session.close()
    return phones


def bench_one(url: str, iterations: int) -> dict:
    """Check ``iterations`` riders in on one database; returns timing figures in milliseconds."""
    from kiosk.app import create_app

    with tempfile.TemporaryDirectory() as instance:
        app = create_app(_config(instance, url))
        samples: list[float] = []
        _timed(app, samples, "/k/courier_rest/phone")
        phones = _riders(app)
        client = app.test_client()
        client.get("/k/courier_rest/")
        with client.session_transaction() as sess:
            token = sess["_csrf"]
        for i in range(iterations + 20):  # the first 20 warm caches and are not counted
            response = client.post("/k/courier_rest/phone", data={"csrf_token": token, "phone": phones[i % RIDERS]})
            if response.status_code != 302 or not response.location.endswith("/menu"):
                raise RuntimeError(f"check-in failed with {response.status_code}")
            client.post("/k/courier_rest/checkout", data={"csrf_token": token})
        app.extensions["db"].dispose()
    samples = samples[20:]
    return {
        "requests": len(samples),
        "median_ms": round(statistics.median(samples), 2),
        "p99_ms": round(_percentile(samples, 0.99), 2),
        "max_ms": round(max(samples), 2),
    }


def run(iterations: int = 1000) -> dict:
    """Check-in server time on SQLite, and on PostgreSQL when ``KIOSK_TEST_DATABASE_URL`` is set."""
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = bench_one("sqlite:///" + os.path.join(folder, "bench.db"), iterations)
    if pg.base_url():
        with pg.scratch("courier_bench") as url:
            results["postgresql"] = bench_one(url, iterations)
    return results


# -- over HTTP -------------------------------------------------------------------
def register_rider(conn, index: int) -> dict:
    """A new rider types a phone number nobody has and fills in the one-time form (checked in after it)."""
    state = load.open_form(conn, "/k/courier_rest/", index)
    state["phone"] = f"13{secrets.randbelow(10**9):09d}"
    status, location, _ = load.browse(conn, state, "POST", "/k/courier_rest/phone", {"phone": state["phone"]})
    if status != 302 or not location.endswith("/register"):
        raise RuntimeError(f"a new phone number led to {status} {location}, not the registration form")
    load.browse(conn, state, "GET", "/k/courier_rest/register")
    status, location, _ = load.browse(
        conn,
        state,
        "POST",
        "/k/courier_rest/register",
        {"name": f"骑手{index}", "phone": state["phone"], "platform": "meituan", "vehicle": "ebike"},
    )
    if status != 302:
        raise RuntimeError(f"registration answered {status}")
    return state


def check_in_again(i: int, state: dict) -> tuple:
    """Even steps check out (not counted), odd ones check in by phone number (the measured action)."""
    if i % 2 == 0:
        return load.post(state, "/k/courier_rest/checkout", {}, timed=False)
    return load.post(state, "/k/courier_rest/phone", {"phone": state["phone"]})


def http_load(server, clients: int, seconds: float) -> dict:
    """Check-ins by ``clients`` kiosks at once; a check-in is a 302 to the rider's menu."""
    return load.run(
        server.url,
        check_in_again,
        clients=clients,
        seconds=seconds,
        setup=register_rider,
        on_response=load.keep_cookies,
        expect=(302,),
        expect_location="/k/courier_rest/menu",
    )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    for backend, figures in run(count).items():
        print(
            f"courier check-in ({backend}): {figures['requests']} requests, median {figures['median_ms']} ms, "
            f"p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms"
        )
