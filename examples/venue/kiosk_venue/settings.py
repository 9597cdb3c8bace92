"""The station's venue settings, from ``[plugins.venue]`` in the station file::

    [plugins.venue]
    booking_days = 7                  # how many days ahead residents may book
    print_slips = true                # print a booking slip (the code is on screen either way)

    [[plugins.venue.rooms]]           # replaces the default rooms
    key = "crafts"
    label = { zh_Hans = "手工室", zh_Hant = "手工室", en = "Crafts room" }

The default rooms are those of Shixia community's service centre (石厦社区党群服务中心):
作业辅导室, 儿童电影院, 阅读区, 手工室. A mistake raises ``ConfigError`` at start,
which takes only this plugin out (see ``kiosk_startup`` below), naming the setting to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app

from kiosk import hookimpl
from kiosk.config import ConfigError
from kiosk.i18n import localized

PLUGIN = "venue"
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

DEFAULT_ROOMS = (
    {"key": "homework", "label": {"zh_Hans": "作业辅导室", "zh_Hant": "作業輔導室", "en": "Homework room"}},
    {"key": "cinema", "label": {"zh_Hans": "儿童电影院", "zh_Hant": "兒童電影院", "en": "Children's cinema"}},
    {"key": "reading", "label": {"zh_Hans": "阅读区", "zh_Hant": "閱讀區", "en": "Reading area"}},
    {"key": "crafts", "label": {"zh_Hans": "手工室", "zh_Hant": "手工室", "en": "Crafts room"}},
)


@dataclass(frozen=True)
class Room:
    """A room (or area) of the centre that can be booked."""

    key: str
    label: dict

    @property
    def text(self) -> str:
        """The room's name in the request's language."""
        return localized(self.label)


@dataclass(frozen=True)
class VenueSettings:
    """Everything the plugin reads from the station file, validated."""

    rooms: tuple[Room, ...]
    booking_days: int = 7
    print_slips: bool = True

    def room(self, key: str) -> Room | None:
        """The room named ``key``, or None."""
        return next((r for r in self.rooms if r.key == key), None)


def _room(raw, index: int) -> Room:
    where = f"plugins.venue.rooms[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or not KEY_RE.match(raw["key"]):
        raise ConfigError(f"{where}.key must be lower-case letters, digits or _ (e.g. \"crafts\")")
    label = raw.get("label")
    if isinstance(label, str):
        label = {"zh_Hans": label}
    if not isinstance(label, dict) or not label.get("zh_Hans"):
        raise ConfigError(f"{where}.label needs at least zh_Hans, e.g. {{ zh_Hans = \"手工室\" }}")
    return Room(key=raw["key"], label=dict(label))


def parse(raw: dict | None) -> VenueSettings:
    """Validate the ``[plugins.venue]`` table (missing keys take their defaults)."""
    raw = dict(raw or {})
    rooms = tuple(_room(r, i) for i, r in enumerate(raw.get("rooms") or DEFAULT_ROOMS))
    if len({r.key for r in rooms}) != len(rooms):
        raise ConfigError("plugins.venue.rooms: every room needs its own key")
    days = raw.get("booking_days", 7)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 60:
        raise ConfigError(f"plugins.venue.booking_days must be a whole number from 1 to 60, not {days!r}")
    print_slips = raw.get("print_slips", True)
    if not isinstance(print_slips, bool):
        raise ConfigError("plugins.venue.print_slips must be true or false")
    return VenueSettings(rooms=rooms, booking_days=days, print_slips=print_slips)


def settings(app=None) -> VenueSettings:
    """The settings of ``app`` (default: the current one), parsed once and kept in ``app.extensions``."""
    app = app or current_app._get_current_object()
    cached = app.extensions.get("venue_settings")
    if cached is None:
        cached = parse(app.config.get("PLUGINS", {}).get(PLUGIN))
        app.extensions["venue_settings"] = cached
    return cached


@hookimpl
def kiosk_startup(app):
    """Read the settings once at start: a mistake disables the plugin then, not at a resident's tap."""
    settings(app)
