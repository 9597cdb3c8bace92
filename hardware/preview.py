"""Receipt previews as PNG: what the printer prints, for staff in the browser.

A raster profile's preview is the very raster the printer gets. A text-mode
profile's is drawn from the job's own bytes, read back with the ESC/POS
parser: each text line at its printer size (``GS !``), emphasis and
justification, in 12-dot columns (24 for a Chinese character) as the
printer's font A lays them out, and each raster band (QR code, barcode,
picture, a line the printer's font cannot draw) where ``ESC a`` puts it. The
letterforms are ours, not the printer's ROM font; the layout, wrapping and
sizes are what comes out.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from kiosk_hardware.escpos_encode import encode_receipt
from kiosk_hardware.profiles import COLUMN_DOTS, get_profile
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.render import chain_for, render_receipt
from kiosk_hardware.testing.escpos_parser import TextLine, parse

#: Dots between text lines: the default line spacing (ESC 2) less the 24-dot character.
LINE_GAP = 6
#: Where the baseline sits in a 24-dot character cell (Noto Sans CJK's ascent is 0.88 em).
ASCENT = 0.88


def _x(align: int, width: int, paper: int) -> int:
    spare = max(0, paper - width)
    return 0 if align == 0 else spare // 2 if align == 1 else spare


def text_mode_page(data: bytes, paper: int) -> Image.Image:
    """The paper a text-mode job prints on a printer ``paper`` dots wide (mode "1")."""
    job = parse(data)
    ops: list[tuple[int, int, Image.Image]] = []  # (x, y, ink mask)
    y = 0
    for item in job.items:
        y += item.feed_before * (24 + LINE_GAP)
        if isinstance(item, TextLine):
            px = 24 * item.height
            chars = [(ch, bold) for run, bold in item.spans for ch in run]
            cells = [COLUMN_DOTS * item.width * (1 if ord(ch) < 0x80 else 2) for ch, _ in chars]
            x = _x(item.align, sum(cells), paper)
            baseline = y + round(px * ASCENT)
            for (ch, bold), cell in zip(chars, cells, strict=True):
                glyph = chain_for(item.height, bold).glyph(ch)
                if glyph.mask is not None:
                    left = x + round((cell - glyph.advance) / 2) + glyph.dx
                    ops.append((left, baseline + glyph.dy, glyph.mask))
                x += cell
            y += px + LINE_GAP
        else:
            image = item.image()
            ink = Image.eval(image.convert("L"), lambda v: 255 - v).convert("1")
            ops.append((_x(item.align, image.width, paper), y, ink))
            y += item.rows
    canvas = Image.new("1", (paper, max(y, 1)), 1)
    for x, top, mask in ops:
        canvas.paste(0, (x, top), mask)
    return canvas


def preview_image(receipt: Receipt, profile: Any = None) -> Image.Image:
    """The receipt as it comes out of a printer of ``profile`` (name, dict or profile; default 80mm)."""
    resolved = get_profile(profile)
    if not resolved.text_mode:
        return render_receipt(receipt, resolved)
    return text_mode_page(encode_receipt(receipt, resolved), resolved.width_dots)


def preview_png(receipt: Receipt, profile: Any = None) -> bytes:
    """PNG bytes of :func:`preview_image`."""
    buffer = io.BytesIO()
    preview_image(receipt, profile).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
