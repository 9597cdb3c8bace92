"""Shared parking's line on the kiosk home screen: how many spaces are left to book today.

Counted over every partner car park open for booking, for the parking times
running today (and last night's, if it has not ended yet), as the booking
screens count them (:mod:`.capacity`); nothing about who booked. One statement,
built once: the home screen is the kiosk's busiest page.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, bindparam, func, or_, select

from kiosk import clock
from kiosk.db import get_session
from kiosk.i18n import LOCALES, N_, localized
from kiosk_plugins.parking import capacity, schedule
from kiosk_plugins.parking.models import Lot, Slot, Voucher, Window

PLUGIN = "parking"
LEFT = N_("Shared parking: %(n)s spaces left today")
LEFT_ONE = N_("Shared parking: %(n)s space left today")
NONE_TODAY = N_("Shared parking: no parking times today")

# Each open window with its lot's spaces and the spaces taken on yesterday's and today's occurrence.
_WINDOWS = (
    select(
        Window.id,
        Window.lot_id,
        Window.start_time,
        Window.end_time,
        Window.weekdays,
        Lot.spaces,
        Slot.day,
        func.count(Voucher.id).label("taken"),
    )
    .join(Lot, Lot.id == Window.lot_id)
    .outerjoin(
        Slot, and_(Slot.window_id == Window.id, or_(Slot.day == bindparam("today"), Slot.day == bindparam("yesterday")))
    )
    .outerjoin(Voucher, and_(Voucher.slot_id == Slot.id, capacity.holds_space(bindparam("now"))))
    .where(Lot.station_id == bindparam("station_id"), Lot.active.is_(True), Window.active.is_(True))
    .group_by(Window.id, Window.lot_id, Window.start_time, Window.end_time, Window.weekdays, Lot.spaces, Slot.day)
)


def spaces_left(session, station, now=None) -> int | None:
    """Spaces left to book in today's parking times not yet over.

    ``None`` when no car park is open for booking, ``-1`` when none has a parking time today.
    """
    now = now or clock.now()
    tz = clock.zone(station)
    today = clock.today(tz, now)
    days = (today - timedelta(days=1), today)
    rows = session.execute(_WINDOWS, {"station_id": station.id, "today": today, "yesterday": days[0], "now": now}).all()
    if not rows:
        return None
    taken = {(r.id, r.day): int(r.taken) for r in rows if r.day is not None}
    windows = {r.id: r for r in rows}
    left, running = 0, False
    for window in windows.values():
        for day in days:
            occurrence = schedule.occurrence_on(window, day, tz)
            if occurrence is not None and occurrence.ends_at > now:
                running = True
                left += max(window.spaces - taken.get((window.id, day), 0), 0)
    return left if running else -1


def register_status(register, station) -> None:
    """Register the line where a car park is open for booking."""
    left = spaces_left(get_session(), station)
    if left is None:
        return
    # Chinese says 个 whatever the number; English says "space" for one (the ids are its words).
    message = NONE_TODAY if left < 0 else LEFT_ONE if left == 1 else LEFT
    register(
        key="spaces",
        label={locale: localized(message, locale, PLUGIN) % {"n": left} for locale in LOCALES},
        order=30,
    )
