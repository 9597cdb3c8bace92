"""The counter staff's pages: pick a counter, call and serve, keep the duty schedule.

Staff pages are the one place a full phone number appears (so the counter can
call a resident back). Every action goes through :mod:`calling`, which writes
the audit line with the staff member and time.

On the district hub the queue belongs to the station: ``/staff/legal/`` shows
it as the station last synced it (no phone numbers: they never leave the
station), and every counter action or schedule page sends staff back there
with a note, changing nothing.
"""

from __future__ import annotations

from datetime import date, time, timedelta

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from sqlalchemy import func, select

from kiosk import clock, sync
from kiosk.db import get_session
from kiosk.i18n import N_, _, current_locale
from kiosk.stations import current_station
from kiosk_plugins.legal import booking, calling, estimates, hub, issuing, places
from kiosk_plugins.legal.calling import ActionError
from kiosk_plugins.legal.models import Counter, Ticket
from kiosk_plugins.legal.runtime import settings

bp = Blueprint("legal_staff", __name__)

#: The largest row id either database holds (PostgreSQL's INTEGER): a larger one names no ticket.
MAX_ROW_ID = 2**31 - 1

BOOKING_STATUS = {"booked": N_("Booked"), "checked_in": N_("Checked in"), "cancelled": N_("Cancelled")}


def service_name(key: str) -> str:
    """A queue's name in the request's language (the key itself if it was removed from the settings)."""
    service = settings().service(key)
    return service.text(current_locale()) if service else key


def _counter_or_404(number: int) -> int:
    if number not in settings().counters():
        abort(404)
    return number


#: Tickets a counter page lists per queue, in call order: the head of a long queue
#: (the heading says how many wait in all).
LISTED = 30


def queue_lists(session, station) -> list[dict]:
    """Today's waiting tickets per queue, the first :data:`LISTED` in the order they will be called."""
    cfg = settings()
    day = clock.today(station)
    loads = estimates.loads(session, station, day)
    out = []
    for service in cfg.queues():
        queue = places.station_queue(session, station.id, day, service.key, cfg.max_skips)
        out.append(
            {
                "service": service,
                "label": service.text(current_locale()),
                "load": loads[service.key],
                "tickets": queue.first_called(LISTED),
            }
        )
    return out


@bp.before_request
def _hub_shows_only():
    """On the hub only the synced overview: counters, calls and the duty schedule are the station's."""
    if not sync.is_hub() or request.endpoint == "legal_staff.counters":
        return None
    flash(_("Counters and the duty schedule are run at the station; the district sees the queue here."))
    return redirect(url_for("legal_staff.counters"))


def _hub_overview():
    station = current_station()
    db = get_session()
    last, notice = hub.heard_from(db, station)
    return render_template(
        "legal/staff_hub.html",
        queues=hub.overview(db, station, current_locale()),
        last=last,
        notice=notice,
        station=station,
    )


@bp.route("/")
def counters():
    """Choose the counter you sit at (on the hub: the station's queue as last synced)."""
    if sync.is_hub():
        return _hub_overview()
    station = current_station()
    session_db = get_session()
    rows = {c.number: c for c in session_db.scalars(select(Counter).where(Counter.station_id == station.id))}
    cfg = settings()
    choices = [
        {"number": n, "row": rows.get(n), "services": [s.text(current_locale()) for s in cfg.services_at(n)]}
        for n in cfg.counters()
    ]
    return render_template(
        "legal/staff_counters.html",
        choices=choices,
        mine=session.get("legal_counter"),
        queues=queue_lists(session_db, station),
    )


@bp.route("/counter/<int:number>/take", methods=["POST"])
def take(number: int):
    """Sit at a counter: remembered for this login and shown to colleagues."""
    _counter_or_404(number)
    calling.take_counter(current_station(), number, g.user)
    session["legal_counter"] = number
    return redirect(url_for("legal_staff.counter", number=number))


@bp.route("/counter/<int:number>")
def counter(number: int):
    """One counter: the called ticket, the actions, today's queues, recallable no-shows."""
    _counter_or_404(number)
    station = current_station()
    db = get_session()
    cfg = settings()
    day = clock.today(station)
    row = db.scalar(select(Counter).where(Counter.station_id == station.id, Counter.number == number))
    window_start = clock.now() - timedelta(minutes=cfg.no_show_recall_minutes)
    no_shows = list(
        db.scalars(
            select(Ticket)
            .where(
                Ticket.station_id == station.id,
                Ticket.day == day,
                Ticket.status == "no_show",
                Ticket.finished_at >= window_start,
            )
            .order_by(Ticket.finished_at.desc())
        )
    )
    served = (
        db.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(
                Ticket.station_id == station.id,
                Ticket.day == day,
                Ticket.status == "served",
                Ticket.staff_id == g.user.id,
            )
        )
        or 0
    )
    return render_template(
        "legal/staff_counter.html",
        number=number,
        row=row,
        current=calling.current_ticket(db, station, number),
        services=cfg.services_at(number),
        all_queues=cfg.queues(),
        queues=queue_lists(db, station),
        no_shows=no_shows,
        served=served,
        priority_label=issuing.priority_label,
        locale=current_locale(),
        recall_minutes=cfg.no_show_recall_minutes,
        service_name=service_name,
    )


def _act(number: int, action) -> tuple[bool, object]:
    """Run a counter action; (False, None) after flashing why it could not be done."""
    _counter_or_404(number)
    try:
        return True, action(current_station(), number, g.user)
    except ActionError as exc:
        flash(str(exc))
        return False, None


@bp.route("/counter/<int:number>/call", methods=["POST"])
def call(number: int):
    """Serve the current ticket and call the next (from one queue if given)."""
    service_key = request.form.get("service") or None
    done, ticket = _act(number, lambda st, n, u: calling.call_next(st, n, u, service_key))
    if done and ticket is None:
        flash(_("Nobody is waiting."))
    elif done:
        flash(_("Called %(ticket)s.", ticket=ticket.code))
    return redirect(url_for("legal_staff.counter", number=number))


@bp.route("/counter/<int:number>/recall", methods=["POST"])
def recall(number: int):
    """Announce the current ticket again."""
    done, ticket = _act(number, calling.recall)
    if done:
        flash(_("Called %(ticket)s again.", ticket=ticket.code))
    return redirect(url_for("legal_staff.counter", number=number))


@bp.route("/counter/<int:number>/served", methods=["POST"])
def served(number: int):
    """The resident has been served."""
    done, ticket = _act(number, lambda st, n, u: calling.finish(st, n, u, "served"))
    if done:
        flash(_("%(ticket)s marked as served.", ticket=ticket.code))
    return redirect(url_for("legal_staff.counter", number=number))


@bp.route("/counter/<int:number>/no-show", methods=["POST"])
def no_show(number: int):
    """The resident did not come; may be recalled within the window."""
    done, ticket = _act(number, lambda st, n, u: calling.finish(st, n, u, "no_show"))
    if done:
        flash(_("%(ticket)s marked as not present.", ticket=ticket.code))
    return redirect(url_for("legal_staff.counter", number=number))


@bp.route("/counter/<int:number>/recall-no-show", methods=["POST"])
def recall_no_show(number: int):
    """Call a no-show back while the window is open."""
    try:
        ticket_id = int(request.form.get("ticket", ""))
    except ValueError:
        ticket_id = 0
    if not 0 < ticket_id <= MAX_ROW_ID:  # beyond the database's integers no ticket has that id
        flash(_("That ticket is not a no-show today."))
        return redirect(url_for("legal_staff.counter", number=number))
    done, ticket = _act(number, lambda st, n, u: calling.recall_no_show(st, n, u, ticket_id))
    if done:
        flash(_("Called %(ticket)s again.", ticket=ticket.code))
    return redirect(url_for("legal_staff.counter", number=number))


@bp.route("/counter/<int:number>/transfer", methods=["POST"])
def transfer(number: int):
    """Send the current ticket to another queue."""
    target = request.form.get("service", "")
    done, ticket = _act(number, lambda st, n, u: calling.transfer(st, n, u, target))
    if done:
        flash(
            _(
                "%(ticket)s moved to %(service)s.",
                ticket=ticket.code,
                service=settings().service(target).text(current_locale()),
            )
        )
    return redirect(url_for("legal_staff.counter", number=number))


@bp.route("/counter/<int:number>/pause", methods=["POST"])
def pause(number: int):
    """Pause or resume the counter (``paused=1`` / ``paused=0``)."""
    paused = request.form.get("paused") == "1"
    done, _result = _act(number, lambda st, n, u: calling.set_paused(st, n, u, paused))
    if done:
        flash(_("Counter paused.") if paused else _("Counter open again."))
    return redirect(url_for("legal_staff.counter", number=number))


# -- the duty schedule -------------------------------------------------------
def _parse_slot_form(form, station) -> tuple[dict | None, str | None]:
    cfg = settings()
    service = cfg.service(form.get("service", ""))
    if service is None or not service.queue:
        return None, _("Choose the queue the lawyer serves.")
    try:
        day = date.fromisoformat(form.get("day", ""))
        start = time.fromisoformat(form.get("start", ""))
        end = time.fromisoformat(form.get("end", ""))
    except ValueError:
        return None, _("Enter the date as YYYY-MM-DD and the times as HH:MM.")
    if end <= start:
        return None, _("The end time must be after the start time.")
    lawyer = form.get("lawyer", "").strip()[:100]
    if not lawyer:
        return None, _("Enter the duty lawyer's name.")
    try:
        capacity = int(form.get("capacity", "1"))
    except ValueError:
        capacity = 0
    if not 1 <= capacity <= 50:
        return None, _("Places must be a number from 1 to 50.")
    starts_at = clock.at_local(station, day, start)
    if starts_at <= clock.now():
        return None, _("The slot must start in the future.")
    return {
        "service": service.key,
        "starts_at": starts_at,
        "ends_at": clock.at_local(station, day, end),
        "lawyer": lawyer,
        "organisation": form.get("organisation", "").strip()[:200],
        "capacity": capacity,
    }, None


@bp.route("/schedule", methods=["GET", "POST"])
def schedule():
    """The lawyers' duty schedule: add slots, see bookings (with full phone numbers)."""
    station = current_station()
    db = get_session()
    error = None
    if request.method == "POST":
        values, error = _parse_slot_form(request.form, station)
        if values is not None:
            booking.add_slot(station, g.user, **values)
            flash(_("Duty slot added."))
            return redirect(url_for("legal_staff.schedule"))
    today = clock.today(station)
    slots = booking.upcoming_slots(db, station, days=30, include_past_today=True)
    bookings: dict[int, list] = {}
    for made, slot in booking.bookings_between(db, station, today, 30):
        bookings.setdefault(slot.id, []).append(made)
    labels = {s.key: s.text(current_locale()) for s in settings().services}
    return render_template(
        "legal/staff_schedule.html",
        slots=slots,
        bookings=bookings,
        labels=labels,
        queues=settings().queues(),
        error=error,
        form=request.form,
        today=today.isoformat(),
        local=lambda at: clock.local(station, at),
        status_text=lambda status: _(BOOKING_STATUS.get(status, status)),
    ), (400 if error else 200)


@bp.route("/schedule/<int:slot_id>/delete", methods=["POST"])
def delete_slot(slot_id: int):
    """Remove a slot nobody booked."""
    try:
        booking.delete_slot(current_station(), g.user, slot_id)
        flash(_("Duty slot removed."))
    except ActionError as exc:
        flash(str(exc))
    return redirect(url_for("legal_staff.schedule"))


def panel() -> str:
    """The staff console panel: waiting per queue and a link to the counter page."""
    station = current_station()
    if sync.is_hub():
        db = get_session()
        return render_template(
            "legal/staff_hub_panel.html",
            queues=hub.overview(db, station, current_locale()),
            notice=hub.heard_from(db, station)[1],
        )
    loads = estimates.loads(get_session(), station)
    return render_template(
        "legal/staff_panel.html", loads=loads.values(), locale=current_locale(), mine=session.get("legal_counter")
    )
