"""The text-mode encoder keeps recently encoded blocks: same bytes, less work per receipt (issue 22)."""

from __future__ import annotations

from kiosk_hardware.escpos_encode import _TextEncoder, encode_receipt, text_encoder
from kiosk_hardware.profiles import get_profile
from kiosk_hardware.receipt import Receipt


def _ticket(number: str, url: str, extra: str = "") -> Receipt:
    receipt = (
        Receipt()
        .title("水贝社区党群服务中心", size=1)
        .text("法律咨询", size=2, bold=True, align="center")
        .separator()
        .text(number, size=4, bold=True, align="center")
        .separator("solid")
        .kv("前面等候", "3", bold=True)
        .kv("预计等候", "约 15 分钟")
        .qr(url)
        .feed(2)
        .text("扫码查看排队进度，叫号前会提醒您（请妥善保管此票，过号请重新取号）", align="center")
        .footer("请妥善保管此票，过号请重新取号")
    )
    if extra:
        receipt.text(extra)  # a character no printer font has: this line goes as raster
    return receipt


def _uncached(receipt: Receipt, profile) -> bytes:
    encoder = _TextEncoder(get_profile(profile))
    from kiosk_hardware.escpos_encode import INIT, KANJI_OFF, KANJI_ON, job_end

    blocks = b"".join(encoder.block(block) for block in receipt.blocks)
    return INIT + KANJI_ON + blocks + KANJI_OFF + job_end(get_profile(profile), receipt.cut)


def test_kept_blocks_give_the_same_bytes_on_58_and_80_mm():
    for name in ("58mm", "80mm"):
        for n in range(3):
            receipt = _ticket(f"A{n:03d}", f"https://hub.example.cn/t/{n}", extra="取号 😀" if n == 2 else "")
            first, again = encode_receipt(receipt, name), encode_receipt(receipt, name)
            assert first == again == _uncached(receipt, name)
    # 58 mm wraps the long line where 80 mm does not: the two profiles keep their own bytes.
    assert encode_receipt(_ticket("A001", "u"), "58mm") != encode_receipt(_ticket("A001", "u"), "80mm")


def test_a_receipt_like_the_last_encodes_only_what_changed():
    profile = get_profile({"base": "80mm", "text_columns": 46})  # a profile no other test encodes with
    encoder = text_encoder(profile)
    encode_receipt(_ticket("B001", "https://hub.example.cn/t/b1"), profile)
    before = encoder.encoded
    encode_receipt(_ticket("B002", "https://hub.example.cn/t/b2"), profile)
    assert encoder.encoded - before == 2  # the number and the QR code; the other nine blocks were kept


def test_what_is_kept_stays_bounded():
    profile = get_profile({"base": "58mm", "text_columns": 30})
    encoder = text_encoder(profile)
    for n in range(encoder.KEEP + 50):
        encode_receipt(Receipt().text(f"第 {n} 号"), profile)
    assert len(encoder._kept) == encoder.KEEP
    encode_receipt(Receipt().text("x" * 3000), profile)  # too long to keep
    assert ("x" * 3000) not in {key[1] for key in encoder._kept}
