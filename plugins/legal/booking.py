"""The lawyers' duty schedule (值班律师排班), bookings and check-in.

Staff enter duty slots; a resident books a place in one at the kiosk and gets
an eight-digit booking code (:data:`CODE_DIGITS`). On the day, checking in with the code (from the
booked time minus ``checkin_early_minutes`` to plus ``checkin_late_minutes``)
issues a ticket whose place in the queue is the booked time, not the moment
of check-in: the resident "joins the queue at their time".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from kiosk import audit, clock
from kiosk.db import write_transaction
from kiosk.i18n import _
from kiosk_plugins.legal import estimates, numbering
from kiosk_plugins.legal.calling import ActionError
from kiosk_plugins.legal.models import Booking, DutySlot, Ticket
from kiosk_plugins.legal.runtime import settings

ACTIVE = ("booked", "checked_in")


class UnknownCode(ActionError):
    """No booking has this code: a wrong guess, counted for the back-off of check-in."""


@dataclass
class SlotView:
    """A duty slot with how many places are left."""

    slot: DutySlot
    booked: int

    @property
    def free(self) -> int:
        """Places still bookable."""
        return max(self.slot.capacity - self.booked, 0)


def _booked_counts(session, slot_ids: list[int]) -> dict[int, int]:
    if not slot_ids:
        return {}
    return dict(
        session.execute(
            select(Booking.slot_id, func.count())
            .where(Booking.slot_id.in_(slot_ids), Booking.status.in_(ACTIVE))
            .group_by(Booking.slot_id)
        ).all()
    )


def upcoming_slots(
    session, station, service: str | None = None, days: int | None = None, include_past_today: bool = False
) -> list[SlotView]:
    """Slots from now (or today's start) for ``days`` local days, earliest first."""
    now = clock.now()
    start = clock.day_bounds(station, clock.today(station, now))[0] if include_past_today else now
    days = days if days is not None else settings().booking_days
    end = clock.day_bounds(station, clock.today(station, now) + timedelta(days=days))[0]
    query = select(DutySlot).where(
        DutySlot.station_id == station.id, DutySlot.ends_at > start, DutySlot.starts_at < end
    )
    if service:
        query = query.where(DutySlot.service == service)
    slots = list(session.scalars(query.order_by(DutySlot.starts_at, DutySlot.id)))
    counts = _booked_counts(session, [s.id for s in slots])
    return [SlotView(s, counts.get(s.id, 0)) for s in slots]


def bookable(session, station, service: str) -> list[SlotView]:
    """Slots of ``service`` a resident may still book (starting later, with a free place)."""
    now = clock.now()
    return [v for v in upcoming_slots(session, station, service) if v.slot.starts_at > now and v.free > 0]


def add_slot(
    station,
    user,
    *,
    service: str,
    starts_at: datetime,
    ends_at: datetime,
    lawyer: str,
    organisation: str,
    capacity: int,
) -> DutySlot:
    """Add a duty slot (validated by the caller) and record who did it."""
    with write_transaction() as session:
        slot = DutySlot(
            station_id=station.id,
            service=service,
            starts_at=starts_at,
            ends_at=ends_at,
            lawyer=lawyer,
            organisation=organisation,
            capacity=capacity,
            created_by=user.id if user else None,
        )
        session.add(slot)
        session.flush()
        audit.record(
            "legal.slot_added",
            {"slot": slot.id, "service": service, "starts_at": starts_at.isoformat()},
            user=user,
            station_id=station.id,
            session=session,
            commit=False,
        )
        return slot


def delete_slot(station, user, slot_id: int) -> None:
    """Remove a slot nobody has booked; refuse otherwise so no resident is dropped silently."""
    with write_transaction() as session:
        slot = session.scalar(
            select(DutySlot).where(DutySlot.id == slot_id, DutySlot.station_id == station.id).with_for_update()
        )
        if slot is None:
            raise ActionError(_("That duty slot was not found."))
        if session.scalar(select(func.count()).select_from(Booking).where(Booking.slot_id == slot.id)):
            raise ActionError(_("Residents have booked this slot. Call them before changing the schedule."))
        session.delete(slot)
        audit.record(
            "legal.slot_deleted", {"slot": slot_id}, user=user, station_id=station.id, session=session, commit=False
        )


#: Digits of a booking code: 9×10⁷ codes, so guessing one of a day's few bookings is hopeless
#: (and check-in slows down guessers: ``booking_screens.checkin``). Codes of 6 digits made
#: by older versions still check in.
CODE_DIGITS = 8


def _new_code(session, station_id: int) -> str:
    low = 10 ** (CODE_DIGITS - 1)
    for _attempt in range(20):
        code = f"{secrets.randbelow(9 * low) + low}"
        if session.scalar(select(Booking.id).where(Booking.station_id == station_id, Booking.code == code)) is None:
            return code
    raise RuntimeError("could not find a free booking code")


def _open_booking_that_day(session, station, slot: DutySlot, phone: str) -> bool:
    """Whether ``phone`` already holds a booking not yet used on ``slot``'s local day (one per phone and day)."""
    start, end = clock.day_bounds(station, clock.local(station, slot.starts_at).date())
    return bool(
        session.scalar(
            select(func.count())
            .select_from(Booking)
            .join(DutySlot, DutySlot.id == Booking.slot_id)
            .where(
                Booking.station_id == station.id,
                Booking.phone == phone,
                Booking.status == "booked",
                DutySlot.starts_at >= start,
                DutySlot.starts_at < end,
            )
        )
    )


def book(station, slot_id: int, phone: str | None) -> tuple[Booking, DutySlot]:
    """Book a place in a slot; the slot row is locked so its capacity holds between kiosks."""
    with write_transaction() as session:
        slot = session.scalar(
            select(DutySlot).where(DutySlot.id == slot_id, DutySlot.station_id == station.id).with_for_update()
        )
        if slot is None or slot.starts_at <= clock.now():
            raise ActionError(_("This time slot is no longer available. Please choose another time."))
        if _booked_counts(session, [slot.id]).get(slot.id, 0) >= slot.capacity:
            raise ActionError(_("This time slot has just been fully booked. Please choose another time."))
        if phone and _open_booking_that_day(session, station, slot, phone):
            raise ActionError(
                _("This phone number already has a booking on that day. Please check in with that booking's code.")
            )
        booking = Booking(
            station_id=station.id,
            slot_id=slot.id,
            code=_new_code(session, station.id),
            phone=phone,
            status="booked",
            created_at=clock.now(),
        )
        session.add(booking)
        session.flush()
        audit.record(
            "legal.booked",
            {"slot": slot.id, "service": slot.service},
            station_id=station.id,
            session=session,
            commit=False,
        )
        return booking, slot


def check_in(station, code: str) -> tuple[Ticket, estimates.Progress]:
    """Turn a booking code into a ticket placed at the booked time; returns it and its place."""
    cfg = settings()
    with write_transaction() as session:
        booking = session.scalar(
            select(Booking).where(Booking.station_id == station.id, Booking.code == code).with_for_update()
        )
        if booking is None or booking.status == "cancelled":
            raise UnknownCode(_("We could not find this booking code. Please check the code or ask the staff."))
        if booking.status == "checked_in":
            raise ActionError(_("This booking has already been checked in. Please wait to be called."))
        slot = session.get(DutySlot, booking.slot_id)
        service = cfg.service(slot.service)
        now = clock.now()
        opens = slot.starts_at - timedelta(minutes=cfg.checkin_early_minutes)
        closes = slot.starts_at + timedelta(minutes=cfg.checkin_late_minutes)
        if service is None or not service.queue:
            raise ActionError(_("This service is not taking visitors now. Please ask the staff."))
        if now < opens:
            raise ActionError(
                _(
                    "Your booking is at %(time)s. Check-in opens %(minutes)s minutes before; please come back then.",
                    time=_when(station, slot.starts_at),
                    minutes=cfg.checkin_early_minutes,
                )
            )
        if now > closes:
            raise ActionError(
                _(
                    "Your booked time (%(time)s) has passed. Please take a normal ticket or ask the staff.",
                    time=_when(station, slot.starts_at),
                )
            )
        ticket = numbering.add_ticket(
            session,
            station,
            service,
            phone=booking.phone,
            source="booking",
            queue_at=slot.starts_at,
            booking_id=booking.id,
        )
        booking.status = "checked_in"
        booking.checked_in_at = now
        audit.record(
            "legal.checked_in",
            {"ticket": ticket.code, "slot": slot.id},
            station_id=station.id,
            session=session,
            commit=False,
        )
        return ticket, estimates.progress(session, station, ticket)


def _when(station, at: datetime) -> str:
    local = clock.local(station, at)
    today = clock.today(station)
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%m-%d %H:%M")


def bookings_between(session, station, start: date, days: int) -> list[tuple[Booking, DutySlot]]:
    """Bookings of slots starting on ``start`` and the following days (staff view)."""
    begin = clock.day_bounds(station, start)[0]
    end = clock.day_bounds(station, start + timedelta(days=days))[0]
    return list(
        session.execute(
            select(Booking, DutySlot)
            .join(DutySlot, DutySlot.id == Booking.slot_id)
            .where(Booking.station_id == station.id, DutySlot.starts_at >= begin, DutySlot.starts_at < end)
            .order_by(DutySlot.starts_at, Booking.id)
        ).all()
    )
