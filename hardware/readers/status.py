"""The health of one device, as /healthz and the admin page show it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

STATE_OK = "ok"
STATE_DISCONNECTED = "disconnected"
STATE_ERROR = "error"
STATE_STOPPED = "stopped"
STATES = frozenset({STATE_OK, STATE_DISCONNECTED, STATE_ERROR, STATE_STOPPED})


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A snapshot of one reader.

    ``kind`` is the backend type from the station config (``"pcsc"``,
    ``"wedge"``, ``"serial"``, ``"test"``).
    ``state`` is ``"ok"`` (open and listening), ``"disconnected"`` (device or
    service absent: unplugged, not yet plugged, pcscd down), ``"error"`` (present
    but unusable: permission denied, grabbed by another program) or
    ``"stopped"`` (not started, or stopped). ``detail`` is a human-readable reason,
    ``last_event_at`` the time of the device's last read, if any (whether or not a
    screen wanted it: it shows the device works).
    """

    name: str
    kind: str
    state: str
    detail: str = ""
    last_event_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown device state {self.state!r}")

    @property
    def ok(self) -> bool:
        """True when the device is open and listening."""
        return self.state == STATE_OK

    def to_dict(self) -> dict[str, str | None]:
        """A JSON-ready dict for /healthz and the admin page."""
        last = self.last_event_at
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "detail": self.detail,
            "last_event_at": last.astimezone(UTC).isoformat() if last else None,
        }
