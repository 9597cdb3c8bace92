"""The station's basic services (饮水, 微波炉, 卫生间, 修车 …): a list staff edit.

A new station starts with the services the source reports name; staff rename,
reorder, hide or add their own, each with one of the plugin's icons and a short
note in each language ("hot water at the door").
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from kiosk.i18n import N_
from kiosk_plugins.courier_rest.models import Service, ServiceUse

#: Icons a staff member can pick for a service (files under static/icons/).
ICONS = ["water", "microwave", "toilet", "repair", "first_aid", "wifi", "umbrella", "rest", "service"]

#: (key, icon, 简体, 繁體, English, note 简体, note 繁體, note English)
DEFAULTS = [
    (
        "water",
        "water",
        "饮水",
        "飲水",
        "Drinking water",
        "冷热饮水免费自取",
        "冷熱飲水免費自取",
        "Hot and cold water, free: help yourself",
    ),
    (
        "microwave",
        "microwave",
        "微波炉",
        "微波爐",
        "Microwave",
        "可加热自带饭菜",
        "可加熱自帶飯菜",
        "Heat up your own meal",
    ),
    ("toilet", "toilet", "卫生间", "衛生間", "Toilet", "", "", ""),
    (
        "repair",
        "repair",
        "修车",
        "修車",
        "Bike repair",
        "打气筒和修车工具可向工作人员借用",
        "打氣筒和修車工具可向工作人員借用",
        "Pump and tools: ask the staff",
    ),
    (
        "first_aid",
        "first_aid",
        "急救箱",
        "急救箱",
        "First-aid kit",
        "急救箱在服务台",
        "急救箱在服務台",
        "The first-aid kit is at the service desk",
    ),
]

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
NAME_FIELDS = ("name_zh_hans", "name_zh_hant", "name_en")
#: The highest position a service may be given (positions order the list).
MAX_POSITION = 9999
NOTE_FIELDS = ("note_zh_hans", "note_zh_hant", "note_en")
#: A rider tapping the same service again within this time is counted once.
REPEAT_WINDOW = timedelta(minutes=5)


def ensure_defaults(session, station_id: int) -> int:
    """Give a station with no services the default list; returns how many were added."""
    if session.scalar(select(func.count(Service.id)).where(Service.station_id == station_id)):
        return 0
    for position, row in enumerate(DEFAULTS):
        key, icon, hans, hant, en, n_hans, n_hant, n_en = row
        session.add(
            Service(
                station_id=station_id,
                key=key,
                icon=icon,
                name_zh_hans=hans,
                name_zh_hant=hant,
                name_en=en,
                note_zh_hans=n_hans,
                note_zh_hant=n_hant,
                note_en=n_en,
                position=position * 10,
                active=True,
            )
        )
    session.flush()
    return len(DEFAULTS)


def listed(session, station_id: int, include_hidden: bool = False) -> list[Service]:
    """The station's services in their order."""
    query = select(Service).where(Service.station_id == station_id)
    if not include_hidden:
        query = query.where(Service.active.is_(True))
    return list(session.scalars(query.order_by(Service.position, Service.id)))


def by_key(session, station_id: int, key: str) -> Service | None:
    """One of the station's services by its key."""
    return session.scalar(select(Service).where(Service.station_id == station_id, Service.key == key))


def name_of(service: Service, locale: str) -> str:
    """The service's name in ``locale``, falling back to Simplified Chinese."""
    return getattr(service, "name_" + locale.lower(), "") or service.name_zh_hans


def note_of(service: Service, locale: str) -> str:
    """The service's note in ``locale``, falling back to Simplified Chinese."""
    return getattr(service, "note_" + locale.lower(), "") or service.note_zh_hans


def record_use(session, station_id: int, rider_id: int | None, visit_id: int | None, key: str, now) -> bool:
    """Count one use of a service; a quick second tap by the same rider is not counted twice."""
    if rider_id is not None:
        recent = session.scalar(
            select(func.count(ServiceUse.id)).where(
                ServiceUse.station_id == station_id,
                ServiceUse.rider_id == rider_id,
                ServiceUse.service_key == key,
                ServiceUse.at > now - REPEAT_WINDOW,
            )
        )
        if recent:
            return False
    session.add(ServiceUse(station_id=station_id, rider_id=rider_id, visit_id=visit_id, service_key=key, at=now))
    session.flush()
    return True


def validate(form: dict, *, new: bool) -> tuple[dict, list[str]]:
    """Check a staff edit of a service; returns (clean values, message ids of problems)."""
    values = {f: " ".join((form.get(f) or "").split()) for f in NAME_FIELDS + NOTE_FIELDS}
    values["icon"] = form.get("icon") or "service"
    errors = []
    if new:
        values["key"] = (form.get("key") or "").strip().lower()
        if not KEY_RE.match(values["key"]):
            errors.append(N_("The key must be 2 to 40 lowercase letters, digits or _, starting with a letter."))
    if not values["name_zh_hans"]:
        errors.append(N_("Please give the service a name in Simplified Chinese."))
    for f in NAME_FIELDS:
        if len(values[f]) > (60 if f == "name_en" else 40):
            errors.append(N_("A name is too long (at most 40 characters, 60 in English)."))
            break
    if any(len(values[f]) > 200 for f in NOTE_FIELDS):
        errors.append(N_("A note is too long (at most 200 characters)."))
    if values["icon"] not in ICONS:
        errors.append(N_("Please pick one of the icons."))
    try:
        values["position"] = int(form.get("position") or 0)
    except ValueError:
        errors.append(N_("The position must be a whole number."))
    else:
        # The list's order, not an id: a few digits; beyond the database's integers it failed at commit.
        if not 0 <= values["position"] <= MAX_POSITION:
            errors.append(N_("The position must be a whole number from 0 to 9999."))
    return values, errors
