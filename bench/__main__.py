"""``python -m bench``: every benchmark, a table on stdout, JSON in bench/results/.

Sections: receipt rendering, the pinyin dictionary, server time per action
in-process (SQLite, and PostgreSQL when KIOSK_BENCH_DATABASE_URL or
KIOSK_TEST_DATABASE_URL is set), and over real HTTP against `kiosk serve`
(cold start, load with 8 and 32 keep-alive clients, worker memory).
Figures are for the machine it runs on; the README quotes the latest.

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
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN_BENCHES = ("legal", "courier_rest", "parking", "petitions")


def _pg_url() -> str | None:
    return os.environ.get("KIOSK_BENCH_DATABASE_URL") or os.environ.get("KIOSK_TEST_DATABASE_URL")


def _pct(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def home_server_time(iterations: int, database_url: str | None) -> dict:
    """Median and p99 of the home screen, in-process through the test client."""
    from kiosk.app import create_app

    instance = tempfile.mkdtemp(prefix="kiosk-bench-home-")
    config = {"SECRET_KEY": "bench-0123456789", "INSTANCE_PATH": instance, "STATION_FILE": "",
              "TESTING": True, "IME_PRELOAD": False}
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
    return {"requests": iterations, "median_ms": round(statistics.median(times) * 1000, 2),
            "p99_ms": round(_pct(times, 99) * 1000, 2)}


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
    pg = _pg_url()
    if pg:
        out["home (postgresql)"] = home_server_time(n, pg)
    for name in PLUGIN_BENCHES:
        module = _load_bench(name)
        if module is None:
            out[name] = {"skipped": f"no bench/{name}_bench.py"}
            continue
        out[name] = module.run(iterations=n)
    return out


def section_http(args) -> dict:
    from bench import load
    from bench.serve import Server

    seconds = 3 if args.quick else 10
    out: dict = {}
    server = Server(workers=1, threads=32)
    server.prepare()
    try:
        out["cold_start_to_first_200_s"] = round(server.start("/"), 3)
        for clients in (4, 8, 32):
            out[f"home, {clients} clients"] = load.run(server.url, load.get_home, clients=clients, seconds=seconds)
        for name in PLUGIN_BENCHES:
            module = _load_bench(name)
            if module is not None and hasattr(module, "http_load"):
                for clients in (4, 8, 32):
                    out[f"{name}, {clients} clients"] = module.http_load(server.url, clients=clients, seconds=seconds)
        out["worker_rss_mib_after_load"] = [round(x, 1) for x in server.worker_rss_mib()]
    finally:
        server.stop()
    return out


SECTIONS = {"receipt": section_receipt, "ime": section_ime, "server_time": section_server_time, "http": section_http}


def _print(results: dict) -> None:
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
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args(argv)
    wanted = [s for s in args.only.split(",") if s] or list(SECTIONS)
    results = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine()},
        "sections": {},
    }
    for name in wanted:
        started = time.perf_counter()
        try:
            results["sections"][name] = SECTIONS[name](args)
        except Exception as exc:  # one broken section must not hide the others' figures
            results["sections"][name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"[{name} done in {time.perf_counter() - started:.1f} s]", file=sys.stderr)
    _print(results)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "latest.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(results, fh, ensure_ascii=False, indent=2)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
