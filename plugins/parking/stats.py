"""Usage per lot and window for a month, and the amounts due to each lot.

A lot is paid its per-use price for each voucher that was used (the car came
in); vouchers that expired unused or were cancelled are not charged.
Occupancy compares used vouchers with the spaces the lot offered over all the
month's occurrences of a window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select

from kiosk import clock
from kiosk_plugins.parking import schedule
from kiosk_plugins.parking.models import CANCELLED, EXPIRED, ISSUED, USED, Lot, Voucher, Window


@dataclass
class Counts:
    """Vouchers of a lot or window in the month, by outcome (cancelled ones apart)."""

    issued: int = 0
    used: int = 0
    expired: int = 0
    open: int = 0
    cancelled: int = 0
    due_cents: int = 0


@dataclass
class WindowUsage:
    """One window's month: occurrences, spaces offered, how many were booked and used."""

    window: Window
    occurrences: int
    offered: int
    counts: Counts

    @property
    def occupancy(self) -> float:
        """Used vouchers per space offered (0–1)."""
        return self.counts.used / self.offered if self.offered else 0.0

    @property
    def booked_rate(self) -> float:
        """Vouchers issued (not cancelled) per space offered (0–1)."""
        return self.counts.issued / self.offered if self.offered else 0.0


@dataclass
class LotUsage:
    """A lot's month: totals and each window."""

    lot: Lot
    counts: Counts
    windows: list[WindowUsage] = field(default_factory=list)


def parse_month(text: str | None, today: date) -> date:
    """``"2024-05"`` → 1 May 2024; anything else → this month."""
    try:
        year, month = (int(x) for x in (text or "").split("-"))
        return date(year, month, 1)
    except ValueError:
        return today.replace(day=1)


def _counts_by(session, station_id: int, start: datetime, end: datetime, now: datetime, column) -> dict:
    expired = (Voucher.status == EXPIRED) | ((Voucher.status == ISSUED) & (Voucher.expires_at <= now))
    open_ = (Voucher.status == ISSUED) & (Voucher.expires_at > now)
    rows = session.execute(
        select(
            column,
            func.sum(case((Voucher.status != CANCELLED, 1), else_=0)),
            func.sum(case((Voucher.status == USED, 1), else_=0)),
            func.sum(case((expired, 1), else_=0)),
            func.sum(case((open_, 1), else_=0)),
            func.sum(case((Voucher.status == CANCELLED, 1), else_=0)),
            func.sum(case((Voucher.status == USED, Voucher.price_cents), else_=0)),
        )
        .where(Voucher.station_id == station_id, Voucher.starts_at >= start, Voucher.starts_at < end)
        .group_by(column)
    ).all()
    return {key: Counts(*(int(x or 0) for x in values)) for key, *values in rows}


def month_usage(session, station_id: int, month: date, tz, now: datetime) -> list[LotUsage]:
    """Usage of every lot of the station (active or not) for the month starting ``month``."""
    start, end = schedule.month_bounds(month, tz)
    by_lot = _counts_by(session, station_id, start, end, now, Voucher.lot_id)
    by_window = _counts_by(session, station_id, start, end, now, Voucher.window_id)
    last_day = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    lots = session.scalars(select(Lot).where(Lot.station_id == station_id).order_by(Lot.name))
    out = []
    for lot in lots:
        usage = LotUsage(lot=lot, counts=by_lot.get(lot.id, Counts()))
        windows = session.scalars(select(Window).where(Window.lot_id == lot.id).order_by(Window.start_time))
        for window in windows:
            counts = by_window.get(window.id, Counts())
            occurrences = len(schedule.occurrences_between(window, month, last_day, tz)) if window.active else 0
            if not window.active and not counts.issued:
                continue
            usage.windows.append(
                WindowUsage(window=window, occurrences=occurrences, offered=occurrences * lot.spaces, counts=counts)
            )
        out.append(usage)
    return out


def today_counts(session, station_id: int, tz, now: datetime) -> dict:
    """Vouchers for occurrences starting today (local): issued, used, still open."""
    today = clock.today(tz, now)
    start = datetime.combine(today, datetime.min.time(), tzinfo=tz)
    counts = _counts_by(session, station_id, start, start + timedelta(days=1), now, Voucher.station_id)
    total = counts.get(station_id, Counts())
    return {"issued": total.issued, "used": total.used, "open": total.open}
