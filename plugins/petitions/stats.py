"""Counts for the staff panel and health check: new, open, overdue, satisfaction."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from kiosk import clock
from kiosk_plugins.petitions.models import Petition, PetitionRating
from kiosk_plugins.petitions.vocabulary import OPEN_STATUSES


def counts(session, station_id: int | None, now=None) -> dict:
    """How many requests are new, open, overdue, waiting to be closed; ratings of the last 30 days.

    ``station_id`` None: every station's (the district's view at the hub).
    """
    now = now or clock.now()
    mine = [Petition.station_id == station_id] if station_id is not None else []
    rated_here = [PetitionRating.station_id == station_id] if station_id is not None else []
    by_status = dict(
        session.execute(select(Petition.status, func.count()).where(*mine).group_by(Petition.status)).all()
    )
    overdue = session.scalar(
        select(func.count())
        .select_from(Petition)
        .where(*mine, Petition.status.in_(OPEN_STATUSES), Petition.due_at < now)
    )
    ratings = dict(
        session.execute(
            select(PetitionRating.score, func.count())
            .where(*rated_here, PetitionRating.at >= now - timedelta(days=30))
            .group_by(PetitionRating.score)
        ).all()
    )
    rated = sum(ratings.values())
    pleased = ratings.get("satisfied", 0) + ratings.get("basically_satisfied", 0)
    return {
        "new": by_status.get("received", 0),
        "open": sum(by_status.get(s, 0) for s in OPEN_STATUSES),
        "overdue": overdue or 0,
        "resolved": by_status.get("resolved", 0),
        "closed": by_status.get("closed", 0),
        "rated": rated,
        "satisfaction": round(100 * pleased / rated) if rated else None,
    }
