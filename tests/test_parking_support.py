"""Helpers shared by the parking tests: set up lots and households, walk the kiosk screens.

Writes use the app's ``WriteSession`` (BEGIN IMMEDIATE on SQLite): the print
queue's thread may write between a plain session's read and its write.

Not a test module of its own (it holds no tests); the parking tests import it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from kiosk.models import Station
from kiosk_plugins.parking import schedule
from kiosk_plugins.parking.models import Household, Lot, Plate, Voucher, Window
from kiosk_plugins.parking.plates import classify_plate

TZ = ZoneInfo("Asia/Shanghai")
NIGHT = ("夜间", "19:00", "08:00", "0123456")

PEOPLE = [
    ("贝丽花园3栋1201", "王建国", "13800138001", ["粤B12345"], "04A1B2C3"),
    ("深华丽园B座502", "李秀英", "13900139003", ["粤BD12345", "粤B6K7P8"], None),
    ("贝丽花园5栋0803", "陈淑芬", "13800138002", ["粤B23456D"], None),
]


def station_of(app, session):
    return session.get(Station, app.extensions["kiosk_station_id"])


def add_lot(
    app,
    *,
    name="水贝万山珠宝产业园停车场",
    spaces=3,
    price_cents=1000,
    quota=0,
    reserve_days=1,
    hold_minutes=0,
    windows=(NIGHT,),
) -> dict:
    """A lot with windows; returns ids {"lot": id, "windows": [ids]}."""
    with app.app_context():
        session = app.extensions["db"].WriteSession()
        station = station_of(app, session)
        lot = Lot(
            station_id=station.id,
            name=name,
            address="罗湖区翠竹街道水贝社区",
            spaces=spaces,
            price_cents=price_cents,
            quota_per_month=quota,
            reserve_days=reserve_days,
            hold_minutes=hold_minutes,
            active=True,
        )
        session.add(lot)
        session.flush()
        ids = []
        for label, start, end, days in windows:
            window = Window(
                station_id=station.id,
                lot_id=lot.id,
                label=label,
                start_time=start,
                end_time=end,
                weekdays=days,
                active=True,
            )
            session.add(window)
            session.flush()
            ids.append(window.id)
        session.commit()
        result = {"lot": lot.id, "windows": ids}
        session.close()
    return result


def add_household(app, unit, name, phone, plates, card=None) -> int:
    with app.app_context():
        session = app.extensions["db"].WriteSession()
        station = station_of(app, session)
        household = Household(
            station_id=station.id, unit=unit, contact_name=name, phone=phone, card_uid=card, active=True
        )
        session.add(household)
        session.flush()
        for text in plates:
            plate, kind = classify_plate(text)
            session.add(Plate(station_id=station.id, household_id=household.id, plate=plate, kind=kind))
        session.commit()
        hid = household.id
        session.close()
    return hid


def add_people(app, people=PEOPLE) -> list[int]:
    return [add_household(app, *p) for p in people]


def next_occurrence(app, window_id: int, now: datetime | None = None) -> schedule.Occurrence:
    """The soonest bookable occurrence of a window at ``now``."""
    now = now or datetime.now(ZoneInfo("UTC"))
    with app.app_context():
        session = app.extensions["db"].Session()
        window = session.get(Window, window_id)
        lot = session.get(Lot, window.lot_id)
        found = schedule.bookable(window, now, TZ, lot.reserve_days)
        session.close()
    return found[0]


def vouchers(app) -> list[Voucher]:
    with app.app_context():
        session = app.extensions["db"].Session()
        rows = list(session.query(Voucher).order_by(Voucher.id))
        session.close()
    return rows


def csrf_token(client) -> str:
    with client.session_transaction() as sess:
        token = sess.get("_csrf")
    if not token:
        client.get("/k/parking/")
        with client.session_transaction() as sess:
            token = sess["_csrf"]
    return token


def identify(client, phone: str):
    return client.post("/k/parking/identify", data={"phone": phone, "csrf_token": csrf_token(client)})


def choose_plate(client, plate: str):
    return client.post("/k/parking/plate", data={"plate": plate, "csrf_token": csrf_token(client)})


def issue(client, window_id: int, day: date | str):
    day = day if isinstance(day, str) else day.isoformat()
    return client.post(
        "/k/parking/issue", data={"window": str(window_id), "day": day, "csrf_token": csrf_token(client)}
    )


def get_voucher(client, phone: str, plate: str, window_id: int, day):
    """Walk identify → plate → issue; returns the last response."""
    assert identify(client, phone).status_code == 302
    assert choose_plate(client, plate).status_code == 302
    return issue(client, window_id, day)


def voucher_id_from(response) -> int:
    match = re.search(r"/k/parking/voucher/(\d+)", response.headers.get("Location", ""))
    assert match, response.headers.get("Location")
    return int(match.group(1))


def text_of(response) -> str:
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def at_local(day: date, hh: int, mm: int = 0) -> datetime:
    """A station-local wall-clock time as an aware UTC datetime."""
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=TZ).astimezone(ZoneInfo("UTC"))


def shift_voucher_times(app, voucher_id: int, delta: timedelta) -> None:
    """Move a voucher's occurrence in time (as if the clock had moved the other way)."""
    with app.app_context():
        session = app.extensions["db"].WriteSession()
        v = session.get(Voucher, voucher_id)
        v.starts_at += delta
        v.ends_at += delta
        v.expires_at += delta
        session.commit()
        session.close()
