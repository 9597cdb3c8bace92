"""Advanced services (法律援助, 心理疏导, 技能培训): requests that reach staff.

Legal aid is first offered to whichever plugin runs the legal queue, through
``request_service(kind="queue_ticket")``; when one answers, the rider gets a
ticket there and then. Otherwise, and for the other services, the request
waits on the staff panel until someone calls the rider back.
"""

from __future__ import annotations

from sqlalchemy import select

from kiosk.i18n import N_
from kiosk.services import request_service
from kiosk_plugins.courier_rest.models import ServiceRequest

#: (key, message id, icon)
ADVANCED = [
    ("legal_aid", N_("Legal aid"), "legal"),
    ("counselling", N_("Counselling"), "counselling"),
    ("skills_training", N_("Skills training"), "training"),
]
ADVANCED_KEYS = {k for k, _, _ in ADVANCED}
LABELS = {k: label for k, label, _ in ADVANCED}


def open_request(session, station_id: int, rider_id: int, service: str) -> ServiceRequest | None:
    """The rider's request for ``service`` that staff have not closed yet."""
    return session.scalar(
        select(ServiceRequest).where(
            ServiceRequest.station_id == station_id,
            ServiceRequest.rider_id == rider_id,
            ServiceRequest.service == service,
            ServiceRequest.state.in_(("open", "ticket")),
        )
    )


def ask_legal_queue(station) -> dict | None:
    """A legal-queue ticket from the plugin that runs the queue, or None when none answers.

    Called outside any transaction of ours: the legal plugin writes in its own,
    and on SQLite holding our write lock meanwhile would make it wait for us.
    """
    answer = request_service("queue_ticket", {"service": "legal_aid", "source": "courier_rest"}, station)
    if not isinstance(answer, dict) or not answer.get("ticket"):
        return None
    return answer


def record(
    session, station_id: int, rider_id: int, visit_id: int | None, service: str, now, ticket: dict | None = None
) -> ServiceRequest:
    """Store the request (with the legal ticket when there is one)."""
    row = ServiceRequest(
        station_id=station_id,
        rider_id=rider_id,
        visit_id=visit_id,
        service=service,
        state="ticket" if ticket else "open",
        created_at=now,
        ticket=str(ticket.get("ticket", ""))[:20] if ticket else "",
        ticket_url=str(ticket.get("status_url", ""))[:300] if ticket else "",
    )
    session.add(row)
    session.flush()
    return row
