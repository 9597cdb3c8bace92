"""The benchmarks' HTTP clients really do each plugin's main action.

``python -m bench`` reports tickets, check-ins, vouchers and petitions per
second; the figures mean something only if every measured request is the
action succeeding (a CSRF failure or a refused voucher is fast too). Each
plugin's ``http_load`` runs here for half a second with one client process
against a live server, and every measured request must be the success redirect.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time

import pytest

from kiosk.testing import LiveServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # bench/ is a folder of the checkout, not an installed package


class Served:
    """What a bench's ``http_load`` needs of a server: its address, and its app to prepare data in.

    The demo data is loaded, as `kiosk demo` does for the bench's server (the
    petition form's places come from it).
    """

    def __init__(self, app):
        from kiosk.demo import load_demo

        load_demo(app, [])
        self._app = app
        self.live = LiveServer(app)
        self.url = self.live.url

    @contextlib.contextmanager
    def app(self):
        yield self._app

    def stop(self) -> None:
        self.live.stop()


#: As in the bench's station file: every client sends from 127.0.0.1.
NO_PETITION_LIMIT = {"petitions": {"rate_limit": {"kiosk": [10**9, 600], "mobile": [10**9, 600]}}}


@pytest.mark.parametrize("plugin", ["legal", "courier_rest", "parking", "petitions"])
def test_the_bench_clients_only_count_successful_actions(make_app, database_url, plugin):
    bench = importlib.import_module(f"bench.{plugin}_bench")
    # Every bench client is 127.0.0.1: rate limits off, as the bench station file has them.
    served = Served(make_app(database_url, PLUGINS=NO_PETITION_LIMIT, SECURITY={"rate_limits": False}))
    try:
        figures = bench.http_load(served, clients=1, seconds=0.5)
    finally:
        served.stop()
    assert figures["requests"] >= 1
    assert figures["errors"] == 0, figures.get("error_samples")
    assert figures["statuses"] == {"302": figures["requests"]}
    for status in figures.get("untimed_statuses", {}):
        assert status == "302", figures["untimed_statuses"]


def test_the_in_process_legal_bench_runs_paced_and_in_a_burst():
    """The server-time section reads the issued ticket's print job as the page does; a moved key broke it once."""
    import tempfile

    legal_bench = importlib.import_module("bench.legal_bench")
    with tempfile.TemporaryDirectory() as folder:
        url = "sqlite:///" + os.path.join(folder, "bench.db")
        for paced in (True, False):
            figures = legal_bench.bench_one(url, iterations=5, paced=paced)
            assert figures["requests"] == 5
            assert figures["p99_ms"] > 0


def test_the_machine_yardstick_is_cpu_time_of_fixed_work():
    """``bench.machine``'s figure is the best of runs of the same work: positive, finite, and the work is fixed."""
    from bench import machine

    assert machine._work(50) == machine._work(50)  # the same work each run, so runs compare
    speed = machine.python_speed(runs=2)
    assert 0 < speed < 60_000


def _untimed_slow_step_then_action(i, state):
    """A user's step that takes longer than the whole window, then the measured action."""
    if i % 2 == 0:
        return ("GET", "/slow", None, {}, False)
    return ("POST", "/action", b"", {"Content-Length": "0"})


def test_a_window_that_closes_inside_an_untimed_step_still_measures_one_action():
    """The half-second smoke runs above once measured nothing: the machine was loaded and the
    untimed step before the first voucher outlasted the window (CI, PostgreSQL, parking)."""
    import http.server
    import threading

    from bench import load

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            time.sleep(0.6)
            self._answer(200)

        def do_POST(self):
            self._answer(302)

        def _answer(self, status):
            self.send_response(status)
            self.send_header("Location", "/done")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        figures = load.run(
            f"http://127.0.0.1:{server.server_port}",
            _untimed_slow_step_then_action,
            clients=1,
            seconds=0.2,
            expect=(302,),
            expect_location="/done",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert figures["requests"] == 1
    assert figures["statuses"] == {"302": 1}
    assert figures["untimed_statuses"] == {"200": 1}
    assert figures["errors"] == 0
