"""Who is at the kiosk: the identified household, kept by the core's :mod:`kiosk.visitors`.

A card tap arrives through the reader hub, outside the page's request, so the
hub hands the page a short-lived signed token (never the card number) that
the page posts back; the post identifies the household. The turn lapses after
``identify_minutes`` without a tap, and the core forgets it on the idle reset
and on the home screen. What this module adds is parking's own part of the
turn: the chosen plate, and which vouchers this session may show again.

Tokens made before the move to :mod:`kiosk.visitors` (salt
``kiosk.parking.card``) are refused like stale ones; they lived 60 seconds.
"""

from __future__ import annotations

from kiosk import visitors
from kiosk_plugins.parking.settings import settings

KIND = "parking"
TOKEN_SECONDS = 60
#: How many vouchers a turn remembers as "may be shown again".
SHOWN_VOUCHERS = 10


def card_token(household_id: int | None) -> str:
    """A token naming the household a card belongs to (0 for an unknown card)."""
    return visitors.sign(KIND, {"h": household_id or 0})


def read_card_token(token: str) -> int | None:
    """The household id in a fresh token; 0 for an unknown card; None if forged or stale."""
    data = visitors.unsign(KIND, token, max_age=TOKEN_SECONDS)
    value = data.get("h") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def remember(household_id: int, via: str) -> None:
    """Start a resident's turn: who they are and how they proved it."""
    visitors.identify(KIND, household_id, via=via, max_age=settings().identify_minutes * 60)


def forget() -> None:
    """End the turn (start over, or the next resident)."""
    visitors.forget(KIND)


def current() -> dict | None:
    """The turn in progress (``hh``, ``via`` and what was stored), or None when nobody is identified."""
    found = visitors.visitor(KIND)
    if found is None:
        return None
    return {**found.data, "hh": found.id, "via": found.via}


def update(**values) -> None:
    """Store more of the turn (the chosen plate, vouchers printed) and keep it alive."""
    visitors.remember(KIND, **values)


def allow_voucher(voucher_id: int) -> None:
    """Let this session show a voucher's QR (it was issued or listed for this household)."""
    shown = [v for v in visitors.recall(KIND, "vouchers", []) if v != voucher_id][-(SHOWN_VOUCHERS - 1) :]
    visitors.remember(KIND, vouchers=shown + [voucher_id])


def may_show(voucher_id: int) -> bool:
    """True when this session was given the voucher (it may show it again)."""
    return voucher_id in visitors.recall(KIND, "vouchers", [])
