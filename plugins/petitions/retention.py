"""Erasing contact details of requests closed longer ago than the retention period (a daily job).

The request, its history and its rating stay (the district counts them); only
the name, phone and e-mail go, and delivered dispatch messages of those
requests are deleted, since their bodies may hold the same details.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, or_, select

from kiosk import clock
from kiosk.db import session_for
from kiosk_plugins.petitions.models import OutboxMessage, Petition
from kiosk_plugins.petitions.settings import get_settings

log = logging.getLogger("kiosk_plugins.petitions.retention")


def erase_contacts(app, now=None) -> int:
    """Blank the contact details of requests closed before the retention period; returns how many."""
    days = get_settings(app).retention_days
    if days <= 0:
        return 0
    now = now or clock.now()
    cutoff = now - timedelta(days=days)
    with session_for(app, write=True) as session:
        rows = session.scalars(
            select(Petition).where(
                Petition.status == "closed",
                Petition.closed_at < cutoff,
                Petition.contact_erased_at.is_(None),
                or_(Petition.contact_name != "", Petition.contact_phone != "", Petition.contact_email != ""),
            )
        ).all()
        for petition in rows:
            petition.contact_name = petition.contact_phone = petition.contact_email = ""
            petition.contact_erased_at = now
        if rows:
            session.execute(
                delete(OutboxMessage).where(
                    OutboxMessage.request_id.in_([p.id for p in rows]), OutboxMessage.delivered_at.is_not(None)
                )
            )
        session.commit()
    if rows:
        log.info("erased the contact details of %d closed petition(s) past %d days", len(rows), days)
    return len(rows)
