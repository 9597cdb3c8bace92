"""Who is at the kiosk: the rider identified on this screen, kept by the core's :mod:`kiosk.visitors`.

A card or QR read arrives through the core's reader hub, outside the page's
request, so the plugin cannot touch the page's session there. It sends the
page to ``/k/courier_rest/id/<token>`` instead: a token signed by
:func:`kiosk.visitors.sign` that names the read and expires within a minute,
so an old address in the kiosk's history identifies nobody. Tokens made
before the move to the core (salt ``courier_rest.reader``) are refused like
expired ones ("please tap again"); they lived 60 seconds.

The identified rider is kept for ``session_minutes`` without a tap and
forgotten on "Done", on check-out, on the home screen and by the idle reset.
Everything else this screen keeps about the rider's turn (the phone number an
unknown rider typed, the message for the next screen, the last result, a
hazard draft) is kept with the visitor too, so it goes with them.
"""

from __future__ import annotations

from typing import Any

from kiosk import visitors
from kiosk_plugins.courier_rest.settings import get_settings

KIND = "courier_rest"
TOKEN_SECONDS = visitors.TOKEN_MAX_AGE


def make_token(payload: dict) -> str:
    """Sign a reader payload (``{"m": "card", "c": uid}`` or ``{"m": "qr", "t": token}``)."""
    return visitors.sign(KIND, payload)


def read_token(token: str, max_age: int = TOKEN_SECONDS) -> dict | None:
    """The payload of a token made here within ``max_age`` seconds, else None."""
    payload = visitors.unsign(KIND, token, max_age=max_age)
    return payload if isinstance(payload, dict) else None


def remember(rider_id: int, method: str) -> None:
    """This kiosk screen now belongs to ``rider_id``, who identified by ``method`` (card, qr, phone)."""
    visitors.identify(KIND, int(rider_id), via=method, max_age=get_settings().session_minutes * 60)


def current_rider_id() -> int | None:
    """The identified rider, if identified less than ``session_minutes`` ago (refreshed on use)."""
    rider_id = visitors.identified(KIND)
    return rider_id if isinstance(rider_id, int) else None


def current_method() -> str | None:
    """How the identified rider identified (check-out is recorded the same way)."""
    found = visitors.visitor(KIND)
    return found.via if found is not None else None


def forget() -> None:
    """Drop the rider and anything they were in the middle of from this kiosk."""
    visitors.forget(KIND)


def keep(**values: Any) -> None:
    """Keep values of this screen's turn (``notice``, ``result``, ``hazard``…); None removes one."""
    visitors.remember(KIND, **values)


def kept(name: str, pop: bool = False) -> Any:
    """A value kept with :func:`keep`, or None; ``pop=True`` takes it out."""
    return visitors.recall(KIND, name, pop=pop)


def set_pending(**values) -> None:
    """Keep what an unknown rider already gave (phone, card) for the registration form."""
    pending_values = dict(kept("pending") or {})
    pending_values.update({k: v for k, v in values.items() if v})
    keep(pending=pending_values)


def pending() -> dict:
    """What the registration form should start with."""
    return dict(kept("pending") or {})
