"""The audit trail: every staff action and state change, with time and person."""

from __future__ import annotations

from flask import g, has_request_context

from kiosk.db import get_session
from kiosk.models import AuditLog

__all__ = ["record"]


def record(action: str, detail: dict | None = None, *, user=None, station_id=None, session=None, commit=True) -> None:
    """Append one line to the audit log. ``detail`` must hold no personal data."""
    if has_request_context():
        user = user if user is not None else g.get("user")
        if station_id is None and g.get("station") is not None:
            station_id = g.station.id
        if station_id is None and user is not None:
            station_id = user.station_id
    db_session = session or get_session()
    db_session.add(
        AuditLog(action=action, detail=detail or {}, user_id=user.id if user else None, station_id=station_id)
    )
    if commit:
        db_session.commit()
