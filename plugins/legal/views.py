"""The resident's screens on the kiosk: pick a service, take a ticket, see it.

``/k/legal/`` lists the queues with how many wait and the estimated wait;
``/k/legal/take/<service>`` offers priority and an optional phone number;
``/k/legal/issued`` shows the ticket just taken (kept in the kiosk session,
which the idle reset clears, so the next person cannot page back to it).
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from sqlalchemy import select

from kiosk import visitors
from kiosk.db import get_session, write_transaction
from kiosk.i18n import _, current_locale
from kiosk.privacy import mask_phone, normalize_phone, valid_mobile
from kiosk.qr import qr_data_uri
from kiosk.ratelimit import limited
from kiosk.stations import current_station
from kiosk_plugins.legal import estimates, issuing, numbering
from kiosk_plugins.legal.models import Ticket
from kiosk_plugins.legal.runtime import settings
from kiosk_plugins.legal.settings import PRIORITY_REASONS

bp = Blueprint("legal_kiosk", __name__)


def queue_service(key: str):
    """The queue named ``key`` or a 404 (a typed URL, a service switched off)."""
    service = settings().service(key)
    if service is None or not service.queue:
        abort(404)
    return service


def read_phone(raw: str) -> tuple[str | None, str | None]:
    """(normalized phone or None, error message or None) for an optional phone field."""
    raw = (raw or "").strip()[:32]
    if not raw:
        return None, None
    if not valid_mobile(raw):
        return None, _("Please enter an 11-digit mobile number starting with 1, or leave it empty.")
    return normalize_phone(raw), None


@bp.route("/")
def index():
    """The legal area's queues with people waiting and the estimated wait for a new ticket."""
    station = current_station()
    loads = estimates.loads(get_session(), station)
    cfg = settings()
    rows = [{"service": s, "label": s.text(current_locale()), "load": loads[s.key]} for s in cfg.queues()]
    others = [s.text(current_locale()) for s in cfg.services if not s.queue]
    return render_template("legal/index.html", rows=rows, others=others, screen="legal.index")


@bp.route("/take/<service_key>", methods=["GET", "POST"])
@limited(40, 600)  # tickets per 10 minutes from one phone or browser; a kiosk terminal 800
def take(service_key: str):
    """Choose priority and an optional phone number, then take the ticket."""
    service = queue_service(service_key)
    station = current_station()
    error, priority, phone_field = None, "", ""
    if request.method == "POST":
        priority = request.form.get("priority", "")
        phone_field = request.form.get("phone", "")
        phone, error = read_phone(phone_field)
        if priority not in ("", *PRIORITY_REASONS):
            error = _("Please choose one of the priority options, or none.")
        if error is None:
            # One write transaction: the number, the ticket (with its sync entry and event),
            # its receipt's print job and the visitor's "issued" entry commit together, before
            # the response; a rolled-back ticket leaves no job, and the printer's worker and the
            # displays are woken only after the commit.
            with write_transaction() as session:
                ticket = numbering.add_ticket(session, station, service, priority=priority, phone=phone)
                progress = estimates.progress(session, station, ticket)
                job = issuing.print_ticket(station, ticket, progress)
                remember_issued(ticket, job)
            return redirect(url_for("legal_kiosk.issued"))
    load = estimates.loads(get_session(), station)[service.key]
    return render_template(
        "legal/take.html",
        service=service,
        label=service.text(current_locale()),
        load=load,
        error=error,
        priority=priority,
        reasons=PRIORITY_REASONS,
        reason_labels={r: issuing.priority_label(r) for r in PRIORITY_REASONS},
        screen="legal.take",
    ), (400 if error else 200)


#: The ticket or booking just made is kept with the kiosk's visitor (kiosk.visitors):
#: the home screen and the idle reset forget it, so the next resident never sees it.
VISITOR = "legal"


def remember_issued(ticket: Ticket, job: dict | None) -> None:
    """Keep the ticket just taken (and its print job) for the "issued" screen of this visitor."""
    visitors.remember(VISITOR, issued={"token": ticket.token, "job": job["job_id"] if job else None})


def _session_ticket(key: str = "issued"):
    held = visitors.recall(VISITOR, key) or {}
    token = held.get("token")
    if not token:
        return None, held
    ticket = get_session().scalar(
        select(Ticket).where(Ticket.token == token, Ticket.station_id == current_station().id)
    )
    return ticket, held


@bp.route("/issued")
def issued():
    """The ticket just taken: number, people ahead, wait, QR code, whether it printed."""
    ticket, held = _session_ticket()
    if ticket is None:
        return redirect(url_for("legal_kiosk.index"))
    station = current_station()
    progress = estimates.progress(get_session(), station, ticket)
    service = settings().service(ticket.service)
    url = issuing.status_url(ticket, station)
    job = held.get("job")
    return render_template(
        "legal/issued.html",
        ticket=ticket,
        progress=progress,
        wait=issuing.wait_text(progress),
        label=service.text(current_locale()) if service else ticket.service,
        phone=mask_phone(ticket.phone) if ticket.phone else "",
        priority=issuing.priority_label(ticket.priority),
        qr=qr_data_uri(url),
        print_job=job or "",
        printing_on=settings().print_tickets,
        screen="legal.issued",
    )
