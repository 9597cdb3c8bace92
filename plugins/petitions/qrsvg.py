"""QR codes drawn as inline SVG for pages (no image endpoint, nothing cached on disk)."""

from __future__ import annotations

from markupsafe import Markup, escape


def qr_svg(data: str, label: str = "", css_class: str = "qr") -> Markup:
    """An ``<svg>`` of ``data`` as a QR code; ``label`` is read out by screen readers."""
    import qrcode  # with Pillow behind it: loaded on the first code drawn, not at start

    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = len(matrix)
    # One path of unit squares: crisp at any size and small enough to inline.
    path = "".join(f"M{x},{y}h1v1h-1z" for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark)
    return Markup(
        f'<svg class="{escape(css_class)}" viewBox="0 0 {size} {size}" xmlns="http://www.w3.org/2000/svg" '
        f'role="img" aria-label="{escape(label)}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/><path d="{path}" fill="#000"/></svg>'
    )
