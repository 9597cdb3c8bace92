"""Receipt model, fonts, rendering and ESC/POS encoding, checked by reading the bytes back."""

from __future__ import annotations

import io
import json
import os
from datetime import datetime

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from kiosk_hardware.escpos_encode import encode_receipt, raster_bands
from kiosk_hardware.font_cmap import CharMap
from kiosk_hardware.fonts import (
    DEBIAN_FONT_PACKAGE,
    FontChain,
    FontFace,
    MissingCJKFontError,
    cjk_font_check,
    default_faces,
)
from kiosk_hardware.preview import preview_png
from kiosk_hardware.profiles import PROFILES, get_profile
from kiosk_hardware.receipt import Barcode, KeyValue, QRCode, Receipt, Text
from kiosk_hardware.render import render_receipt
from kiosk_hardware.testing.escpos_parser import EscposParseError, StreamParser, parse
from kiosk_hardware.testpage import build_test_page
from kiosk_hardware.text_wrap import wrap_text

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
CJK_PUNCTUATION = "：，。、；！？（）《》“”"


def ticket(url: str = "https://kiosk.example.cn/q/A012?s=shuibei") -> Receipt:
    return (
        Receipt()
        .title("法律咨询排队")
        .text("水贝社区党群服务中心", align="center")
        .separator()
        .kv("排队号码", "A012", bold=True)
        .kv("业务类型", "人民调解")
        .text("请留意叫号屏幕：过号请重新取号，谢谢。")
        .qr(url)
        .footer("服务热线：0755-12345678")
    )


def decode(image: Image.Image) -> dict[str, str]:
    return {r.format.name: r.text for r in zxingcpp.read_barcodes(image.convert("L"))}


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# -- the document model ------------------------------------------------------


def test_receipt_round_trips_through_json_with_image_bytes():
    logo = Image.new("RGB", (40, 20), "white")
    ImageDraw.Draw(logo).rectangle((5, 5, 15, 15), fill="black")
    receipt = ticket().barcode("A012-0506", height=60).image(logo, width=100).feed(2)
    receipt.cut = False

    data = json.loads(json.dumps(receipt.to_dict()))
    again = Receipt.from_dict(data)

    assert again == receipt
    assert isinstance(data["blocks"][-2]["data"], str)  # base64 text, not bytes or a PIL object
    assert again.blocks[-2].data == receipt.blocks[-2].data
    assert again.cut is False


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Text("x", size=9), "size"),
        (lambda: Text("x", align="middle"), "align"),
        (lambda: QRCode(""), "empty"),
        (lambda: QRCode("x", level="Z"), "level"),
        (lambda: Barcode("x", symbology="pdf417"), "symbology"),
        (lambda: Receipt().image(b"not an image"), "readable image"),
    ],
)
def test_blocks_reject_bad_values(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_from_dict_rejects_unknown_kinds_and_keys():
    with pytest.raises(ValueError, match="kind"):
        Receipt.from_dict({"blocks": [{"kind": "hologram"}]})
    with pytest.raises(ValueError, match="unknown keys"):
        Receipt.from_dict({"blocks": [{"kind": "text", "text": "x", "colour": "red"}]})


def test_plain_text_lists_the_words():
    text = ticket().plain_text()
    assert "法律咨询排队" in text and "排队号码: A012" in text and "[qr: https://kiosk.example.cn" in text


def test_profile_from_dict_overrides_base_and_refuses_typos():
    profile = get_profile({"base": "58mm-cn", "codec": "gbk"})
    assert (profile.width_dots, profile.text_mode, profile.codec) == (384, True, "gbk")
    with pytest.raises(ValueError, match="unknown printer profile keys"):
        get_profile({"widht_dots": 576})
    with pytest.raises(ValueError, match="unknown printer profile"):
        get_profile("76mm")


# -- fonts ---------------------------------------------------------------------


def test_cjk_font_is_found_and_covers_rare_character():
    check = cjk_font_check()
    assert check.ok, check.message
    assert check.face.family.endswith("SC")  # the mainland cut of Noto Sans CJK
    assert "䶮" in check.face.charmap()


def test_missing_cjk_font_names_the_debian_package(tmp_path):
    check = cjk_font_check(candidates=[(str(tmp_path / "nothing.ttc"), "")])
    assert not check.ok
    assert DEBIAN_FONT_PACKAGE in check.message and "apt-get install" in check.message
    with pytest.raises(MissingCJKFontError, match=DEBIAN_FONT_PACKAGE):
        FontChain([], 24)


def test_cmap_format_4_and_12_agree():
    face = default_faces()[0]
    wide, bmp = CharMap(face.path, face.index, (12,)), CharMap(face.path, face.index, (4,))
    sample = [ord(c) for c in "法律咨询䶮：，。、ABC"] + list(range(0x4E00, 0x4F00))
    assert [wide.glyph_id(c) for c in sample] == [bmp.glyph_id(c) for c in sample]
    assert all(wide.glyph_id(c) for c in sample)
    assert wide.glyph_id(0x10FFFD) == 0  # a private-use code point no font here draws


def test_character_missing_from_first_font_comes_from_the_next():
    if not os.path.exists(DEJAVU):
        pytest.skip("DejaVu Sans not installed (Debian package fonts-dejavu-core)")
    latin = FontFace(DEJAVU, 0, "DejaVu Sans")
    noto = default_faces()[0]
    latin_only = FontChain([latin], 24)
    mixed = FontChain([latin, noto], 24)
    cjk_only = FontChain([noto], 24)

    latin_only.glyph("䶮")
    assert "䶮" in latin_only.missing
    assert mixed.glyph("䶮").mask.tobytes() == cjk_only.glyph("䶮").mask.tobytes()
    assert not mixed.missing
    assert mixed.glyph("A").advance == latin_only.glyph("A").advance != cjk_only.glyph("A").advance


# -- line breaking -------------------------------------------------------------


def test_wrap_keeps_punctuation_off_line_starts_and_latin_words_whole():
    def one(ch: str) -> int:
        return 1

    lines = wrap_text("请留意叫号屏幕，过号请重新取号。", one, 7)
    assert all(line and line[0] not in "，。" for line in lines)
    assert "".join(lines) == "请留意叫号屏幕，过号请重新取号。"
    assert wrap_text("please wait here", one, 10) == ["please", "wait here"]
    assert wrap_text("a\n\nb", one, 10) == ["a", "", "b"]
    assert wrap_text("x" * 25, one, 10) == ["x" * 10, "x" * 10, "x" * 5]


# -- raster path -----------------------------------------------------------------


@pytest.mark.parametrize("profile, width", [("58mm-raster", 384), ("80mm-raster", 576)])
def test_raster_job_rebuilds_to_the_rendered_bitmap_and_qr_decodes(profile, width):
    url = f"https://kiosk.example.cn/q/A012?w={width}"
    receipt = ticket(url)
    data = encode_receipt(receipt, profile)
    job = parse(data)

    assert job.names[0] == "ESC @"
    assert job.names[-2:] == ["ESC d", "GS V"]
    assert set(job.names[1:-2]) == {"GS v 0"}
    band_rows = PROFILES[profile].band_rows
    assert all(b.width_bytes == width // 8 and b.rows <= band_rows for b in job.bands)
    assert len(job.bands) > 1  # a ticket is taller than one band

    rebuilt = job.raster()
    rendered = render_receipt(receipt, profile)
    assert rebuilt.size == rendered.size and rebuilt.width == width
    assert rebuilt.tobytes() == rendered.tobytes()
    assert decode(rebuilt)["QRCode"] == url


def test_chinese_line_really_renders():
    first = render_receipt(Receipt().text("法律咨询"), "80mm")
    second = render_receipt(Receipt().text("人民调解"), "80mm")
    blank = render_receipt(Receipt().text("    "), "80mm")
    assert first.size == second.size == blank.size
    ink = lambda img: img.histogram()[0]  # noqa: E731 - black pixels in a mode "1" image
    assert ink(first) > 100 and ink(second) > 100 and ink(blank) == 0
    assert first.tobytes() != second.tobytes()
    # The glyphs sit in the line's first 4 x 24 dots, not somewhere else.
    assert ink(first.crop((4, 0, 4 + 4 * 24, first.height))) == ink(first)


def test_rare_character_prints_as_a_glyph_not_a_box():
    rare = render_receipt(Receipt().text("䶮"), "80mm")
    other = render_receipt(Receipt().text("䶯"), "80mm")  # its neighbour: a box would look the same
    assert rare.histogram()[0] > 30
    assert rare.tobytes() != other.tobytes()


def test_barcode_and_image_blocks_render():
    logo = Image.new("L", (200, 80), 255)
    ImageDraw.Draw(logo).rectangle((0, 0, 99, 79), fill=0)
    receipt = Receipt().barcode("A012-20240506").image(png_bytes(logo), width=100, align="left")
    image = parse(encode_receipt(receipt, "80mm-raster")).raster()
    assert decode(image)["Code128"] == "A012-20240506"
    # The logo was scaled to 100 dots: its black left half is 50 dots wide.
    bottom = image.crop((0, image.height - 30, image.width, image.height - 10))
    assert bottom.histogram()[0] == pytest.approx(50 * 20, rel=0.1)


def test_key_value_row_puts_value_at_the_right_edge():
    image = render_receipt(Receipt().add(KeyValue("号码", "A012")), "58mm")
    inked = [x for x in range(image.width) if image.crop((x, 0, x + 1, image.height)).histogram()[0]]
    assert min(inked) < 10 and max(inked) > image.width - 12


def test_qr_too_large_for_paper_is_refused():
    with pytest.raises(ValueError, match="too large"):
        encode_receipt(Receipt().qr("x" * 2500, level="H"), "58mm")


def test_empty_receipt_is_refused():
    with pytest.raises(ValueError, match="no blocks"):
        encode_receipt(Receipt(), "80mm")


def test_receipt_without_cut_feeds_but_does_not_cut():
    receipt = ticket()
    receipt.cut = False
    job = parse(encode_receipt(receipt, "80mm"))
    assert job.names[-1] == "ESC d" and not job.cut


# -- native text path ------------------------------------------------------------


def test_text_mode_sends_gb18030_inside_chinese_mode_without_question_marks():
    receipt = ticket().text("标点" + CJK_PUNCTUATION).text("生僻字：䶮")
    job = parse(encode_receipt(receipt, "80mm-cn"))

    assert job.names[:2] == ["ESC @", "FS &"]
    assert job.names[-3:] == ["FS .", "ESC d", "GS V"]
    lines = {line.text: line for line in job.lines}
    assert "标点" + CJK_PUNCTUATION in lines and "生僻字：䶮" in lines
    for line in job.lines:
        assert line.kanji
        if any(ord(ch) > 0x7F for ch in line.text):
            assert b"?" not in line.raw, line.text
    assert lines["生僻字：䶮"].raw == "生僻字：䶮".encode("gb18030")
    title = lines["法律咨询排队"]
    assert (title.width, title.height, title.bold, title.align) == (2, 2, True, 1)
    # The QR code is still raster, and still decodes.
    assert decode(job.raster())["QRCode"] == "https://kiosk.example.cn/q/A012?s=shuibei"


def test_text_mode_key_value_fills_the_line():
    job = parse(encode_receipt(Receipt().kv("排队号码", "A012"), "58mm-cn"))
    (line,) = job.lines
    assert line.text.startswith("排队号码") and line.text.endswith("A012")
    assert len(line.raw) == 32  # 4 Chinese x 2 bytes + spaces + 4 = the 32 columns of 58 mm


def test_gbk_printer_gets_characters_outside_gbk_as_raster():
    receipt = Receipt().text("普通文字").text("生僻字：䶮")
    job = parse(encode_receipt(receipt, {"base": "80mm-cn", "codec": "gbk"}))
    assert [line.text for line in job.lines] == ["普通文字"]
    assert job.bands and job.raster().histogram()[0] > 50


# -- the parser itself ---------------------------------------------------------------


def test_parser_is_strict_about_unknown_commands_and_truncation():
    with pytest.raises(EscposParseError, match="unknown"):
        parse(b"\x1b@\x1bZ\x00")
    with pytest.raises(EscposParseError, match="ends inside"):
        parse(b"\x1d\x76\x30\x00\x02\x00\x02\x00\xff")


def test_stream_parser_waits_for_whole_raster_before_reading_status_query():
    image = Image.new("1", (16, 2), 0)
    data = raster_bands(image, 128) + b"\x10\x04\x04"
    parser = StreamParser()
    first = parser.feed(data[:5])
    second = parser.feed(data[5:-1])
    third = parser.feed(data[-1:])
    assert first == [] and [c.name for c in second] == ["GS v 0"]
    assert [(c.name, c.args) for c in third] == [("DLE EOT", (4,))]
    # 0x10 0x04 inside the raster data must not be taken for a query.
    tricky = Image.frombytes("1", (16, 1), b"\x10\x04", "raw", "1;I")
    assert [c.name for c in StreamParser().feed(raster_bands(tricky, 128))] == ["GS v 0"]


# -- preview and test page -------------------------------------------------------------


def test_preview_png_is_the_printed_raster():
    receipt = ticket("https://kiosk.example.cn/q/B007")
    png = preview_png(receipt, "58mm-raster")
    image = Image.open(io.BytesIO(png))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and image.width == 384
    assert decode(image)["QRCode"] == "https://kiosk.example.cn/q/B007"
    assert image.convert("1").tobytes() == parse(encode_receipt(receipt, "58mm-raster")).raster().tobytes()


def test_test_page_has_station_time_samples_and_scannable_qr():
    now = datetime(2024, 5, 6, 9, 31, 5)
    page = build_test_page("水贝社区党群服务中心", printer="network 10.0.0.5:9100", now=now)
    words = page.plain_text()
    for expected in ("水贝社区党群服务中心", "2024-05-06 09:31:05", "：，。、", "䶮", "network 10.0.0.5:9100"):
        assert expected in words
    image = render_receipt(page, "80mm")
    codes = decode(image)
    assert codes["QRCode"] == "KIOSK-TEST|水贝社区党群服务中心|2024-05-06T09:31:05"
    assert codes["Code128"] == "TEST093105"
    text_job = parse(encode_receipt(page, "80mm-cn"))
    assert any("䶮" in line.text for line in text_job.lines)
