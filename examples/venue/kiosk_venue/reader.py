"""Scanning a booking slip's QR code on the look-up screen fills in the code and submits it."""

from __future__ import annotations

import re

from kiosk import hookimpl
from kiosk_venue.receipts import QR_PREFIX

SCREEN = "venue.find"
SLIP_CODE = re.compile(r"^(?:" + re.escape(QR_PREFIX) + r")?(\d{6})$")


@hookimpl
def handle_reader_event(event, screen, station):
    """Claim code reads on the look-up screen that look like a slip; leave everything else."""
    if screen != SCREEN or event.kind != "code":
        return None
    match = SLIP_CODE.match((event.value or "").strip())
    if match is None:
        return None
    return {"fill": {"code": match.group(1)}, "submit": "#venue-find-form"}
