"""The test page for ``kiosk printer test``.

It shows at a glance whether a printer is fit for a station: Chinese text and
punctuation (：，。、), a rare character (䶮, U+4DAE, outside GBK), Traditional
characters for Hong Kong families, sizes, alignment, a QR code a phone can
scan and a barcode, stamped with the station and the time.
"""

from __future__ import annotations

from datetime import datetime

from kiosk_hardware.receipt import Receipt

#: Sample lines; each exercises something that breaks on a badly set up printer.
SAMPLE_LINES = (
    "标点：，。、；！？（）《》“”……",
    "生僻字：䶮（yǎn）",
    "繁體：臺灣、香港居民服務",
    "法律咨询 人民调解 劳动仲裁 法治宣传 公证",
    "English 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ",
)


def build_test_page(
    station: str,
    *,
    printer: str = "",
    now: datetime | None = None,
    qr_data: str | None = None,
) -> Receipt:
    """A test receipt for ``station`` (``printer``: a description to print, e.g. its address).

    The QR code carries ``qr_data`` or, by default, the station and the time,
    so a scan proves the code printed sharply enough to read.
    """
    now = now or datetime.now()
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    receipt = Receipt().title("打印机测试页").text(station, align="center", bold=True).separator()
    receipt.kv("时间", stamp)
    if printer:
        receipt.kv("打印机", printer)
    receipt.separator()
    for line in SAMPLE_LINES:
        receipt.text(line)
    receipt.text("左对齐", align="left").text("居中", align="center").text("右对齐", align="right")
    receipt.text("大号字", size=2, bold=True)
    receipt.separator("solid")
    receipt.qr(qr_data or f"KIOSK-TEST|{station}|{now.isoformat(timespec='seconds')}")
    receipt.barcode("TEST" + now.strftime("%H%M%S"))
    receipt.footer("以上内容清晰完整，即打印机工作正常")
    return receipt
