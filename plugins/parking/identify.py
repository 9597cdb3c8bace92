"""Who is at the kiosk: the identified household, kept briefly in the kiosk session.

A card tap arrives through the reader hub, outside the page's request, so the
hub hands the page a short-lived signed token (never the card number) that
the page posts back; the post puts the household into the session. The
session entry lapses after a few minutes, and the idle reset clears it.
"""

from __future__ import annotations

import time

from flask import current_app, session
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .settings import settings

SESSION_KEY = "parking"
TOKEN_SECONDS = 60


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="kiosk.parking.card")


def card_token(household_id: int | None) -> str:
    """A token naming the household a card belongs to (0 for an unknown card)."""
    return _serializer().dumps({"h": household_id or 0})


def read_card_token(token: str) -> int | None:
    """The household id in a fresh token; 0 for an unknown card; None if forged or stale."""
    try:
        data = _serializer().loads(token or "", max_age=TOKEN_SECONDS)
    except (BadSignature, SignatureExpired):
        return None
    value = data.get("h") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


def remember(household_id: int, via: str) -> None:
    """Start a resident's turn: who they are and how they proved it."""
    session[SESSION_KEY] = {"hh": household_id, "via": via, "at": time.time(), "vouchers": []}


def forget() -> None:
    """End the turn (start over, or the next resident)."""
    session.pop(SESSION_KEY, None)


def current() -> dict | None:
    """The turn in progress, or None when nobody is identified or it lapsed."""
    turn = session.get(SESSION_KEY)
    if not isinstance(turn, dict) or "hh" not in turn:
        return None
    if time.time() - float(turn.get("at", 0)) > settings().identify_minutes * 60:
        forget()
        return None
    return turn


def update(**values) -> None:
    """Store more of the turn (the chosen plate, vouchers shown) and keep it alive."""
    turn = dict(session.get(SESSION_KEY) or {})
    turn.update(values)
    turn["at"] = time.time()
    session[SESSION_KEY] = turn


def allow_voucher(voucher_id: int) -> None:
    """Let this session show a voucher's QR (it was issued or listed for this household)."""
    turn = dict(session.get(SESSION_KEY) or {})
    shown = [v for v in turn.get("vouchers", []) if v != voucher_id][-9:]
    turn["vouchers"] = shown + [voucher_id]
    session[SESSION_KEY] = turn


def may_show(voucher_id: int) -> bool:
    """True when this session was given the voucher (it may show it again)."""
    turn = session.get(SESSION_KEY)
    return isinstance(turn, dict) and voucher_id in turn.get("vouchers", [])
