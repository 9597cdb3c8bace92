"""Text-mode receipts: GB18030 text for what the printer's font can draw, raster only for the rest.

Every check reads the ESC/POS bytes back with the project's parser: the
lines the printer would print in its own font (with size, bold and
justification), the bands it would print as bitmaps, in paper order.
"""

from __future__ import annotations

import io
import random

import pytest
import zxingcpp
from PIL import Image

from kiosk.config import ConfigError
from kiosk.device_config import check_printer_table
from kiosk_hardware.errors import PrinterConfigError
from kiosk_hardware.escpos_encode import encode_receipt
from kiosk_hardware.preview import preview_image, preview_png
from kiosk_hardware.printers.factory import printer_from_config
from kiosk_hardware.profiles import font_covers, get_profile, printer_profile
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.render import render_line
from kiosk_hardware.testing.escpos_parser import RasterBand, TextLine, parse
from kiosk_hardware.text_wrap import NO_LINE_END, NO_LINE_START, is_wide, wrap_text
from kiosk_plugins.legal.receipts import build_ticket, sample_ticket_context

QR_URL = "https://hub.example.cn/m/legal/t/7Qx9Kp2LmN4r?s=SZ-LG-0042"


def legal_ticket(number: str = "A012") -> Receipt:
    """The legal plugin's own ticket layout, as a resident gets it."""
    return build_ticket(sample_ticket_context(service="人民调解", ticket=number, priority="优先", url=QR_URL))


def qr_codes(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image.convert("L")) if r.format.name == "QRCode"]


def texts(job) -> list[str]:
    return [line.text for line in job.lines]


@pytest.mark.parametrize("profile, paper, limit", [("80mm", 576, 1000), ("58mm", 384, 1000)])
def test_legal_ticket_is_text_and_a_qr_code_the_printer_draws(profile, paper, limit):
    data = encode_receipt(legal_ticket(), profile)
    job = parse(data)

    assert len(data) < limit, f"{len(data)} bytes on the wire"
    assert job.names[:2] == ["ESC @", "FS &"] and job.names[-3:] == ["FS .", "ESC d", "GS V"]
    lines = {line.text.strip(): line for line in job.lines}
    number = lines["A012"]
    assert (number.width, number.height, number.bold, number.align, number.kanji) == (4, 4, True, 1, True)
    assert (lines["人民调解"].width, lines["人民调解"].align) == (2, 1)
    ahead = next(line for line in job.lines if line.text.startswith("前面等候"))
    assert ahead.text.endswith("3") and ahead.spans[0][1] is False and ahead.spans[-1] == ("3", True)
    assert any(t.startswith("手机") and t.endswith("138****5678") for t in texts(job))
    assert "13812345678" not in "".join(texts(job))
    # No raster at all: the QR code is the printer's own (GS ( k, model 2), centred by ESC a, within the paper.
    assert "GS v 0" not in job.names and job.qr_codes == [QR_URL]
    qr = [c.data for c in job.commands if c.name == "GS ( k"]
    assert qr[0] == b"1A2\x00" and qr[-1] == b"1Q0" and qr[3] == b"1P0" + QR_URL.encode()
    assert job.bands[0].align == 1 and job.bands[0].width_bytes * 8 <= paper - 2 * 4 * (qr[1][2])
    assert qr_codes(job.raster(paper)) == [QR_URL]
    # A printer that cannot draw QR codes gets the same code as a raster band (~5 kB more), centred too.
    own = parse(encode_receipt(legal_ticket(), {"base": profile, "native_qr": False}))
    assert "GS ( k" not in own.names and texts(own) == texts(job)
    assert own.bands[0].align == 1 and qr_codes(own.raster(paper)) == [QR_URL]
    # The raster receipt carries the same QR code in fifty times the bytes.
    raster = encode_receipt(legal_ticket(), f"{profile}-raster")
    assert "GS ( k" not in parse(raster).names
    assert len(raster) > 50 * len(data) and qr_codes(parse(raster).raster()) == [QR_URL]


def test_a_native_qr_code_shrinks_its_modules_to_fit_the_paper_or_is_refused():
    long_link = "https://hub.example.cn/m/legal/t/" + "x" * 400  # 77 modules a side: too wide at 8 dots each
    for profile, paper in (("58mm", 384), ("80mm", 576)):
        job = parse(encode_receipt(Receipt().qr(long_link, module=8), profile))
        (module,) = [c.data[2] for c in job.commands if c.name == "GS ( k" and c.data[1:2] == b"C"]
        assert 1 <= module < 8 and job.bands[0].width_bytes * 8 <= paper
        assert job.qr_codes == [long_link] and qr_codes(job.raster(paper)) == [long_link]
    with pytest.raises(ValueError, match="too large"):
        encode_receipt(Receipt().qr("x" * 3000), "58mm")  # more than any QR code holds


def test_character_the_printer_lacks_rasters_its_line_only():
    receipt = Receipt().text("第一行文字").text("姓名：王䶮 😀\n第三行文字").text("最后一行", bold=True)
    job = parse(encode_receipt(receipt, "80mm"))  # an unknown Chinese printer: GBK font, no 䶮, no emoji

    kinds = [("text", item.text) if isinstance(item, TextLine) else ("raster", item.rows) for item in job.items]
    assert [k for k, _ in kinds] == ["text", "raster", "text", "text"]
    assert [t for k, t in kinds if k == "text"] == ["第一行文字", "第三行文字", "最后一行"]
    (band,) = job.bands
    drawn = render_line("姓名：王䶮 😀")
    assert band.image().tobytes() == drawn.tobytes() and drawn.histogram()[0] > 200  # real ink, not a blank line

    # A printer whose font is the full GB18030 set prints 䶮 itself; the emoji is still raster.
    full = parse(encode_receipt(Receipt().text("王䶮").text("😀"), "80mm-cn"))
    assert texts(full) == ["王䶮"] and len(full.bands) == 1
    # A GB2312-only font lacks traditional characters: that line alone is raster.
    small = parse(encode_receipt(Receipt().text("简体字").text("繁體字"), printer_profile("58mm", None, "gb2312")))
    assert texts(small) == ["简体字"] and len(small.bands) == 1


def test_key_value_row_with_missing_character_is_one_raster_row():
    job = parse(encode_receipt(Receipt().kv("姓名", "王䶮").kv("窗口", "3号"), "58mm"))
    assert [type(item).__name__ for item in job.items] == ["RasterBand", "TextLine"]
    assert job.bands[0].width_bytes * 8 == 384 and job.lines[0].text.endswith("3号")


def test_font_repertoires():
    gb2312, gbk, gb18030 = (font_covers(name) for name in ("gb2312", "gbk", "gb18030"))
    for ch in "中文：，。、A1①─":
        assert gb2312(ch) and gbk(ch) and gb18030(ch), ch
    assert not gb2312("體") and gbk("體") and gb18030("體")
    assert not gbk("䶮") and gb18030("䶮")  # CJK Extension A
    assert not gb18030("😀") and not gb18030("𠀀") and not gb18030("\ue000")  # emoji, Extension B, private use
    assert not font_covers("none")("中") and font_covers("none")("A")


def test_model_from_python_escpos_capabilities():
    t88 = printer_profile(model="TM-T88V")
    assert (t88.width_dots, t88.dpi, t88.cut, t88.text_columns, t88.text_mode) == (512, 180, "partial", 42, True)
    assert (0, "CP437") in t88.code_pages and t88.width_mm == 72.2
    assert get_profile({"model": "tm-t88v"}).width_dots == 512  # case does not matter
    no_cutter = printer_profile(model="ZJ-5870")
    assert (no_cutter.width_dots, no_cutter.cut) == (384, "none")

    job = parse(encode_receipt(legal_ticket(), t88))
    assert "-" * 42 in texts(job) and all(b.width_bytes * 8 <= 512 for b in job.bands)
    assert qr_codes(job.raster(512)) == [QR_URL]
    assert job.names[-1] == "GS V" and job.commands[-1].args == (1,)  # partial cut
    assert not parse(encode_receipt(legal_ticket(), no_cutter)).cut

    # Its capability data says it draws QR codes itself; a model whose data says not gets raster.
    assert t88.native_qr and job.qr_codes == [QR_URL] and not no_cutter.native_qr
    assert "GS ( k" not in parse(encode_receipt(legal_ticket(), no_cutter)).names

    raster_t88 = printer_profile(model="TM-T88V", chinese_font="none")
    assert parse(encode_receipt(legal_ticket(), raster_t88)).raster().width == 512

    with pytest.raises(ValueError, match="unknown printer model 'TM-T99'.*TM-T88V"):
        printer_profile(model="TM-T99")
    with pytest.raises(ValueError, match="paper width of RP326.*width_dots"):
        printer_profile(model="RP326")
    assert printer_profile({"width_dots": 576}, "RP326").width_dots == 576
    with pytest.raises(ValueError, match="not both"):
        printer_profile("80mm", "TM-T88V")


def test_printer_table_settings_old_and_new():
    table = {"type": "network", "host": "192.0.2.10"}
    check_printer_table("devices.printer", {**table, "model": "TM-T88V", "chinese_font": "gb18030"})
    for old in ("80mm", "58mm", "80mm-cn", "58mm-cn", "80mm-raster", {"base": "58mm", "feed_lines": 2}):
        check_printer_table("devices.printer", {**table, "profile": old})
    assert get_profile("80mm").text_mode and not get_profile("80mm-raster").text_mode
    with pytest.raises(ConfigError, match=r"\[terminals.hall-1.printer\] unknown printer model"):
        check_printer_table("terminals.hall-1.printer", {**table, "model": "XP-Nothing"})
    with pytest.raises(ConfigError, match="chinese_font must be one of"):
        check_printer_table("devices.printer", {**table, "chinese_font": "big5"})
    with pytest.raises(ConfigError, match="unknown printer profile '76mm'"):
        check_printer_table("devices.printer", {**table, "profile": "76mm"})


def test_printer_built_from_a_model_setting(tmp_path):
    printer = printer_from_config({"type": "file", "path": str(tmp_path / "lp0"), "model": "TM-T88V"})
    assert (printer.profile.width_dots, printer.profile.cut, printer.profile.text_mode) == (512, "partial", True)
    raster = printer_from_config({"type": "file", "path": "x", "profile": "58mm", "chinese_font": "none"})
    assert (raster.profile.width_dots, raster.profile.text_mode) == (384, False)
    with pytest.raises(PrinterConfigError, match="unknown printer model 'TM-T99'"):
        printer_from_config({"type": "file", "path": "x", "model": "TM-T99"})


def test_preview_shows_the_receipt_at_the_models_width():
    image = Image.open(io.BytesIO(preview_png(legal_ticket(), printer_profile(model="TM-T88V"))))
    assert image.width == 512 and qr_codes(image) == [QR_URL]


def test_text_mode_preview_is_drawn_from_the_jobs_bytes():
    receipt = legal_ticket().text("姓名：王䶮").barcode("A012-0506")
    page = preview_image(receipt, "58mm")
    assert page.width == 384 and qr_codes(page) == [QR_URL]
    assert [r.text for r in zxingcpp.read_barcodes(page.convert("L")) if r.format.name == "Code128"] == ["A012-0506"]
    job = parse(encode_receipt(receipt, "58mm"))
    # The ticket number prints at 4x: 96 dots high, 4 characters of 48 dots, centred.
    assert job.lines[3].text == "A012"
    top = sum(24 * line.height + 6 for line in job.lines[:3])
    number = page.crop((0, top, 384, top + 96))
    inked = [x for x in range(384) if number.crop((x, 0, x + 1, 96)).histogram()[0]]
    assert 96 - 8 <= min(inked) and max(inked) <= 96 + 192 + 8 and max(inked) - min(inked) > 150
    # The line with 䶮 (not in a GBK font) is the job's own band, pasted in its place.
    band = next(b for b in job.bands if b.rows < 40)
    assert band.image().histogram()[0] > 100


# -- CJK line breaking (58 mm) -------------------------------------------------------


def test_58mm_paragraph_never_leaves_one_character_alone():
    # 16 double-width columns a line at 58 mm: 17 characters would leave "号。" alone.
    text = "请留意叫号屏幕过号请重新取号谢谢您。"
    job = parse(encode_receipt(Receipt().text(text), "58mm"))
    assert "".join(texts(job)) == text
    assert len(texts(job)[-1].rstrip("。")) >= 2


def _check_rules(text: str, lines: list[str], width: int) -> None:
    assert "".join(lines) == text.replace(" ", "") or " " in text
    for i, line in enumerate(lines):
        assert sum(2 if is_wide(ch) else 1 for ch in line) <= width or len(line) == 1, (line, width)
        if i:
            assert line[0] not in NO_LINE_START, (lines, i)
        if i < len(lines) - 1:
            assert line[-1] not in NO_LINE_END, (lines, i)
    last = [ch for ch in lines[-1] if ch not in NO_LINE_START]
    if len(lines) > 1 and len(last) == 1 and is_wide(last[0]):
        # Allowed only when moving a character down was impossible (the line above is all punctuation rules).
        above = lines[-2]
        assert len(above) <= 2 or all(ch in NO_LINE_START or ch in NO_LINE_END for ch in above[-2:]), lines


def test_wrap_rules_hold_for_random_chinese_paragraphs():
    rng = random.Random(18)
    hanzi, opening, closing = "法律咨询人民调解劳动仲裁公证请到窗口号", "（《「", "，。、！？）》」"

    def phrase() -> str:
        words = "".join(rng.choice(hanzi) for _ in range(rng.randint(1, 5)))
        if rng.random() < 0.2:
            words = rng.choice(opening) + words + rng.choice("）》」")
        return words + (rng.choice(closing) if rng.random() < 0.6 else "")

    for _ in range(400):
        text = "".join(phrase() for _ in range(rng.randint(1, 12)))
        width = rng.choice((8, 10, 16, 24, 32))
        _check_rules(text, wrap_text(text, lambda ch: 2 if is_wide(ch) else 1, width), width)


def test_parser_places_narrow_bands_by_their_justification():
    left = Receipt().qr("left", align="left")
    right = Receipt().qr("right", align="right")
    for receipt, want in ((left, 0), (right, 2)):
        job = parse(encode_receipt(receipt, "80mm"))
        band: RasterBand = job.bands[0]
        page = job.raster(576)
        inked = [x for x in range(page.width) if page.crop((x, 0, x + 1, page.height)).histogram()[0]]
        assert band.align == want
        assert (min(inked) < 8) if want == 0 else (max(inked) > 576 - 8)
