"""Demo data for a Shuibei-like station: its places and requests taken from the source documents.

Running it again adds only what is missing. Demo requests are not forwarded
to the dispatch system (no outbox rows): nobody filed them.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from flask import has_app_context
from sqlalchemy import func, select

from kiosk import clock
from kiosk_plugins.petitions import numbering, places, routing
from kiosk_plugins.petitions.models import Petition, PetitionPlace, PetitionRating, PetitionStep
from kiosk_plugins.petitions.settings import from_config, get_settings

# (type, category, place key, description, days ago, steps: [(status, note, hours after)], rating)
SAMPLES = [
    (
        "complaint",
        "parking",
        "beili_north_road",
        "贝丽北路拥堵，泊林花园门口车辆违停，居民回家难。",
        40,
        [
            ("dispatched", "已转交通警部门处理。", 2),
            ("in_progress", "交警部门已到现场查看，正在研究交通组织方案。", 30),
            ("resolved", "已安装2套智慧交通设备和违停球，泊林花园门口由单向通行改为双向通行。", 400),
            ("closed", "回访居民，反映回家难问题已缓解。", 450),
        ],
        ("satisfied", "现在回家方便多了。"),
    ),
    (
        "suggestion",
        "parking",
        "beili_garden",
        "共享停车位按月收费300元不划算，不是每天都去停，建议改为按次收费。",
        30,
        [
            ("dispatched", "已转社区党委协调周边商场物业。", 3),
            ("resolved", "已协调商场物业改为每次10元按次收费，并接入“罗湖共享停车”平台，可查找和预约车位。", 200),
        ],
        ("basically_satisfied", ""),
    ),
    (
        "complaint",
        "safety_hazard",
        "shenhua_liyuan",
        "小区外墙瓷片脱落，楼下经常有人经过，存在安全隐患。",
        2,
        [
            ("dispatched", "已转应急管理办公室，联系住建部门到现场处置。", 1),
            ("in_progress", "已在楼下设置围挡，提醒居民绕行，正在安排维修。", 5),
        ],
        None,
    ),
    (
        "consultation",
        "other",
        "shuibei_centre",
        "希望社区多办一些法律、财务方面的专业知识讲座，在哪里报名？",
        1,
        [],
        None,
    ),
    (
        "suggestion",
        "public_facilities",
        "bolin_garden",
        "小孩喜欢踢足球，希望在小区周边找块运动场地，最好是免费的。",
        5,
        [("dispatched", "已转社区工作站，了解周边可开放的场地。", 20)],
        None,
    ),
]


def _settings():
    return get_settings() if has_app_context() else from_config({})


def register(station, session) -> None:
    """Add the demo places and requests that are not there yet."""
    existing = set(session.scalars(select(PetitionPlace.key).where(PetitionPlace.station_id == station.id)))
    for key, zh_hans, zh_hant, en in places.DEMO_PLACES:
        if key not in existing:
            places.add(session, station, key, zh_hans, zh_hant, en)
    session.flush()
    have = session.scalar(
        select(func.count()).select_from(Petition).where(Petition.station_id == station.id, Petition.channel == "demo")
    )
    if have:
        return
    settings = _settings()
    place_names = {key: zh_hans for key, zh_hans, _t, _e in places.DEMO_PLACES}
    now = clock.now()
    for kind, category, place_key, text, days_ago, steps, rating in SAMPLES:
        created = now - timedelta(days=days_ago)
        petition = Petition(
            station_id=station.id,
            uid=uuid.uuid4().hex,
            token=secrets.token_urlsafe(24),
            tracking_no=numbering.next_tracking_no(session, station, created, settings.tracking_prefix),
            type=kind,
            category=category,
            place_key=place_key,
            place=place_names[place_key],
            description=text,
            channel="demo",
            anonymous=True,
            contact_name="",
            contact_phone="",
            contact_email="",
            media_url="",
            department="",
            status="received",
            reopened=0,
            due_at=routing.due_at(settings, category, created),
            created_at=created,
            updated_at=created,
        )
        session.add(petition)
        session.flush()
        session.add(
            PetitionStep(
                station_id=station.id,
                request_id=petition.id,
                at=created,
                action="received",
                status="received",
                department="",
                note="",
            )
        )
        for status, note, hours in steps:
            at = created + timedelta(hours=hours)
            if status == "dispatched":
                petition.department = routing.suggested_department(settings, category)
            petition.status = status
            petition.updated_at = at
            if status == "resolved":
                petition.resolved_at = at
            if status == "closed":
                petition.closed_at = at
            session.add(
                PetitionStep(
                    station_id=station.id,
                    request_id=petition.id,
                    at=at,
                    action=status,
                    status=status,
                    department=petition.department,
                    note=note,
                )
            )
            if status == "resolved" and rating:
                rated_at = at + timedelta(hours=12)
                session.add(
                    PetitionRating(
                        station_id=station.id, request_id=petition.id, score=rating[0], comment=rating[1], at=rated_at
                    )
                )
                session.add(
                    PetitionStep(
                        station_id=station.id,
                        request_id=petition.id,
                        at=rated_at,
                        action="rated",
                        status="resolved",
                        department=petition.department,
                        note=rating[1],
                    )
                )
    session.flush()
