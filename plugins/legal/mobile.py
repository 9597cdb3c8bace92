"""The resident's phone page from the ticket's QR code: live place in the queue.

``/m/legal/t/<token>`` (the token is random and long, so nobody reaches a
ticket by counting ids). It shows the number, the queue, people ahead, the
estimated wait, or the counter once called; the page refreshes its figures
from ``/m/legal/t/<token>.json`` whenever the station pushes a legal event.
The phone number is never shown here, not even masked.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, g, jsonify, render_template, request, session

from kiosk.db import get_session
from kiosk.i18n import N_, _, current_locale
from kiosk.stations import current_station, station_row_or_404
from kiosk_plugins.legal import estimates, issuing
from kiosk_plugins.legal.models import Ticket
from kiosk_plugins.legal.runtime import settings

bp = Blueprint("legal_mobile", __name__)
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")

STATUS_TEXT = {
    "waiting": N_("Waiting"),
    "called": N_("It is your turn"),
    "served": N_("Served. Thank you for coming."),
    "no_show": N_("Your number was called but you were not there. Please ask the staff."),
    "expired": N_("This ticket is from an earlier day. Please take a new ticket."),
}


def _ticket(token: str) -> Ticket:
    # Tokens are URL-safe base64; anything else (a NUL byte, which PostgreSQL cannot compare) is unknown.
    if not TOKEN_RE.fullmatch(token):
        abort(404)
    return station_row_or_404(Ticket, token=token)


def _state(ticket: Ticket) -> dict:
    station = current_station()
    progress = estimates.progress(get_session(), station, ticket)
    service = settings().service(ticket.service)
    called = ticket.status == "called"
    return {
        "ticket": ticket.code,
        "service": service.text(current_locale()) if service else ticket.service,
        "status": ticket.status,
        "status_text": _(STATUS_TEXT.get(ticket.status, "Waiting")),
        "ahead": progress.ahead,
        "wait": issuing.wait_text(progress),
        "counter": ticket.counter if called else None,
        "call_text": _("Please go to counter %(counter)s", counter=ticket.counter) if called else "",
    }


def _pick_language() -> None:
    # A phone has no kiosk language buttons; ?lang=en from the page's links sets it.
    wanted = request.args.get("lang")
    if wanted in current_app.config["STATION"]["languages"]:
        session["lang"] = wanted
        g.locale = wanted


@bp.route("/t/<token>")
def status(token: str):
    """The live status page for one ticket."""
    _pick_language()
    ticket = _ticket(token)
    return render_template(
        "legal/mobile.html", state=_state(ticket), token=token, locale=current_locale(), station=current_station()
    )


@bp.route("/t/<token>.json")
def status_json(token: str):
    """The same figures as JSON for the page's live refresh."""
    return jsonify(_state(_ticket(token)))
