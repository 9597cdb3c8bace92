"""``python -m bench``: every benchmark, a table on stdout, JSON in bench/results/.

Sections: receipt rendering, the pinyin dictionary, server time per action
in-process (SQLite, and PostgreSQL when KIOSK_BENCH_DATABASE_URL or
KIOSK_TEST_DATABASE_URL is set), over real HTTP against `kiosk serve` (cold
start, the home screen and each plugin's ``http_load(server, clients,
seconds)`` with 4, 8 and 32 keep-alive clients, receipts reaching a TCP
printer, worker memory), and the fleet (`kiosk serve --workers 4` on
PostgreSQL: tickets/s, duplicate numbers, display push latency). Then each
target of the issue next to its figure. Figures are for the machine it runs
on; the README quotes the latest.

Options: --quick (fewer iterations, shorter loads), --only SECTION[,SECTION].
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime

from bench import pg, targets
from bench.machine import python_speed
from bench.serve import Server, printer_settled, station_toml

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN_BENCHES = ("legal", "courier_rest", "parking", "petitions")
HTTP_CLIENTS = (4, 8, 32)


def _pct(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def home_server_time(iterations: int, database_url: str | None) -> dict:
    """Median and p99 of the home screen, in-process through the test client."""
    from kiosk.app import create_app

    instance = tempfile.mkdtemp(prefix="kiosk-bench-home-")
    config = {
        "SECRET_KEY": "bench-0123456789",
        "INSTANCE_PATH": instance,
        "STATION_FILE": "",
        "TESTING": True,
        "IME_PRELOAD": False,
        "TESTING_NO_LISTENER": True,
        "SECURITY": {"rate_limits": False},
    }
    if database_url:
        config["DATABASE_URL"] = database_url
    app = create_app(config)
    client = app.test_client()
    for _ in range(50):
        client.get("/")
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        response = client.get("/")
        times.append(time.perf_counter() - t0)
        assert response.status_code == 200
    app.extensions["db"].dispose()
    return {
        "requests": iterations,
        "median_ms": round(statistics.median(times) * 1000, 2),
        "p99_ms": round(_pct(times, 99) * 1000, 2),
    }


def _load_bench(name: str):
    try:
        return importlib.import_module(f"bench.{name}_bench")
    except ModuleNotFoundError:
        return None


def section_receipt(args) -> dict:
    module = _load_bench("receipt")
    return module.run(iterations=200 if args.quick else 1000) if module else {"skipped": "no bench/receipt_bench.py"}


def section_ime(args) -> dict:
    module = _load_bench("ime")
    return module.run() if module else {"skipped": "no bench/ime_bench.py"}


def section_server_time(args) -> dict:
    n = 300 if args.quick else 1000
    out = {"home (sqlite)": home_server_time(n, None)}
    if pg.base_url():
        with pg.scratch("home_bench") as url:
            out["home (postgresql)"] = home_server_time(n, url)
    for name in PLUGIN_BENCHES:
        module = _load_bench(name)
        if module is None:
            out[name] = {"skipped": f"no bench/{name}_bench.py"}
            continue
        out[name] = module.run(iterations=n)
    return out


def _with_receipts(printer, measure) -> dict:
    """Run one load, then wait for its receipts to stop arriving at the printer; both in one dict."""
    before = len(printer.jobs)
    figures = measure()
    figures["receipts_received"], figures["print_backlog_s"] = printer_settled(printer, before)
    return figures


def section_http(args) -> dict:
    """One `kiosk serve` worker with its default threads (as on a kiosk), printing to a TCP printer here."""
    from bench import load
    from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

    seconds = 3 if args.quick else 10
    out: dict = {}
    with FakeNetworkPrinter() as printer:
        server = Server(workers=1, station_toml=station_toml(printer.host, printer.port))
        server.prepare()
        try:
            # A new instance's first start also fills its caches (parsed catalogs,
            # compiled templates); a station's restart (power cut, update) finds them.
            out["first_start_to_first_200_s"] = round(server.start("/"), 3)
            server.halt()
            out["cold_start_to_first_200_s"] = round(server.start("/"), 3)
            out["worker_memory_mib_before_load"] = server.worker_memory_mib()
            for clients in HTTP_CLIENTS:
                out[f"home, {clients} clients"] = load.run(
                    server.url, load.get_home, clients=clients, seconds=seconds, expect=(200,)
                )
            for name in PLUGIN_BENCHES:
                module = _load_bench(name)
                if module is None or not hasattr(module, "http_load"):
                    continue
                for clients in HTTP_CLIENTS:
                    out[f"{name}, {clients} clients"] = _with_receipts(
                        printer,
                        lambda module=module, clients=clients: module.http_load(
                            server, clients=clients, seconds=seconds
                        ),
                    )
            out["worker_memory_mib_after_load"] = server.worker_memory_mib()
        finally:
            server.stop()
    return out


def section_fleet(args) -> dict:
    from bench import fleet
    from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

    with FakeNetworkPrinter() as printer:
        return fleet.run(args.quick, printer)


def section_district(args) -> dict:
    from bench import district

    return district.run(stations=50 if args.quick else 200, quick=args.quick)


SECTIONS = {
    "receipt": section_receipt,
    "ime": section_ime,
    "server_time": section_server_time,
    "http": section_http,
    "fleet": section_fleet,
    "district": section_district,
    "print_latency": lambda args: importlib.import_module("bench.print_latency").run(args.quick),
    "photo_memory": lambda args: importlib.import_module("bench.photo_memory").run(),
    "streams": lambda args: importlib.import_module("bench.streams").run(args.quick),
    # Issue, call and the phone page with 0 and 5,000 waiting (issue 22 point 1).
    "queue_length": lambda args: importlib.import_module("bench.queue_length").run(100 if args.quick else 300),
    # What an outside client sees, with CPU per part (also alone: `python -m bench outside`).
    "outside": lambda args: importlib.import_module("bench.outside").run(args.quick),
}


def _print(results: dict) -> None:
    machine = results["machine"]
    print(
        f"{machine['cpus']} CPUs ({machine['processor']}), Python {machine['python']}. The load generator's "
        f"client processes run on the same {machine['cpus']} CPUs as the server, so the HTTP figures are "
        f"lower bounds of what the server does alone. Load average at the start: "
        f"{machine['load_average_at_start']} (other work on the machine makes every figure noisier). "
        f"Python speed (bench/machine.py, lower is faster): {machine['python_speed_ms']} ms."
    )
    for section, data in results["sections"].items():
        print(f"\n== {section}")
        if not isinstance(data, dict):
            print(f"  {data}")
            continue
        for key, value in data.items():
            _print_row(key, value)


def _fmt(value):
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _print_row(key, value, depth: int = 0) -> None:
    label = "  " * (depth + 1) + str(key)
    if isinstance(value, dict):
        flat = {k: v for k, v in value.items() if not isinstance(v, (dict, list))}
        if flat:
            print(f"{label:<40} " + ", ".join(f"{k}={_fmt(v)}" for k, v in flat.items()))
        else:
            print(label)
        for k, v in value.items():
            if isinstance(v, dict):
                _print_row(k, v, depth + 1)
    else:
        print(f"{label:<40} {_fmt(value)}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["district"]:  # `python -m bench district [--stations N]`: that bench alone, its own options
        from bench import district

        return district.main(argv[1:])
    if argv[:1] == ["streams"]:  # `python -m bench streams [--quick]`: push streams held open (bench/streams.py)
        from bench import streams

        return streams.main(argv[1:])
    if argv[:1] == ["queue_length"]:  # `python -m bench queue_length [iterations]`: that bench alone
        from bench import queue_length

        return queue_length.main(argv[1:])
    if argv[:1] == ["outside"]:  # `python -m bench outside`: the outside client's view, one table
        from bench import outside

        return outside.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args(argv)
    wanted = [s for s in args.only.split(",") if s] or list(SECTIONS)
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "load_average_at_start": round(os.getloadavg()[0], 2),
            # How fast the machine runs Python: CPU figures of two runs compare only beside it.
            "python_speed_ms": python_speed(),
        },
        "sections": {},
    }
    for name in wanted:
        started = time.perf_counter()
        try:
            results["sections"][name] = SECTIONS[name](args)
        except Exception as exc:  # one broken section must not hide the others' figures
            results["sections"][name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"[{name} done in {time.perf_counter() - started:.1f} s]", file=sys.stderr)
    results["targets"] = targets.rows(results["sections"])
    if "outside" in results["sections"]:
        results["targets"] += targets.outside_rows(results["sections"])
    _print(results)
    print("\n== targets\n" + targets.table(results["targets"]))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "latest.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(results, fh, ensure_ascii=False, indent=2)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
