"""Rendering a receipt to the 1-bit raster the printer prints.

Layout runs first and only records what goes where; the canvas is then made
once at its final height and glyph masks are pasted in. The result is a PIL
image in mode "1" (white paper, black ink) exactly ``profile.width_dots``
wide: the ESC/POS encoder packs it into ``GS v 0`` bands and the preview
saves it as PNG, so staff see what the printer gets.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import cast

from PIL import Image, ImageOps

from kiosk_hardware.barcodes import QR_QUIET, barcode_mask, qr_mask
from kiosk_hardware.fonts import FontChain, font_chain
from kiosk_hardware.profiles import PrinterProfile, get_profile
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
)
from kiosk_hardware.text_wrap import wrap_text

#: Normal text height in dots, like ESC/POS font A (12x24, Chinese 24x24).
BASE_PX = 24
SEPARATOR_HEIGHT = 16
#: Images darker than this grey level print as ink.
IMAGE_THRESHOLD = 128

# Draw operations recorded by the layout pass.
_TextOp = tuple[str, int, int, FontChain, str]  # ("text", x, baseline, chain, line)
_MaskOp = tuple[str, int, int, Image.Image]  # ("mask", x, y, mask)
_RectOp = tuple[str, int, int, int, int]  # ("rect", x0, y0, x1, y1)
_Op = _TextOp | _MaskOp | _RectOp


def chain_for(size: int, bold: bool = False) -> FontChain:
    """The font chain for a receipt text size (1 = 24 dots)."""
    return font_chain(BASE_PX * size, bold)


class _Layout:
    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile
        self.left = profile.margin_dots
        self.width = profile.content_width
        self.y = 0
        self.ops: list[_Op] = []

    def _x(self, item_width: float, align: str) -> int:
        if align == "center":
            return self.left + max(0, round((self.width - item_width) / 2))
        if align == "right":
            return self.left + max(0, round(self.width - item_width))
        return self.left

    def paragraph(self, text: str, chain: FontChain, align: str) -> None:
        for line in wrap_text(text, chain.advance, self.width):
            self.ops.append(("text", self._x(chain.measure(line), align), self.y + chain.baseline, chain, line))
            self.y += chain.line_height

    def mask(self, mask: Image.Image, align: str, pad: int = 0) -> None:
        self.y += pad
        self.ops.append(("mask", self._x(mask.width, align), self.y, mask))
        self.y += mask.height + pad

    def key_value(self, block: KeyValue) -> None:
        key_chain = chain_for(block.size)
        value_chain = chain_for(block.size, block.bold)
        key_w, value_w = key_chain.measure(block.key), value_chain.measure(block.value)
        if key_w + key_chain.px + value_w <= self.width:
            baseline = self.y + key_chain.baseline
            self.ops.append(("text", self.left, baseline, key_chain, block.key))
            self.ops.append(("text", self._x(value_w, "right"), baseline, value_chain, block.value))
            self.y += key_chain.line_height
        else:
            self.paragraph(block.key, key_chain, "left")
            self.paragraph(block.value, value_chain, "right")

    def separator(self, block: Separator) -> None:
        top = self.y + SEPARATOR_HEIGHT // 2 - 1
        right = self.left + self.width
        if block.style == "solid":
            self.ops.append(("rect", self.left, top, right, top + 2))
        else:
            for x in range(self.left, right, 12):
                self.ops.append(("rect", x, top, min(x + 8, right), top + 2))
        self.y += SEPARATOR_HEIGHT

    def add(self, block: Block) -> None:
        if isinstance(block, Text):
            self.paragraph(block.text, chain_for(block.size, block.bold), block.align)
        elif isinstance(block, Title):
            chain = chain_for(block.size, bold=True)
            self.paragraph(block.text, chain, block.align)
            self.y += chain.px // 4
        elif isinstance(block, Footer):
            self.paragraph(block.text, chain_for(1), block.align)
        elif isinstance(block, KeyValue):
            self.key_value(block)
        elif isinstance(block, Separator):
            self.separator(block)
        elif isinstance(block, QRCode):
            module = block.module or self.profile.qr_module
            mask = qr_mask(block.data, block.level, module, self.width)
            self.mask(mask, block.align, pad=QR_QUIET * module)
        elif isinstance(block, Barcode):
            mask, text = barcode_mask(block.data, block.symbology, block.module, block.height, self.width)
            self.mask(mask, block.align, pad=8)
            if block.show_text:
                chain = chain_for(1)
                self.ops.append(
                    ("text", self._x(chain.measure(text), block.align), self.y + chain.baseline, chain, text)
                )
                self.y += chain.line_height
        elif isinstance(block, ImageBlock):
            self.mask(image_mask(block.data, block.width, self.width), block.align, pad=4)
        elif isinstance(block, Feed):
            self.y += block.lines * chain_for(1).line_height
        else:  # pragma: no cover - Receipt.add refuses other types
            raise TypeError(f"cannot render {block!r}")


def _decode_image(data: bytes, width: int | None, max_width: int) -> Image.Image:
    with Image.open(io.BytesIO(data)) as source:
        img = ImageOps.exif_transpose(source)
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            # Transparent areas are paper, not black.
            rgba = img.convert("RGBA")
            img = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img.alpha_composite(rgba)
        grey = img.convert("L")
    target = min(width or grey.width, max_width)
    if target != grey.width:
        height = max(1, round(grey.height * target / grey.width))
        grey = grey.resize((target, height), Image.Resampling.LANCZOS)
    return grey.point(_IMAGE_LUT, "1")


_IMAGE_LUT = [255 if v < IMAGE_THRESHOLD else 0 for v in range(256)]
_image_cache: OrderedDict[tuple[bytes, int | None, int], Image.Image] = OrderedDict()
_image_lock = threading.Lock()
IMAGE_CACHE_SIZE = 32


def image_mask(data: bytes, width: int | None, max_width: int) -> Image.Image:
    """An image block as an ink mask at its printed size.

    Cached by content: a station's logo on every ticket is decoded and resized
    once, not per receipt.
    """
    key = (hashlib.sha1(data).digest(), width, max_width)
    with _image_lock:
        mask = _image_cache.get(key)
        if mask is not None:
            _image_cache.move_to_end(key)
            return mask
    mask = _decode_image(data, width, max_width)
    with _image_lock:
        _image_cache[key] = mask
        while len(_image_cache) > IMAGE_CACHE_SIZE:
            _image_cache.popitem(last=False)
    return mask


def _paint(canvas: Image.Image, ops: Iterable[_Op]) -> None:
    # Glyphs go straight to Pillow's core paste: Image.paste() spends ~3 µs of
    # Python per call against ~1 µs here, and a ticket pastes ~160 glyphs.
    core = canvas.im
    for op in ops:
        if op[0] == "text":
            _, x, baseline, chain, line = cast(_TextOp, op)
            pen = float(x)
            for ch in line:
                glyph = chain.glyph(ch)
                if glyph.mask is not None:
                    left, top = round(pen) + glyph.dx, baseline + glyph.dy
                    core.paste(0, (left, top, left + glyph.width, top + glyph.height), glyph.mask.im)
                pen += glyph.advance
        elif op[0] == "mask":
            _, x, y, mask = cast(_MaskOp, op)
            canvas.paste(0, (x, y), mask)
        else:
            _, x0, y0, x1, y1 = cast(_RectOp, op)
            canvas.paste(0, (x0, y0, x1, y1))


def render_blocks(blocks: Iterable[Block], profile: PrinterProfile | str | None = None) -> Image.Image:
    """Render blocks to a mode "1" image ``profile.width_dots`` wide."""
    resolved = get_profile(profile)
    layout = _Layout(resolved)
    for block in blocks:
        layout.add(block)
    if layout.y == 0:
        raise ValueError("nothing to render: the receipt has no blocks")
    canvas = Image.new("1", (resolved.width_dots, layout.y), 1)
    _paint(canvas, layout.ops)
    return canvas


def render_line(text: str, size: int = 1, bold: bool = False) -> Image.Image:
    """One line of text as a mode "1" image just as wide as its ink (whole bytes).

    Text mode sends this for a line with a character the printer's font
    lacks: the line is printed from our font, the rest of the receipt stays
    printer text. Its height is the text size's line height.
    """
    chain = chain_for(size, bold)
    width = max(8, -(-round(chain.measure(text)) // 8) * 8)
    canvas = Image.new("1", (width, chain.line_height), 1)
    _paint(canvas, [("text", 0, chain.baseline, chain, text)])
    return canvas


def render_receipt(receipt: Receipt, profile: PrinterProfile | str | None = None) -> Image.Image:
    """The whole receipt as the printer's raster (white paper, black ink)."""
    return render_blocks(receipt.blocks, profile)
