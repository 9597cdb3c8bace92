"""Request-wide protections: CSRF tokens, security headers, no caching of kiosk pages."""

from __future__ import annotations

import hmac
import secrets
import time

from flask import abort, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# No inline script anywhere: every script is a file under /static.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)

#: Headers every response carries unless its view set its own: (lower-case name, name, value).
#: Fixed per process; a response's own names are read once, not searched for each of these.
SECURITY_HEADERS = tuple(
    (name.lower(), name, value)
    for name, value in (
        ("Content-Security-Policy", CSP),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    )
)


def csrf_token() -> str:
    """The session's CSRF token, made on first use; every form carries it."""
    token = session.get("_csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["_csrf"] = token
    return token


def csrf_exempt(view):
    """Mark a view as not needing a CSRF token (machine-to-machine JSON APIs)."""
    view._csrf_exempt = True
    return view


def _check_csrf() -> None:
    req = request._get_current_object()  # type: ignore[attr-defined]
    if req.method in SAFE_METHODS:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config.get("CSRF_DISABLED"):
        return
    endpoint = req.endpoint
    view = app.view_functions.get(endpoint) if endpoint else None
    if view is not None and getattr(view, "_csrf_exempt", False):
        return
    blueprint = req.blueprint
    if blueprint and blueprint in app.extensions.get("csrf_exempt_blueprints", ()):
        return
    sent = req.headers.get("X-CSRF-Token") or req.form.get("csrf_token", "")
    expected = session.get("_csrf", "")
    if not expected or not sent or not hmac.compare_digest(str(sent), str(expected)):
        g.csrf_failed = True
        abort(400, description="csrf")


def _start_timer():
    g.request_started = time.perf_counter()


def _headers(response):
    headers = response.headers
    started = g.get("request_started")
    if started is not None:
        # Server time for benchmarks and browser dev tools; no detail beyond the total.
        headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
    present = {name.lower() for name, _value in headers}
    for key, name, value in SECURITY_HEADERS:
        if key not in present:
            headers.add(name, value)
    req = request._get_current_object()  # type: ignore[attr-defined]
    if "cache-control" not in present and req.endpoint != "static" and not req.path.startswith("/static/"):
        # A kiosk in a public hall: the back button or the cache must never show
        # the previous user's page.
        headers.add("Cache-Control", "no-store")
    return response


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed session cookie, with its signing serializer built once per set of keys.

    Flask builds the serializer again for every request, and building one
    serializes an empty dict to learn whether it makes text: about 70 Python
    calls a request for the same result. It is kept here for the app's
    current secret key and fallbacks, and built again when either changes.
    """

    def __init__(self) -> None:
        self._built: tuple[tuple, object] | None = None

    def get_signing_serializer(self, app):
        if not app.secret_key:
            return None
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        built = self._built
        if built is None or built[0] != keys:
            built = self._built = (keys, super().get_signing_serializer(app))
        return built[1]


def init_app(app) -> None:
    app.session_interface = SessionInterface()
    app.extensions.setdefault("csrf_exempt_blueprints", set())
    app.before_request(_start_timer)
    app.before_request(_check_csrf)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
