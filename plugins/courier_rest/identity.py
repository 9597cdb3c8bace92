"""Who is at the kiosk: the rider identified on this screen, and short-lived read tokens.

A card or QR read arrives through the core's reader hub, outside the page's
request, so the plugin cannot touch the page's session there. It sends the
page to ``/k/courier_rest/id/<token>`` instead: a token signed with the app's
secret that names the read and expires within a minute, so an old address in
the kiosk's history identifies nobody.

The identified rider is kept in the kiosk's session for ``session_minutes``
and forgotten on "Done", on check-out and by the core's idle reset.
"""

from __future__ import annotations

import time

from flask import current_app, session
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_KEY = "courier_rest"
PENDING_KEY = "courier_rest_pending"
TOKEN_SECONDS = 60


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="courier_rest.reader")


def make_token(payload: dict) -> str:
    """Sign a reader payload (``{"m": "card", "c": uid}`` or ``{"m": "qr", "t": token}``)."""
    return _serializer().dumps(payload)


def read_token(token: str, max_age: int = TOKEN_SECONDS) -> dict | None:
    """The payload of a token made here within ``max_age`` seconds, else None."""
    try:
        payload = _serializer().loads(token, max_age=max_age)
    except BadSignature:
        return None
    return payload if isinstance(payload, dict) else None


def remember(rider_id: int, method: str) -> None:
    """This kiosk screen now belongs to ``rider_id``, who identified by ``method`` (card, qr, phone)."""
    session[SESSION_KEY] = {"rider": int(rider_id), "at": time.time(), "method": method}
    session.pop(PENDING_KEY, None)


def current_rider_id(minutes: int) -> int | None:
    """The identified rider, if identified less than ``minutes`` ago (refreshed on use)."""
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict) or "rider" not in data:
        return None
    if time.time() - float(data.get("at", 0)) > minutes * 60:
        forget()
        return None
    session[SESSION_KEY] = {**data, "at": time.time()}
    return int(data["rider"])


def current_method() -> str | None:
    """How the identified rider identified (check-out is recorded the same way)."""
    data = session.get(SESSION_KEY)
    return data.get("method") if isinstance(data, dict) else None


def forget() -> None:
    """Drop the rider and anything they were in the middle of from this kiosk."""
    for key in (SESSION_KEY, PENDING_KEY, "courier_rest_result", "courier_rest_notice"):
        session.pop(key, None)


def set_pending(**values) -> None:
    """Keep what an unknown rider already gave (phone, card) for the registration form."""
    pending = dict(session.get(PENDING_KEY) or {})
    pending.update({k: v for k, v in values.items() if v})
    session[PENDING_KEY] = pending


def pending() -> dict:
    """What the registration form should start with."""
    return dict(session.get(PENDING_KEY) or {})
