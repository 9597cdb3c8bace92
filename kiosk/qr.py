"""QR images for screens and phone pages, drawn one way for every plugin.

One policy for every code a screen shows: error correction level M (a
scratched or glare-struck screen still reads), a quiet zone of 4 modules (the
standard's; phone cameras lock on at once), black on white. Pages get an
inline ``<svg>`` (no image request, nothing on disk, allowed by the kiosk's
strict CSP); a phone that wants to keep its code gets PNG bytes.

Codes are cached per process: the home screen and a ticket page draw the same
few codes again on every refresh. Printed receipts draw their own codes in the
hardware layer (``receipt.qr(...)``), sized for the paper.
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache

from markupsafe import Markup, escape

__all__ = ["qr_svg", "qr_png", "qr_data_uri", "QUIET_ZONE", "ERROR_CORRECTION"]

#: Error correction level of every screen code (L, M, Q or H).
ERROR_CORRECTION = "M"
#: Light modules around the code on every side.
QUIET_ZONE = 4
#: A fixed mask: scoring all eight costs milliseconds per code and any mask
#: decodes; the same choice as the receipts' codes.
_MASK = 2


@lru_cache(maxsize=512)
def _matrix(data: str) -> tuple[tuple[bool, ...], ...]:
    import qrcode  # with Pillow behind it: loaded on the first code drawn, not at start
    from qrcode.exceptions import DataOverflowError

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0, mask_pattern=_MASK)
    code.add_data(data.encode("utf-8"))
    try:
        code.make(fit=True)
    except (ValueError, DataOverflowError) as exc:
        raise ValueError(f"QR code data too large ({len(data)} characters)") from exc
    return tuple(tuple(bool(cell) for cell in row) for row in code.get_matrix())


def _runs(matrix) -> str:
    # One path of horizontal runs: far fewer nodes than one square per module.
    parts = []
    for y, row in enumerate(matrix):
        x, n = 0, len(row)
        while x < n:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < n and row[x]:
                x += 1
            parts.append(f"M{start + QUIET_ZONE} {y + QUIET_ZONE}h{x - start}v1h-{x - start}z")
    return "".join(parts)


@lru_cache(maxsize=512)
def qr_svg(data: str, label: str = "", *, size: int | None = None, css_class: str = "qr") -> Markup:
    """An inline ``<svg>`` QR code of ``data`` for a page.

    :param label: what a screen reader says (the code's purpose, in the user's language).
    :param size: width and height in CSS pixels; None leaves the size to the stylesheet.
    :param css_class: the ``class`` of the ``<svg>`` element.

    ValueError when ``data`` is too long for any QR code.
    """
    matrix = _matrix(data)
    n = len(matrix) + 2 * QUIET_ZONE
    dims = f' width="{int(size)}" height="{int(size)}"' if size else ""
    return Markup(
        f'<svg class="{escape(css_class)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}"{dims} '
        f'role="img" aria-label="{escape(label)}" shape-rendering="crispEdges">'
        f'<rect width="{n}" height="{n}" fill="#fff"/><path fill="#000" d="{_runs(matrix)}"/></svg>'
    )


@lru_cache(maxsize=128)
def qr_png(data: str, scale: int = 8) -> bytes:
    """The QR code of ``data`` as PNG bytes, ``scale`` pixels per module (for a download)."""
    from PIL import Image

    matrix = _matrix(data)
    n = len(matrix)
    size = n + 2 * QUIET_ZONE
    canvas = Image.new("L", (size, size), 255)
    ink = bytes(0 if cell else 255 for row in matrix for cell in row)
    canvas.paste(Image.frombytes("L", (n, n), ink), (QUIET_ZONE, QUIET_ZONE))
    canvas = canvas.resize((size * scale, size * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_data_uri(data: str, scale: int = 8) -> str:
    """The PNG of :func:`qr_png` as a ``data:`` URI, for an ``<img src>`` (allowed by the CSP)."""
    return "data:image/png;base64," + base64.b64encode(qr_png(data, scale)).decode("ascii")
