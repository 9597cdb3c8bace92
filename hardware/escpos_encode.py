"""Turning a receipt into the ESC/POS bytes of one print job.

Text mode (the default: ``58mm``/``80mm`` profiles, printers with a Chinese
font): text goes out as the printer's own text in its Chinese mode, ``FS &``
… ``FS .``, encoded as GB18030, with ``GS !`` for sizes, ``ESC E`` for bold
and ``ESC a`` for alignment; never through python-escpos's ``text()``, which
turns CJK punctuation into "?" and sends Chinese without entering Chinese
mode. QR codes go as the printer's own ``GS ( k`` where the profile says it
has it (``native_qr``, the ``58mm``/``80mm`` profiles). Raster (``GS v 0``)
carries only what the printer cannot draw itself: other QR codes, barcodes
and pictures, each as a band just as wide as itself and placed by ``ESC a``
(a centred QR code is ~5 kB, not the ~18 kB of a paper-wide band), and a
*line* holding a character the printer's font lacks
(:meth:`PrinterProfile.covers`: emoji, rare characters outside its GB2312,
GBK or GB18030 repertoire). That line is printed from our font as a narrow
raster with the line's size and alignment; the paragraph's other lines and
the rest of the receipt stay text. A legal-queue ticket is ~0.6 kB on the
wire this way with a native QR code, ~5 kB with a raster one, against ~45 kB
as one raster (bench/receipt_bench.py).

Raster mode (``-raster`` profiles, ``chinese_font = "none"``): the whole
receipt is rendered (:mod:`kiosk_hardware.render`) and sent as paper-wide
``GS v 0`` bands, so Chinese prints on a printer with no Chinese font. The
bands are packed here rather than through python-escpos's ``image()``,
which converts pixels in Python: ~8 ms to pack one 80 mm ticket against
~0.2 ms here. python-escpos still carries the bytes to the device.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import TYPE_CHECKING

from kiosk_hardware.barcodes import barcode_mask, qr_mask, qr_native
from kiosk_hardware.profiles import PrinterProfile, font_covers, get_profile
from kiosk_hardware.receipt import (
    Barcode,
    Block,
    Feed,
    Footer,
    ImageBlock,
    KeyValue,
    QRCode,
    Receipt,
    Separator,
    Text,
    Title,
    block_values,
)
from kiosk_hardware.text_wrap import wrap_text

if TYPE_CHECKING:
    from PIL import Image

# Pillow and the renderer (kiosk_hardware.render, our fonts) are imported where something is drawn:
# a text-mode receipt of printable text with a native QR code needs neither (issue 22: worker memory).

ESC, GS, FS, DLE = b"\x1b", b"\x1d", b"\x1c", b"\x10"
LF = b"\n"
INIT = ESC + b"@"
KANJI_ON = FS + b"&"
KANJI_OFF = FS + b"."
CUTS = {"partial": GS + b"V\x01", "full": GS + b"V\x00", "none": b""}
_ALIGN = {"left": 0, "center": 1, "right": 2}
QUIET_LINE = ESC + b"d\x01"


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
    from kiosk_hardware.render import render_receipt

    image = render_receipt(receipt, resolved)
    return INIT + raster_bands(image, resolved.band_rows) + job_end(resolved, receipt.cut)


def _size_byte(size: int) -> bytes:
    return GS + b"!" + bytes([(size - 1) << 4 | (size - 1)])


def _align(align: str) -> bytes:
    return ESC + b"a" + bytes([_ALIGN[align]])


#: The commands above for every size and alignment, made once: the encoder looks them up.
_SIZE = {size: _size_byte(size) for size in range(1, 9)}
_ALIGN_TO = {align: _align(align) for align in _ALIGN}
_BOLD = {False: ESC + b"E\x00", True: ESC + b"E\x01"}
#: What closes a paragraph: normal size, bold off, left.
_PLAIN = _SIZE[1] + _BOLD[False] + _ALIGN_TO["left"]


def _ink_band(mask: Image.Image, band_rows: int) -> bytes:
    """Raster for an ink mask (255 = ink), widened to whole bytes with the spare dots split both sides."""
    from PIL import Image

    width = -(-mask.width // 8) * 8
    canvas = Image.new("1", (width, mask.height), 1)
    canvas.paste(0, ((width - mask.width) // 2, 0), mask)
    return raster_bands(canvas, band_rows)


#: Blocks whose bytes are not kept (:meth:`_TextEncoder.cached`): pictures, and barcodes, drawn as rasters.
_NOT_KEPT = (ImageBlock, Barcode)


class _TextEncoder:
    """Text-mode encoding of receipts for one profile, keeping the bytes of blocks it encoded lately.

    Most of a receipt is the same on every receipt of its layout (the
    station's name, the service, the labels, the footer): a block's bytes
    depend only on the block and the profile, so a block seen lately is not
    wrapped and encoded again (issue 22: the print thread's CPU per receipt).
    At most :attr:`KEEP` blocks of at most :attr:`KEEP_BYTES` each are kept
    per profile (a worker's memory stays bounded); pictures and barcodes are
    always encoded afresh.
    """

    KEEP = 256
    KEEP_BYTES = 2048

    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile
        self.codec = profile.codec
        self.covers = font_covers(profile.chinese_font, profile.codec)
        self._kept: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()  # printers of one profile have a worker thread each
        #: Blocks encoded (not found among the kept ones): for tests.
        self.encoded = 0
        self._covered: dict[str, bool] = {}
        #: The job's last bytes, with and without the cut (the receipt's ``cut``).
        self.end_cut, self.end_plain = job_end(profile, True), job_end(profile, False)

    def cached(self, block: Block) -> bytes:
        """The bytes of one block, from the kept ones when it was encoded lately."""
        if isinstance(block, _NOT_KEPT):
            return self.block(block)
        key = block_values(block)
        kept = self._kept
        # A look-up without the lock: each OrderedDict call is one step under the GIL, and a block another
        # worker evicted between the two is just not moved (the lock keeps adding and evicting together).
        data = kept.get(key)
        if data is not None:
            try:
                kept.move_to_end(key)
            except KeyError:
                pass
            return data
        data = self.block(block)
        self.encoded += 1
        if len(data) <= self.KEEP_BYTES:
            with self._lock:
                kept[key] = data
                if len(kept) > self.KEEP:
                    kept.popitem(last=False)
        return data

    @staticmethod
    def columns(ch: str) -> int:
        # In Chinese mode every multi-byte character prints double width (24 dots),
        # and a character rastered from our font is drawn as wide.
        return 1 if ord(ch) < 0x80 else 2

    @staticmethod
    def width(text: str) -> int:
        """The columns of a whole string (:meth:`columns` summed), counted in C: two a character less one per ASCII."""
        return 2 * len(text) - len(text.encode("ascii", "ignore"))

    #: Texts whose answer :meth:`printable` keeps (labels and names recur on every receipt); at most this many.
    KEEP_TEXTS = 1024

    def printable(self, *texts: str) -> bool:
        return all(map(self._printable, texts))

    def _printable(self, text: str) -> bool:
        if text.isascii() and text.isprintable():
            return True  # U+0020..U+007E: every printer font has them (what covers() says of each)
        known = self._covered.get(text)
        if known is None:
            known = all(map(self.covers, text))
            if len(self._covered) >= self.KEEP_TEXTS:
                self._covered.clear()
            self._covered[text] = known
        return known

    def line(self, line: str, size: int, bold: bool) -> bytes:
        if self.printable(line):
            return line.encode(self.codec) + LF
        from kiosk_hardware.render import render_line

        image = render_line(line, size, bold)
        if image.width > self.profile.width_dots:
            image = image.crop((0, 0, self.profile.width_dots, image.height))
        return raster_bands(image, self.profile.band_rows)

    def paragraph(self, text: str, size: int, align: str, bold: bool) -> bytes:
        width = self.profile.text_columns // size
        out = [_ALIGN_TO[align], _SIZE[size], _BOLD.get(bold) or ESC + b"E" + bytes([bold])]
        for line in wrap_text(text, self.columns, width, self.width):
            out.append(self.line(line, size, bold))
        out.append(_PLAIN)
        return b"".join(out)

    def key_value(self, block: KeyValue) -> bytes:
        if not self.printable(block.key, block.value):
            # One row, key left and value right, drawn by us.
            from kiosk_hardware.render import render_blocks

            return raster_bands(render_blocks([block], self.profile), self.profile.band_rows)
        width = self.profile.text_columns // block.size
        key = wrap_text(block.key, self.columns, width, self.width)
        value = wrap_text(block.value, self.columns, width, self.width)
        bold_on, bold_off = (_BOLD[True], _BOLD[False]) if block.bold else (b"", b"")
        if len(key) == 1 and len(value) == 1:
            gap = width - self.width(key[0]) - self.width(value[0])
            if gap >= 1:
                return (
                    _SIZE[block.size]
                    + key[0].encode(self.codec)
                    + b" " * gap
                    + bold_on
                    + value[0].encode(self.codec)
                    + bold_off
                    + LF
                    + _SIZE[1]
                )
        return self.paragraph(block.key, block.size, "left", False) + self.paragraph(
            block.value, block.size, "right", block.bold
        )

    def separator(self, block: Separator) -> bytes:
        cols = self.profile.text_columns
        if block.style == "solid" and self.printable("─"):
            return ("─" * (cols // 2)).encode(self.codec) + LF
        return b"-" * cols + LF

    def picture(self, mask: Image.Image, align: str) -> bytes:
        return _align(align) + _ink_band(mask, self.profile.band_rows) + _align("left")

    def block(self, block: Block) -> bytes:
        """The bytes of one block."""
        profile = self.profile
        if isinstance(block, Text):
            return self.paragraph(block.text, block.size, block.align, block.bold)
        if isinstance(block, Title):
            return self.paragraph(block.text, block.size, block.align, True)
        if isinstance(block, Footer):
            return self.paragraph(block.text, 1, block.align, False)
        if isinstance(block, KeyValue):
            return self.key_value(block)
        if isinstance(block, Separator):
            return self.separator(block)
        if isinstance(block, Feed):
            return ESC + b"d" + bytes([block.lines])
        if isinstance(block, QRCode):
            module = block.module or profile.qr_module
            # A fed line above and below is the code's quiet zone: blank raster rows would cost bytes.
            if profile.native_qr:
                # The printer draws it: its text goes out, not ~5 kB of raster, and nothing is computed here.
                code = qr_native(block.data, block.level, module, profile.content_width)
                return QUIET_LINE + _ALIGN_TO[block.align] + code + _ALIGN_TO["left"] + QUIET_LINE
            mask = qr_mask(block.data, block.level, module, profile.content_width)
            return QUIET_LINE + self.picture(mask, block.align) + QUIET_LINE
        if isinstance(block, Barcode):
            mask, text = barcode_mask(block.data, block.symbology, block.module, block.height, profile.content_width)
            out = self.picture(mask, block.align)
            if block.show_text:
                out += self.paragraph(text, 1, block.align, False)
            return out
        if isinstance(block, ImageBlock):
            from kiosk_hardware.render import image_mask

            return self.picture(image_mask(block.data, block.width, profile.content_width), block.align)
        raise TypeError(f"cannot encode {block!r}")  # pragma: no cover - Receipt.add refuses other types


@lru_cache(maxsize=16)
def text_encoder(profile: PrinterProfile) -> _TextEncoder:
    """The text-mode encoder of ``profile`` (one per profile: it keeps recently encoded blocks)."""
    return _TextEncoder(profile)


def _encode_text_mode(receipt: Receipt, profile: PrinterProfile) -> bytes:
    encoder = text_encoder(profile)
    cached = encoder.cached
    return b"".join(
        [
            INIT,
            KANJI_ON,
            *[cached(block) for block in receipt.blocks],
            KANJI_OFF,
            encoder.end_cut if receipt.cut else encoder.end_plain,
        ]
    )
