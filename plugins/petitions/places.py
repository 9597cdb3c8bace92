"""The station's list of places (communities, housing estates, buildings, roads).

Admins keep the list on the admin page (``petitions_place`` rows); a station
without rows uses ``places`` from its station file.
"""

from __future__ import annotations

from sqlalchemy import func, select

from kiosk_plugins.petitions.models import PetitionPlace
from kiosk_plugins.petitions.vocabulary import Place

#: The demo station's places, from the source documents on Shuibei (水贝) community.
DEMO_PLACES = [
    ("beili_garden", "贝丽花园", "貝麗花園", "Beili Garden"),
    ("shenhua_liyuan", "深华丽园", "深華麗園", "Shenhua Liyuan"),
    ("bolin_garden", "泊林花园", "泊林花園", "Bolin Garden"),
    ("beili_north_road", "贝丽北路", "貝麗北路", "Beili North Road"),
    ("wanshan_jewellery_park", "水贝万山珠宝产业园", "水貝萬山珠寶產業園", "Shuibei Wanshan Jewellery Park"),
    ("shuibei_centre", "水贝社区党群服务中心", "水貝社區黨群服務中心", "Shuibei Party-Mass Service Centre"),
]


def _as_place(row: PetitionPlace) -> Place:
    return Place(
        row.key,
        {
            "zh_Hans": row.name_zh_hans,
            "zh_Hant": row.name_zh_hant or row.name_zh_hans,
            "en": row.name_en or row.name_zh_hans,
        },
    )


def for_station(session, station, settings, include_inactive: bool = False) -> list[Place]:
    """The places residents can pick at ``station``, in the admin's order."""
    query = select(PetitionPlace).where(PetitionPlace.station_id == station.id)
    if not include_inactive:
        query = query.where(PetitionPlace.active.is_(True))
    rows = session.scalars(query.order_by(PetitionPlace.position, PetitionPlace.id)).all()
    if rows:
        return [_as_place(r) for r in rows]
    has_rows = session.scalar(
        select(func.count()).select_from(PetitionPlace).where(PetitionPlace.station_id == station.id)
    )
    # An admin who switched every place off meant it: do not fall back to the file.
    return [] if has_rows else list(settings.places)


def find(places: list[Place], key: str) -> Place | None:
    return next((p for p in places if p.key == key), None)


def add(session, station, key: str, zh_hans: str, zh_hant: str = "", en: str = "") -> PetitionPlace:
    """Add a place at the end of the station's list (or switch an old one back on)."""
    row = session.scalar(select(PetitionPlace).where(PetitionPlace.station_id == station.id, PetitionPlace.key == key))
    if row is None:
        last = (
            session.scalar(select(func.max(PetitionPlace.position)).where(PetitionPlace.station_id == station.id)) or 0
        )
        row = PetitionPlace(station_id=station.id, key=key, position=last + 1)
        session.add(row)
    row.name_zh_hans, row.name_zh_hant, row.name_en, row.active = zh_hans, zh_hant, en, True
    return row
