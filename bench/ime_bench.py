"""Benchmark the offline pinyin dictionary: build, cached load, lookup latency, size.

Run ``python bench/ime_bench.py``; targets from the brief: build ≤ 10 s,
cached load ≤ 300 ms, lookup p99 ≤ 5 ms. The ``TYPED`` lookups are the
same as before initials (简拼), fuzzy pinyin and station words came, so the
figures compare; ``ACCENTED`` adds the new kinds of input, with the station
words of a Shuibei station loaded.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from kiosk.ime import CACHE_FILE, PinyinDictionary
from kiosk.ime_words import station_words

#: Phrases a kiosk user types, spelled out; every prefix of each is looked up,
#: the way the keyboard asks after each letter.
TYPED = [
    "falvzixun",
    "renmintiaojie",
    "laodongzhongcai",
    "fazhixuanchuan",
    "gongzheng",
    "shenzhen",
    "longgangqu",
    "nuanfengyizhan",
    "dangqunfuwuzhongxin",
    "qishouqiandao",
    "chongdian",
    "xiuche",
    "tingche",
    "gongxiangtingche",
    "tousu",
    "jianyi",
    "zixun",
    "qiuzhu",
    "zhangsan",
    "lisi",
    "wangxiaoming",
    "chenjianguo",
    "lvshi",
    "nvshi",
    "xianzai",
    "women",
    "zhongguo",
    "xiexie",
    "nihao",
    "shouji",
    "dianhuahaoma",
    "shenfenzheng",
    "chepaihao",
    "guangdongsheng",
    "futianqu",
    "nanshanqu",
]

#: Initials, southern-accent spellings and place names (every prefix is looked up too).
ACCENTED = [
    "sq",
    "tc",
    "dqfwzx",
    "flzx",
    "suibei",
    "sungang",
    "zongguo",
    "sensen",
    "lanshanqu",
    "cenjianguo",
    "zenfuzen",
    "lvsi",
    "xinmin",
    "sigongsi",
]
STATION = {
    "name": "水贝社区党群服务中心",
    "address": "深圳市罗湖区翠竹街道布心路3008号",
    "places": ["笋岗", "水贝珠宝大厦"],
}

COLD_LOAD_SCRIPT = (
    "import sys,time;t=time.perf_counter();"
    "from kiosk.ime import PinyinDictionary;"
    "d=PinyinDictionary.load(sys.argv[1]);"
    "print(time.perf_counter()-t, d.load_seconds, d.origin)"
)


def _queries(typed: list[str] = TYPED) -> list[str]:
    """Every prefix of every typed phrase."""
    return [word[:end] for word in typed for end in range(1, len(word) + 1)]


def _timed(dictionary: PinyinDictionary, queries: list[str], rounds: int) -> list[float]:
    """Seconds per lookup, sorted."""
    timings = []
    for _ in range(rounds):
        for query in queries:
            started = time.perf_counter()
            dictionary.lookup(query, 20)
            timings.append(time.perf_counter() - started)
    return sorted(timings)


def _percentile(sorted_values: list[float], share: float) -> float:
    """The value below which ``share`` of ``sorted_values`` lie (nearest rank)."""
    rank = max(0, min(len(sorted_values) - 1, round(share * len(sorted_values)) - 1))
    return sorted_values[rank]


def run(rounds: int = 20) -> dict:
    """Measure everything in a fresh temporary cache folder and return the figures (seconds, bytes)."""
    with tempfile.TemporaryDirectory(prefix="ime-bench-") as cache_dir:
        started = time.perf_counter()
        built = PinyinDictionary.load(cache_dir)
        build_seconds = time.perf_counter() - started
        assert built.origin == "build"

        loads = []
        for _ in range(5):
            started = time.perf_counter()
            cached = PinyinDictionary.load(cache_dir)
            loads.append(time.perf_counter() - started)
            assert cached.origin == "cache"

        # A kiosk restart pays the imports too, so also time a fresh interpreter.
        fresh = subprocess.run(
            [sys.executable, "-c", COLD_LOAD_SCRIPT, cache_dir],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        fresh_total, fresh_load = float(fresh[0]), float(fresh[1])

        tracemalloc.start()
        measured = PinyinDictionary.load(cache_dir)
        memory_bytes, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        timings = _timed(measured, _queries(), rounds)
        started = time.perf_counter()
        words = measured.add_words(station_words(STATION))
        words_seconds = time.perf_counter() - started
        # Again under tracemalloc (which slows it tenfold) for the memory the words hold.
        tracemalloc.start()
        measured.add_words(station_words(STATION))
        words_bytes, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        accented = _timed(measured, _queries(ACCENTED), rounds)
        cache_bytes = (Path(cache_dir) / CACHE_FILE).stat().st_size

    return {
        "build_s": build_seconds,
        "cached_load_median_s": statistics.median(loads),
        "fresh_process_load_s": fresh_load,
        "fresh_process_import_and_load_s": fresh_total,
        "lookup_median_ms": statistics.median(timings) * 1e3,
        "lookup_p99_ms": _percentile(timings, 0.99) * 1e3,
        "lookup_max_ms": timings[-1] * 1e3,
        "lookups": len(timings),
        "station_words": words,
        "station_words_load_ms": words_seconds * 1e3,
        "station_words_memory_kb": words_bytes / 1e3,
        "accented_lookup_median_ms": statistics.median(accented) * 1e3,
        "accented_lookup_p99_ms": _percentile(accented, 0.99) * 1e3,
        "accented_lookup_max_ms": accented[-1] * 1e3,
        "entries": len(measured),
        "keys": measured.key_count,
        "memory_mb": memory_bytes / 1e6,
        "cache_file_mb": cache_bytes / 1e6,
    }


def handwriting_figures(rounds: int = 20) -> dict:
    """Opening Zinnia's model and classifying the test strokes of 社 区 停 车 (milliseconds); {} without Zinnia."""
    import json

    from kiosk import handwriting

    strokes = json.loads((Path(__file__).resolve().parent.parent / "tests" / "data" / "strokes_zh.json").read_text())
    started = time.perf_counter()
    try:
        recognizer = handwriting.Recognizer(handwriting.DEFAULT_MODEL)
    except handwriting.Unavailable as exc:
        print(f"handwriting: {exc}")
        return {}
    opened = time.perf_counter() - started
    timings = []
    for _ in range(rounds):
        for char_strokes in strokes["characters"].values():
            started = time.perf_counter()
            recognizer.classify(char_strokes, strokes["width"], strokes["height"], 10)
            timings.append(time.perf_counter() - started)
    recognizer.close()
    timings.sort()
    return {
        "handwriting_open_ms": opened * 1e3,
        "handwriting_classify_median_ms": statistics.median(timings) * 1e3,
        "handwriting_classify_p99_ms": _percentile(timings, 0.99) * 1e3,
    }


def main() -> None:
    """Print the figures, one per line."""
    figures = run()
    figures.update(handwriting_figures())
    for name, value in figures.items():
        print(f"{name:34} {value:.3f}" if isinstance(value, float) else f"{name:34} {value}")


if __name__ == "__main__":
    main()
