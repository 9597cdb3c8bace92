"""Links that leave the kiosk: QR codes a resident opens on their own phone.

The kiosk browser reaches the server as 127.0.0.1, which means nothing to a
phone, so QR codes use ``PUBLIC_URL`` (e.g. ``https://shuibei.example.cn``)
when the station sets it, and the request's own host otherwise.
"""

from __future__ import annotations

from flask import current_app, url_for


def external_url(endpoint: str, **values) -> str:
    """An absolute URL for ``endpoint`` that a phone can open."""
    base = (current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    if base:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)
