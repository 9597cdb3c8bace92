"""Issuing, cancelling, redeeming and expiring vouchers: the rules that must never race.

Every change runs in one ``write_transaction()``. Issuing locks the
household's row (the monthly quota) and then the occurrence's ``parking_slot``
row (the spaces) with ``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the
transaction holds the write lock from its first statement. Always in that
order, so two kiosks never deadlock. Redeeming and cancelling are single
guarded ``UPDATE … WHERE status = 'issued'`` statements, so a voucher is used
or cancelled once even when two phones try at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import and_, func, select, update

from kiosk import audit, clock, events
from kiosk.db import get_db, upsert_insert, write_transaction
from kiosk.stations import station_tag
from kiosk_plugins.parking import capacity, codes, schedule, syncing
from kiosk_plugins.parking.models import CANCELLED, EXPIRED, ISSUED, USED, Household, Lot, Plate, Slot, Voucher, Window
from kiosk_plugins.parking.settings import settings


class VoucherRefused(Exception):
    """The voucher cannot be issued or cancelled; ``reason`` picks the message shown.

    Reasons: ``household`` (not registered or switched off), ``plate`` (not one
    of the household's cars), ``window`` (not bookable now: over, too far
    ahead, or the lot or window is closed), ``full``, ``quota``, ``duplicate``
    (the car already holds a voucher for an overlapping time), and
    ``not_cancellable``.
    """

    def __init__(self, reason: str, **detail):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def _ensure_slot(session, station_id: int, occ: schedule.Occurrence) -> None:
    # INSERT … ON CONFLICT DO NOTHING: two kiosks creating the same night's row
    # at once both go on to lock the one row that exists.
    insert = upsert_insert(session.get_bind().dialect.name)
    session.execute(
        insert(Slot)
        .values(station_id=station_id, lot_id=occ.lot_id, window_id=occ.window_id, day=occ.day)
        .on_conflict_do_nothing(index_elements=["window_id", "day"])
    )


def _expires_at(lot: Lot, occ: schedule.Occurrence, now: datetime) -> datetime:
    if not lot.hold_minutes:
        return occ.ends_at
    return min(occ.ends_at, max(occ.starts_at, now) + timedelta(minutes=lot.hold_minutes))


def issue_voucher(
    station, *, household_id: int, plate: str, window_id: int, day: date, now: datetime | None = None
) -> Voucher:
    """Issue a voucher for ``plate`` in the occurrence of ``window_id`` on ``day``.

    Raises :class:`VoucherRefused` and writes nothing when a rule says no.
    """
    now = now or clock.now()
    tz = clock.zone(station)
    with write_transaction() as s:
        household = s.scalar(
            select(Household).where(Household.id == household_id, Household.station_id == station.id).with_for_update()
        )
        if household is None or not household.active:
            raise VoucherRefused("household")
        registered = s.scalar(select(Plate.id).where(Plate.household_id == household.id, Plate.plate == plate))
        if registered is None:
            raise VoucherRefused("plate")
        window = s.get(Window, window_id)
        lot = s.get(Lot, window.lot_id) if window is not None else None
        if window is None or lot is None or window.station_id != station.id or not window.active or not lot.active:
            raise VoucherRefused("window")
        occ = schedule.is_bookable(window, day, now, tz, lot.reserve_days)
        if occ is None:
            raise VoucherRefused("window")
        overlapping = s.scalar(
            select(Voucher.id)
            .where(
                Voucher.station_id == station.id,
                Voucher.plate == plate,
                capacity.holds_space(now),
                Voucher.starts_at < occ.ends_at,
                Voucher.ends_at > occ.starts_at,
            )
            .limit(1)
        )
        if overlapping is not None:
            raise VoucherRefused("duplicate")
        if lot.quota_per_month:
            month_start, month_end = schedule.month_bounds(occ.day, tz)
            held = (
                s.scalar(
                    select(func.count(Voucher.id)).where(
                        Voucher.household_id == household.id,
                        Voucher.lot_id == lot.id,
                        Voucher.status != CANCELLED,
                        Voucher.starts_at >= month_start,
                        Voucher.starts_at < month_end,
                    )
                )
                or 0
            )
            if held >= lot.quota_per_month:
                raise VoucherRefused("quota", quota=lot.quota_per_month)
        _ensure_slot(s, station.id, occ)
        slot = s.scalar(select(Slot).where(Slot.window_id == occ.window_id, Slot.day == occ.day).with_for_update())
        if capacity.taken_in_slot(s, slot.id, now) >= lot.spaces:
            raise VoucherRefused("full")
        voucher = Voucher(
            station_id=station.id,
            lot_id=lot.id,
            window_id=window.id,
            slot_id=slot.id,
            household_id=household.id,
            plate=plate,
            code="",
            status=ISSUED,
            price_cents=lot.price_cents,
            starts_at=occ.starts_at,
            ends_at=occ.ends_at,
            expires_at=_expires_at(lot, occ, now),
            issued_at=now,
        )
        s.add(voucher)
        s.flush()  # the id is the voucher's serial, which the code carries
        voucher.code = codes.sign_voucher(
            s,
            station_id=station.id,
            tag=station_tag(station),
            serial=voucher.id,
            lot_ref=lot.id,
            valid_until=syncing.valid_until(voucher.expires_at, tz),
        )
        syncing.record_voucher(s, voucher, station=station, lot=lot)
        events.emit(
            "parking.voucher_issued",
            {"lot_id": lot.id, "window_id": window.id, "day": occ.day.isoformat()},
            channel="parking",
            station_id=station.id,
            session=s,
        )
    return voucher


def cancel_voucher(station, *, household_id: int, voucher_id: int, now: datetime | None = None) -> None:
    """Cancel an unused, unexpired voucher of the household; its space is free at once."""
    now = now or clock.now()
    with write_transaction() as s:
        result = s.execute(
            update(Voucher)
            .where(
                Voucher.id == voucher_id,
                Voucher.station_id == station.id,
                Voucher.household_id == household_id,
                Voucher.status == ISSUED,
                Voucher.expires_at > now,
            )
            .values(status=CANCELLED, cancelled_at=now)
        )
        if result.rowcount != 1:
            raise VoucherRefused("not_cancellable")
        voucher = s.get(Voucher, voucher_id)
        syncing.record_voucher(s, voucher, station=station)
        events.emit(
            "parking.voucher_cancelled",
            {"lot_id": voucher.lot_id, "window_id": voucher.window_id},
            channel="parking",
            station_id=station.id,
            session=s,
        )


@dataclass
class Redemption:
    """What the attendant's check found.

    ``reason`` is ``ok`` (now marked used), ``malformed``, ``unknown``,
    ``wrong_lot``, ``cancelled``, ``used``, ``expired`` or ``early``;
    ``voucher`` is the voucher the code names, when there is one.
    """

    reason: str
    voucher: Voucher | None = None
    lot_name: str = ""
    detail: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


def _pick(candidates: list[Voucher], lot_id: int, now: datetime) -> Voucher:
    # Codes are 40-bit MACs, so two vouchers of a station may rarely share one
    # over the years; the one for this lot and still live is the one meant.
    def rank(v: Voucher):
        live = v.status == ISSUED and v.expires_at > now
        return (v.lot_id == lot_id, live, v.starts_at)

    return max(candidates, key=rank)


def redeem(station, *, code_text: str, lot_id: int, user_id: int | None, now: datetime | None = None) -> Redemption:
    """Check a code at ``lot_id`` and mark the voucher used if every rule holds.

    Every check, good or bad, is written to the audit log in the same
    transaction as its outcome (no plate or code in it: the voucher id).
    """
    now = now or clock.now()
    code = codes.extract_code(code_text)
    early = timedelta(minutes=settings().early_entry_minutes)
    with write_transaction() as s:
        outcome = _check(s, station, code, lot_id, user_id, now, early)
        audit.record(
            "parking.voucher_checked",
            {
                "voucher_id": outcome.voucher.id if outcome.voucher else None,
                "lot_id": lot_id,
                "result": outcome.reason,
                "forged": bool(outcome.detail.get("forged")),
            },
            session=s,
            commit=False,
            station_id=station.id,
        )
    return outcome


def _genuine(s, station, code: str, now: datetime) -> tuple[list[Voucher], bool]:
    """The station's vouchers ``code`` truly names, and whether the code looked like one but was not."""
    if codes.is_legacy(code):
        found = list(s.scalars(select(Voucher).where(Voucher.station_id == station.id, Voucher.code == code)))
        return [v for v in found if codes.verify_code(_secret(), station.id, v.id, code)], bool(found)
    tag = station_tag(station)
    verified = codes.check(s, code, station_id=station.id, tag=tag, today=clock.today(clock.zone(station), now))
    if verified is None:
        return [], codes.split(code, tag) is not None
    voucher = s.get(Voucher, verified.serial)
    if voucher is None or voucher.station_id != station.id:
        return [], True
    return [voucher], False


def _check(
    s, station, code: str | None, lot_id: int, user_id: int | None, now: datetime, early: timedelta
) -> Redemption:
    if code is None:
        return Redemption("malformed")
    genuine, forged = _genuine(s, station, code, now)
    if not genuine:
        return Redemption("unknown", detail={"forged": forged})
    voucher = _pick(genuine, lot_id, now)
    lot = s.get(Lot, voucher.lot_id)
    outcome = Redemption("ok", voucher=voucher, lot_name=lot.name if lot else "")
    if voucher.lot_id != lot_id:
        outcome.reason = "wrong_lot"
    elif voucher.status == CANCELLED:
        outcome.reason = "cancelled"
    elif voucher.status == USED:
        outcome.reason = "used"
    elif voucher.status == EXPIRED or now >= voucher.expires_at:
        outcome.reason = "expired"
    elif now < voucher.starts_at - early:
        outcome.reason = "early"
    if not outcome.ok:
        return outcome
    result = s.execute(
        update(Voucher)
        .where(Voucher.id == voucher.id, Voucher.status == ISSUED, Voucher.expires_at > now)
        .values(status=USED, used_at=now, used_by=user_id)
    )
    s.refresh(voucher)
    if result.rowcount != 1:
        # Another phone redeemed it between our read and our write.
        outcome.reason = "used" if voucher.status == USED else "expired"
        return outcome
    syncing.record_voucher(s, voucher, station=station)
    events.emit(
        "parking.voucher_used",
        {"lot_id": voucher.lot_id, "window_id": voucher.window_id},
        channel="parking",
        station_id=station.id,
        session=s,
    )
    return outcome


def expire_due(app, now: datetime | None = None) -> int:
    """Mark issued vouchers past their ``expires_at`` as expired (a scheduled job of each station).

    Each one's new state goes to the hub in the same transaction.
    """
    now = now or clock.now()
    with app.app_context():
        db = get_db()
        with db.WriteSession() as s, s.begin():
            due = and_(Voucher.status == ISSUED, Voucher.expires_at <= now)
            ids = list(s.scalars(select(Voucher.id).where(due)))
            if not ids:
                return 0
            result = s.execute(update(Voucher).where(due, Voucher.id.in_(ids)).values(status=EXPIRED))
            for voucher in s.scalars(select(Voucher).where(Voucher.id.in_(ids), Voucher.status == EXPIRED)):
                syncing.record_voucher(s, voucher)
            return result.rowcount or 0


def announce_legacy(app, now: datetime | None = None) -> int:
    """Send the hub the live vouchers issued before the district (8-character codes), once per process.

    Their codes are keyed with the station's app secret, which the hub does not
    have: the hub accepts them only from a record that came over this station's
    sync. They were issued before anything was recorded, so they are recorded
    here (a scheduled job of each station; a repeat after a restart is harmless,
    an entry carries the whole state).
    """
    if app.extensions.get("parking_legacy_announced"):
        return 0
    now = now or clock.now()
    with app.app_context():
        with get_db().WriteSession() as s, s.begin():
            live = s.scalars(
                select(Voucher).where(
                    Voucher.status == ISSUED, Voucher.expires_at > now, func.length(Voucher.code) == codes.LEGACY_LENGTH
                )
            ).all()
            for voucher in live:
                syncing.record_voucher(s, voucher)
    app.extensions["parking_legacy_announced"] = True
    return len(live)
