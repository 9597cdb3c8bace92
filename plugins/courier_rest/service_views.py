"""Services from the menu: basic ones counted for the figures, advanced ones asked of other plugins."""

from __future__ import annotations

from flask import redirect, url_for

from kiosk import clock
from kiosk.db import get_session
from kiosk.ratelimit import limited
from kiosk.stations import current_station
from kiosk_plugins.courier_rest import (
    advanced,
    services,
    visits,
)
from kiosk_plugins.courier_rest.screen import (
    bp,
    need_rider,
    notice,
    open_visit,
    refused,
    show_result,
)
from kiosk_plugins.courier_rest.writes import Refused, run_write


@bp.route("/service/<key>", methods=["POST"])
@limited(60, 600, name="courier_rest.service")
def use_service(key: str):
    """Use a basic service (counted for the figures), then show its note."""
    rider, back = need_rider()
    if back:
        return back
    station, now = current_station(), clock.now()
    service = services.by_key(get_session(), station.id, key)
    if service is None or not service.active:
        notice("unknown")
        return redirect(url_for(".menu"))

    def work(db_session):
        visit = open_visit(db_session, rider)
        services.record_use(db_session, station.id, rider.id, visit.id, key, now)

    try:
        run_write(work)
    except Refused as exc:
        return refused(exc)
    return show_result("service", key=key)


@bp.route("/advanced/<key>", methods=["POST"])
@limited(60, 600, name="courier_rest.service")
def ask_advanced(key: str):
    """Ask for legal aid, counselling or skills training."""
    rider, back = need_rider()
    if back:
        return back
    if key not in advanced.ADVANCED_KEYS:
        notice("unknown")
        return redirect(url_for(".menu"))
    station, now = current_station(), clock.now()
    existing = advanced.open_request(get_session(), station.id, rider.id, key)
    if existing is not None:
        return show_result(
            "request", service=key, ticket=existing.ticket, ticket_url=existing.ticket_url, ahead=None, again=True
        )
    ticket = advanced.ask_legal_queue(station) if key == "legal_aid" else None

    def work(db_session):
        visit = visits.open_visit(db_session, rider.id)
        advanced.record(db_session, station.id, rider.id, visit.id if visit else None, key, now, ticket)

    run_write(work)
    if ticket:
        return show_result(
            "request",
            service=key,
            ticket=str(ticket["ticket"]),
            ticket_url=str(ticket.get("status_url", "")),
            ahead=ticket.get("ahead"),
            place=str(ticket.get("service", "")),
            again=False,
        )
    return show_result("request", service=key, ticket="", ticket_url="", ahead=None, again=False)
