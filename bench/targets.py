"""The issue's targets next to the figures just measured: what, figure, target, met.

Every figure is read from this run's results; a section that did not run (or
failed) shows "not measured" and neither yes nor no.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _get(sections: dict, *path: str) -> Any:
    node: Any = sections
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _row(what: str, value, text: Callable[[Any], str], target: str, met: Callable[[Any], bool]) -> dict:
    if value is None:
        return {"what": what, "figure": "not measured", "target": target, "met": None}
    return {"what": what, "figure": text(value), "target": target, "met": bool(met(value))}


def _ms(value) -> str:
    return f"{value:.1f} ms"


def _wall_and_cpu(figures: dict) -> str:
    # The thread's own CPU time says what the request cost when the wall time
    # also holds waiting for other processes on a busy machine.
    return f"{figures['p99_ms']:.1f} ms (its thread's CPU p99 {figures['cpu_p99_ms']:.1f} ms)"


def _tickets_http(figures: dict) -> str:
    return (
        f"{figures['throughput_rps']:.0f} tickets/s, p99 {figures['p99_ms']} ms, {figures['errors']} errors, "
        f"{figures.get('receipts_received', '?')} receipts for {figures['statuses'].get('302', 0)} tickets"
    )


def _best_fleet(sections: dict) -> dict | None:
    runs = [v for k, v in (sections.get("fleet") or {}).items() if k.startswith("tickets,") and isinstance(v, dict)]
    return max(runs, key=lambda r: r["throughput_rps"]) if runs else None


def rows(sections: dict) -> list[dict]:
    """One row per target of the issue."""
    legal_http = _get(sections, "http", "legal, 4 clients")
    fleet = _best_fleet(sections)
    rss = [w["rss"] for w in _get(sections, "http", "worker_memory_mib_after_load") or []]
    out = [
        _row(
            "ticket issue, server time p99, in-process, SQLite",
            _get(sections, "server_time", "legal", "sqlite/paced"),
            _wall_and_cpu,
            "<= 15 ms",
            lambda v: v["p99_ms"] <= 15,
        ),
        _row(
            "ticket issue, server time p99, in-process, PostgreSQL",
            _get(sections, "server_time", "legal", "postgresql/paced"),
            _wall_and_cpu,
            "<= 15 ms",
            lambda v: v["p99_ms"] <= 15,
        ),
        _row(
            "ticket issue, server time p99, 4 HTTP clients",
            _get(legal_http or {}, "server_p99_ms"),
            _ms,
            "<= 15 ms",
            lambda v: v <= 15,
        ),
        _row(
            "tickets/s, 4 keep-alive clients, kiosk serve + TCP printer",
            legal_http,
            _tickets_http,
            ">= 130/s, no errors",
            lambda v: v["throughput_rps"] >= 130 and not v["errors"],
        ),
        _row(
            "every issued ticket's receipt reached the printer",
            legal_http,
            lambda v: f"{v.get('receipts_received')} of {v['statuses'].get('302', 0)}",
            "all",
            lambda v: v.get("receipts_received") == v["statuses"].get("302", 0),
        ),
        _row(
            "receipt 80 mm with QR, render + encode p99",
            _get(sections, "receipt", "80mm", "p99_ms"),
            _ms,
            "<= 5 ms",
            lambda v: v <= 5,
        ),
        _row(
            "cold start of kiosk serve to first 200 (restart)",
            _get(sections, "http", "cold_start_to_first_200_s"),
            lambda v: f"{v:.2f} s (a new instance's first: {_get(sections, 'http', 'first_start_to_first_200_s')} s)",
            "<= 0.6 s",
            lambda v: v <= 0.6,
        ),
        _row(
            "worker RSS after load", max(rss) if rss else None, lambda v: f"{v:.0f} MiB", "<= 60 MiB", lambda v: v <= 60
        ),
        _row(
            "fleet tickets/s, PostgreSQL, 4 workers (best run)",
            fleet,
            lambda v: f"{v['throughput_rps']:.0f}/s with {v['clients']} clients, {v['errors']} errors",
            ">= 1000/s",
            lambda v: v["throughput_rps"] >= 1000 and not v["errors"],
        ),
        _row(
            "fleet duplicate ticket numbers",
            _get(sections, "fleet", "numbers"),
            lambda v: (
                f"{v['duplicate_numbers']} ({v['tickets_stored']} tickets stored, "
                f"{v['tickets_issued_302']} confirmed to a kiosk, {v['number_gaps']} gaps)"
            ),
            "0",
            lambda v: v["duplicate_numbers"] == 0,
        ),
    ]
    for label in ("quiet", "under load"):
        push = _get(sections, "fleet", f"display push, {label}")
        out.append(
            _row(
                f"display push p99, 4 workers, {label}",
                push,
                lambda v: (
                    f"{v['p99_ms']} ms over {v['deliveries']} deliveries, {v['missed']} calls missed, "
                    f"{v['events_lost']} events lost"
                ),
                "<= 250 ms, none lost",
                lambda v: v["p99_ms"] is not None and v["p99_ms"] <= 250 and not v["missed"] and not v["events_lost"],
            )
        )
    out.extend(_district_rows(sections))
    return out


def _district_rows(sections: dict) -> list[dict]:
    """Issue 15's scale targets, from the district section (the largest N it ran)."""
    runs = {k: v for k, v in (sections.get("district") or {}).items() if k.startswith("N=") and isinstance(v, dict)}
    if not runs:
        return [_row("district: sync lag p99, largest N", None, str, "<= 2 s", lambda v: False)]
    small, large = runs[min(runs, key=lambda k: int(k[2:]))], runs[max(runs, key=lambda k: int(k[2:]))]
    return [
        _row(
            f"district: sync lag p50 / p99, {large['stations']} stations",
            large,
            lambda v: f"{v['sync_lag_p50_ms']} / {v['sync_lag_p99_ms']} ms",
            "p99 <= 2 s",
            lambda v: v["sync_lag_p99_ms"] is not None and v["sync_lag_p99_ms"] <= 2000,
        ),
        _row(
            "district: hub PostgreSQL connections, bounded by its pools whatever N",
            (small, large),
            lambda v: (
                f"max {v[0]['hub_pg_connections']['max']} at N={v[0]['stations']}, "
                f"{v[1]['hub_pg_connections']['max']} at N={v[1]['stations']}"
            ),
            "<= the pools' ceiling",
            # Bounded by the pools (workers × (pool + one LISTEN each)), whatever N.
            lambda v: (
                v[1]["hub_pg_connections"]["max"]
                <= v[1]["hub_pg_connections"].get("workers", 2) * (v[1]["hub_pg_connections"]["per_worker_pool"] + 1)
            ),
        ),
        _row(
            "district: an event wakes only its own station's streams",
            large,
            lambda v: (
                f"{v['stream_deliveries_per_event']} deliveries per event, "
                f"{v['deliveries_to_other_stations_streams']} to other stations'"
            ),
            "0 to others",
            lambda v: v["deliveries_to_other_stations_streams"] == 0,
        ),
    ]


def table(target_rows: list[dict]) -> str:
    """The rows as an aligned text table."""
    width = max(len(r["what"]) for r in target_rows)
    fig = max(len(r["figure"]) for r in target_rows)
    lines = [f"{'what':<{width}}  {'figure':<{fig}}  {'target':<20}  met"]
    for r in target_rows:
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        lines.append(f"{r['what']:<{width}}  {r['figure']:<{fig}}  {r['target']:<20}  {met}")
    return "\n".join(lines)


def outside_rows(results: dict) -> list[dict]:
    """Issue 22's targets as ``python -m bench outside`` measures them (points 2 to 4)."""
    outside = results.get("outside") or {}
    four = outside.get("tickets, 4 clients")
    memory = [v for k, v in outside.items() if k.startswith("worker_memory_mib_after_")]
    rss = max((w["rss"] for w in memory[0]), default=None) if memory else None
    tickets = outside.get("tickets_issued")
    return [
        _row(
            "tickets/s, 4 client processes, keep-alive, kiosk serve + TCP printer process",
            four,
            lambda v: f"{v['throughput_rps']:.0f} tickets/s, {v['errors']} errors, {v['receipts_received']} receipts",
            ">= 130/s, no errors",
            lambda v: v["throughput_rps"] >= 130 and not v["errors"],
        ),
        _row(
            "server CPU per ticket incl. its receipt (request path + print thread)",
            _get(four or {}, "server_cpu_ms_per_ticket"),
            _ms,
            "<= 2 ms",
            lambda v: v <= 2,
        ),
        _row(
            "every ticket's receipt reached the printer (4 clients)",
            four,
            lambda v: f"{v['receipts_received']} of {v['tickets']}",
            "all",
            lambda v: v["receipts_received"] == v["tickets"],
        ),
        _row(
            "cold start, process start to first 200 of /, existing database (best of runs)",
            outside.get("cold_start_to_first_200_s"),
            lambda v: f"{v:.2f} s (CPU {outside.get('cold_start_cpu_s')} s)",
            "<= 0.6 s",
            lambda v: v <= 0.6,
        ),
        _row(
            f"worker RSS after {tickets} tickets",
            rss,
            lambda v: f"{v:.0f} MiB",
            "<= 60 MiB",
            lambda v: v <= 60 and (tickets or 0) >= 10_000,
        ),
    ]
