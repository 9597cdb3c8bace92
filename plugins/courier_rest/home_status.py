"""The rest station's line on the kiosk home screen: free seats and charging places now.

A rider sees at a glance, before tapping, whether there is a seat or a place
to charge; nobody is named. One statement built once (:func:`.slots.free_places`):
the home screen is the kiosk's busiest page.
"""

from __future__ import annotations

from kiosk.db import get_session
from kiosk.i18n import LOCALES, N_, localized
from kiosk_plugins.courier_rest import slots
from kiosk_plugins.courier_rest.settings import get_settings

PLUGIN = "courier_rest"
#: One phrase per kind of place; a kind the station has no places of is left out.
#: Short: the line shares the home screen with the queues (two columns of it in landscape).
FREE = {
    "seat": N_("seats %(n)s"),
    "phone": N_("phones %(n)s"),
    "battery": N_("batteries %(n)s"),
}
LINE = N_("Rider rest station, free places: %(places)s")
SEPARATOR = {"zh_Hans": "，", "zh_Hant": "，", "en": ", "}


def label(places: dict[str, tuple[int, int]]) -> dict[str, str]:
    """The line in every station language, from ``{kind: (free, total)}``."""
    out = {}
    for locale in LOCALES:
        parts = [localized(FREE[k], locale, PLUGIN) % {"n": places[k][0]} for k in slots.SLOT_KINDS if k in places]
        out[locale] = localized(LINE, locale, PLUGIN) % {"places": SEPARATOR.get(locale, ", ").join(parts)}
    return out


def register_status(register, station) -> None:
    """Register the line, unless the station has no seats or charging places at all."""
    places = slots.free_places(get_session(), station.id)
    if not places:
        # No place made yet (they are made at the first rest-station screen): nobody has taken one.
        settings = get_settings()
        places = {k: (n, n) for k in slots.SLOT_KINDS if (n := settings.slot_count(k))}
    if places:
        register(key="places", label=label(places), order=20)
