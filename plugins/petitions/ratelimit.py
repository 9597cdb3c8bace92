"""Rate limiting of intake per device or address, counted in the database.

The counts live in ``petitions_rate_hit`` so every worker and every kiosk
process sees the same numbers. Keys are HMACs of the address, never the address
itself: the table holds no personal data.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import current_app, request
from sqlalchemy import delete, func, select, text

from kiosk.db import session_for, utcnow
from kiosk_plugins.petitions.models import RateHit


def client_key(channel: str, extra: str = "") -> str:
    """A stable, anonymous key for this request's device or address on ``channel``."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    raw = f"{channel}|{request.remote_addr or '-'}|{extra}".encode()
    return channel[:8] + ":" + hmac.new(secret, raw, hashlib.sha256).hexdigest()[:48]


class RateLimited(Exception):
    """The device or address has used up its attempts for now."""


def take(session, key: str, limit: int, seconds: int, now=None) -> bool:
    """Count one attempt for ``key`` in the caller's write transaction; False when the limit is reached.

    Taken in the same transaction as the request it guards: a refused or
    failed request leaves no count behind, and there is one commit, not two.
    """
    now = now or utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # Serialise attempts of the same key so two workers cannot both take the last slot.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})
    used = session.scalar(
        select(func.count())
        .select_from(RateHit)
        .where(RateHit.key == key, RateHit.at > now - timedelta(seconds=seconds))
    )
    if used >= limit:
        return False
    session.add(RateHit(key=key, at=now))
    return True


def prune(app, keep_seconds: int = 86400) -> int:
    """Drop attempts older than any window (a scheduled job)."""
    with session_for(app) as session:
        result = session.execute(delete(RateHit).where(RateHit.at < utcnow() - timedelta(seconds=keep_seconds)))
        session.commit()
        return result.rowcount or 0
