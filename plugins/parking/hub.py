"""The attendant's check at the district hub, and the hub's settlement.

Vouchers are issued at stations, often offline; the car park attendant's page
lives at the hub (the voucher's QR code opens it). The hub checks a code in
this order:

1. the signature, with the key of the station whose tag starts the code (a
   changed character, another station's key, another lot or day: refused);
2. the lot: the attendant's car park must be the one on the voucher;
3. what the hub knows of the voucher, if its record has arrived: cancelled,
   already used, expired, not yet valid; if it has not arrived, the
   valid-until day the code carries;
4. once: a ``parking_redemption`` row unique on (station, serial), inserted
   with ON CONFLICT DO NOTHING, so of two phones (or two hub processes) exactly
   one lets the car in.

The redemption is published back to the station (``parking.redemption``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select

from kiosk import audit, clock, sync
from kiosk.db import upsert_insert, write_transaction
from kiosk.models import Station
from kiosk.stations import station_tag
from kiosk_plugins.parking import codes
from kiosk_plugins.parking.models import CANCELLED, EXPIRED, ISSUED, USED, HubLot, HubVoucher, Redemption
from kiosk_plugins.parking.syncing import REDEMPTION
from kiosk_plugins.parking.vouchers import Redemption as Outcome


@dataclass
class Seen:
    """What the attendant is shown of a voucher: its record at the hub, or only what the code says."""

    code: str
    plate: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    expires_at: datetime | None = None
    used_at: datetime | None = None
    cancelled_at: datetime | None = None
    price_cents: int | None = None
    valid_until: date | None = None
    #: False while the voucher's record has not reached the hub (only the code is known).
    known: bool = False
    lot_ref: int = 0
    station_name: str = ""


def lots_of(session, station_id: int) -> list[HubLot]:
    """The car parks of a station the hub knows, open ones first."""
    return list(
        session.scalars(
            select(HubLot).where(HubLot.station_id == station_id).order_by(HubLot.active.desc(), HubLot.name)
        )
    )


def _tags(session) -> list[tuple[Station, str]]:
    """Every station the hub knows with the tags its codes may start with (the lot's, then the computed one)."""
    pairs: list[tuple[Station, str]] = []
    stations = {s.id: s for s in session.scalars(select(Station))}
    for station_id, tag in session.execute(select(HubLot.station_id, HubLot.tag).where(HubLot.tag != "").distinct()):
        if station_id in stations:
            pairs.append((stations[station_id], tag))
    for station in stations.values():
        pairs.append((station, station_tag(station)))
    seen, unique = set(), []
    for station, tag in pairs:
        if (station.id, tag.upper()) not in seen:
            seen.add((station.id, tag.upper()))
            unique.append((station, tag))
    return unique


def verify(session, code: str, now: datetime) -> tuple[codes.Verified | None, Station | None, bool]:
    """Which station signed ``code`` and what it names; ``(None, None, forged)`` when no key signed it."""
    looked_like = False
    for station, tag in _tags(session):
        if codes.split(code, tag) is None:
            continue
        looked_like = True
        today = clock.today(clock.zone(station), now)
        found = codes.check(session, code, station_id=station.id, tag=tag, today=today)
        if found is not None:
            return found, station, False
    return None, None, looked_like


def _legacy(session, code: str, lot: HubLot | None) -> tuple[codes.Verified | None, Station | None]:
    """An 8-character code of before the district: good only if its record came over the station's sync."""
    query = select(HubVoucher).where(HubVoucher.code == code)
    if lot is not None:
        query = query.where(HubVoucher.station_id == lot.station_id)
    rows = list(session.scalars(query))
    if len(rows) != 1:
        return None, None
    row = rows[0]
    station = session.get(Station, row.station_id)
    tz = clock.zone(station)
    day = (row.expires_at - timedelta(seconds=1)).astimezone(tz).date()
    return codes.Verified(station_id=row.station_id, serial=row.serial, lot_ref=row.lot_ref, valid_until=day), station


def redeem(*, code_text: str, lot: HubLot | None, user_id: int | None, early_minutes: int, now=None) -> Outcome:
    """Check a code at the hub and let the car in once; every check is in the audit log."""
    now = now or clock.now()
    code = codes.extract_code(code_text)
    with write_transaction() as s:
        outcome, station_id, serial = _check(s, code, lot, user_id, now, timedelta(minutes=early_minutes))
        audit.record(
            "parking.voucher_checked",
            {
                "station_id": station_id,
                "serial": serial,
                "lot_ref": lot.ref if lot is not None else None,
                "result": outcome.reason,
                "forged": bool(outcome.detail.get("forged")),
                "at_hub": True,
            },
            session=s,
            commit=False,
            station_id=station_id,
        )
    return outcome


def _check(s, code, lot, user_id, now, early) -> tuple[Outcome, int | None, int | None]:
    if code is None:
        return Outcome("malformed"), None, None
    if codes.is_legacy(code):
        verified, station = _legacy(s, code, lot)
        forged = False
    else:
        verified, station, forged = verify(s, code, now)
    if verified is None or station is None:
        return Outcome("unknown", detail={"forged": forged}), None, None
    tz = clock.zone(station)
    record = s.scalar(
        select(HubVoucher).where(HubVoucher.station_id == station.id, HubVoucher.serial == verified.serial)
    )
    voucher_lot = s.scalar(select(HubLot).where(HubLot.station_id == station.id, HubLot.ref == verified.lot_ref))
    seen = Seen(
        code=code,
        valid_until=verified.valid_until,
        lot_ref=verified.lot_ref,
        station_name=station.name,
    )
    if record is not None:
        seen.plate, seen.price_cents, seen.known = record.plate, record.price_cents, True
        seen.starts_at, seen.ends_at, seen.expires_at = record.starts_at, record.ends_at, record.expires_at
        seen.cancelled_at, seen.used_at = record.cancelled_at, record.used_at
    elif voucher_lot is not None:
        seen.price_cents = voucher_lot.price_cents
    outcome = Outcome("ok", voucher=seen, lot_name=voucher_lot.name if voucher_lot is not None else "")  # type: ignore[arg-type]
    outcome.detail["station"] = station.name
    ids = station.id, verified.serial
    if lot is not None and (lot.station_id, lot.ref) != (station.id, verified.lot_ref):
        outcome.reason = "wrong_lot"
        return outcome, *ids
    done = s.scalar(select(Redemption).where(Redemption.station_id == station.id, Redemption.serial == verified.serial))
    if done is not None:
        seen.used_at = done.used_at
        outcome.reason = "used"
    elif record is not None and record.status == CANCELLED:
        outcome.reason = "cancelled"
    elif record is not None and record.status == USED:
        outcome.reason = "used"
    elif record is not None and (record.status == EXPIRED or now >= record.expires_at):
        outcome.reason = "expired"
    elif record is not None and now < record.starts_at - early:
        outcome.reason = "early"
    elif record is None and clock.today(tz, now) > verified.valid_until:
        outcome.reason = "expired_day"
    if not outcome.ok:
        return outcome, *ids
    insert = upsert_insert(s.get_bind().dialect.name)
    result = s.execute(
        insert(Redemption)
        .values(
            station_id=station.id,
            serial=verified.serial,
            lot_ref=verified.lot_ref,
            valid_until=verified.valid_until,
            used_at=now,
            used_by=user_id,
        )
        .on_conflict_do_nothing(index_elements=["station_id", "serial"])
        .returning(Redemption.id)
    )
    if result.scalar() is None:
        # Another phone (or hub process) let it in between our read and our write.
        first = s.scalar(
            select(Redemption).where(Redemption.station_id == station.id, Redemption.serial == verified.serial)
        )
        seen.used_at = first.used_at if first is not None else None
        outcome.reason = "used"
        return outcome, *ids
    seen.used_at = now
    if record is not None:
        record.status, record.used_at = USED, now
    sync.publish(
        s,
        REDEMPTION,
        str(verified.serial),
        {"serial": verified.serial, "lot_ref": verified.lot_ref, "used_at": now.isoformat()},
        station_id=station.id,
    )
    return outcome, *ids


def todays(session, lot: HubLot | None, now: datetime) -> list[HubVoucher]:
    """The vouchers the hub knows for the lot, in force now or starting within a day."""
    if lot is None:
        return []
    return list(
        session.scalars(
            select(HubVoucher)
            .where(
                HubVoucher.station_id == lot.station_id,
                HubVoucher.lot_ref == lot.ref,
                HubVoucher.starts_at <= now + timedelta(hours=24),
                HubVoucher.ends_at > now,
                HubVoucher.status.in_((ISSUED, USED)),
            )
            .order_by(HubVoucher.starts_at, HubVoucher.plate)
            .limit(200)
        )
    )


@dataclass
class LotSettlement:
    """One car park's month at the hub: vouchers by outcome and the amount due."""

    lot: HubLot
    issued: int = 0
    used: int = 0
    expired: int = 0
    cancelled: int = 0
    due_cents: int = 0


def month_settlement(session, station_id: int, start: datetime, end: datetime, now: datetime) -> list[LotSettlement]:
    """Settlement of a station's car parks for vouchers starting in [start, end), from what the hub holds.

    A voucher counts as used when the hub let it in or the station reported it
    used; it is paid at the price it was issued at.
    """
    used = HubVoucher.status == USED
    expired = (HubVoucher.status == EXPIRED) | ((HubVoucher.status == ISSUED) & (HubVoucher.expires_at <= now))
    rows = session.execute(
        select(
            HubVoucher.lot_ref,
            func.sum(case((HubVoucher.status != CANCELLED, 1), else_=0)),
            func.sum(case((used, 1), else_=0)),
            func.sum(case((expired, 1), else_=0)),
            func.sum(case((HubVoucher.status == CANCELLED, 1), else_=0)),
            func.sum(case((used, HubVoucher.price_cents), else_=0)),
        )
        .where(HubVoucher.station_id == station_id, HubVoucher.starts_at >= start, HubVoucher.starts_at < end)
        .group_by(HubVoucher.lot_ref)
    ).all()
    by_ref = {ref: [int(x or 0) for x in values] for ref, *values in rows}
    out = []
    for lot in lots_of(session, station_id):
        issued, used_n, expired_n, cancelled, due = by_ref.get(lot.ref, [0, 0, 0, 0, 0])
        out.append(LotSettlement(lot, issued, used_n, expired_n, cancelled, due))
    return out
