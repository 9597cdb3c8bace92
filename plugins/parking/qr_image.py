"""The voucher's QR code drawn for the screen, as an SVG data URI.

The kiosk's CSP allows ``data:`` images, so the code needs no extra request
and never lands in a cache or a file.
"""

from __future__ import annotations

import base64
import io


def qr_data_uri(data: str) -> str:
    """An ``<img src>`` value showing ``data`` as a QR code (black on white, quiet zone kept)."""
    import qrcode  # with Pillow behind it: loaded on the first voucher, not at start
    import qrcode.image.svg

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4,
                       image_factory=qrcode.image.svg.SvgPathFillImage)
    qr.add_data(data)
    qr.make(fit=True)
    buffer = io.BytesIO()
    qr.make_image().save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
