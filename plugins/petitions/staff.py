"""Staff pages (``/staff/petitions/``): new and open requests, one request's handling, the panel.

Only here are contact details shown in full: the core lets no one but logged-in
staff reach these URLs.

At the district hub, community staff see their station's requests and district
staff (whose station is the hub's own) every station's, each request handled
under its own station.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy import update as sql_update

from kiosk import clock, sync
from kiosk.audit import record
from kiosk.db import get_session, utcnow, write_transaction
from kiosk.i18n import gettext
from kiosk.models import Station
from kiosk.stations import current_station, station_id_of, station_row_or_404
from kiosk_plugins.petitions import lifecycle, outbox, places, present, routing, stats
from kiosk_plugins.petitions.models import OutboxMessage, Petition, PetitionPhoto
from kiosk_plugins.petitions.settings import get_settings
from kiosk_plugins.petitions.views import station_of
from kiosk_plugins.petitions.vocabulary import (
    OPEN_STATUSES,
    STATUSES,
    TRANSITIONS,
    channel_text,
    event_text,
    text,
)

bp = Blueprint("petitions_staff", __name__)

FILTERS = {
    "new": ("received",),
    "open": OPEN_STATUSES,
    "overdue": OPEN_STATUSES,
    "resolved": ("resolved",),
    "closed": ("closed",),
    "all": tuple(STATUSES),
}
PAGE = 100


def audit(action: str, detail: dict) -> None:
    """Record a staff action once this request's own writes are committed.

    The request's session has been reading since the login check; on SQLite a
    write from that old snapshot would fail after another connection committed.
    """
    get_session().commit()
    record(action, detail)


def scope() -> int | None:
    """The station whose requests these pages show; None for the district's view of all at the hub."""
    station = current_station()
    if sync.is_hub() and station.id == station_id_of(current_app):
        return None
    return station.id


def _in_scope(column):
    wanted = scope()
    return [column == wanted] if wanted is not None else []


@bp.get("/")
def index():
    """Requests of the station (at the hub for district staff: every station's), open ones first."""
    settings = get_settings()
    station = current_station()
    session = get_session()
    show = request.args.get("show", "open")
    if show not in FILTERS:
        show = "open"
    district = scope() is None
    query = select(Petition).where(*_in_scope(Petition.station_id), Petition.status.in_(FILTERS[show]))
    if show == "overdue":
        query = query.where(Petition.due_at < clock.now())
    if show in ("open", "overdue", "new"):
        query = query.order_by(Petition.due_at, Petition.id)
    else:
        query = query.order_by(Petition.updated_at.desc(), Petition.id.desc())
    rows = session.scalars(query.limit(PAGE)).all()
    place_list = places.for_station(session, station, settings)
    names = dict(session.execute(select(Station.id, Station.name)).all()) if district else {}
    items = [
        {
            "id": p.id,
            "station": names.get(p.station_id, ""),
            **present.summary(p, settings, station, place_list, staff=True),
        }
        for p in rows
    ]
    return render_template(
        "petitions/staff_list.html",
        items=items,
        show=show,
        filters=list(FILTERS),
        counts=stats.counts(session, scope()),
        district=district,
    )


def _petition(petition_id: int) -> Petition:
    if scope() is not None:
        return station_row_or_404(Petition, petition_id)
    found = get_session().get(Petition, petition_id)
    if found is None:
        abort(404)
    return found


@bp.get("/<int:petition_id>")
def detail(petition_id: int):
    """One request: everything about it, its contact details, and the form to move it on."""
    settings = get_settings()
    session = get_session()
    petition = _petition(petition_id)
    station = station_of(petition)
    place_list = places.for_station(session, station, settings)
    photos = session.scalars(
        select(PetitionPhoto).where(PetitionPhoto.request_id == petition.id).order_by(PetitionPhoto.id)
    ).all()
    messages = session.scalars(
        select(OutboxMessage).where(OutboxMessage.request_id == petition.id).order_by(OutboxMessage.id)
    ).all()
    suggested = routing.suggested_department(settings, petition.category)
    return render_template(
        "petitions/staff_detail.html",
        petition=petition,
        summary=present.summary(petition, settings, station, place_list, staff=True),
        steps=present.history(session, petition, settings, station, staff=True),
        photos=photos,
        messages=messages,
        suggested=suggested,
        departments=[(d.key, text(d.label)) for d in settings.departments],
        next_steps=[(s, gettext(STATUSES[s])) for s in TRANSITIONS.get(petition.status, ())],
        handled_at_hub=sync.is_enrolled(session),
        local_time=lambda value: clock.local_text(station, value),
        channel_text=channel_text,
        event_text=event_text,
    )


@bp.post("/<int:petition_id>/update")
def update(petition_id: int):
    """Move the request to its next step, or add a note; the note is shown to the resident."""
    petition = _petition(petition_id)
    station = station_of(petition)
    action = request.form.get("action", "")
    note = request.form.get("note", "")
    user_id = g.user.id if g.get("user") else None
    try:
        if action == "note":
            lifecycle.add_note(station, petition.id, note, user_id)
        else:
            lifecycle.change_status(
                station, petition.id, action, note, user_id, department=request.form.get("department", "")
            )
    except lifecycle.LifecycleError as exc:
        flash(gettext(exc.message))
        return redirect(url_for("petitions_staff.detail", petition_id=petition.id)), 303
    audit("petitions.updated", {"tracking_no": petition.tracking_no, "action": action})
    flash(gettext("Saved. The resident can see this step on the status page."))
    return redirect(url_for("petitions_staff.detail", petition_id=petition.id)), 303


@bp.post("/outbox/retry")
def retry_outbox():
    """Try every waiting dispatch message now instead of at its next retry time."""
    with write_transaction() as session:
        ids = list(
            session.scalars(
                select(OutboxMessage.id).where(
                    *_in_scope(OutboxMessage.station_id), OutboxMessage.delivered_at.is_(None)
                )
            )
        )
        if ids:
            session.execute(sql_update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(next_attempt_at=utcnow()))
    outbox.kick(current_app._get_current_object(), ids)
    audit("petitions.outbox_retry", {"messages": len(ids)})
    flash(gettext("Sending %(n)s waiting messages to the dispatch system.", n=len(ids)))
    return redirect(url_for("petitions_staff.index")), 303


def render_panel() -> str:
    """The staff console's panel: counts, overdue, forwarding state, links."""
    session = get_session()
    waiting = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(*_in_scope(OutboxMessage.station_id), OutboxMessage.delivered_at.is_(None))
    )
    return render_template(
        "petitions/staff_panel.html",
        counts=stats.counts(session, scope()),
        waiting=waiting or 0,
        webhook=get_settings().webhook.configured,
    )
