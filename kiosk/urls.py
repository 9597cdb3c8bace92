"""Links that leave the kiosk: the address a resident's phone opens from a QR code.

The kiosk browser usually reaches its server as ``http://127.0.0.1:5000``,
which means nothing to a phone. The station therefore names its public
address once, for the core and every plugin::

    [station]
    public_url = "https://shuibei.example.gov.cn"   # or KIOSK_PUBLIC_URL

:func:`public_url` builds every link a QR code, a receipt or a phone page
carries from that address. Without it the request's own host is used; when
that host is a loopback address (no phone can open it) a warning is logged
once and ``kiosk doctor`` reports it. Outside a request (a scheduled job) with
no public address, links start with ``http://localhost``.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlsplit

from flask import current_app, has_request_context, request, url_for

__all__ = ["public_url", "external_url", "public_base", "has_public_url"]

log = logging.getLogger("kiosk.urls")

#: Where links point when there is neither a public address nor a request.
NO_REQUEST_BASE = "http://localhost"


def is_loopback(host: str) -> bool:
    """True for ``localhost``, ``127.x.x.x`` and ``::1`` (with or without a port)."""
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def has_public_url(app=None) -> bool:
    """True when the station set its public address (``[station] public_url``)."""
    app = app or current_app
    return bool(app.config.get("PUBLIC_URL"))


def _warn_loopback_once(app, host: str) -> None:
    # Once per app: a busy screen builds a link on every page.
    if app.extensions.get("kiosk_urls_loopback_warned"):
        return
    app.extensions["kiosk_urls_loopback_warned"] = True
    log.warning(
        "QR codes and phone links point at %s, which no phone can open: set public_url under "
        "[station] in the station file (or KIOSK_PUBLIC_URL) to the address phones reach",
        host,
    )


def public_base(app=None) -> str:
    """The scheme, host and any path prefix phones reach, without a trailing slash.

    The station's ``public_url`` when set; else the current request's host
    (a warning is logged once when that host is a loopback address); else
    ``http://localhost``.
    """
    app = app or current_app
    configured = app.config.get("PUBLIC_URL")
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        if is_loopback(request.host):
            _warn_loopback_once(app, request.host)
        return request.url_root.rstrip("/")
    return NO_REQUEST_BASE


def _path(endpoint: str, values: dict) -> str:
    if has_request_context():
        # url_for adds the request's script root; the public base replaces it.
        return url_for(endpoint, **values)[len(request.script_root) :]
    return current_app.url_map.bind("localhost").build(endpoint, values)


def public_url(endpoint: str | None = None, *, path: str | None = None, station=None, **values) -> str:
    """An absolute URL for ``endpoint`` (built like ``url_for``) that a phone can open.

    :param endpoint: the Flask endpoint, e.g. ``"legal_mobile.status"``.
    :param path: instead of an endpoint, a path already built (``"/p/s/abc"``).
    :param station: the station the phone page belongs to; on a fleet server
        ``station=<code>`` is added so the page opens in that station.
    :param values: the endpoint's arguments; unknown ones become the query string.

    Works in a request and in a job (app context only).
    """
    if station is not None and current_app.config.get("FLEET"):
        values.setdefault("station", station.code)
    if path is None:
        if endpoint is None:
            raise TypeError("public_url() needs an endpoint or a path")
        target = _path(endpoint, values)
    else:
        target = path if path.startswith("/") else "/" + path
        if "station" in values:
            target += ("&" if "?" in target else "?") + "station=" + str(values["station"])
    return public_base() + target


#: The earlier name of :func:`public_url`; kept so existing plugins go on working.
external_url = public_url


def check_public_url(value) -> str:
    """``value`` as a public address without trailing slash; ValueError saying why not."""
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not text:
        raise ValueError(f'must be an address like "https://kiosk.example.gov.cn", not {value!r}')
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in text):
        raise ValueError(
            f'must start with http:// or https:// and name a host, like "https://kiosk.example.gov.cn", not {value!r}'
        )
    if parts.query or parts.fragment:
        raise ValueError(f"must not hold a query or fragment (? or #), not {value!r}")
    return text.rstrip("/")
