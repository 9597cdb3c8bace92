"""What ``/healthz`` says about the courier station: riders in, free places, overstays."""

from __future__ import annotations

from kiosk import clock
from kiosk.db import get_session
from kiosk.i18n import gettext
from kiosk_plugins.courier_rest import capacity, slots


def report(station) -> dict:
    """Always ok (overstays are a staff matter, not a fault); the detail gives the numbers."""
    session = get_session()
    board = slots.board(session, station.id)
    late = len(capacity.overdue(session, station.id, clock.now()))
    return {
        "ok": True,
        "detail": (
            f"in={board['in_station']} seats_free={board['seat']['free']} "
            f"phone_free={board['phone']['free']} battery_free={board['battery']['free']} "
            f"overstays={late}"
        ),
        # The same figures in words, for the admin page.
        "summary": gettext(
            "%(riders)s rider(s) in the station; free: %(seats)s seat(s), %(phone)s phone and %(battery)s "
            "battery charging place(s); %(late)s over their time.",
            riders=board["in_station"],
            seats=board["seat"]["free"],
            phone=board["phone"]["free"],
            battery=board["battery"]["free"],
            late=late,
        ),
    }
