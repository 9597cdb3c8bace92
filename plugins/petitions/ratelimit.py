"""Rate limiting of intake per device or address, on the core's limiter (:mod:`kiosk.ratelimit`).

Intake counts the requests it takes in the same transaction that stores them
(``[plugins.petitions.rate_limit]``: a refused or failed request leaves no
count behind); the routes themselves are limited per try by ``@limited``.
Counts live in the core's ``kiosk_rate_hit`` so every worker and every kiosk
process sees the same numbers. The device is the enrolled kiosk terminal if
the request comes from one, else the client's address (behind the trusted
proxies of ``[security] trusted_proxy_hops``). Keys are HMACs, never the
address itself: the table holds no personal data.
"""

from __future__ import annotations

from kiosk import ratelimit as core


def client_key(channel: str, extra: str = "") -> str:
    """A stable, anonymous key for this request's device (terminal or address) on ``channel``."""
    who, _allowed = core.client()
    return core.hashed_key("petitions", channel, who, extra)


class RateLimited(Exception):
    """The device or address has used up its attempts for now."""


def take(session, key: str, limit: int, seconds: int, now=None) -> bool:
    """Count one attempt for ``key`` in the caller's write transaction; False when the limit is reached."""
    from flask import has_app_context

    if has_app_context() and not core.enabled():
        return True
    return core.take(session, key, limit, seconds, now=now)
