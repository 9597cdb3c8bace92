"""The resident's phone page from the ticket's QR code: live place in the queue.

``/m/legal/t/<token>`` (the token is random and long, so nobody reaches a
ticket by counting ids). It shows the number, the queue, people ahead, the
estimated wait, or the counter once called; the page refreshes its figures
from ``/m/legal/t/<token>.json`` whenever the station pushes a legal event.
The phone number is never shown here, not even masked.

Once the station is enrolled at a district hub the QR code opens the hub
(``?station=<code>`` says whose ticket it is): there the same page shows the
ticket as the station last synced it (:mod:`kiosk_plugins.legal.hub`), says
when the station has been offline for over a minute, and answers a ticket
that has not arrived yet with a page that tries again by itself.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, g, jsonify, render_template, request, session

from kiosk import sync
from kiosk.db import get_session
from kiosk.i18n import N_, _, current_locale
from kiosk.stations import current_station, station_row_or_404
from kiosk_plugins.legal import estimates, hub, issuing
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
    label = service.text(current_locale()) if service else ticket.service
    return _figures(ticket.code, ticket.status, ticket.counter, label, progress, "")


def _hub_state(ticket) -> dict:
    station = current_station()
    db = get_session()
    queue = hub.queue_of(db, station, ticket.service)
    progress = hub.progress(db, station, ticket, queue)
    label = hub.service_text(queue, ticket.service, current_locale())
    notice = hub.offline_notice(db, station, ticket)
    return _figures(ticket.code, ticket.status, ticket.counter, label, progress, notice)


def _figures(code: str, status: str, counter, label: str, progress: estimates.Progress, notice: str) -> dict:
    called = status == "called"
    # No pace known (the hub before the station sent one): no number rather than a made-up one.
    unknown = progress.minutes is None and progress.ahead and not progress.paused
    return {
        "ticket": code,
        "service": label,
        "status": status,
        "status_text": _(STATUS_TEXT.get(status, "Waiting")),
        "ahead": progress.ahead,
        "wait": "" if unknown else issuing.wait_text(progress),
        "counter": counter if called else None,
        "call_text": _("Please go to counter %(counter)s", counter=counter) if called else "",
        "notice": notice,
    }


def _hub_ticket(token: str):
    """The synced ticket of the page's station, or None (not synced yet, another station's, or no such)."""
    if not TOKEN_RE.fullmatch(token):
        return None
    return hub.find(get_session(), current_station(), token)


PENDING = N_("This ticket has not reached the district service yet. This page tries again by itself in a moment.")


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
    station = current_station()
    if sync.is_hub():
        ticket = _hub_ticket(token)
        if ticket is None:
            # Not an error to the resident: the station may not have synced it yet.
            return render_template("legal/mobile_pending.html", message=_(PENDING), station=station), 404
        state = _hub_state(ticket)
    else:
        state = _state(_ticket(token))
    return render_template("legal/mobile.html", state=state, token=token, locale=current_locale(), station=station)


@bp.route("/t/<token>.json")
def status_json(token: str):
    """The same figures as JSON for the page's live refresh."""
    if sync.is_hub():
        ticket = _hub_ticket(token)
        if ticket is None:
            # The core's error shape, saying the ticket may still come (the page tries again).
            return jsonify({"error": _(PENDING), "status": 404, "pending": True}), 404
        return jsonify(_hub_state(ticket))
    return jsonify(_state(_ticket(token)))
