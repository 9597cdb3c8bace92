"""Receipt previews as PNG: the raster the printer gets, for staff in the browser."""

from __future__ import annotations

import io
from typing import Any

from kiosk_hardware.receipt import Receipt
from kiosk_hardware.render import render_receipt


def preview_png(receipt: Receipt, profile: Any = None) -> bytes:
    """PNG bytes of ``receipt`` rendered for ``profile`` (name, dict or profile; default 80mm).

    It is the same 1-bit raster that raster profiles send. For a text-mode
    (``-cn``) profile the printer draws the text with its own font, so the
    preview shows the layout, not the printer's exact letterforms.
    """
    buffer = io.BytesIO()
    render_receipt(receipt, profile).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
