"""How slots and bookings read on a screen or a slip, in the resident's language."""

from __future__ import annotations

from datetime import date

from kiosk import clock
from kiosk.i18n import N_, _
from kiosk.privacy import mask_phone
from kiosk_venue.settings import settings

WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"), N_("Sunday"))


def day_label(station, day: date) -> str:
    """ "Today", "Tomorrow" or the weekday, then the date: elderly residents read the weekday first."""
    offset = (day - clock.today(station)).days
    name = _("Today") if offset == 0 else _("Tomorrow") if offset == 1 else _(WEEKDAYS[day.weekday()])
    return f"{name} {day.month}/{day.day}"


def time_range(station, slot) -> str:
    """``14:30–16:00`` on the station's clock."""
    return f"{clock.local(station, slot.starts_at):%H:%M}–{clock.local(station, slot.ends_at):%H:%M}"


def when(station, slot) -> str:
    """The day and the time range of a slot."""
    return f"{day_label(station, clock.local(station, slot.starts_at).date())} {time_range(station, slot)}"


def room_name(key: str) -> str:
    """The room's name in the request's language (its key if the station no longer lists it)."""
    room = settings().room(key)
    return room.text if room is not None else key


def by_day(station, views) -> list[tuple[str, list]]:
    """Slot views grouped under their day's label, in order."""
    groups: list[tuple[str, list]] = []
    for view in views:
        label = day_label(station, clock.local(station, view.slot.starts_at).date())
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(view)
    return groups


def booking_facts(station, booking, slot) -> dict:
    """What the resident's screens show about a booking; the phone only masked."""
    return {
        "code": booking.code,
        "room": room_name(slot.room),
        "when": when(station, slot),
        "phone": mask_phone(booking.phone) if booking.phone else "",
        "status": booking.status,
    }
