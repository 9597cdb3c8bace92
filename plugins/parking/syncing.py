"""What parking syncs between a station and the district hub.

Up (station → hub), each entry the record's whole current state:

- ``parking.lot`` (key: the lot's number at the station): name, address,
  spaces, price and whether it is open, plus the station's tag, so the hub's
  attendant page can offer the lot and read its vouchers' codes;
- ``parking.voucher`` (key: the voucher's serial, its number at the station):
  issued, cancelled, expired or used, with the plate, lot, times and price;
  no household (settlement and the attendant need none of it).

Down (hub → station): ``parking.redemption`` (key: the serial), a voucher let
in on the hub's attendant page, so the station marks it used and the
resident's "my vouchers" says so.

A redemption is never undone by what arrives later: a voucher redeemed at the
hub before its record arrived stays used when the record (still "issued")
comes in, and a station that cancelled a voucher the hub had already let in
learns it was used (the car is in the car park).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from flask import has_app_context
from sqlalchemy import select

from kiosk import clock, events, sync
from kiosk.db import upsert_insert, utcnow
from kiosk.models import Station
from kiosk.stations import station_tag
from kiosk_plugins.parking.models import USED, HubLot, HubVoucher, Lot, Redemption, Voucher

log = logging.getLogger("kiosk.parking")

LOT, VOUCHER, REDEMPTION = "parking.lot", "parking.voucher", "parking.redemption"


def register(register) -> None:
    """The ``register_sync`` hook's body."""
    register("lot", to_hub=lot_to_hub)
    register("voucher", to_hub=voucher_to_hub)
    register("redemption", to_station=redemption_to_station)


def valid_until(expires_at: datetime, tz) -> date:
    """The last local day a voucher is valid on (one ending at midnight is valid the day before)."""
    return (expires_at - timedelta(seconds=1)).astimezone(tz).date()


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _moment(value) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# --- station side: what is recorded --------------------------------------------------------------


def lot_state(lot: Lot, tag: str) -> dict:
    """A lot as the hub needs it."""
    return {
        "ref": lot.id,
        "tag": tag,
        "name": lot.name,
        "address": lot.address,
        "spaces": lot.spaces,
        "price_cents": lot.price_cents,
        "active": bool(lot.active),
    }


def voucher_state(voucher: Voucher, lot: Lot | None, tag: str) -> dict:
    """A voucher's whole state as the hub needs it (no household)."""
    return {
        "serial": voucher.id,
        "lot_ref": voucher.lot_id,
        "lot": lot_state(lot, tag) if lot is not None else None,
        "plate": voucher.plate,
        "code": voucher.code,
        "status": voucher.status,
        "price_cents": voucher.price_cents,
        "starts_at": _iso(voucher.starts_at),
        "ends_at": _iso(voucher.ends_at),
        "expires_at": _iso(voucher.expires_at),
        "issued_at": _iso(voucher.issued_at),
        "used_at": _iso(voucher.used_at),
        "cancelled_at": _iso(voucher.cancelled_at),
    }


def record_voucher(session, voucher: Voucher, *, station: Station | None = None, lot: Lot | None = None) -> None:
    """Queue the voucher's state for the hub, in ``session``'s transaction (a no-op on the hub)."""
    station = station if station is not None else session.get(Station, voucher.station_id)
    lot = lot if lot is not None else session.get(Lot, voucher.lot_id)
    sync.record(
        session, VOUCHER, str(voucher.id), voucher_state(voucher, lot, station_tag(station)), station_id=station.id
    )


def record_lot(session, lot: Lot, *, station: Station | None = None) -> None:
    """Queue the lot's state for the hub, in ``session``'s transaction."""
    station = station if station is not None else session.get(Station, lot.station_id)
    sync.record(session, LOT, str(lot.id), lot_state(lot, station_tag(station)), station_id=station.id)


# --- hub side: applying a station's entries ------------------------------------------------------


def _serial(key) -> int:
    try:
        value = int(str(key))
    except ValueError:
        raise ValueError(f"parking entry key must be a number, not {key!r}") from None
    if not 0 < value < 2**31:
        raise ValueError(f"parking entry key out of range: {key!r}")
    return value


def _upsert_lot(session, station, ref: int, data: dict) -> HubLot:
    row = session.scalar(select(HubLot).where(HubLot.station_id == station.id, HubLot.ref == ref).with_for_update())
    if row is None:
        row = HubLot(station_id=station.id, ref=ref)
        session.add(row)
    row.tag = str(data.get("tag") or "")[:16]
    row.name = str(data.get("name") or "")[:100]
    row.address = str(data.get("address") or "")[:200]
    row.spaces = int(data.get("spaces") or 0)
    row.price_cents = int(data.get("price_cents") or 0)
    row.active = bool(data.get("active", True))
    row.synced_at = utcnow()
    return row


def lot_to_hub(session, station, key, data) -> None:
    """A station's lot at the hub: upsert by (station, the lot's number there)."""
    ref = _serial(key)
    if data is None:
        row = session.scalar(select(HubLot).where(HubLot.station_id == station.id, HubLot.ref == ref))
        if row is not None:
            row.active = False
        return
    _upsert_lot(session, station, ref, data)


def voucher_to_hub(session, station, key, data) -> None:
    """A station's voucher at the hub: upsert by (station, serial); a redemption made here always wins."""
    serial = _serial(key)
    if data is None:
        return  # vouchers are never deleted at a station; nothing to forget
    if data.get("lot"):
        _upsert_lot(session, station, _serial(data["lot"]["ref"]), data["lot"])
    row = session.scalar(
        select(HubVoucher).where(HubVoucher.station_id == station.id, HubVoucher.serial == serial).with_for_update()
    )
    if row is None:
        row = HubVoucher(station_id=station.id, serial=serial)
        session.add(row)
    row.lot_ref = _serial(data["lot_ref"])
    row.plate = str(data.get("plate") or "")[:8]
    row.code = str(data.get("code") or "")[:32]
    row.status = str(data["status"])[:12]
    row.price_cents = int(data.get("price_cents") or 0)
    row.starts_at = _moment(data["starts_at"])
    row.ends_at = _moment(data["ends_at"])
    row.expires_at = _moment(data["expires_at"])
    row.issued_at = _moment(data["issued_at"])
    row.used_at = _moment(data.get("used_at"))
    row.cancelled_at = _moment(data.get("cancelled_at"))
    row.synced_at = utcnow()
    redeemed = session.scalar(
        select(Redemption).where(Redemption.station_id == station.id, Redemption.serial == serial)
    )
    if redeemed is not None:
        if row.status != USED:
            log.info("voucher %s of %s came as %s but was let in at the hub: used", serial, station.code, row.status)
        row.status, row.used_at = USED, redeemed.used_at
    elif row.status == USED:
        # Let in at the station's own attendant page: the hub must refuse it from now on.
        insert = upsert_insert(session.get_bind().dialect.name)
        session.execute(
            insert(Redemption)
            .values(
                station_id=station.id,
                serial=serial,
                lot_ref=row.lot_ref,
                valid_until=valid_until(row.expires_at, clock.zone(station)),
                used_at=row.used_at or utcnow(),
                used_by=None,
            )
            .on_conflict_do_nothing(index_elements=["station_id", "serial"])
        )


# --- station side: applying the hub's entries ----------------------------------------------------


def redemption_to_station(session, station, key, data) -> None:
    """A voucher let in on the hub's attendant page: mark it used here (whatever its state was)."""
    serial = _serial(key)
    voucher = session.get(Voucher, serial)
    if voucher is None or voucher.station_id != station.id:
        log.warning("redemption of unknown voucher %s pulled from the hub; skipped", serial)
        return
    if data is None:
        return
    used_at = _moment(data.get("used_at")) or utcnow()
    if voucher.status != USED:
        if voucher.status != "issued":
            log.warning("voucher %s was %s here but was let in at the hub: now used", serial, voucher.status)
        voucher.status = USED
        voucher.used_at = used_at
        voucher.used_by = None
        # The staff panel's counts move as when the station's own attendant page lets a car in.
        # The pusher applies pulled entries in its own thread, outside any app context: no event then
        # (the panel counts from the table when it next draws).
        if not has_app_context():
            return
        events.emit(
            "parking.voucher_used",
            {"lot_id": voucher.lot_id, "window_id": voucher.window_id},
            channel="parking",
            station_id=station.id,
            session=session,
        )
