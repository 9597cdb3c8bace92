"""Request-wide protections: CSRF tokens, security headers, no caching of kiosk pages."""

from __future__ import annotations

import hmac
import secrets
import time

from flask import abort, current_app, g, request, session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# No inline script anywhere: every script is a file under /static.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
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
    if request.method in SAFE_METHODS or current_app.config.get("CSRF_DISABLED"):
        return
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if view is not None and getattr(view, "_csrf_exempt", False):
        return
    if request.blueprint and request.blueprint in current_app.extensions.get("csrf_exempt_blueprints", ()):
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("_csrf", "")
    if not expected or not sent or not hmac.compare_digest(str(sent), str(expected)):
        g.csrf_failed = True
        abort(400, description="csrf")


def _start_timer():
    g.request_started = time.perf_counter()


def _headers(response):
    started = g.get("request_started")
    if started is not None:
        # Server time for benchmarks and browser dev tools; no detail beyond the total.
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.endpoint != "static" and not request.path.startswith("/static/"):
        # A kiosk in a public hall: the back button or the cache must never show
        # the previous user's page.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app) -> None:
    app.extensions.setdefault("csrf_exempt_blueprints", set())
    app.before_request(_start_timer)
    app.before_request(_check_csrf)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
