"""Giving a resident a ticket: number it, print it, and say where to follow it.

Shared by the kiosk screen, the booking check-in and the ``queue_ticket``
service other plugins ask for. Printing never decides whether a ticket
exists: the ticket is committed first, then handed to the print queue; if the
printer is out of paper the screen still shows the number and the QR code,
and the failed job waits on the staff console.
"""

from __future__ import annotations

import logging

from flask import current_app, has_request_context, url_for

from kiosk import clock
from kiosk.i18n import N_, _, current_locale
from kiosk.privacy import mask_phone
from kiosk.urls import public_url
from kiosk_plugins.legal import estimates
from kiosk_plugins.legal.models import Ticket
from kiosk_plugins.legal.runtime import settings

log = logging.getLogger("kiosk_plugins.legal")

PRIORITY_LABELS = {
    "elderly": N_("Aged 60 or over"),
    "disabled": N_("Person with a disability"),
    "pregnant": N_("Pregnant"),
}


def priority_label(reason: str) -> str:
    """The priority group's name in the request's language ("" for none)."""
    return _(PRIORITY_LABELS[reason]) if reason in PRIORITY_LABELS else ""


def status_path(ticket: Ticket, station) -> str:
    """Path of the ticket's live page; the token, not the id, so it cannot be guessed."""
    endpoint, values = "legal_mobile.status", {"token": ticket.token, "station": station.code}
    if has_request_context():
        return url_for(endpoint, **values)
    return current_app.url_map.bind("localhost").build(endpoint, values)


def status_url(ticket: Ticket, station) -> str:
    """Absolute URL for the QR code: the station's public address (``kiosk.urls``)."""
    return public_url("legal_mobile.status", token=ticket.token, station=station)


def wait_text(progress: estimates.Progress) -> str:
    """ "About 12 minutes (estimate)" or "You are next" in the request's language."""
    if progress.status != "waiting":
        return ""
    if progress.paused:
        return _("The counters are paused for now; please wait")
    if not progress.ahead:
        return _("You are next")
    return _("About %(minutes)s minutes (estimate)", minutes=progress.minutes)


def ticket_receipt_context(station, ticket: Ticket, progress: estimates.Progress, service_label: str) -> dict:
    """The words of the printed ticket, already in the resident's language."""
    issued = clock.local(station, ticket.issued_at)
    return {
        "station": station.name,
        "service": service_label,
        "ticket": ticket.code,
        "priority": priority_label(ticket.priority),
        "ahead": progress.ahead if progress.ahead is not None else 0,
        "wait": wait_text(progress),
        "time": issued.strftime("%Y-%m-%d %H:%M"),
        "phone": mask_phone(ticket.phone) if ticket.phone else "",
        "url": status_url(ticket, station),
        "labels": {
            "ahead": _("People ahead of you"),
            "wait": _("Estimated wait"),
            "time": _("Time taken"),
            "phone": _("Phone"),
            "scan": _("Scan to follow your place in the queue"),
            "keep": _("Please keep this ticket and listen for your number."),
        },
    }


def print_ticket(station, ticket: Ticket, progress: estimates.Progress) -> dict | None:
    """Queue the printed ticket; None when printing is off or the queue refused it.

    A failure here is logged by ticket number only (never the phone) and the
    ticket stands: the screen shows it with its QR code.
    """
    if not settings().print_tickets:
        return None
    from kiosk import printing

    service = settings().service(ticket.service)
    context = ticket_receipt_context(station, ticket, progress, service.text(current_locale()))
    try:
        return printing.print_receipt("legal.ticket", context, station=station)
    except Exception as exc:  # the ticket is issued already; the resident must not lose it
        log.warning("ticket %s could not be queued for printing: %s", ticket.code, type(exc).__name__)
        return None
