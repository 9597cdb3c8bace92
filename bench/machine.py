"""How fast this machine runs Python today: the yardstick printed beside every CPU figure.

The benches' CPU figures (ms per ticket, cold start) are absolute, but the
machines they run on are not alike: on the same commit, ``bench.core_cpu``
read 2.1–2.3 ms per ticket on one day's 2-core virtual machine and 5.9 ms on
the next day's. A figure means little without the speed of the machine that
produced it, so each bench prints :func:`python_speed`: the CPU milliseconds
of a fixed piece of pure-Python work shaped like a request's (small
functions, dicts, string formatting, JSON and UTF-8 encoding), the best of a
few runs so that other work on the machine only ever adds to the runs it
discards. Two runs of a bench compare fairly when this figure is close; where
it is not, compare their ratios to it.
"""

from __future__ import annotations

import json
import time

#: Rounds of the work per run: about 50 ms on the machine of 2026-12-06.
ROUNDS = 10_000


def _work(rounds: int) -> int:
    total = 0
    for n in range(rounds):
        row = {"number": f"A{n % 1000:03d}", "service": "法律咨询", "waiting": n % 37, "station": "shuibei"}
        fields = sorted(row.items())
        text = json.dumps(dict(fields), ensure_ascii=False)
        total += len(text.encode("utf-8")) + _count(fields)
    return total


def _count(fields: list) -> int:
    return sum(1 for key, _ in fields if key.startswith("s"))


def python_speed(runs: int = 5) -> float:
    """CPU milliseconds of the reference work, the best of ``runs`` runs (lower is faster)."""
    best = float("inf")
    for _ in range(runs):
        started = time.thread_time()
        _work(ROUNDS)
        best = min(best, time.thread_time() - started)
    return round(best * 1000, 1)


if __name__ == "__main__":
    print(f"python_speed_ms {python_speed()}")
