"""Benchmark: a rider checking in at the kiosk, server-side time per request.

One request = ``POST /k/courier_rest/phone`` for a registered rider who is not
checked in: look the rider up, open the visit under the rider's row lock (a
write transaction), announce the new capacity on the ``courier_rest`` channel,
and redirect to the rider's menu. The time is measured around the WSGI call
inside the process (the server's time, not the test client's). Between two
check-ins the rider is checked out again, untimed, so every timed request
opens a new visit, as in a day of 20–30 riders.

Run ``python bench/courier_rest_bench.py [iterations]``; with
``KIOSK_TEST_DATABASE_URL`` set it runs on PostgreSQL too (in a scratch
database it creates and drops).
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

RIDERS = 200


def _config(instance: str, url: str) -> dict:
    return {
        "TESTING": True, "SECRET_KEY": "bench-secret-key-not-for-production", "DATABASE_URL": url,
        "INSTANCE_PATH": instance, "STATION_FILE": "", "START_DEVICES": False, "RUN_JOBS": False,
        "TESTING_NO_LISTENER": True, "IME_PRELOAD": False,
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
        session.add_all(Rider(station_id=station_id, name=f"骑手{i}", phone=p, platform="meituan", vehicle="ebike",
                              pass_token=secrets.token_urlsafe(18)) for i, p in enumerate(phones))
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
    return {"requests": len(samples), "median_ms": round(statistics.median(samples), 2),
            "p99_ms": round(_percentile(samples, 0.99), 2), "max_ms": round(max(samples), 2)}


def _pg_scratch(base_url: str):
    name = f"courier_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return admin, name, make_url(base_url).set(database=name).render_as_string(hide_password=False)


def run(iterations: int = 1000) -> dict:
    """Check-in server time on SQLite, and on PostgreSQL when ``KIOSK_TEST_DATABASE_URL`` is set."""
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = bench_one("sqlite:///" + os.path.join(folder, "bench.db"), iterations)
    pg = os.environ.get("KIOSK_TEST_DATABASE_URL")
    if pg:
        admin, name, url = _pg_scratch(pg)
        try:
            results["postgresql"] = bench_one(url, iterations)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return results


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    for backend, figures in run(count).items():
        print(f"courier check-in ({backend}): {figures['requests']} requests, median {figures['median_ms']} ms, "
              f"p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms")
