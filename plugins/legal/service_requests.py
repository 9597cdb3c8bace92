"""Answering other plugins: ``request_service(kind="queue_ticket", ...)``.

The courier station asks for a legal-aid ticket for a rider; it gets the
number, the localized queue name, people ahead and the live status page's
address for a phone (``status_url``, from :func:`kiosk.urls.public_url`: the
hub's page once the station is enrolled) and its path on this server
(``status_path``), or None for a service key this station has no queue for.
The hub runs no queue and answers None.
"""

from __future__ import annotations

from kiosk import sync
from kiosk.i18n import current_locale
from kiosk_plugins.legal import issuing, numbering
from kiosk_plugins.legal.runtime import settings


def queue_ticket(payload, station) -> dict | None:
    """Issue a ticket for ``payload["service"]``; None if that queue does not exist here."""
    if sync.is_hub() or not isinstance(payload, dict) or not isinstance(payload.get("service"), str):
        return None
    service = settings().service(payload["service"])
    if service is None or not service.queue:
        return None
    source = str(payload.get("source") or "other")[:32]
    ticket, progress = numbering.issue_ticket(station, service, source=source)
    return {
        "ticket": ticket.code,
        "ticket_id": ticket.id,
        "service": service.text(current_locale()),
        "ahead": progress.ahead or 0,
        "status_url": issuing.status_url(ticket, station),
        "status_path": issuing.status_path(ticket, station),
    }
