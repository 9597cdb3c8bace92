"""Receipt render + encode speed (target: one 80 mm ticket with a QR code in ≤ 5 ms).

Run ``python bench/receipt_bench.py [iterations]``; the lead's bench command
calls :func:`run`. Every iteration prints a different ticket number, so the QR
code is really built each time (its cache would otherwise hide the cost).
Also measured, for the record: the first receipt in a fresh process (fonts
loaded, no glyph cached), the text-mode (``80mm-cn``) fast path, and
python-escpos's own ``image()`` packing the same raster.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from kiosk_hardware.escpos_encode import encode_receipt
from kiosk_hardware.fonts import reset_font_cache
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.render import render_receipt


def ticket(number: int) -> Receipt:
    """A legal-consultation queue ticket like the ones the kiosk prints."""
    code = f"A{number % 1000:03d}"
    return (
        Receipt()
        .title("法律咨询排队")
        .text("水贝社区党群服务中心 · 法治功能区", align="center")
        .separator()
        .kv("排队号码", code, bold=True)
        .kv("业务类型", "人民调解")
        .kv("前面等待", f"{number % 7} 人")
        .kv("取号时间", "2024-05-06 09:31")
        .text("请留意叫号屏幕，过号请重新取号。扫描二维码可查看排队进度。")
        .qr(f"https://kiosk.example.cn/q/{code}?s=shuibei&n={number}")
        .footer("服务时间：周一至周六 9:00-18:00")
    )


def _timed(fn: Callable[[int], Any], iterations: int, start: int) -> tuple[list[float], Any]:
    times, result = [], None
    for i in range(iterations):
        t0 = time.perf_counter()
        result = fn(start + i)
        times.append(time.perf_counter() - t0)
    return times, result


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"median_ms": statistics.median(ordered) * 1e3, "p99_ms": p99 * 1e3}


def _escpos_image_ms(repeats: int = 20) -> float:
    """python-escpos packing the same 80 mm raster with ``image(impl="bitImageRaster")``."""
    from escpos.printer import Dummy

    image = render_receipt(ticket(1), "80mm")
    times = []
    for _ in range(repeats):
        printer = Dummy()
        t0 = time.perf_counter()
        # It prints a warning to stdout when its own profile has no width.
        with contextlib.redirect_stdout(io.StringIO()):
            printer.image(image, impl="bitImageRaster", fragment_height=128)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def run(iterations: int = 300, warmup: int = 30) -> dict[str, Any]:
    """Measure and return the figures (milliseconds and bytes)."""
    if iterations < 200:
        raise ValueError("use at least 200 iterations for a meaningful p99")
    reset_font_cache()
    t0 = time.perf_counter()
    encode_receipt(ticket(0), "80mm")
    cold_ms = (time.perf_counter() - t0) * 1e3

    results: dict[str, Any] = {"iterations": iterations, "cold_first_receipt_ms": cold_ms}
    for profile in ("80mm", "58mm", "80mm-cn"):

        def job(n: int, profile: str = profile) -> bytes:
            return encode_receipt(ticket(n), profile)

        _timed(job, warmup, 10_000)
        times, data = _timed(job, iterations, 20_000)
        results[profile] = {**_summary(times), "bytes": len(data)}
    render_times, _ = _timed(lambda n: render_receipt(ticket(n), "80mm"), iterations, 30_000)
    results["80mm_render_only"] = _summary(render_times)
    results["escpos_image_80mm_ms"] = _escpos_image_ms()
    return results


def main(argv: list[str]) -> None:
    """Print the figures."""
    iterations = int(argv[1]) if len(argv) > 1 else 300
    results = run(iterations)
    print(f"receipt render+encode, {results['iterations']} iterations, ticket with QR code")
    print(f"  first receipt in a fresh process (fonts load): {results['cold_first_receipt_ms']:.1f} ms")
    for profile in ("80mm", "58mm", "80mm-cn"):
        r = results[profile]
        print(f"  {profile:8s} median {r['median_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  {r['bytes']} bytes")
    r = results["80mm_render_only"]
    print(f"  80mm render only: median {r['median_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms")
    print(f"  python-escpos image() packing the same 80mm raster: {results['escpos_image_80mm_ms']:.2f} ms")


if __name__ == "__main__":
    main(sys.argv)
