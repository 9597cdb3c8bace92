"""Receipt render + encode speed, and bytes on the wire per receipt.

Speed target: one 80 mm ticket with a QR code in ≤ 5 ms. Run ``python
bench/receipt_bench.py [iterations]``; the lead's bench command calls
:func:`run`. Every iteration prints a different ticket number, so the QR
code is really built each time (its cache would otherwise hide the cost).
Text mode keeps the bytes of blocks it encoded lately, per profile (the
station's name, labels and footer are the same on every ticket): its
figures are those of a kiosk printing tickets in a row, as it does.
Also measured, for the record: the first receipt in a fresh process (fonts
loaded, no glyph cached), each profile (text mode ``80mm``/``58mm``, the
``-raster`` ones), and python-escpos's own ``image()`` packing the same raster.

Bytes: :func:`wire_bytes` builds each built-in plugin's main receipt with
the plugin's own layout, in Simplified Chinese (legal queue ticket, rider
code, parking voucher, petition receipt), and counts the job's bytes in text
mode and as one raster, at 58 and 80 mm, with the seconds each takes over a
9600-baud serial line (10 bits a byte). Issue 18's target: a legal ticket
under 8 kB in text mode.
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

    image = render_receipt(ticket(1), "80mm-raster")
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
    encode_receipt(ticket(0), "80mm-raster")
    cold_ms = (time.perf_counter() - t0) * 1e3

    results: dict[str, Any] = {"iterations": iterations, "cold_first_receipt_ms": cold_ms}
    for profile in PROFILES:

        def job(n: int, profile: str = profile) -> bytes:
            return encode_receipt(ticket(n), profile)

        _timed(job, warmup, 10_000)
        times, data = _timed(job, iterations, 20_000)
        results[profile] = {**_summary(times), "bytes": len(data)}
    render_times, _ = _timed(lambda n: render_receipt(ticket(n), "80mm-raster"), iterations, 30_000)
    results["80mm_render_only"] = _summary(render_times)
    results["escpos_image_80mm_ms"] = _escpos_image_ms()
    results["wire_bytes"] = wire_bytes()
    return results


PROFILES = ("80mm", "58mm", "80mm-raster", "58mm-raster")
#: Profiles compared in :func:`wire_bytes`: text mode and one raster, per paper width.
WIRE_PROFILES = ("80mm", "80mm-raster", "58mm", "58mm-raster")
BAUD = 9600


def plugin_receipts() -> dict[str, Receipt]:
    """Each built-in plugin's main receipt, built by its own layout code in Simplified Chinese.

    The builders translate their labels in a request's language, so they run
    in a throwaway app (SQLite in a temporary folder, nothing started).
    """
    import shutil
    import tempfile

    from flask import g

    from kiosk.app import create_app
    from kiosk.testing import app_config, close_app
    from kiosk_plugins.courier_rest.receipts import build_pass
    from kiosk_plugins.legal.receipts import build_ticket, sample_ticket_context
    from kiosk_plugins.parking.receipts import build_voucher
    from kiosk_plugins.petitions.receipts import build as build_petition

    instance = tempfile.mkdtemp(prefix="kiosk-bench-receipts-")
    app = create_app(app_config(instance, f"sqlite:///{instance}/kiosk.db", TESTING_NO_LISTENER=True))
    try:
        with app.test_request_context():
            g.locale = "zh_Hans"
            station = "水贝社区党群服务中心"
            return {
                "legal.ticket": build_ticket(sample_ticket_context(station=station)),
                "courier_rest.pass": build_pass(
                    {
                        "station": "布心暖蜂驿站",
                        "name": "张**",
                        "phone": "13912345678",
                        "pass_url": "https://hub.example.cn/m/courier_rest/p/Zr8TqW3nVb6Y",
                    }
                ),
                "parking.voucher": build_voucher(
                    {
                        "lot": "水贝珠宝大厦停车场",
                        "address": "罗湖区水贝二路 18 号",
                        "plate": "粤B·D1**5",
                        "window": "19:00–次日 07:30",
                        "price": "10 元/次",
                        "code": "PK7F3Q9M2X",
                        "qr": "https://hub.example.cn/m/parking/v/PK7F3Q9M2X.4b1c9e",
                        "valid_until": "2024-05-07 07:30",
                        "station": station,
                    }
                ),
                "petitions.receipt": build_petition(
                    {
                        "tracking_no": "LG-SB-20240506-0042",
                        "status_url": "https://hub.example.cn/m/petitions/s/4f9c2a7e1b",
                        "station_name": station,
                        "type": "建议",
                        "category": "道路交通",
                        "place": "水贝二路与贝丽北路交叉口",
                        "time": "2024-05-06 09:31",
                    }
                ),
            }
    finally:
        close_app(app)
        shutil.rmtree(instance, ignore_errors=True)


def wire_bytes() -> dict[str, dict[str, int]]:
    """Bytes of each plugin's main receipt per profile (text mode and raster, 80 and 58 mm)."""
    return {
        layout: {profile: len(encode_receipt(receipt, profile)) for profile in WIRE_PROFILES}
        for layout, receipt in plugin_receipts().items()
    }


def print_wire_bytes(table: dict[str, dict[str, int]]) -> None:
    """The bytes table, with seconds at 9600 baud."""
    print(f"bytes on the wire per receipt (seconds at {BAUD} baud)")
    print("  " + "receipt".ljust(20) + "".join(p.rjust(20) for p in WIRE_PROFILES))
    for layout, row in table.items():
        cells = "".join(f"{n:>11,} ({n * 10 / BAUD:4.1f} s)".rjust(20) for n in row.values())
        print("  " + layout.ljust(20) + cells)


def main(argv: list[str]) -> None:
    """Print the figures."""
    if argv[1:2] == ["bytes"]:
        print_wire_bytes(wire_bytes())
        return
    iterations = int(argv[1]) if len(argv) > 1 else 300
    results = run(iterations)
    print(f"receipt render+encode, {results['iterations']} iterations, ticket with QR code")
    print(f"  first receipt in a fresh process (fonts load): {results['cold_first_receipt_ms']:.1f} ms")
    for profile in PROFILES:
        r = results[profile]
        print(f"  {profile:8s} median {r['median_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  {r['bytes']} bytes")
    r = results["80mm_render_only"]
    print(f"  80mm render only: median {r['median_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms")
    print(f"  python-escpos image() packing the same 80mm raster: {results['escpos_image_80mm_ms']:.2f} ms")
    print_wire_bytes(results["wire_bytes"])


if __name__ == "__main__":
    main(sys.argv)
