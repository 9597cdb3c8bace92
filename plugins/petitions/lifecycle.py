"""Moving a request through its life: received → dispatched → in progress → resolved → closed.

Every change writes a history line the resident sees, a message for the
dispatch system and a push event, in one transaction with the request row
locked, so two staff members cannot move the same request at once.
A resident's rating of a resolved request is recorded the same way; a
"dissatisfied" rating reopens it with a fresh deadline.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from kiosk import clock, events, sync
from kiosk.db import write_transaction
from kiosk.i18n import N_
from kiosk_plugins.petitions import outbox, routing, syncing
from kiosk_plugins.petitions.models import Petition, PetitionRating, PetitionStep
from kiosk_plugins.petitions.settings import get_settings
from kiosk_plugins.petitions.vocabulary import RATINGS, TRANSITIONS

log = logging.getLogger("kiosk_plugins.petitions.lifecycle")

NOTE_MAX = 1000
COMMENT_MAX = 300


class LifecycleError(ValueError):
    """A change that is not allowed now; ``message`` is a message id for the person who tried."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _handled_here(session) -> None:
    """Refuse handling at a station enrolled at a hub: the district's staff handle its requests there."""
    if sync.is_enrolled(session):
        raise LifecycleError(N_("Requests of this station are handled at the district hub. Please update them there."))


def _locked(session, station, petition_id: int) -> Petition:
    petition = session.scalar(
        select(Petition).where(Petition.id == petition_id, Petition.station_id == station.id).with_for_update()
    )
    if petition is None:
        raise LifecycleError(N_("This request was not found."))
    return petition


def _record(session, station, petition: Petition, action: str, note: str, user_id, settings, now) -> None:
    petition.updated_at = now
    session.add(
        PetitionStep(
            station_id=station.id,
            request_id=petition.id,
            at=now,
            action=action,
            status=petition.status,
            department=petition.department,
            note=note,
            user_id=user_id,
        )
    )
    session.flush()
    message = outbox.enqueue(session, petition, station, settings, action, note)
    # At the hub: the request's station learns the new state (its kiosk answers from it offline).
    syncing.publish_status(session, petition)
    events.emit(
        "petitions.status_changed",
        {"tracking_no": petition.tracking_no, "status": petition.status, "action": action},
        channel="petitions",
        station_id=station.id,
        session=session,
    )
    outbox.after_commit(session, current_app._get_current_object(), [message])


def change_status(station, petition_id: int, status: str, note: str, user_id=None, department: str = "") -> Petition:
    """Staff move a request on (with a note the resident will read); ``department`` for dispatching."""
    settings = get_settings()
    note = (note or "").strip()[:NOTE_MAX]
    if len(note) < 2:
        raise LifecycleError(N_("Please write a short note: the resident will see it."))
    if status == "dispatched" and settings.department(department) is None:
        raise LifecycleError(N_("Please choose the department that will handle the request."))
    now = clock.now()
    with write_transaction() as session:
        _handled_here(session)
        petition = _locked(session, station, petition_id)
        if status not in TRANSITIONS.get(petition.status, ()):
            raise LifecycleError(N_("The request cannot go to that step from where it is now."))
        if department and settings.department(department) is not None:
            petition.department = department
        petition.status = status
        if status == "resolved":
            petition.resolved_at = now
        elif status == "closed":
            petition.closed_at = now
        _record(session, station, petition, status, note, user_id, settings, now)
    log.info("petition %s moved to %s", petition.tracking_no, status)
    return petition


def add_note(station, petition_id: int, note: str, user_id=None) -> Petition:
    """A progress note without a change of step (the resident sees it)."""
    settings = get_settings()
    note = (note or "").strip()[:NOTE_MAX]
    if len(note) < 2:
        raise LifecycleError(N_("Please write a short note: the resident will see it."))
    now = clock.now()
    with write_transaction() as session:
        _handled_here(session)
        petition = _locked(session, station, petition_id)
        if petition.status == "closed":
            raise LifecycleError(N_("The request is closed."))
        _record(session, station, petition, "note", note, user_id, settings, now)
    return petition


def can_rate(session, petition: Petition) -> bool:
    """A resolved request can be rated once per resolution, where it is handled (not at an enrolled station)."""
    if petition.status != "resolved" or petition.resolved_at is None or sync.is_enrolled(session):
        return False
    last = session.scalar(
        select(PetitionRating.at)
        .where(PetitionRating.request_id == petition.id)
        .order_by(PetitionRating.id.desc())
        .limit(1)
    )
    return last is None or last < petition.resolved_at


def rate(station, token: str, score: str, comment: str) -> Petition:
    """The resident rates the handling; "dissatisfied" reopens the request."""
    settings = get_settings()
    comment = (comment or "").strip()[:COMMENT_MAX]
    if score not in RATINGS:
        raise LifecycleError(N_("Please choose how satisfied you are."))
    if score == "dissatisfied" and len(comment) < 2:
        raise LifecycleError(N_("Please tell us in a few words what is still wrong, so it can be handled again."))
    now = clock.now()
    with write_transaction() as session:
        found = session.scalar(select(Petition.id).where(Petition.token == token, Petition.station_id == station.id))
        if found is None:
            raise LifecycleError(N_("This request was not found."))
        petition = _locked(session, station, found)
        if not can_rate(session, petition):
            raise LifecycleError(N_("This request cannot be rated now."))
        session.add(PetitionRating(station_id=station.id, request_id=petition.id, score=score, comment=comment, at=now))
        _record(session, station, petition, "rated", comment, None, settings, now)
        if score == "dissatisfied":
            petition.status = "in_progress"
            petition.reopened += 1
            petition.resolved_at = None
            petition.due_at = routing.due_at(settings, petition.category, now)
            _record(session, station, petition, "reopened", "", None, settings, now)
    log.info("petition %s rated %s", petition.tracking_no, score)
    return petition
