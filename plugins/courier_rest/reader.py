"""Card taps and QR scans while a courier screen (or a courier station's home screen) is open.

The read becomes a redirect to a signed address (see :mod:`.identity`); the
page then identifies the rider in its own request. Reads on other plugins'
screens are left alone, and a QR code that is not a rider code is only
claimed on our own screens, where the rider is told what to do instead.

A card whose UID is random (a phone's NFC emulation, a privacy card: a new
UID at every tap) or blank (all zeros) never becomes a rider's card: the
check-in screen says so and offers the rider code and the phone number.
"""

from __future__ import annotations

import logging

from flask import current_app

from kiosk_hardware.readers.uids import unusable_uid
from kiosk_plugins.courier_rest.identity import make_token
from kiosk_plugins.courier_rest.riders import normalize_card, token_from_code

log = logging.getLogger(__name__)

#: Screens where a read means nothing (a form is being filled); the read is not claimed.
IGNORED_SCREENS = {"courier_rest.hazard", "courier_rest.hazard_photo", "courier_rest.register"}


def path_for(endpoint: str, **values) -> str:
    """A URL path built without a request (the hub calls plugins outside any request)."""
    adapter = current_app.url_map.bind("localhost", script_name="/")
    return adapter.build(endpoint, values)


def handle(event, screen: str | None, station) -> dict | None:
    """The ``handle_reader_event`` answer for one read, or None to leave it."""
    if event.kind not in ("card", "code"):
        return None
    ours = bool(screen) and screen.startswith("courier_rest.")
    if screen in IGNORED_SCREENS:
        return None
    if not ours and not (screen in (None, "home") and station.kind == "courier_station"):
        return None
    if event.kind == "code":
        token = token_from_code(event.value)
        if token is None:
            return {"redirect": path_for("courier_rest.index", error="code")} if ours else None
        return {"redirect": path_for("courier_rest.identify", token=make_token({"m": "qr", "t": token}))}
    uid = normalize_card(event.value)
    if not uid:
        return None
    refused = unusable_uid(uid)
    if refused is not None:
        # Linked or looked up, such a UID would be a different rider at each tap, or everyone at once.
        log.info("card with a %s UID refused as a rider card (reader %s)", refused, event.source)
        return {"redirect": path_for("courier_rest.index", error="card_uid")}
    if screen == "courier_rest.link_card":
        return {"redirect": path_for("courier_rest.link_card_done", token=make_token({"m": "link", "c": uid}))}
    return {"redirect": path_for("courier_rest.identify", token=make_token({"m": "card", "c": uid}))}
