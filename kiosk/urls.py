"""Links that leave the kiosk: the address a resident's phone opens from a QR code.

The kiosk browser usually reaches its station node as ``http://127.0.0.1:5000``,
which means nothing to a phone. :func:`public_url` builds every link a QR code,
a receipt, a phone page or a webhook carries, for the core and every plugin:

- on a station node enrolled at a district hub, the link opens the **hub**
  (its public address, learned at enrolment: ``SyncState.hub_public_url``)
  with ``?station=<code>``, so the phone page opens in the station that printed
  it, even while the station itself is offline;
- on the hub, its own ``public_url`` with ``?station=<code>``;
- on a standalone station (no hub), its own address, named once::

    [station]
    public_url = "https://shuibei.example.gov.cn"   # or KIOSK_PUBLIC_URL

Without a public address the request's own host is used; when that host is a
loopback address (no phone can open it) a warning is logged once and
``kiosk doctor`` fails. Outside a request (a scheduled job) with no public
address, links start with ``http://localhost``.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache
from urllib.parse import quote, urlsplit

from flask import current_app, has_app_context, has_request_context, request, url_for
from sqlalchemy import select
from werkzeug.sansio.utils import get_current_url

from kiosk.config import check_public_url  # noqa: F401  (its home was here; config checks the setting)
from kiosk.row_cache import MISSING, RowCache

__all__ = ["public_url", "external_url", "public_base", "has_public_url"]

log = logging.getLogger("kiosk.urls")

#: Where links point when there is neither a public address nor a request.
NO_REQUEST_BASE = "http://localhost"


def is_loopback_address(address: str | None) -> bool:
    """True for a client address of this machine: ``127.x.x.x``, ``::1`` or ``::ffff:127.x.x.x``."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return bool((getattr(ip, "ipv4_mapped", None) or ip).is_loopback)


@lru_cache(maxsize=64)  # a request's host: the same few on every page of a kiosk
def is_loopback(host: str) -> bool:
    """True for ``localhost``, ``127.x.x.x`` and ``::1`` (with or without a port)."""
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def unreachable_reason(host: str) -> str:
    """Why a phone on 4G cannot open ``host`` (``"loopback"``, ``"private"``, ``"link-local"``), or ``""``."""
    name = urlsplit(f"//{host}").hostname or ""
    if is_loopback(host):
        return "loopback"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        # A bare machine name or a .local / .lan name only resolves inside the station's network.
        if name and ("." not in name or name.endswith((".local", ".lan", ".internal", ".home.arpa"))):
            return "private"
        return ""
    if address.is_link_local:
        return "link-local"
    if address.is_private or address.is_unspecified or address.is_reserved:
        return "private"
    return ""


def has_public_url(app=None) -> bool:
    """True when links this node builds open at an address it was told phones reach.

    The node's own ``[station] public_url``, or on a station node enrolled at a
    hub the hub's public address.
    """
    app = app or current_app
    return bool(app.config.get("PUBLIC_URL")) or bool(hub_public_url(app=app))


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


def own_base(app=None) -> str:
    """This node's own public address, without a trailing slash.

    Its ``public_url`` when set; else the current request's host (a warning is
    logged once when that host is a loopback address); else ``http://localhost``.
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    configured = app.config.get("PUBLIC_URL")
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        req = request._get_current_object()  # type: ignore[attr-defined]
        host = req.host
        if is_loopback(host):
            _warn_loopback_once(app, host)
        return _request_base(req.scheme, host, req.root_path)
    return NO_REQUEST_BASE


@lru_cache(maxsize=64)
def _request_base(scheme: str, host: str, root_path: str) -> str:
    """``request.url_root`` without its trailing slash, built once per scheme, host and path prefix.

    A link on every ticket; werkzeug builds the root URL anew for each request.
    """
    return get_current_url(scheme, host, root_path).rstrip("/")


def hub_public_url(station_id: int | None = None, app=None) -> str:
    """The public address of the hub this station node is enrolled at; ``""`` when it is not enrolled.

    Read from the station's sync state at most once per request (or job) and kept on
    ``g``, so a page with many QR codes asks the database once; a request takes it from
    the process's copy while that is under :data:`HUB_URL_CACHE_SECONDS` old.
    """
    from flask import g

    from kiosk.db import session_for

    here = current_app._get_current_object() if has_app_context() else None  # type: ignore[attr-defined]
    app = getattr(app, "_get_current_object", lambda: app)() if app is not None else here
    if app.config.get("ROLE") == "hub":
        return ""
    sid = station_id if station_id is not None else app.extensions["kiosk_station_id"]
    if app is not here:
        with session_for(app) as session:  # the CLI (kiosk doctor): no request to cache on
            return (session.scalar(_hub_url_query(sid)) or "").rstrip("/")
    known = g.setdefault("kiosk_hub_public_urls", {})
    if sid not in known:
        known[sid] = _enrolled_url(app, sid)
    return known[sid]


def _hub_url_query(sid: int):
    from kiosk.sync.models import SyncState

    return select(SyncState.hub_public_url).where(SyncState.station_id == sid)


#: Seconds a process answers "which hub is this station enrolled at" from memory
#: (an enrolment by another process, ``kiosk sync enroll``, is seen within this;
#: one through this process's ORM at once).
HUB_URL_CACHE_SECONDS = 2.0


def _sync_state_model():
    from kiosk.sync.models import SyncState

    return SyncState


_HUB_URLS = RowCache("kiosk_hub_public_urls", _sync_state_model)


def _enrolled_url(app, sid: int) -> str:
    """The hub address of station ``sid`` from the sync state, kept per process for a moment.

    Every page with a phone link asks it; a standalone station would read the
    same empty answer from the database on every request.
    """
    from kiosk.db import get_session

    url = _HUB_URLS.get(app, sid, HUB_URL_CACHE_SECONDS)
    if url is MISSING:
        generation = _HUB_URLS.generation()
        # The statement is built only when the database is asked (not on every cached answer).
        url = (get_session().scalar(_hub_url_query(sid)) or "").rstrip("/")
        _HUB_URLS.keep(app, sid, generation, url)
    return url


def public_base(app=None, station=None) -> str:
    """The scheme, host and any path prefix phones reach, without a trailing slash.

    On a station node enrolled at a hub, the hub's public address; else this
    node's own (see :func:`own_base`).
    """
    app = app or current_app
    hub = hub_public_url(getattr(station, "id", None), app)
    return hub or own_base(app)


def _path(endpoint: str, values: dict) -> str:
    if has_request_context():
        # url_for adds the request's script root; the public base replaces it.
        return url_for(endpoint, **values)[len(request.script_root) :]
    return current_app.url_map.bind("localhost").build(endpoint, values)


def _station_code(station) -> str | None:
    """The code a link must carry for the hub to open the page in the right station, or None."""
    from kiosk.stations import current_station

    app = current_app
    if station is not None:
        return station.code
    own_id = app.extensions["kiosk_station_id"]
    if app.config.get("ROLE") == "hub":
        # A hub page building a link for the station it is showing (never for the district itself).
        if has_request_context():
            shown = current_station()
            if shown.id != own_id:
                return shown.code
        return None
    if hub_public_url(own_id, app):
        return app.config["STATION"]["code"]
    return None


def public_url(endpoint: str | None = None, *, path: str | None = None, station=None, **values) -> str:
    """An absolute URL for ``endpoint`` (built like ``url_for``) that a phone can open.

    :param endpoint: the Flask endpoint, e.g. ``"legal_mobile.status"``.
    :param path: instead of an endpoint, a path already built (``"/p/s/abc"``).
    :param station: the station the phone page belongs to (default: this node's
        station, or on the hub the station the request shows). When the link
        opens at the hub it carries ``?station=<code>``.
    :param values: the endpoint's arguments; unknown ones become the query string.

    On a station node enrolled at a hub the link opens the hub; on a standalone
    station, this station's ``public_url`` (or the request's host). Works in a
    request and in a job (app context only).
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    hub = hub_public_url(station.id if station is not None else None, app)  # asked once: the base is the same
    at_hub = app.config.get("ROLE") == "hub" or bool(hub)
    if at_hub and "station" not in values:
        code = _station_code(station)
        if code is not None:
            values["station"] = code
    if path is None:
        if endpoint is None:
            raise TypeError("public_url() needs an endpoint or a path")
        target = _path(endpoint, values)
    else:
        target = path if path.startswith("/") else "/" + path
        if "station" in values:
            target += ("&" if "?" in target else "?") + "station=" + quote(str(values["station"]), safe="")
    return (hub or own_base(app)) + target  # what public_base() answers, without asking for the hub again


#: The earlier name of :func:`public_url`; kept so existing plugins go on working.
external_url = public_url
