"""QR codes drawn as inline SVG for the kiosk screen and the rider's phone.

Inline SVG needs no image request and no script, so it passes the kiosk's
strict CSP; the quiet zone is kept so phone cameras lock on at once.
"""

from __future__ import annotations

from functools import lru_cache

from markupsafe import Markup, escape


@lru_cache(maxsize=256)
def qr_svg(data: str, size: int = 320, label: str = "") -> Markup:
    """An ``<svg>`` QR code of ``data``, ``size`` pixels square, with an accessible label.

    Cached: a rider's status page reloads on every change and its code never changes.
    """
    import qrcode  # with Pillow behind it: loaded on the first code drawn, not at start

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    n = len(matrix)
    # One path of horizontal runs: far fewer nodes than one square per module.
    parts = []
    for y, row in enumerate(matrix):
        x = 0
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                parts.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return Markup(
        f'<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" width="{size}" height="{size}" '
        f'role="img" aria-label="{escape(label)}" shape-rendering="crispEdges">'
        f'<rect width="{n}" height="{n}" fill="#fff"/><path fill="#000" d="{"".join(parts)}"/></svg>'
    )
