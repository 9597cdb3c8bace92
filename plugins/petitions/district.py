"""The petitions' figures for the district dashboard: open requests and overdue ones."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from kiosk import clock
from kiosk.db import get_session
from kiosk_plugins.petitions.models import Petition
from kiosk_plugins.petitions.vocabulary import OPEN_STATUSES


def figures(station, day: date) -> list[dict]:
    """Requests still open now, and those past their due time (an alert when any).

    Open requests are a standing figure, not a daily one, so ``day`` only
    matters to the caller; the counts are as of now.
    """
    session = get_session()
    open_filter = (Petition.station_id == station.id, Petition.status.in_(OPEN_STATUSES))
    still_open = session.scalar(select(func.count()).select_from(Petition).where(*open_filter))
    overdue = session.scalar(
        select(func.count()).select_from(Petition).where(*open_filter, Petition.due_at < clock.now())
    )
    return [
        {
            "key": "open",
            "value": still_open or 0,
            "alert": False,
            "label": {"zh_Hans": "未办结诉求", "zh_Hant": "未辦結訴求", "en": "Open requests"},
        },
        {
            "key": "overdue",
            "value": overdue or 0,
            "alert": bool(overdue),
            "label": {"zh_Hans": "超期诉求", "zh_Hant": "超期訴求", "en": "Overdue requests"},
        },
    ]
