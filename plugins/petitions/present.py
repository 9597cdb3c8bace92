"""What a request looks like on a page: labels in the reader's language, local times, history.

Contact details are not part of anything built here; only the staff detail
page reads them, straight from the row. Residents also write their details
into the description ("我叫…，电话…"), and staff into their notes, so the
free text is masked (:func:`public_text`) everywhere but on the staff pages.
"""

from __future__ import annotations

from sqlalchemy import select

from kiosk import clock
from kiosk.i18n import gettext
from kiosk.privacy import mask_in_text
from kiosk_plugins.petitions import routing
from kiosk_plugins.petitions.models import PetitionRating, PetitionStep
from kiosk_plugins.petitions.vocabulary import ACTIONS, RATINGS, STATUSES, TYPES, text


def category_label(settings, key: str) -> str:
    found = settings.category(key)
    return text(found.label) if found is not None else key


def department_label(settings, key: str) -> str:
    found = settings.department(key) if key else None
    return text(found.label) if found is not None else ""


def place_label(petition, places) -> str:
    """The place in the reader's language when it is still on the list, else as stored."""
    for place in places:
        if place.key == petition.place_key and petition.place_key:
            return text(place.label)
    return petition.place


def public_text(value: str, petition) -> str:
    """Free text of ``petition`` as the public reads it: personal numbers, e-mail addresses and plates masked,
    and the resident's name (given as ``王 秀英`` through Open311, it is masked as ``王秀英`` too)."""
    name = petition.contact_name or ""
    return mask_in_text(value, names=(name, name.replace(" ", "")))


def summary(petition, settings, station, places=(), *, staff: bool = False) -> dict:
    """The request's facts (never its contact details); the description in full for ``staff`` only."""
    now = clock.now()
    return {
        "tracking_no": petition.tracking_no,
        "type": gettext(TYPES.get(petition.type, petition.type)),
        "category": category_label(settings, petition.category),
        "place": place_label(petition, places),
        "description": petition.description if staff else public_text(petition.description, petition),
        "status": petition.status,
        "status_label": gettext(STATUSES.get(petition.status, petition.status)),
        "department": department_label(settings, petition.department),
        "created": clock.local_text(station, petition.created_at),
        "due": clock.local_text(station, petition.due_at),
        "overdue": routing.is_overdue(petition, now),
    }


def status_only(summary: dict) -> dict:
    """What a lookup by tracking number shows: where the request stands, not what or where it is about.

    Tracking numbers are sequential, so anyone may type someone else's: no
    description and no place (a typed address can be a home), only the kind,
    category, department, dates and status (the steps' notes are left out by the caller).
    """
    return {**summary, "description": "", "place": ""}


def history(session, petition, settings, station, *, staff: bool = False) -> list[dict]:
    """Each step, oldest first, as the resident reads it (notes in full for ``staff``); ratings show their verdict."""
    steps = session.scalars(
        select(PetitionStep).where(PetitionStep.request_id == petition.id).order_by(PetitionStep.id)
    ).all()
    ratings = session.scalars(
        select(PetitionRating).where(PetitionRating.request_id == petition.id).order_by(PetitionRating.id)
    ).all()
    rating_iter = iter(ratings)
    out = []
    for step in steps:
        entry = {
            "action": step.action,
            "title": gettext(ACTIONS.get(step.action, step.action)),
            "status": step.status,
            "status_label": gettext(STATUSES.get(step.status, step.status)),
            "at": clock.local_text(station, step.at),
            "note": step.note if staff else public_text(step.note, petition),
            "department": department_label(settings, step.department) if step.action == "dispatched" else "",
            "rating": "",
        }
        if step.action == "rated":
            rating = next(rating_iter, None)
            entry["rating"] = gettext(RATINGS.get(rating.score, rating.score)) if rating else ""
        out.append(entry)
    return out
