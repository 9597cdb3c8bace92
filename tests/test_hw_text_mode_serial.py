"""A legal-queue ticket printed whole over a 9600-baud serial line (issue 18 point 3).

As one raster the ticket is ~33 kB at 58 mm: 34 s of line time, longer than
any write timeout, and three partial tickets came out at a station. In text
mode it is ~4 kB. The line is :class:`ThrottledSerialLine`, a pseudo-terminal
whose far end reads no faster than 9600 baud carries (960 bytes a second),
and the printer is the ordinary serial backend built from its config.
"""

from __future__ import annotations

import time

import zxingcpp

from kiosk_hardware.escpos_encode import encode_receipt
from kiosk_hardware.printers.factory import printer_from_config
from kiosk_hardware.testing.fake_devices import ThrottledSerialLine
from kiosk_plugins.legal.receipts import build_ticket, sample_ticket_context

URL = "https://hub.example.cn/m/legal/t/7Qx9Kp2LmN4r?s=SZ-LG-0042"


def test_legal_ticket_in_text_mode_prints_completely_at_9600_baud():
    ticket = build_ticket(sample_ticket_context(url=URL))
    expected = encode_receipt(ticket, "58mm")
    assert len(expected) < 8000

    with ThrottledSerialLine(9600) as line:
        printer = printer_from_config(line.printer_config(profile="58mm"))
        started = time.monotonic()
        result = printer.print_receipt(ticket)
        (job,) = line.wait_for_jobs(1, timeout=15)
        elapsed = time.monotonic() - started

    # The line really was slow: the bytes took about their 9600-baud time to cross it.
    assert elapsed >= 0.8 * line.seconds_for(len(expected))
    assert result.bytes_sent == len(expected)
    assert job.complete and job.data == expected  # every byte, in order, up to the cut
    parsed = job.parse()
    words = [text.strip() for text in parsed.text.splitlines()]
    assert "A012" in words and "水贝社区党群服务中心" in words and "法律咨询" in words
    assert any(w.startswith("手机") and w.endswith("138****5678") for w in words)
    assert words[-1] == "请妥善保管此票，过号请重新取号"
    assert parsed.cut
    codes = [r.text for r in zxingcpp.read_barcodes(parsed.raster(384).convert("L"))]
    assert codes == [URL]
