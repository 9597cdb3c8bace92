"""How long the rider station keeps personal data (the kiosk's retention job, :mod:`kiosk.retention`).

- ``riders``: a rider's name, phone, card and code, counted from their last
  check-in anywhere in this database (a registry row that still checks in stays);
- ``visits``: check-ins, seats and charging slots, waiting places, service uses
  and requests, counted from the check-in;
- ``hazards``: a 小蜜蜂巡查 report's note, photos (files) and reporter, counted
  from when it was sent on or handled (a draft or a kept report: from when it was
  made). The category, state and tracking number stay for the station's figures.
"""

from __future__ import annotations

import os

from sqlalchemy import delete, or_, select, update

from kiosk import hookimpl
from kiosk_plugins.courier_rest.models import (
    Hazard,
    Rider,
    RiderAlias,
    ServiceRequest,
    ServiceUse,
    Use,
    Visit,
    Waiting,
)


def _delete_visits(session, visit_ids: list[int]) -> None:
    """Visits and the rows that hang on them."""
    if not visit_ids:
        return
    for model in (Use, Waiting):
        session.execute(delete(model).where(model.visit_id.in_(visit_ids)))
    session.execute(delete(ServiceUse).where(ServiceUse.visit_id.in_(visit_ids)))
    session.execute(delete(ServiceRequest).where(ServiceRequest.visit_id.in_(visit_ids)))
    session.execute(delete(Visit).where(Visit.id.in_(visit_ids)))


def purge_riders(sweep) -> int:
    """Riders registered before the cut-off who have not checked in since; everything that names them."""
    session = sweep.session
    recent = select(Visit.rider_id).where(Visit.checked_in_at >= sweep.cutoff)
    old = select(Rider.id).where(sweep.mine(Rider.station_id), Rider.created_at < sweep.cutoff)
    ids = list(session.scalars(old.where(Rider.id.not_in(recent))))
    if not ids:
        return 0
    _delete_visits(session, list(session.scalars(select(Visit.id).where(Visit.rider_id.in_(ids)))))
    for model in (Use, Waiting, ServiceUse, ServiceRequest, RiderAlias):
        session.execute(delete(model).where(model.rider_id.in_(ids)))
    session.execute(update(Hazard).where(Hazard.rider_id.in_(ids)).values(rider_id=None))
    session.execute(delete(Rider).where(Rider.id.in_(ids)))
    return len(ids)


def purge_visits(sweep) -> int:
    """Closed visits checked in before the cut-off, and service uses and requests as old."""
    session = sweep.session
    ids = list(
        session.scalars(
            select(Visit.id).where(
                sweep.mine(Visit.station_id), Visit.checked_in_at < sweep.cutoff, Visit.checked_out_at.is_not(None)
            )
        )
    )
    _delete_visits(session, ids)
    loose = session.execute(
        delete(ServiceUse).where(sweep.mine(ServiceUse.station_id), ServiceUse.at < sweep.cutoff)
    ).rowcount
    asked = session.execute(
        delete(ServiceRequest).where(sweep.mine(ServiceRequest.station_id), ServiceRequest.created_at < sweep.cutoff)
    ).rowcount
    return len(ids) + int(loose or 0) + int(asked or 0)


def purge_hazards(sweep) -> int:
    """The note, photos and reporter of hazard reports past the period; the report's row stays, emptied."""
    from kiosk_plugins.courier_rest.hazards import photo_folder

    reports = sweep.session.scalars(
        select(Hazard).where(
            sweep.mine(Hazard.station_id),
            or_(
                Hazard.handled_at < sweep.cutoff,
                Hazard.handled_at.is_(None) & (Hazard.sent_at < sweep.cutoff),
                Hazard.handled_at.is_(None) & Hazard.sent_at.is_(None) & (Hazard.created_at < sweep.cutoff),
            ),
        )
    ).all()
    emptied = 0
    for report in reports:
        if not (report.note or report.photos or report.rider_id is not None):
            continue
        folder = photo_folder(sweep.app, report.station_id)
        for name in report.photos or []:
            sweep.remove_file(os.path.join(folder, os.path.basename(str(name))))
        report.note, report.photos, report.rider_id = "", [], None
        emptied += 1
    return emptied


@hookimpl
def register_retention(register):
    """Riders, their visits, and hazard reports."""
    register(
        "riders",
        days=365,
        purge=purge_riders,
        label={"zh_Hans": "骑手登记信息", "zh_Hant": "騎手登記資料", "en": "Registered riders"},
        reason="a registration serves check-ins; a rider not seen for a year registers again in seconds",
    )
    register(
        "visits",
        days=365,
        purge=purge_visits,
        label={"zh_Hans": "签到和服务记录", "zh_Hant": "簽到和服務記錄", "en": "Check-ins and service uses"},
        reason="the station reports its daily figures to the district the same day; a year covers the annual "
        "report and any question about it",
    )
    register(
        "hazards",
        days=90,
        purge=purge_hazards,
        label={"zh_Hans": "巡查上报的描述和照片", "zh_Hant": "巡查上報的描述和照片", "en": "Hazard notes and photos"},
        reason="a report is handed on as a petition (which keeps its own copy) or handled by staff; three months "
        "answer questions about it",
    )
