"""Addresses for QR codes: they are opened on a rider's phone, not on the kiosk.

A kiosk browser often talks to its server as http://127.0.0.1; a phone cannot.
``public_url`` in the plugin settings (or the core's ``PUBLIC_URL``) names the
address phones reach; without either the request's own host is used.
"""

from __future__ import annotations

from flask import current_app, has_request_context, request, url_for

from .settings import get_settings


def public_url(endpoint: str | None, path: str | None = None, **values) -> str:
    """An absolute URL for ``endpoint`` (or a given absolute ``path``) that a phone can open."""
    base = get_settings().public_url or current_app.config.get("PUBLIC_URL") or ""
    if not base and has_request_context():
        base = request.host_url
    target = path if path is not None else url_for(endpoint, **values)
    return base.rstrip("/") + target
