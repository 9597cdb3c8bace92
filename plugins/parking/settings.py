"""The station's settings for the parking plugin (``[plugins.parking]`` in station.toml).

Everything about a partner lot (spaces, windows, price, quota) is kept in the
database and edited on the admin page; the station file holds only what
belongs to the kiosk itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app

DEFAULTS = {
    # After this long the kiosk forgets who identified, even mid-way.
    "identify_minutes": 5,
    # An attendant may let a car in this many minutes before its window opens.
    "early_entry_minutes": 15,
    # A voucher can be printed again at most this many times (paper is not free).
    "max_reprints": 2,
}


@dataclass(frozen=True)
class ParkingSettings:
    """The plugin's settings, defaults filled in."""

    identify_minutes: int
    early_entry_minutes: int
    max_reprints: int


def settings(app=None) -> ParkingSettings:
    """Read ``PLUGINS["parking"]`` of ``app`` (the current app by default)."""
    app = app or current_app
    raw = {**DEFAULTS, **(app.config.get("PLUGINS", {}).get("parking", {}) or {})}
    return ParkingSettings(
        identify_minutes=int(raw["identify_minutes"]),
        early_entry_minutes=int(raw["early_entry_minutes"]),
        max_reprints=int(raw["max_reprints"]),
    )


def station_tz(station) -> ZoneInfo:
    """The station's time zone (Asia/Shanghai unless configured otherwise)."""
    return ZoneInfo(getattr(station, "timezone", None) or "Asia/Shanghai")
