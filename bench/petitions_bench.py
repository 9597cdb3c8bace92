"""Benchmark submitting a petition: server-side time per request, median and p99.

Run ``python -m bench.petitions_bench [iterations]`` (default 1000). It files
``iterations`` requests through the phone form (the same intake transaction
as the kiosk: request, first history line, dispatch-system outbox message and
push event) and as many through the kiosk's last step, which also queues a
receipt (to ``/dev/null``). Timing wraps the WSGI app, so the test client's
own work is not counted. SQLite always; PostgreSQL too when
``KIOSK_TEST_DATABASE_URL`` is set (a scratch database is created and dropped).

:func:`http_load` is the kiosk's last step over real HTTP against `kiosk serve`
(the bench station lifts the per-address rate limit: every client is 127.0.0.1).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

from bench import load, pg

KIOSK_PETITION = {
    "step": "4",
    "go": "submit",
    "type": "help",
    "category": "environment",
    "place": "beili_garden",
    "anonymous": "1",
    "description": "楼道垃圾堆放",
}


class Timed:
    """WSGI middleware recording how long each request takes inside the app."""

    def __init__(self, app):
        self.app = app
        self.seconds: list[float] = []

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        body = b"".join(self.app(environ, start_response))
        self.seconds.append(time.perf_counter() - started)
        return [body]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


def _figures(seconds: list[float]) -> dict:
    return {
        "n": len(seconds),
        "median_ms": round(statistics.median(seconds) * 1000, 2),
        "p99_ms": round(_percentile(seconds, 0.99) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2),
    }


def _app(url: str, folder: str):
    from kiosk.app import create_app

    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench-secret-key",
            "DATABASE_URL": url,
            "INSTANCE_PATH": folder,
            "STATION_FILE": "",
            "START_DEVICES": False,
            "RUN_JOBS": False,
            "IME_PRELOAD": False,
            "TESTING_NO_LISTENER": True,
            "SECURITY": {"rate_limits": False},
            "STATION": {"code": "shuibei", "name": "水贝社区党群服务中心", "kind": "party_service"},
            "DEVICES": {"printer": {"type": "file", "path": os.devnull, "status": False}, "readers": {}},
            "PLUGINS": {"petitions": {"rate_limit": {"kiosk": [10**9, 600], "mobile": [10**9, 600]}}},
        }
    )


def _submit_many(app, path: str, data: dict, iterations: int) -> list[float]:
    timed = Timed(app.wsgi_app)
    app.wsgi_app = timed
    client = app.test_client()
    client.get(path)
    with client.session_transaction() as sess:
        data = dict(data, csrf_token=sess["_csrf"])
    timed.seconds.clear()
    for _ in range(iterations):
        response = client.post(path, data=data)
        if response.status_code != 302:
            raise RuntimeError(f"submission failed with {response.status_code}")
    return list(timed.seconds)


def _one_backend(url: str, iterations: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="petitions-bench-") as folder:
        app = _app(url, folder)
        from kiosk.demo import load_demo

        load_demo(app, [])
        phone = _submit_many(
            app,
            "/m/petitions/",
            {
                "type": "complaint",
                "category": "noise",
                "place": "shenhua_liyuan",
                "anonymous": "0",
                "phone": "13812345678",
                "name": "测试",
                "description": "深夜装修噪音，影响休息",
            },
            iterations,
        )
        kiosk = _submit_many(app, "/k/petitions/new", KIOSK_PETITION, iterations)
        app.extensions["kiosk_printing"].shutdown()
        app.extensions["db"].dispose()
        return {"phone_form": _figures(phone), "kiosk_with_receipt": _figures(kiosk)}


def run(iterations: int = 1000) -> dict:
    """Submit ``iterations`` petitions per path and backend; returns the figures in milliseconds."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="petitions-bench-db-") as folder:
        results["sqlite"] = _one_backend("sqlite:///" + os.path.join(folder, "bench.db"), iterations)
    if pg.base_url():
        with pg.scratch("petitions_bench") as url:
            results["postgresql"] = _one_backend(url, iterations)
    return results


# -- over HTTP -------------------------------------------------------------------
def open_kiosk_form(conn, index: int) -> dict:
    """A kiosk browser on the petition form's first step."""
    return load.open_form(conn, "/k/petitions/new", index)


def submit_petition(i: int, state: dict) -> tuple:
    """The form's last step, as the page posts it after the resident checked the summary."""
    return load.post(state, "/k/petitions/new", KIOSK_PETITION)


def http_load(server, clients: int, seconds: float) -> dict:
    """Petitions submitted at ``clients`` kiosks at once; a success is a 302 to the tracking number."""
    return load.run(
        server.url,
        submit_petition,
        clients=clients,
        seconds=seconds,
        setup=open_kiosk_form,
        on_response=load.keep_cookies,
        expect=(302,),
        expect_location="/k/petitions/done/",
    )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    for backend, paths in run(count).items():
        for path, figures in paths.items():
            print(
                f"{backend:10} {path:20} n={figures['n']}  median {figures['median_ms']:7.2f} ms  "
                f"p99 {figures['p99_ms']:7.2f} ms  max {figures['max_ms']:7.2f} ms"
            )
