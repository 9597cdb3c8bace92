"""A load generator: N client processes, each on one keep-alive HTTP connection, as browsers do.

Each client repeats a request (built by a picklable ``make_request(i)`` that
returns ``(method, path, body, headers)``) for a fixed time and reports
latencies; the parent adds them up into throughput, median, p99 and errors.
"""

from __future__ import annotations

import http.client
import multiprocessing
import statistics
import time


def _client(args):
    host, port, make_request, seconds, setup, on_response = args
    conn = http.client.HTTPConnection(host, port, timeout=30)
    state = setup(conn) if setup else None
    latencies, server_times, errors, statuses = [], [], 0, {}
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        method, path, body, headers = make_request(i, state)
        i += 1
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
            timing = response.getheader("Server-Timing", "")
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            continue
        latencies.append(time.perf_counter() - t0)
        if "dur=" in timing:
            server_times.append(float(timing.split("dur=")[1]) / 1000)
        if on_response is not None:
            state = on_response(state, status, response)
        statuses[status] = statuses.get(status, 0) + 1
        if status >= 500:
            errors += 1
    conn.close()
    return latencies, errors, statuses, server_times


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def run(url: str, make_request, clients: int = 4, seconds: float = 10.0, setup=None, on_response=None) -> dict:
    """Drive ``url`` with ``clients`` keep-alive connections for ``seconds``."""
    host, port = url.replace("http://", "").split(":")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(clients) as pool:
        results = pool.map(_client, [(host, int(port), make_request, seconds, setup, on_response)] * clients)
    latencies = [x for r in results for x in r[0]]
    server = [x for r in results for x in r[3]]
    errors = sum(r[1] for r in results)
    statuses: dict = {}
    for r in results:
        for k, v in r[2].items():
            statuses[k] = statuses.get(k, 0) + v
    return {
        "clients": clients,
        "requests": len(latencies),
        "throughput_rps": round(len(latencies) / seconds, 1),
        "median_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 2) if latencies else None,
        "server_p99_ms": round(percentile(server, 99) * 1000, 2) if server else None,
        "errors": errors,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def get_home(i, state):
    """The home screen, as a kiosk browser asks for it."""
    return "GET", "/", None, {"Accept": "text/html"}
