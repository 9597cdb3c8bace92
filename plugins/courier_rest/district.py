"""The courier station's figures for the district dashboard: check-ins, riders in, overstays."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from kiosk import clock
from kiosk.db import get_session
from kiosk_plugins.courier_rest.models import Use, Visit


def figures(station, day: date) -> list[dict]:
    """Check-ins of ``day``, riders inside now, and charging overstays flagged that day."""
    session = get_session()
    start, end = clock.day_bounds(station, day)
    checkins = session.scalar(
        select(func.count())
        .select_from(Visit)
        .where(Visit.station_id == station.id, Visit.checked_in_at >= start, Visit.checked_in_at < end)
    )
    inside = session.scalar(
        select(func.count()).select_from(Visit).where(Visit.station_id == station.id, Visit.checked_out_at.is_(None))
    )
    overstays = (
        session.execute(
            select(Use.state).where(Use.station_id == station.id, Use.overstay_at >= start, Use.overstay_at < end)
        )
        .scalars()
        .all()
    )
    return [
        {
            "key": "checkins",
            "value": checkins or 0,
            "alert": False,
            "label": {"zh_Hans": "今日骑手签到", "zh_Hant": "今日騎手簽到", "en": "Rider check-ins today"},
        },
        {
            "key": "riders_in",
            "value": inside or 0,
            "alert": False,
            "label": {"zh_Hans": "站内骑手", "zh_Hant": "站內騎手", "en": "Riders in now"},
        },
        # Only a rider still on an overdue slot needs someone to act.
        {
            "key": "overstays",
            "value": len(overstays),
            "alert": "active" in overstays,
            "label": {"zh_Hans": "今日充电超时", "zh_Hant": "今日充電超時", "en": "Charging overstays today"},
        },
    ]
