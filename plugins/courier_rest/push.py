"""Events on the ``courier_rest`` channel: live capacity, slots ready, overstays.

They are written in the same transaction as the change they report (and pushed
when it commits), so a screen never shows a slot that was not really freed.
Payloads carry numbers only: slot numbers and waiting numbers, never a rider.
"""

from __future__ import annotations

from kiosk.events import emit
from kiosk_plugins.courier_rest import slots

CHANNEL = "courier_rest"


def capacity(session, station_id: int) -> dict:
    """Announce the current free places (after any change to them)."""
    board = slots.board(session, station_id)
    emit("courier_rest.capacity", board, channel=CHANNEL, station_id=station_id, session=session)
    return board


def slot_ready(session, station_id: int, waiting_no: str, kind: str, slot_number: int, until: str) -> None:
    """Tell the kiosk and the rider's phone that a waiting rider's slot is held for them."""
    emit(
        "courier_rest.slot_ready",
        {"waiting_no": waiting_no, "kind": kind, "slot": slot_number, "until": until},
        channel=CHANNEL,
        station_id=station_id,
        session=session,
    )


def overstay(session, station_id: int, kind: str, slot_number: int) -> None:
    """A charging slot ran past its time limit (staff pages listen)."""
    emit(
        "courier_rest.overstay",
        {"kind": kind, "slot": slot_number},
        channel=CHANNEL,
        station_id=station_id,
        session=session,
    )


def hazard_photo(session, station_id: int, report_id: int, photos: int) -> None:
    """A phone attached a photo to a hazard report still open on the kiosk."""
    emit(
        "courier_rest.hazard_photo",
        {"report": report_id, "photos": photos},
        channel=CHANNEL,
        station_id=station_id,
        session=session,
    )
