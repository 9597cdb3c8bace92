"""QR codes and linear barcodes as 1-bit ink masks for the receipt raster.

Every code is drawn by us into the raster instead of being sent as a native
printer command (``GS ( k``, ``GS k``): native support varies between cheap
printers, while a raster prints the same everywhere and the preview shows
exactly what comes out. Masks use 255 for ink, like glyph masks.
"""

from __future__ import annotations

from functools import lru_cache

import barcode as linear
import qrcode
from barcode.errors import BarcodeError
from PIL import Image
from qrcode.exceptions import DataOverflowError

_LEVELS = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}
#: A fixed mask pattern: scoring all eight masks costs ~3.5 ms per code in
#: pure Python (most of a receipt's budget), and any mask decodes correctly;
#: the scoring only avoids rare look-alike finder patterns.
QR_MASK = 2
#: Quiet zone around a QR code, in modules (the standard asks for 4).
QR_QUIET = 4
#: Quiet zone each side of a linear barcode, in modules.
BAR_QUIET = 10


def _ink_from_rows(rows: list[bytes], width: int) -> Image.Image:
    # Rows hold one byte per module, non-zero = dark; raw "1;8" reads exactly that.
    return Image.frombytes("1", (width, len(rows)), b"".join(rows), "raw", "1;8")


@lru_cache(maxsize=256)
def qr_modules(data: str, level: str = "M") -> Image.Image:
    """The QR code at one dot per module, ink = 255, without quiet zone.

    Cached, so a preview and the print of the same ticket share one code; the
    image is shared, so callers copy it before drawing on it.
    """
    qr = qrcode.QRCode(error_correction=_LEVELS[level], box_size=1, border=0, mask_pattern=QR_MASK)
    qr.add_data(data.encode("utf-8"))
    try:
        qr.make(fit=True)
    except (ValueError, DataOverflowError) as exc:
        # qrcode reports "version 41" when the data exceeds the largest code.
        raise ValueError(f"QR code data too large ({len(data)} characters): {exc}") from exc
    matrix = qr.get_matrix()
    return _ink_from_rows([bytes(row) for row in matrix], len(matrix))


def qr_mask(data: str, level: str, module: int, max_width: int) -> Image.Image:
    """The QR code scaled to ``module`` dots, shrunk if needed to fit ``max_width``
    with its quiet zone; ValueError if it cannot fit at one dot per module."""
    base = qr_modules(data, level)
    n = base.width
    while module > 1 and (n + 2 * QR_QUIET) * module > max_width:
        module -= 1
    if (n + 2 * QR_QUIET) * module > max_width:
        raise ValueError(f"QR code for {len(data)} characters is too large for the paper")
    return base.resize((n * module, n * module), Image.Resampling.NEAREST)


@lru_cache(maxsize=256)
def _bar_pattern(data: str, symbology: str) -> tuple[str, str]:
    cls = linear.get_barcode_class(symbology)
    try:
        code = cls(data, add_checksum=False) if symbology == "code39" else cls(data)
        pattern = code.build()[0]
    except BarcodeError as exc:
        raise ValueError(f"cannot encode {data!r} as {symbology}: {exc}") from exc
    return pattern, code.get_fullcode()


def barcode_mask(data: str, symbology: str, module: int, height: int, max_width: int) -> tuple[Image.Image, str]:
    """A linear barcode as an ink mask, plus the human-readable text to print under it.

    The module width shrinks to fit the paper with its quiet zones; ValueError
    when the data is invalid for the symbology or too long for the paper.
    """
    pattern, text = _bar_pattern(data, symbology)
    while module > 1 and (len(pattern) + 2 * BAR_QUIET) * module > max_width:
        module -= 1
    if (len(pattern) + 2 * BAR_QUIET) * module > max_width:
        raise ValueError(f"{symbology} barcode for {data!r} is too wide for the paper")
    row = _ink_from_rows([pattern.encode("ascii").translate(_BAR_BYTES)], len(pattern))
    return row.resize((len(pattern) * module, height), Image.Resampling.NEAREST), text


_BAR_BYTES = bytes.maketrans(b"01", b"\x00\x01")
