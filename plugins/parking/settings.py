"""The station's settings for the parking plugin (``[plugins.parking]`` in station.toml).

Everything about a partner lot (spaces, windows, price, quota) is kept in the
database and edited on the admin page; the station file holds only what
belongs to the kiosk itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from kiosk.i18n import N_
from kiosk.settings import Integer, Schema, plugin_settings

PLUGIN = "parking"


@dataclass(frozen=True)
class ParkingSettings:
    """The plugin's settings, defaults filled in."""

    identify_minutes: int = 5
    early_entry_minutes: int = 15
    max_reprints: int = 2


SCHEMA = Schema(
    {
        # After this long the kiosk forgets who identified, even mid-way.
        "identify_minutes": Integer(
            5, min=1, max=60, description=N_("Minutes after which the kiosk forgets who identified")
        ),
        "early_entry_minutes": Integer(
            15, min=0, max=240, description=N_("Minutes before its window opens that a car may enter")
        ),
        # Paper is not free.
        "max_reprints": Integer(2, min=0, max=20, description=N_("How often a voucher may be printed again")),
    },
    build=lambda v: ParkingSettings(**v),
)


def settings(app=None) -> ParkingSettings:
    """The settings of ``app`` (the current app by default), as the core checked them at start."""
    return plugin_settings(PLUGIN, app or current_app._get_current_object())
