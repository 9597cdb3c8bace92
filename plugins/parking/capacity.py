"""How many spaces an occurrence has left.

A space is taken by a voucher that is used (the car is in) or issued and not
yet expired. Cancelled vouchers and issued ones past their ``expires_at`` give
their space back at once, whether or not the clean-up job has run.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select, tuple_

from kiosk_plugins.parking.models import ISSUED, USED, Slot, Voucher


def holds_space(now: datetime):
    """SQL condition: this voucher occupies a space at ``now``."""
    return or_(Voucher.status == USED, and_(Voucher.status == ISSUED, Voucher.expires_at > now))


def taken_in_slot(session, slot_id: int, now: datetime) -> int:
    """Spaces taken in one occurrence."""
    return session.scalar(select(func.count(Voucher.id)).where(Voucher.slot_id == slot_id, holds_space(now))) or 0


def taken_by_occurrence(session, occurrences, now: datetime) -> dict[str, int]:
    """``{occurrence.key: spaces taken}`` for many occurrences in one query."""
    pairs = [(o.window_id, o.day) for o in occurrences]
    if not pairs:
        return {}
    rows = session.execute(
        select(Slot.window_id, Slot.day, func.count(Voucher.id))
        .join(Voucher, Voucher.slot_id == Slot.id)
        .where(tuple_(Slot.window_id, Slot.day).in_(pairs), holds_space(now))
        .group_by(Slot.window_id, Slot.day)
    ).all()
    return {f"{w}:{d.isoformat()}": n for w, d, n in rows}
