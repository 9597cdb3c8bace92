"""Demo data: riders, two weeks of visits (a Sungang station sees 20–30 riders a day), live places.

Called again on an existing demo station it only adds what is missing.
"""

from __future__ import annotations

import random
import secrets
from datetime import time, timedelta

from sqlalchemy import func, select

from kiosk import clock
from kiosk_plugins.courier_rest import services, slots
from kiosk_plugins.courier_rest.models import Hazard, Rider, ServiceRequest, ServiceUse, Slot, Use, Visit
from kiosk_plugins.courier_rest.settings import get_settings

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = [
    "建国",
    "小燕",
    "志强",
    "海波",
    "秀英",
    "伟",
    "芳",
    "敏",
    "静",
    "磊",
    "洋",
    "勇",
    "军",
    "杰",
    "涛",
    "明",
    "超",
    "华",
    "平",
    "刚",
    "桂英",
    "春梅",
    "晓东",
    "国庆",
]
PLATFORM_ROTATION = ["meituan", "eleme", "meituan", "sf", "jd", "eleme", "other"]
VEHICLE_BY_PLATFORM = {"meituan": "ebike", "eleme": "ebike", "sf": "ebike", "jd": "motorbike", "other": "car"}
#: Lunch and dinner rushes: when riders wait for orders near the station.
HOUR_WEIGHTS = {9: 1, 10: 3, 11: 6, 12: 5, 13: 4, 14: 3, 15: 2, 16: 2, 17: 4, 18: 6, 19: 5, 20: 3, 21: 2}
DAYS = 14


def slots_of(session, station_id: int, kind: str) -> list[Slot]:
    """The station's places of one kind, in number order."""
    return list(
        session.scalars(
            select(Slot)
            .where(Slot.station_id == station_id, Slot.kind == kind, Slot.active.is_(True))
            .order_by(Slot.number)
        )
    )


def _riders(session, station_id: int) -> list[Rider]:
    wanted = [("古霖珊", "13800138000", "sf", "ebike")]  # the courier quoted in the Longgang report
    for i in range(23):
        name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)]
        platform = PLATFORM_ROTATION[i % len(PLATFORM_ROTATION)]
        wanted.append((name, f"1390013{i:04d}", platform, VEHICLE_BY_PLATFORM[platform]))
    have = {r.phone: r for r in session.scalars(select(Rider).where(Rider.station_id == station_id))}
    out = []
    for name, phone, platform, vehicle in wanted:
        rider = have.get(phone)
        if rider is None:
            rider = Rider(
                station_id=station_id,
                name=name,
                phone=phone,
                platform=platform,
                vehicle=vehicle,
                card_uid=None,
                pass_token=secrets.token_urlsafe(18),
                created_at=clock.now() - timedelta(days=DAYS + 1),
            )
            session.add(rider)
        out.append(rider)
    session.flush()
    return out


def _history(session, station, riders: list[Rider]) -> None:
    """Closed visits over the last two weeks, with places, services and a few requests."""
    tz = clock.zone(station)
    rng = random.Random(station.id)
    by_kind = {kind: slots_of(session, station.id, kind) for kind in slots.SLOT_KINDS}
    keys = [s.key for s in services.listed(session, station.id)]
    today = clock.today(tz)
    hours, weights = list(HOUR_WEIGHTS), list(HOUR_WEIGHTS.values())
    for back in range(DAYS, 0, -1):
        day = today - timedelta(days=back)
        for _ in range(rng.randint(20, 30)):
            rider = rng.choice(riders)
            hour = rng.choices(hours, weights)[0]
            came = clock.at_local(tz, day, time(hour, rng.randint(0, 59)))
            left = came + timedelta(minutes=rng.randint(8, 70))
            visit = Visit(
                station_id=station.id,
                rider_id=rider.id,
                checked_in_at=came,
                checked_out_at=left,
                method_in=rng.choice(["card", "qr", "phone"]),
                method_out="card",
                auto_closed=False,
                open_rider_id=None,
            )
            session.add(visit)
            session.flush()
            for kind, chance in (("seat", 0.6), ("phone", 0.45), ("battery", 0.2)):
                if by_kind[kind] and rng.random() < chance:
                    session.add(
                        Use(
                            station_id=station.id,
                            visit_id=visit.id,
                            rider_id=rider.id,
                            slot_id=rng.choice(by_kind[kind]).id,
                            kind=kind,
                            state="ended",
                            started_at=came + timedelta(minutes=1),
                            ended_at=left,
                            end_reason="checkout",
                            due_at=None if kind == "seat" else came + timedelta(minutes=61),
                        )
                    )
            for key in rng.sample(keys, k=min(len(keys), rng.randint(0, 2))):
                session.add(
                    ServiceUse(
                        station_id=station.id,
                        rider_id=rider.id,
                        visit_id=visit.id,
                        service_key=key,
                        at=came + timedelta(minutes=2),
                    )
                )
            if rng.random() < 0.03:
                session.add(
                    ServiceRequest(
                        station_id=station.id,
                        rider_id=rider.id,
                        visit_id=visit.id,
                        service=rng.choice(["legal_aid", "counselling", "skills_training"]),
                        state="done",
                        ticket="",
                        ticket_url="",
                        created_at=came,
                        handled_at=left,
                    )
                )
    session.add(
        Hazard(
            station_id=station.id,
            rider_id=riders[1].id,
            category="safety_hazard",
            note="笋岗路口井盖松动,电动车经过容易摔倒",
            photos=[],
            state="kept",
            upload_token=secrets.token_urlsafe(18),
            tracking_no="",
            status_url="",
            created_at=clock.now() - timedelta(hours=3),
            sent_at=clock.now() - timedelta(hours=3),
        )
    )


def _live(session, station, riders: list[Rider]) -> None:
    """Three riders in the station now: one resting, one charging a phone, one charging a battery."""
    now = clock.now()
    for rider, kind, minutes in ((riders[2], "seat", 12), (riders[3], "phone", 25), (riders[4], "battery", 40)):
        visit = Visit(
            station_id=station.id,
            rider_id=rider.id,
            checked_in_at=now - timedelta(minutes=minutes),
            method_in="card",
            method_out="",
            auto_closed=False,
            open_rider_id=rider.id,
        )
        session.add(visit)
        session.flush()
        free = slots_of(session, station.id, kind)
        if not free:
            continue
        limit = get_settings().limit_minutes(kind)
        session.add(
            Use(
                station_id=station.id,
                visit_id=visit.id,
                rider_id=rider.id,
                slot_id=free[0].id,
                kind=kind,
                state="active",
                started_at=visit.checked_in_at,
                due_at=visit.checked_in_at + timedelta(minutes=limit) if limit else None,
                end_reason="",
                live_slot_id=free[0].id,
                live_holder=slots.holder_key(rider.id, kind),
            )
        )


def fill(station, session) -> None:
    """Add the demo station's courier data that is not there yet."""
    slots.ensure(session, station.id, get_settings())
    services.ensure_defaults(session, station.id)
    riders = _riders(session, station.id)
    if not session.scalar(select(func.count(Visit.id)).where(Visit.station_id == station.id)):
        _history(session, station, riders)
        _live(session, station, riders)
    session.flush()
