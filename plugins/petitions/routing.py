"""Which department a request should go to, and by when it must be handled."""

from __future__ import annotations

from datetime import datetime, timedelta

from kiosk import clock
from kiosk_plugins.petitions.settings import Settings
from kiosk_plugins.petitions.vocabulary import OPEN_STATUSES


def suggested_department(settings: Settings, category: str) -> str:
    """The routing rule's department for ``category`` (the staff member may pick another)."""
    found = settings.category(category)
    if found is not None and settings.department(found.department) is not None:
        return found.department
    return settings.departments[0].key if settings.departments else ""


def due_at(settings: Settings, category: str, start: datetime) -> datetime:
    """The deadline of a request of ``category`` received (or reopened) at ``start``."""
    found = settings.category(category)
    days = found.deadline_days if found is not None else 5
    return start + timedelta(days=days)


def is_overdue(petition, now: datetime | None = None) -> bool:
    """Still open past its deadline."""
    return petition.status in OPEN_STATUSES and (now or clock.now()) > petition.due_at
