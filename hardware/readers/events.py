"""What a reader reports: one immutable event per card tap, scan or swipe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

KIND_CARD = "card"
KIND_CODE = "code"
KIND_TRACK = "track"
# A card left the reader. Only PC/SC readers can tell; a plugin that keeps a
# session open while a card lies on the reader listens for it, others ignore it.
KIND_REMOVED = "removed"

#: Kinds a device can be configured to produce (``"kind"`` in the station config).
INPUT_KINDS = frozenset({KIND_CARD, KIND_CODE, KIND_TRACK})
#: Every kind an event may carry.
EVENT_KINDS = INPUT_KINDS | {KIND_REMOVED}


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (events never carry naive times)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ReaderEvent:
    """One read from one device.

    ``source`` is the device name from the station config, ``kind`` one of
    ``EVENT_KINDS`` (card UID, barcode/QR text, magnetic track, card removed),
    ``value`` the text read and ``at`` the aware UTC time it was read.
    """

    source: str
    kind: str
    value: str
    at: datetime

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}; expected one of {sorted(EVENT_KINDS)}")
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("ReaderEvent.at must be timezone-aware")

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict (ISO 8601 time with offset), e.g. for server-sent events."""
        return {
            "source": self.source,
            "kind": self.kind,
            "value": self.value,
            "at": self.at.astimezone(UTC).isoformat(),
        }
