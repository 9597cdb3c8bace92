"""Turning a receipt into the ESC/POS bytes of one print job.

Default path: the whole receipt is rendered (:mod:`kiosk_hardware.render`)
and sent as ``GS v 0`` raster bands, so Chinese prints on any printer. The
bands are packed here rather than through python-escpos's ``image()``, which
converts pixels in Python: ~8 ms to pack one 80 mm ticket (576x584 dots)
against ~0.2 ms here (see bench/receipt_bench.py). python-escpos still
carries the bytes to the device.

Fast path (profiles with ``text_mode``): text goes out as native text in the
printer's Chinese mode, ``FS &`` … ``FS .``, encoded with the profile's codec
(GB18030 by default), never through python-escpos's ``text()``, which turns
CJK punctuation into "?" and sends Chinese without entering Chinese mode.
Codes, images, and any line the codec cannot encode are rasterised.
"""

from __future__ import annotations

import struct

from PIL import Image

from kiosk_hardware.profiles import PrinterProfile, get_profile
from kiosk_hardware.receipt import Feed, Footer, KeyValue, Receipt, Separator, Text, Title
from kiosk_hardware.render import render_blocks, render_receipt
from kiosk_hardware.text_wrap import wrap_text

ESC, GS, FS, DLE = b"\x1b", b"\x1d", b"\x1c", b"\x10"
LF = b"\n"
INIT = ESC + b"@"
KANJI_ON = FS + b"&"
KANJI_OFF = FS + b"."
CUTS = {"partial": GS + b"V\x01", "full": GS + b"V\x00", "none": b""}
_ALIGN = {"left": 0, "center": 1, "right": 2}


def raster_bands(image: Image.Image, band_rows: int) -> bytes:
    """``GS v 0`` commands for a mode "1" image, ``band_rows`` rows per command.

    Pillow's raw "1;I" packing is already what ``GS v 0`` wants: 8 dots per
    byte, most significant bit leftmost, rows padded to whole bytes, and
    1 = ink (the "I" inverts PIL's 1 = white).
    """
    if image.mode != "1":
        raise ValueError("raster_bands needs a mode '1' image")
    width_bytes = (image.width + 7) // 8
    data = image.tobytes("raw", "1;I")
    out = []
    for top in range(0, image.height, band_rows):
        rows = min(band_rows, image.height - top)
        out.append(GS + b"v0\x00" + struct.pack("<HH", width_bytes, rows))
        out.append(data[top * width_bytes : (top + rows) * width_bytes])
    return b"".join(out)


def job_end(profile: PrinterProfile, cut: bool = True) -> bytes:
    """Feed the last line past the cutter, then cut (if the receipt asks and the printer can)."""
    feed = ESC + b"d" + bytes([profile.feed_lines]) if profile.feed_lines else b""
    return feed + (CUTS[profile.cut] if cut else b"")


def encode_receipt(receipt: Receipt, profile: PrinterProfile | str | None = None) -> bytes:
    """The complete job for ``receipt``: ``ESC @`` … feed, cut."""
    resolved = get_profile(profile)
    if not receipt.blocks:
        raise ValueError("nothing to print: the receipt has no blocks")
    if resolved.text_mode:
        return _encode_text_mode(receipt, resolved)
    image = render_receipt(receipt, resolved)
    return INIT + raster_bands(image, resolved.band_rows) + job_end(resolved, receipt.cut)


def _size_byte(size: int) -> bytes:
    return GS + b"!" + bytes([(size - 1) << 4 | (size - 1)])


class _TextEncoder:
    """Native-text encoding of the text blocks of one receipt."""

    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile
        self.codec = profile.codec

    def columns(self, ch: str) -> int:
        # In Chinese mode every multi-byte character prints double width.
        return 2 if len(ch.encode(self.codec)) > 1 else 1

    def encodable(self, *texts: str) -> bool:
        try:
            for text in texts:
                text.encode(self.codec)
        except UnicodeEncodeError:
            return False
        return True

    def lines(self, text: str, size: int, align: str, bold: bool) -> bytes:
        width = self.profile.text_columns // size
        out = [ESC + b"a" + bytes([_ALIGN[align]]), _size_byte(size), ESC + b"E" + bytes([bold])]
        for line in wrap_text(text, self.columns, width):
            out.append(line.encode(self.codec) + LF)
        out.append(_size_byte(1) + ESC + b"E\x00" + ESC + b"a\x00")
        return b"".join(out)

    def key_value(self, block: KeyValue) -> bytes:
        width = self.profile.text_columns // block.size
        key = wrap_text(block.key, self.columns, width)
        value = wrap_text(block.value, self.columns, width)
        bold_on, bold_off = (ESC + b"E\x01", ESC + b"E\x00") if block.bold else (b"", b"")
        if len(key) == 1 and len(value) == 1:
            gap = width - sum(map(self.columns, key[0])) - sum(map(self.columns, value[0]))
            if gap >= 1:
                return (
                    _size_byte(block.size)
                    + key[0].encode(self.codec)
                    + b" " * gap
                    + bold_on
                    + value[0].encode(self.codec)
                    + bold_off
                    + LF
                    + _size_byte(1)
                )
        return self.lines(block.key, block.size, "left", False) + self.lines(
            block.value, block.size, "right", block.bold
        )

    def separator(self, block: Separator) -> bytes:
        cols = self.profile.text_columns
        if block.style == "solid" and self.encodable("─"):
            return ("─" * (cols // 2)).encode(self.codec) + LF
        return ("-" * cols).encode("ascii") + LF

    def block(self, block: object) -> bytes | None:
        """Native bytes for a text block, or None when it must be rasterised."""
        if isinstance(block, Text) and self.encodable(block.text):
            return self.lines(block.text, block.size, block.align, block.bold)
        if isinstance(block, Title) and self.encodable(block.text):
            return self.lines(block.text, block.size, block.align, True)
        if isinstance(block, Footer) and self.encodable(block.text):
            return self.lines(block.text, 1, block.align, False)
        if isinstance(block, KeyValue) and self.encodable(block.key, block.value):
            return self.key_value(block)
        if isinstance(block, Separator):
            return self.separator(block)
        if isinstance(block, Feed):
            return ESC + b"d" + bytes([block.lines])
        return None


def _encode_text_mode(receipt: Receipt, profile: PrinterProfile) -> bytes:
    encoder = _TextEncoder(profile)
    out = [INIT, KANJI_ON]
    pending: list = []  # consecutive raster blocks share one render
    for block in receipt.blocks:
        native = encoder.block(block)
        if native is None:
            pending.append(block)
            continue
        if pending:
            out.append(raster_bands(render_blocks(pending, profile), profile.band_rows))
            pending = []
        out.append(native)
    if pending:
        out.append(raster_bands(render_blocks(pending, profile), profile.band_rows))
    out.append(KANJI_OFF)
    out.append(job_end(profile, receipt.cut))
    return b"".join(out)
