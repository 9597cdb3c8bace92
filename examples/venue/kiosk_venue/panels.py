"""The staff console panel: today's bookings at this station."""

from __future__ import annotations

from flask import render_template

from kiosk import hookimpl
from kiosk.privacy import mask_phone
from kiosk.stations import current_station
from kiosk_venue import booking, present
from kiosk_venue.tiles import TITLE


def today_rows(station) -> list[dict]:
    """Today's bookings by start time: time, room, code and the phone masked (the console may be seen)."""
    return [
        {
            "time": present.time_range(station, slot),
            "room": present.room_name(slot.room),
            "code": made.code,
            "phone": mask_phone(made.phone) if made.phone else "",
        }
        for made, slot in booking.todays(station)
    ]


def render_panel() -> str:
    """The panel's HTML; runs inside the staff member's request."""
    return render_template("venue/panel.html", rows=today_rows(current_station()))


@hookimpl
def register_staff_panels(register, station):
    """Today's bookings, with the way to the slots page."""
    register(key="today", title=TITLE, render=render_panel, order=50)
