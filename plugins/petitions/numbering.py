"""Tracking numbers: ``P261206-K7QM-0007`` — prefix, local date, the station's tag, a daily sequence.

The tag (:func:`kiosk.stations.station_tag`) makes a number unique across the
district although each station numbers on its own, offline too: two stations'
first requests of a day are ``P261206-K7QM-0001`` and ``P261206-B3XE-0001``.
Requests taken by phone at the district hub get the station's tag and a series
of their own, ``W`` (``P261206-K7QM-W0001``), counted at the hub, so a phone
request can never take a number the station hands out at its kiosk.

The sequence is the core's per-day counter (:mod:`kiosk.numbering`), taken
inside the caller's write transaction; the unique constraint on (station,
tracking number) is the backstop. Numbers given out before tags existed
(``P240512-0007``) stay valid: lookups compare numbers without dashes or case.

Until the core's counter existed this plugin kept its own (``petitions_counter``).
That table is no longer written; it is read once per day, when the core's
counter for the day is created, so a kiosk upgraded during the day goes on from
the day's last number instead of handing out -0001 again.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select

from kiosk import clock, numbering
from kiosk.stations import station_tag
from kiosk.typed import plain
from kiosk_plugins.petitions.models import Petition, TrackingCounter

SERIES = "petitions.tracking"
#: Requests taken at the hub (phone form, Open311, hazard reports) for a station: their own counter.
HUB_SERIES = "petitions.tracking.hub"
HUB_LETTER = "W"
#: What a resident may type: letters, digits, dashes and spaces, in any case.
TYPED_RE = re.compile(r"^[A-Za-z0-9\- ]{6,40}$")
#: Dashes a Chinese keyboard or a phone types instead of "-" (hyphens, en and em dashes, minus, the long vowel mark).
OTHER_DASHES = re.compile("[\u2010-\u2015\u2212\u30fc\ufe58\ufe63]")


def next_tracking_no(session, station, at: datetime, prefix: str = "P", *, hub: bool = False) -> str:
    """Take the next number for ``station`` on the local day of ``at``; call inside a write transaction.

    ``hub``: the request is taken at the district hub, numbered in the hub's ``W`` series.
    """
    day = clock.today(station, at)
    stamp = day.strftime("%y%m%d")
    tag = station_tag(station)
    if hub:
        number = numbering.next_number(session, station, HUB_SERIES, day)
        return f"{prefix}{stamp}-{tag}-{HUB_LETTER}{number:04d}"

    def taken() -> int:
        return (
            session.scalar(
                select(TrackingCounter.last).where(
                    TrackingCounter.station_id == station.id, TrackingCounter.day == stamp
                )
            )
            or 0
        )

    number = numbering.next_number(session, station, SERIES, day, taken=taken)
    return f"{prefix}{stamp}-{tag}-{number:04d}"


def compact(typed: str) -> str:
    """A number as typed (``p261206 k7qm 0001``) without case, spaces and dashes; "" when it cannot be one.

    Full-width letters and digits (``Ｐ２６１２０６``), ideographic spaces and any
    kind of dash, as a Chinese input method types them, count as their plain forms;
    invisible marks a pasted number carries are dropped (:func:`kiosk.typed.plain`).
    """
    text = OTHER_DASHES.sub("-", plain(str(typed or ""))).strip()
    if not TYPED_RE.match(text):
        return ""
    return re.sub(r"[\s-]", "", text).upper()


def find(session, typed: str, station_id: int | None = None) -> Petition | None:
    """The request whose number is ``typed`` (any case, with or without dashes), at ``station_id`` or anywhere."""
    key = compact(typed)
    if not key:
        return None
    stored = func.upper(func.replace(Petition.tracking_no, "-", ""))
    query = select(Petition).where(stored == key)
    if station_id is not None:
        query = query.where(Petition.station_id == station_id)
    return session.scalars(query.order_by(Petition.id).limit(1)).first()
