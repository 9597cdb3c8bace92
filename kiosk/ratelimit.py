"""Rate limits of public write routes, and back-off after failed guesses, counted in the database.

Every anonymous POST a phone or a kiosk screen can send (take a ticket, book a
duty lawyer, report a hazard, send a petition…) is limited per client and
route. A view says so with :func:`limited`, placed under its route::

    from kiosk.ratelimit import limited

    @bp.route("/take/<service_key>", methods=["POST"])
    @limited(20, 600)                      # 20 per 10 minutes from one address
    def take(service_key): ...

The client is the enrolled terminal the request comes from, if any (one
kiosk in the hall is used by many residents: it gets ``terminal_count``,
by default :data:`TERMINAL_FACTOR` times the address's allowance), else its
address (:func:`kiosk.audit.client_address`, which honours
``[security] trusted_proxy_hops``). A refusal is a 429 page, or JSON for a
JSON caller, in the user's language saying when to try again, with a
``Retry-After`` header; the view does not run, so nothing changes. Hits live
in ``kiosk_rate_hit`` so every worker of a station sees the same counts;
keys are HMACs, so the table holds no address. A view that needs a second
limit (per phone number, say) calls :func:`enforce` with its own ``subject``.

Guessing (booking codes, passwords) is slowed by back-off rather than a lockout
that would also shut out the real owner: :func:`backoff_seconds` gives the
wait after ``n`` failures, :func:`wait_before_guess`, :func:`guess_failed` and
:func:`guess_succeeded` count failures per subject and client.

Behind a reverse proxy every phone reaches the kiosk from the proxy's address;
``trusted_proxy_hops = N`` (``KIOSK_TRUSTED_PROXY_HOPS``) takes the client's
address from the Nth entry from the right of ``X-Forwarded-For`` (Werkzeug's
``ProxyFix``). With 0, the default, the header is never trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps

from flask import current_app, g, jsonify, render_template, request
from sqlalchemy import Index, String, delete, func, select, text
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.exceptions import TooManyRequests

from kiosk.db import Base, UTCDateTime
from kiosk.i18n import N_, _
from kiosk.urls import is_loopback_address

__all__ = [
    "TERMINAL_FACTOR",
    "Limit",
    "RateLimited",
    "backoff_seconds",
    "client",
    "enabled",
    "enforce",
    "guess_failed",
    "guess_succeeded",
    "hashed_key",
    "limit_of",
    "limited",
    "take",
    "wait_before_guess",
    "wait_text",
]

#: How many times an address's allowance an enrolled terminal gets (a shared kiosk serves a queue of residents).
TERMINAL_FACTOR = 20
#: Hits older than this are deleted (no window is longer than a day).
KEEP_SECONDS = 2 * 86400
#: Seconds between two clean-ups of old hits in one process.
PRUNE_EVERY = 3600

#: Anonymous POST routes of the core that need no limit, and why (tests/test_ratelimit.py holds every
#: other anonymous POST route to a :func:`limited` view).
NOT_LIMITED: dict[str, str] = {
    "shell.set_language": "changes only the caller's own session (the page's language)",
    "shell.toggle_large_text": "changes only the caller's own session (large text)",
    "shell.reset": "clears only the caller's own session",
    "auth.logout": "ends only the caller's own session",
    "agent.enrol": "needs a one-time agent token (kiosk agent token); 256-bit, not guessable",
    "agent.reads": "needs the agent's bearer credential",
    "agent.status": "needs the agent's bearer credential",
    "agent.job_done": "needs the agent's bearer credential",
    "agent.job_failed": "needs the agent's bearer credential",
    "sync.enrol": "needs a one-time station token from kiosk stations enrol; not guessable",
    "sync.push": "needs the station's sync credential",
}


class RateHit(Base):
    """One counted request (or failed guess) of a client on a route; ``key`` is an HMAC, no address."""

    __tablename__ = "kiosk_rate_hit"
    __table_args__ = (Index("ix_kiosk_rate_hit_key_at", "key", "at"), Index("ix_kiosk_rate_hit_at", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Limit:
    """``count`` requests per ``seconds`` from one address; ``terminal_count`` from one enrolled terminal."""

    count: int
    seconds: int
    terminal_count: int


class RateLimited(TooManyRequests):
    """The client has used up its allowance; ``retry_after`` seconds until the next one."""

    def __init__(self, retry_after: int, message: str | None = None):
        super().__init__(retry_after=max(int(retry_after), 1))
        self.retry_seconds = max(int(retry_after), 1)
        self.message = message


def _now() -> datetime:
    from kiosk import clock

    return clock.now()


def enabled() -> bool:
    """Whether limits apply (``[security] rate_limits = false`` only for a load bench from one address)."""
    table = current_app.config.get("SECURITY") or {}
    return bool(table.get("rate_limits", True))


def proxy_hops(config) -> int:
    """``KIOSK_TRUSTED_PROXY_HOPS``, else ``[security] trusted_proxy_hops``, else 0."""
    value = config.get("TRUSTED_PROXY_HOPS")
    if value is None:
        value = (config.get("SECURITY") or {}).get("trusted_proxy_hops", 0)
    return int(value or 0)


def hashed_key(*parts: str) -> str:
    """An HMAC of ``parts`` under the secret key: what the table stores instead of an address."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, "|".join(parts).encode(), hashlib.sha256).hexdigest()


def client(limit: Limit | None = None) -> tuple[str, int | None]:
    """``(who, allowance)``: the enrolled terminal (``t:<id>``) or the address (``a:<address>``) of this request."""
    from kiosk.audit import client_address
    from kiosk.terminals import current_terminal

    terminal = current_terminal()
    if terminal is not None:
        return f"t:{terminal.id}", (limit.terminal_count if limit else None)
    address = client_address() or "-"
    if is_loopback_address(address) and current_app.config.get("ROLE") != "hub":
        # The station PC's own kiosk browser (the demo's, a screen not yet enrolled): a shared
        # kiosk too. Phones never come from here unless a proxy on this PC is not declared in
        # trusted_proxy_hops, which kiosk doctor points out.
        return "t:local", (limit.terminal_count if limit else None)
    return f"a:{address}", (limit.count if limit else None)


def take(session, key: str, limit: int, seconds: int, now: datetime | None = None) -> bool:
    """Count one hit for ``key`` in the caller's write transaction; False (nothing counted) when used up."""
    return _take(session, key, limit, seconds, now)[0]


def _take(session, key: str, limit: int, seconds: int, now: datetime | None = None) -> tuple[bool, int]:
    now = now or _now()
    if session.get_bind().dialect.name == "postgresql":
        # Two workers must not both take the last place of the same key.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})
    since = now - timedelta(seconds=seconds)
    used = session.scalar(select(func.count()).select_from(RateHit).where(RateHit.key == key, RateHit.at > since))
    if used >= limit:
        # The wait: until the hit that filled the window leaves it.
        filled = session.scalar(
            select(RateHit.at)
            .where(RateHit.key == key, RateHit.at > since)
            .order_by(RateHit.at.desc())
            .offset(max(limit - 1, 0))
            .limit(1)
        )
        wait = (filled + timedelta(seconds=seconds) - now).total_seconds() if filled else seconds
        return False, max(math.ceil(wait), 1)
    session.add(RateHit(key=key, at=now))
    _maybe_prune(session, now)
    return True, 0


def _maybe_prune(session, now: datetime) -> None:
    try:
        state = current_app.extensions.setdefault("kiosk_ratelimit", {"pruned": 0.0})
    except RuntimeError:
        return
    if time.monotonic() - state["pruned"] < PRUNE_EVERY:
        return
    state["pruned"] = time.monotonic()
    session.execute(delete(RateHit).where(RateHit.at < now - timedelta(seconds=KEEP_SECONDS)))


def enforce(bucket: str, limit: Limit, subject: str | None = None) -> None:
    """Count this request against ``bucket``; raise :class:`RateLimited` when the client's allowance is used.

    ``subject`` replaces the client (a phone number, a session): then
    ``limit.count`` applies to it wherever it comes from.
    """
    if not enabled():
        return
    from kiosk.db import write_transaction

    if subject is None:
        who, allowed = client(limit)
    else:
        who, allowed = "s:" + subject, limit.count
    with write_transaction() as session:
        ok, wait = _take(session, hashed_key("limit", bucket, who), int(allowed or limit.count), limit.seconds)
    if not ok:
        raise RateLimited(wait)


def limited(count: int, seconds: int, *, terminal_count: int | None = None, name: str | None = None, methods=("POST",)):
    """Decorator: at most ``count`` ``methods`` requests per ``seconds`` to this view from one client.

    Put it under ``@bp.route``. ``name`` shares one allowance between views
    (default: the view's module and name).
    """
    limit = Limit(int(count), int(seconds), int(terminal_count or count * TERMINAL_FACTOR))

    def decorator(view):
        bucket = name or f"{view.__module__}.{view.__name__}"

        @wraps(view)
        def wrapped(*args, **kwargs):
            if request.method in methods:
                enforce(bucket, limit)
            return view(*args, **kwargs)

        wrapped._kiosk_rate_limit = (bucket, limit)  # type: ignore[attr-defined]
        return wrapped

    return decorator


def limit_of(view) -> tuple[str, Limit] | None:
    """``(bucket, limit)`` of a view made with :func:`limited`, else None."""
    return getattr(view, "_kiosk_rate_limit", None)


# ---- back-off after failed guesses -------------------------------------------


def backoff_seconds(failures: int, free: int, base: float = 2.0, cap: float = 600.0) -> int:
    """Seconds to wait after the last failure: none for the first ``free`` failures, then doubling up to ``cap``."""
    if failures < free:
        return 0
    return int(min(cap, base * 2 ** (failures - free)))


def _guess_key(bucket: str, subject: str) -> tuple[str, bool]:
    who, _allowed = client()
    return hashed_key("guess", bucket, subject, who), who.startswith("t:")


def wait_before_guess(
    bucket: str,
    subject: str = "",
    *,
    free: int = 5,
    terminal_free: int | None = None,
    cap: float = 600.0,
    window: int = 86400,
) -> int:
    """Seconds this client must still wait before guessing ``subject`` on ``bucket`` again (0: go ahead).

    ``free`` wrong guesses in ``window`` seconds cost nothing (``terminal_free``
    from an enrolled terminal, default 4 × ``free``: residents mistype too);
    after that each waits twice as long as the one before, up to ``cap``.
    """
    if not enabled():
        return 0
    from kiosk.db import get_session

    (key, terminal), now = _guess_key(bucket, subject), _now()
    since = now - timedelta(seconds=window)
    row = (
        get_session()
        .execute(select(func.count(), func.max(RateHit.at)).where(RateHit.key == key, RateHit.at > since))
        .one()
    )
    failures, last = int(row[0] or 0), row[1]
    allowed = (terminal_free if terminal_free is not None else free * 4) if terminal else free
    delay = backoff_seconds(failures, allowed, cap=cap)
    if not delay or last is None:
        return 0
    return max(math.ceil((last + timedelta(seconds=delay) - now).total_seconds()), 0)


def guess_failed(bucket: str, subject: str = "") -> None:
    """Note a wrong guess of this client."""
    if not enabled():
        return
    from kiosk.db import write_transaction

    key = _guess_key(bucket, subject)[0]  # before the transaction: reading the terminal may write
    with write_transaction() as session:
        session.add(RateHit(key=key, at=_now()))


def guess_succeeded(bucket: str, subject: str = "") -> None:
    """Forget this client's wrong guesses of ``subject`` (the right one came)."""
    from kiosk.db import write_transaction

    key = _guess_key(bucket, subject)[0]
    with write_transaction() as session:
        session.execute(delete(RateHit).where(RateHit.key == key))


# ---- the refusal -------------------------------------------------------------


def wait_text(seconds: int) -> str:
    """'Please try again in N seconds/minutes.' in the request's language."""
    if seconds < 90:
        return _("Please try again in %(seconds)s seconds.", seconds=seconds)
    return _("Please try again in %(minutes)s minutes.", minutes=math.ceil(seconds / 60))


def _refused(exc: RateLimited):
    from kiosk.openapi import answers_json

    message = exc.message or _(TOO_MANY) + " " + wait_text(exc.retry_seconds)
    headers = {"Retry-After": str(exc.retry_seconds)}
    g.rate_limited = True
    if answers_json():
        return jsonify({"error": message, "status": 429, "retry_after": exc.retry_seconds}), 429, headers
    on_hub = current_app.config.get("ROLE") == "hub"
    return render_template("error.html", code=429, message=message, on_hub=on_hub), 429, headers


TOO_MANY = N_("Too many requests from here.")


def init_app(app) -> None:
    """The 429 page, and the client's address from ``X-Forwarded-For`` behind ``trusted_proxy_hops`` proxies.

    Call last in the app factory: the proxy fix must be the outermost layer, so
    everything inside (logs, metrics, the audit trail) sees the client's address.
    """
    app.register_error_handler(RateLimited, _refused)
    hops = proxy_hops(app.config)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=0, x_host=0, x_port=0, x_prefix=0)
