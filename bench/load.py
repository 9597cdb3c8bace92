"""A load generator: N client processes, each on one keep-alive HTTP connection, as browsers do.

Each client runs ``setup(conn, index)`` first (a browser opening the form: the
session cookie and the CSRF token), then repeats a request built by
``make_request(i, state)``, which returns ``(method, path, body, headers)`` and
optionally a fifth item, ``timed``: False for a step a real user takes
between two measured actions (identify before a voucher, check out before the
next check-in), sent on the same connection but not counted as the action.
``on_response(state, status, response)`` sees every answer (to keep cookies).

Clients start together: every one finishes its setup, then all are released
by a barrier, so the ``seconds`` window is the same for all and throughput is
the measured actions in that window. The parent adds the clients' figures up.
"""

from __future__ import annotations

import http.client
import http.cookies
import multiprocessing
import re
import statistics
import threading
import time
import urllib.parse

BARRIER_TIMEOUT = 180.0
#: A client whose window closed before it took one measured action goes on this long for one:
#: on a loaded machine a short window (the smoke tests' half second) can end inside the untimed
#: step before it, and a figure of nothing measured says nothing.
LAST_CHANCE = 60.0
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class Tally:
    """One client's figures."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.server_times: list[float] = []
        self.statuses: dict[int, int] = {}
        self.untimed_statuses: dict[int, int] = {}
        self.errors = 0
        self.error_samples: list[str] = []
        #: This client process's own CPU seconds in the measured window (what the load generator cost).
        self.cpu_s = 0.0

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(what)


def _connect(host: str, port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(host, port, timeout=30)


def _send(conn, request) -> tuple[int, str, http.client.HTTPResponse]:
    method, path, body, headers = request[:4]
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status, response.getheader("Server-Timing", ""), response


def _loop(host, port, conn, plan, tally: Tally, state, seconds: float, expect) -> None:
    make_request, on_response = plan
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline or (not tally.latencies and time.perf_counter() < deadline + LAST_CHANCE):
        request = make_request(i, state)
        i += 1
        timed = request[4] if len(request) > 4 else True
        t0 = time.perf_counter()
        try:
            status, timing, response = _send(conn, request)
        except (OSError, http.client.HTTPException) as exc:
            tally.error(f"{request[1]}: {type(exc).__name__}")
            conn.close()
            conn = _connect(host, port)
            continue
        elapsed = time.perf_counter() - t0
        if on_response is not None:
            state = on_response(state, status, response)
        if not timed:
            tally.untimed_statuses[status] = tally.untimed_statuses.get(status, 0) + 1
            if status >= 400:
                tally.error(f"{request[1]}: {status}")
            continue
        tally.latencies.append(elapsed)
        if "dur=" in timing:
            tally.server_times.append(float(timing.split("dur=")[1]) / 1000)
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        statuses, location = expect
        if (statuses and status not in statuses) or (not statuses and status >= 500):
            tally.error(f"{request[1]}: {status}")
        elif location and location not in (response.getheader("Location") or ""):
            tally.error(f"{request[1]}: {status} to {response.getheader('Location')}")
    conn.close()


def _client(host, port, index, plan, setup, seconds, expect, barrier, results) -> None:
    tally = Tally()
    try:
        conn = _connect(host, port)
        state = setup(conn, index) if setup else None
    except Exception as exc:  # the others must not wait for this one for ever
        barrier.abort()
        results.put((index, None, f"setup of client {index} failed: {type(exc).__name__}: {exc}"))
        return
    try:
        barrier.wait(BARRIER_TIMEOUT)
    except threading.BrokenBarrierError:
        results.put((index, None, "another client's setup failed"))
        return
    try:
        started_cpu = time.process_time()
        _loop(host, port, conn, plan, tally, state, seconds, expect)
        tally.cpu_s = time.process_time() - started_cpu
    except Exception as exc:  # a bench bug: say so rather than hang the parent
        results.put((index, None, f"client {index} failed: {type(exc).__name__}: {exc}"))
        return
    results.put((index, tally, None))


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def run(
    url: str,
    make_request,
    clients: int = 4,
    seconds: float = 10.0,
    setup=None,
    on_response=None,
    expect: tuple[int, ...] | None = None,
    expect_location: str = "",
) -> dict:
    """Drive ``url`` with ``clients`` keep-alive connections for ``seconds``.

    ``expect``: the statuses a measured action succeeds with (a 4xx from bad
    bench data is an error too); without it only 5xx and broken connections
    are. ``expect_location``: part of the redirect's target that a success has
    (a form that redirects back to itself on a refusal is no success).
    """
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(clients)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_client,
            daemon=True,
            args=(
                host,
                port,
                i,
                (make_request, on_response),
                setup,
                seconds,
                (expect, expect_location),
                barrier,
                results,
            ),
        )
        for i in range(clients)
    ]
    for proc in procs:
        proc.start()
    collected = [results.get(timeout=BARRIER_TIMEOUT + seconds + 120) for _ in procs]
    for proc in procs:
        proc.join(30)
    failed = [message for _, tally, message in collected if tally is None]
    if failed:
        raise RuntimeError(failed[0])
    return summarise([tally for _, tally, _ in collected], clients, seconds)


def _merge(counts: list[dict[int, int]]) -> dict[str, int]:
    out: dict[int, int] = {}
    for one in counts:
        for status, n in one.items():
            out[status] = out.get(status, 0) + n
    return {str(k): v for k, v in sorted(out.items())}


def summarise(tallies: list[Tally], clients: int, seconds: float) -> dict:
    latencies = [x for t in tallies for x in t.latencies]
    server = [x for t in tallies for x in t.server_times]
    out = {
        "clients": clients,
        "seconds": seconds,
        "requests": len(latencies),
        "throughput_rps": round(len(latencies) / seconds, 1),
        "median_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 2) if latencies else None,
        "server_median_ms": round(statistics.median(server) * 1000, 2) if server else None,
        "server_p99_ms": round(percentile(server, 99) * 1000, 2) if server else None,
        "errors": sum(t.errors for t in tallies),
        "client_cpu_s": round(sum(t.cpu_s for t in tallies), 3),
        "statuses": _merge([t.statuses for t in tallies]),
    }
    untimed = _merge([t.untimed_statuses for t in tallies])
    if untimed:
        out["untimed_statuses"] = untimed
    samples = [s for t in tallies for s in t.error_samples][:5]
    if samples:
        out["error_samples"] = samples
    return out


def get_home(i, state):
    """The home screen, as a kiosk browser asks for it."""
    return "GET", "/", None, {"Accept": "text/html"}


# -- being a browser ---------------------------------------------------------------
def keep_cookies(state: dict, status: int, response) -> dict:
    """Store the cookies a response sets, as a browser does (Flask's session cookie changes often)."""
    for header in response.headers.get_all("Set-Cookie") or []:
        jar = http.cookies.SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            state["cookies"][name] = morsel.value
    return state


def headers(state: dict, form: bool = False) -> dict:
    """The request headers of a browser with ``state``'s cookies."""
    out = {"Accept": "text/html", "Cookie": "; ".join(f"{k}={v}" for k, v in state["cookies"].items())}
    if form:
        out["Content-Type"] = "application/x-www-form-urlencoded"
    return out


def browse(conn, state: dict, method: str, path: str, form: dict | None = None) -> tuple[int, str, str]:
    """One request outside the measured loop; returns (status, Location, body) and keeps cookies and token."""
    body = urllib.parse.urlencode(dict(form, csrf_token=state.get("csrf", ""))) if form is not None else None
    conn.request(method, path, body=body, headers=headers(state, form is not None))
    response = conn.getresponse()
    text = response.read().decode("utf-8", "replace")
    keep_cookies(state, response.status, response)
    found = CSRF_META.search(text)
    if found:
        state["csrf"] = found.group(1)
    return response.status, response.getheader("Location", ""), text


def open_form(conn, path: str, index: int = 0) -> dict:
    """A fresh browser session that has loaded ``path``: its cookies and CSRF token."""
    state: dict = {"cookies": {}, "index": index}
    status, _, _ = browse(conn, state, "GET", path)
    if status != 200 or not state.get("csrf"):
        raise RuntimeError(f"GET {path} answered {status} without a CSRF token")
    return state


def post(state: dict, path: str, form: dict, timed: bool = True) -> tuple:
    """A form POST as a ``make_request`` result, with the session's token and cookies."""
    body = urllib.parse.urlencode(dict(form, csrf_token=state["csrf"]))
    return "POST", path, body, headers(state, form=True), timed
