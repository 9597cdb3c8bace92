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
    api_token = { env = "COURIER_API_TOKEN" }   # token the district dashboard sends (empty: API off)
    max_photo_mb = 5          # largest hazard photo accepted from a phone
    max_photos = 3
    session_minutes = 10      # how long a rider stays identified on the kiosk

The core checks the table against :data:`SCHEMA` once at start: a value of the
wrong type, out of range or a misspelt key switches the plugin off with the
setting's name on ``/healthz``, the admin page and ``kiosk doctor``, instead of
quietly running on a default the operator did not choose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from flask import current_app

from kiosk.i18n import N_
from kiosk.settings import Integer, MapOf, Schema, Text, TimeOfDay, plugin_settings

PLUGIN = "courier_rest"

#: Hazard categories of the rider patrol mapped to the petitions plugin's keys.
DEFAULT_PETITION_CATEGORIES = {
    "safety_hazard": "safety_hazard",
    "environment": "environment",
    "traffic": "safety_hazard",
    "bulky_waste": "environment",
    "other": "other",
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
    auto_close_at: time = time(23, 30)
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
        return self.auto_close_at.hour, self.auto_close_at.minute


def _places(default: int, description: str) -> Integer:
    return Integer(default, min=0, max=200, description=description)


def _minutes(default: int, low: int, high: int, description: str) -> Integer:
    return Integer(default, min=low, max=high, description=description)


SCHEMA = Schema(
    {
        "seats": _places(8, N_("Numbered seats")),
        "phone_slots": _places(6, N_("Numbered phone-charging slots")),
        "battery_slots": _places(4, N_("Numbered e-bike battery slots")),
        "phone_minutes": _minutes(60, 5, 24 * 60, N_("Time limit of a phone-charging slot (minutes)")),
        "battery_minutes": _minutes(120, 5, 24 * 60, N_("Time limit of a battery slot (minutes)")),
        "hold_minutes": _minutes(10, 1, 120, N_("How long a freed slot waits for the next rider in line (minutes)")),
        "auto_close_at": TimeOfDay("23:30", description=N_("Local time at which forgotten check-outs are closed")),
        "api_token": Text("", description=N_("Token the district dashboard sends (empty: the API is off)")),
        "max_photo_mb": Integer(5, min=1, max=8, description=N_("Largest hazard photo accepted from a phone (MB)")),
        "max_photos": Integer(3, min=1, max=6, description=N_("Photos a hazard report may have")),
        "session_minutes": _minutes(10, 1, 120, N_("How long a rider stays identified on the kiosk (minutes)")),
        "petition_categories": MapOf(
            Text(pattern=r"[a-z][a-z0-9_]{0,31}", hint=N_('a category key like "other"')),
            DEFAULT_PETITION_CATEGORIES,
            merge=True,
            description=N_("Hazard kinds of the rider patrol mapped to petition categories"),
        ),
    },
    build=lambda v: Settings(**v),
)


def from_mapping(raw: dict | None) -> Settings:
    """Build :class:`Settings` from a config table; raises ``SettingError`` naming the first mistake."""
    return SCHEMA.parse(raw)


def get_settings(app=None) -> Settings:
    """The settings of ``app`` (default: the current app), as the core checked them at start."""
    return plugin_settings(PLUGIN, app or current_app._get_current_object())
