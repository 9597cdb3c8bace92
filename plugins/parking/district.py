"""The parking vouchers' figures for the district dashboard: vouchers issued and used."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from kiosk import clock
from kiosk.db import get_session
from kiosk_plugins.parking.models import Voucher


def figures(station, day: date) -> list[dict]:
    """Vouchers issued on ``day`` and vouchers used (redeemed at a lot) on ``day``."""
    session = get_session()
    start, end = clock.day_bounds(station, day)
    issued = session.scalar(
        select(func.count())
        .select_from(Voucher)
        .where(Voucher.station_id == station.id, Voucher.issued_at >= start, Voucher.issued_at < end)
    )
    used = session.scalar(
        select(func.count())
        .select_from(Voucher)
        .where(Voucher.station_id == station.id, Voucher.used_at >= start, Voucher.used_at < end)
    )
    return [
        {
            "key": "vouchers_issued",
            "value": issued or 0,
            "alert": False,
            "label": {"zh_Hans": "今日停车券发放", "zh_Hant": "今日停車券發放", "en": "Parking vouchers issued today"},
        },
        {
            "key": "vouchers_used",
            "value": used or 0,
            "alert": False,
            "label": {"zh_Hans": "今日停车券使用", "zh_Hant": "今日停車券使用", "en": "Parking vouchers used today"},
        },
    ]
