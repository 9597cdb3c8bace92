"""What a resident can book right now: lots, their next occurrences and free spaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from kiosk import clock
from kiosk_plugins.parking import capacity, schedule
from kiosk_plugins.parking.models import CANCELLED, Lot, Voucher, Window


@dataclass
class Offer:
    """One bookable occurrence with its free spaces."""

    occurrence: schedule.Occurrence
    window: Window
    free: int


@dataclass
class LotOffers:
    """A lot with what it offers and how many vouchers the household has left there."""

    lot: Lot
    offers: list[Offer] = field(default_factory=list)
    quota_left: int | None = None


def active_lots(session, station_id: int) -> list[Lot]:
    """The station's lots that are open for booking, by name."""
    return list(
        session.scalars(select(Lot).where(Lot.station_id == station_id, Lot.active.is_(True)).order_by(Lot.name))
    )


def windows_of(session, lot_ids: list[int]) -> dict[int, list[Window]]:
    """Active windows per lot, by start time."""
    out: dict[int, list[Window]] = {i: [] for i in lot_ids}
    if lot_ids:
        for w in session.scalars(
            select(Window)
            .where(Window.lot_id.in_(lot_ids), Window.active.is_(True))
            .order_by(Window.start_time, Window.id)
        ):
            out[w.lot_id].append(w)
    return out


def held_this_month(session, household_id: int, lot_id: int, day, tz) -> int:
    """Vouchers (not cancelled) the household holds at the lot for ``day``'s month."""
    start, end = schedule.month_bounds(day, tz)
    return (
        session.scalar(
            select(func.count(Voucher.id)).where(
                Voucher.household_id == household_id,
                Voucher.lot_id == lot_id,
                Voucher.status != CANCELLED,
                Voucher.starts_at >= start,
                Voucher.starts_at < end,
            )
        )
        or 0
    )


def offers_for(session, station_id: int, now: datetime, tz, household_id: int | None = None) -> list[LotOffers]:
    """Every active lot with its bookable occurrences (soonest first) and free spaces."""
    lots = active_lots(session, station_id)
    windows = windows_of(session, [lot.id for lot in lots])
    result = []
    every = []
    for lot in lots:
        entry = LotOffers(lot=lot)
        for window in windows[lot.id]:
            for occ in schedule.bookable(window, now, tz, lot.reserve_days):
                entry.offers.append(Offer(occurrence=occ, window=window, free=lot.spaces))
                every.append(occ)
        entry.offers.sort(key=lambda o: (o.occurrence.starts_at, o.window.id))
        if household_id is not None and lot.quota_per_month:
            used = held_this_month(session, household_id, lot.id, clock.today(tz, now), tz)
            entry.quota_left = max(lot.quota_per_month - used, 0)
        result.append(entry)
    taken = capacity.taken_by_occurrence(session, every, now)
    for entry in result:
        for offer in entry.offers:
            offer.free = max(entry.lot.spaces - taken.get(offer.occurrence.key, 0), 0)
    return result
