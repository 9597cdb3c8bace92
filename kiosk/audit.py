"""The audit trail: every staff action and state change, with time, person, address and terminal.

:func:`record` appends one row; inside a request it fills in the logged-in
user, the station, the client's address (:func:`client_address`, the one place
that reads it) and the enrolled terminal the request came from, if any.
:func:`search` and :func:`prune` serve the admin page and the retention job
(:mod:`kiosk.accounts`).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from flask import current_app, g, has_request_context, request
from sqlalchemy import String, cast, delete, func, or_, select

from kiosk.db import get_session, utcnow
from kiosk.models import AuditLog, LoginAttempt, User

__all__ = ["client_address", "record"]

#: ``app.extensions`` key of the function giving the request's terminal name (set by :mod:`kiosk.accounts`).
TERMINAL_RESOLVER = "kiosk_audit_terminal"


def client_address() -> str | None:
    """The address of the client of this request (None outside a request).

    Every record of an address (the audit trail, login attempts) reads it here,
    so trusting a reverse proxy's header is a change to this one function.
    """
    if not has_request_context():
        return None
    return (request.remote_addr or "")[:64] or None


def _request_terminal() -> str | None:
    resolve = current_app.extensions.get(TERMINAL_RESOLVER)
    if resolve is None:
        terminal = g.get("kiosk_terminal")
        return getattr(terminal, "name", None)
    try:
        name = resolve()
    except Exception:  # noqa: BLE001 - the audit row matters more than the terminal's name
        return None
    return str(name)[:32] if name else None


def record(
    action: str,
    detail: dict | None = None,
    *,
    user=None,
    station_id=None,
    session=None,
    commit=True,
    anonymous: bool = False,
) -> None:
    """Append one line to the audit log. ``detail`` must hold no personal data.

    In a request, ``user`` defaults to the logged-in user (``anonymous=True``:
    nobody, as for a failed login), and the client's address and terminal are
    recorded.
    """
    address = terminal = None
    if has_request_context():
        if user is None and not anonymous:
            user = g.get("user")
        if station_id is None and g.get("station") is not None:
            station_id = g.station.id
        if station_id is None and user is not None:
            station_id = user.station_id
        address = client_address()
        terminal = _request_terminal()
    db_session = session or get_session()
    db_session.add(
        AuditLog(
            action=action,
            detail=detail or {},
            user_id=user.id if user else None,
            station_id=station_id,
            address=address,
            terminal=terminal,
        )
    )
    if commit:
        db_session.commit()


def search(
    db_session,
    *,
    station_id: int | None = None,
    username: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    text: str = "",
):
    """A select of audit rows with their user (``(AuditLog, username or None)``), newest first.

    ``station_id`` None: every station's. ``username`` and ``action`` match
    case-insensitively from the start (``petition`` finds ``petition.status``);
    ``text`` anywhere in the detail, address or terminal. ``since`` inclusive,
    ``until`` exclusive.
    """
    query = select(AuditLog, User.username).outerjoin(User, User.id == AuditLog.user_id)
    if station_id is not None:
        query = query.where(AuditLog.station_id == station_id)
    if username:
        query = query.where(func.lower(User.username) == func.lower(username.strip()))
    if action:
        query = query.where(func.lower(AuditLog.action).like(_escaped(action.strip().lower()) + "%", escape="\\"))
    if since is not None:
        query = query.where(AuditLog.at >= since)
    if until is not None:
        query = query.where(AuditLog.at < until)
    if text:
        wanted = text.strip().lower()
        pattern = "%" + _escaped(wanted) + "%"
        # The detail is stored as JSON text, Chinese as \\uXXXX escapes: look for that spelling too.
        as_json = "%" + _escaped(json.dumps(wanted)[1:-1]) + "%"
        query = query.where(
            or_(
                func.lower(cast(AuditLog.detail, String)).like(pattern, escape="\\"),
                func.lower(cast(AuditLog.detail, String)).like(as_json, escape="\\"),
                func.lower(func.coalesce(AuditLog.address, "")).like(pattern, escape="\\"),
                func.lower(func.coalesce(AuditLog.terminal, "")).like(pattern, escape="\\"),
            )
        )
    return query.order_by(AuditLog.at.desc(), AuditLog.id.desc())


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def prune(db_session, audit_days: int, login_attempt_days: int, now: datetime | None = None) -> tuple[int, int]:
    """Delete audit rows older than ``audit_days`` and failed logins older than ``login_attempt_days``.

    Returns how many of each were deleted; the caller commits.
    """
    now = now or utcnow()
    audit = db_session.execute(delete(AuditLog).where(AuditLog.at < now - timedelta(days=audit_days))).rowcount
    attempts = db_session.execute(
        delete(LoginAttempt).where(LoginAttempt.at < now - timedelta(days=login_attempt_days))
    ).rowcount
    return int(audit or 0), int(attempts or 0)
