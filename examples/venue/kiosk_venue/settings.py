"""The station's venue settings, from ``[plugins.venue]`` in the station file::

    [plugins.venue]
    booking_days = 7                  # how many days ahead residents may book
    print_slips = true                # print a booking slip (the code is on screen either way)

    [[plugins.venue.rooms]]           # replaces the default rooms
    key = "crafts"
    label = { zh_Hans = "手工室", zh_Hant = "手工室", en = "Crafts room" }

The default rooms are those of Shixia community's service centre (石厦社区党群服务中心):
作业辅导室, 儿童电影院, 阅读区, 手工室. The core checks the table against
:data:`SCHEMA` once at start: a mistake switches only this plugin off, naming
the setting to fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from kiosk import hookimpl
from kiosk.i18n import N_, localized
from kiosk.settings import Boolean, Integer, Label, Schema, TableOf, Text, plugin_settings

PLUGIN = "venue"

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


SCHEMA = Schema(
    {
        "booking_days": Integer(7, min=1, max=60, description=N_("How many days ahead residents may book")),
        "print_slips": Boolean(True, description=N_("Print a booking slip (the code is on screen either way)")),
        "rooms": TableOf(
            {
                "key": Text(
                    pattern=r"[a-z][a-z0-9_]{0,31}", hint=N_('lower-case letters, digits or _ (e.g. "crafts")')
                ),
                "label": Label(plain_as="zh_Hans"),
            },
            DEFAULT_ROOMS,
            build=lambda v: Room(**v),
            unique="key",
            min_length=1,
            description=N_("The rooms residents can book (replaces the default rooms)"),
        ),
    },
    build=lambda v: VenueSettings(**v),
)


@hookimpl
def register_settings(register):
    """The ``[plugins.venue]`` table, checked by the core once at start."""
    register(SCHEMA)


def settings(app=None) -> VenueSettings:
    """The settings of ``app`` (default: the current one), as the core parsed them at start."""
    return plugin_settings(PLUGIN, app or current_app._get_current_object())
