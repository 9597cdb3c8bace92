"""The legal queue's figures for the district dashboard: tickets issued, served, waiting."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from kiosk.db import get_session
from kiosk_plugins.legal.models import Ticket

#: More people waiting than this asks the district to look (too few lawyers on duty).
WAITING_ALERT = 15


def figures(station, day: date) -> list[dict]:
    """Tickets of ``day`` at ``station``: issued, served, still waiting."""
    by_status = dict(
        get_session()
        .execute(
            select(Ticket.status, func.count())
            .where(Ticket.station_id == station.id, Ticket.day == day)
            .group_by(Ticket.status)
        )
        .all()
    )
    waiting = by_status.get("waiting", 0)
    return [
        {
            "key": "tickets_issued",
            "value": sum(by_status.values()),
            "alert": False,
            "label": {"zh_Hans": "今日取号", "zh_Hant": "今日取號", "en": "Tickets issued today"},
        },
        {
            "key": "tickets_served",
            "value": by_status.get("served", 0),
            "alert": False,
            "label": {"zh_Hans": "今日已办结", "zh_Hant": "今日已辦結", "en": "Tickets served today"},
        },
        {
            "key": "tickets_waiting",
            "value": waiting,
            "alert": waiting > WAITING_ALERT,
            "label": {"zh_Hans": "正在等候", "zh_Hant": "正在等候", "en": "Waiting now"},
        },
    ]
