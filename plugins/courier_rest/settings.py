"""The station's settings for the courier rest station, with defaults.

They come from the ``[plugins.courier_rest]`` table of the station file::

    [plugins.courier_rest]
    seats = 8                 # numbered seats
    phone_slots = 6           # numbered phone-charging slots
    battery_slots = 4         # numbered e-bike battery slots
    phone_minutes = 60        # time limit of a phone-charging slot
    battery_minutes = 120     # time limit of a battery slot
    hold_minutes = 10         # how long a freed slot waits for the next rider in line
    auto_close_at = "23:30"   # forgotten check-outs close at this local time
    api_token = "..."         # token the district dashboard sends (empty: API off)
    max_photo_mb = 5          # largest hazard photo accepted from a phone
    max_photos = 3
    session_minutes = 10      # how long a rider stays identified on the kiosk

A value of the wrong type falls back to its default (and is logged), so a typo
in the station file never takes the rider's screens down.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from flask import current_app

log = logging.getLogger("kiosk_plugins.courier_rest")

PLUGIN = "courier_rest"

#: Hazard categories of the rider patrol mapped to the petitions plugin's keys.
DEFAULT_PETITION_CATEGORIES = {
    "safety_hazard": "safety_hazard",
    "environment": "environment",
    "traffic": "safety_hazard",
    "bulky_waste": "environment",
    "other": "other",
}

_INT_LIMITS = {
    "seats": (0, 200),
    "phone_slots": (0, 200),
    "battery_slots": (0, 200),
    "phone_minutes": (5, 24 * 60),
    "battery_minutes": (5, 24 * 60),
    "hold_minutes": (1, 120),
    "max_photo_mb": (1, 8),
    "max_photos": (1, 6),
    "session_minutes": (1, 120),
}


@dataclass(frozen=True)
class Settings:
    """The courier station's settings after defaults and validation."""

    seats: int = 8
    phone_slots: int = 6
    battery_slots: int = 4
    phone_minutes: int = 60
    battery_minutes: int = 120
    hold_minutes: int = 10
    auto_close_at: str = "23:30"
    api_token: str = ""
    max_photo_mb: int = 5
    max_photos: int = 3
    session_minutes: int = 10
    petition_categories: dict = field(default_factory=lambda: dict(DEFAULT_PETITION_CATEGORIES))

    def slot_count(self, kind: str) -> int:
        """How many numbered places of ``kind`` (seat, phone, battery) the station has."""
        return {"seat": self.seats, "phone": self.phone_slots, "battery": self.battery_slots}[kind]

    def limit_minutes(self, kind: str) -> int | None:
        """The time limit of a charging slot; seats have none."""
        return {"phone": self.phone_minutes, "battery": self.battery_minutes}.get(kind)

    @property
    def auto_close_hour_minute(self) -> tuple[int, int]:
        """``auto_close_at`` as (hour, minute)."""
        hour, minute = self.auto_close_at.split(":")
        return int(hour), int(minute)


def from_mapping(raw: dict | None) -> Settings:
    """Build :class:`Settings` from a config table, keeping defaults for bad values."""
    raw = dict(raw or {})
    values: dict = {}
    for key, (low, high) in _INT_LIMITS.items():
        if key not in raw:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            log.warning("plugins.courier_rest.%s must be a whole number from %d to %d; using the default",
                        key, low, high)
            continue
        values[key] = value
    at = raw.get("auto_close_at")
    if at is not None:
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(at))
        if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
            values["auto_close_at"] = f"{int(match.group(1)):02d}:{match.group(2)}"
        else:
            log.warning("plugins.courier_rest.auto_close_at must look like 23:30; using the default")
    token = raw.get("api_token")
    if token is not None:
        values["api_token"] = str(token)
    categories = raw.get("petition_categories")
    if isinstance(categories, dict):
        merged = dict(DEFAULT_PETITION_CATEGORIES)
        merged.update({str(k): str(v) for k, v in categories.items()})
        values["petition_categories"] = merged
    return Settings(**values)


def get_settings(app=None) -> Settings:
    """The settings of ``app`` (default: the current app), parsed once per app."""
    app = app or current_app._get_current_object()
    cached = app.extensions.get("courier_rest_settings")
    if cached is None:
        cached = from_mapping(app.config.get("PLUGINS", {}).get(PLUGIN, {}))
        app.extensions["courier_rest_settings"] = cached
    return cached
