"""Demo data for Shuibei (水贝社区): the shared-parking agreements the source documents describe.

Residents of 贝丽花园 and 深华丽园 park at night in nearby commercial buildings
for 10 yuan per use instead of 300 yuan a month (seeds/000).
"""

from __future__ import annotations

from sqlalchemy import select

from kiosk_plugins.parking import syncing
from kiosk_plugins.parking.households import normalize_card
from kiosk_plugins.parking.models import Household, Lot, Plate, Window
from kiosk_plugins.parking.plates import classify_plate

LOTS = [
    {
        "name": "水贝万山珠宝产业园停车场",
        "address": "罗湖区翠竹街道水贝社区 水贝万山珠宝产业园",
        "spaces": 30,
        "price_cents": 1000,
        "quota_per_month": 8,
        "reserve_days": 1,
        "hold_minutes": 0,
        "windows": [("夜间", "19:00", "08:00", "0123456"), ("周末白天", "08:00", "19:00", "56")],
    },
    {
        "name": "周边商场共享车位",
        "address": "罗湖区翠竹街道水贝社区",
        "spaces": 20,
        "price_cents": 1000,
        "quota_per_month": 8,
        "reserve_days": 1,
        "hold_minutes": 120,
        "windows": [("夜间", "19:00", "08:00", "0123456")],
    },
]

HOUSEHOLDS = [
    ("贝丽花园3栋1201", "王建国", "13800138001", ["粤B12345"], "04A1B2C3"),
    ("贝丽花园5栋0803", "陈淑芬", "13800138002", ["粤BD10086"], None),
    ("深华丽园B座502", "李秀英", "13900139003", ["粤B6K7P8", "粤B23456D"], "04D4E5F6"),
    ("深华丽园A座1105", "黄志强", "13900139004", ["粤BF26888"], None),
]


def load(station, session) -> None:
    """Add the demo lots, windows and households that are not there yet."""
    for spec in LOTS:
        lot = session.scalar(select(Lot).where(Lot.station_id == station.id, Lot.name == spec["name"]))
        if lot is None:
            lot = Lot(station_id=station.id, active=True, **{k: v for k, v in spec.items() if k != "windows"})
            session.add(lot)
            session.flush()
            syncing.record_lot(session, lot, station=station)
        have = {w.label for w in session.scalars(select(Window).where(Window.lot_id == lot.id))}
        for label, start, end, days in spec["windows"]:
            if label not in have:
                session.add(
                    Window(
                        station_id=station.id,
                        lot_id=lot.id,
                        label=label,
                        start_time=start,
                        end_time=end,
                        weekdays=days,
                        active=True,
                    )
                )
    for unit, name, phone, plates, card in HOUSEHOLDS:
        if session.scalar(select(Household).where(Household.station_id == station.id, Household.unit == unit)):
            continue
        household = Household(
            station_id=station.id,
            unit=unit,
            contact_name=name,
            phone=phone,
            card_uid=normalize_card(card) or None,
            active=True,
        )
        session.add(household)
        session.flush()
        for text in plates:
            plate, kind = classify_plate(text)
            session.add(Plate(station_id=station.id, household_id=household.id, plate=plate, kind=kind))
    session.flush()
