"""The booking slip (layout ``venue.slip``) and printing it after a booking."""

from __future__ import annotations

import logging

from kiosk import hookimpl
from kiosk.i18n import _
from kiosk.printing import print_receipt
from kiosk.privacy import mask_phone
from kiosk_hardware.receipt import Receipt

log = logging.getLogger("kiosk_venue")

LAYOUT = "venue.slip"
#: What the slip's QR code holds: the kiosk's scanner reads it on the "I have a booking code" screen.
QR_PREFIX = "venue:"


def build_slip(context: dict) -> Receipt:
    """A booking slip: room, time, the code big and as a QR code.

    ``context`` holds words already in the resident's language (``station``,
    ``room``, ``when``, ``code``, ``phone`` and ``labels``), so the builder
    needs no request; the phone is masked here again so no caller prints it whole.
    """
    labels = context["labels"]
    receipt = Receipt()
    receipt.title(context["station"], size=1)
    receipt.text(labels["title"], size=2, bold=True, align="center")
    receipt.text(context["room"], size=2, align="center")
    receipt.separator()
    receipt.kv(labels["code"], context["code"], bold=True, size=2)
    receipt.kv(labels["time"], context["when"])
    if context.get("phone"):
        receipt.kv(labels["phone"], mask_phone(context["phone"]))
    receipt.qr(QR_PREFIX + context["code"], level="M")
    receipt.footer(labels["how"])
    return receipt


@hookimpl
def register_receipt_layouts(register):
    """``venue.slip``: the slip a resident takes after booking."""
    register(LAYOUT, build_slip)


def print_slip(station, facts: dict, phone: str | None) -> dict | None:
    """Queue the slip; returns ``{"job_id", "state"}``, or None when printing could not even start.

    The booking stands either way: the code is on the screen too.
    """
    context = {
        "station": station.name,
        "room": facts["room"],
        "when": facts["when"],
        "code": facts["code"],
        "phone": phone or "",
        "labels": {
            "title": _("Venue booking"),
            "code": _("Booking code"),
            "time": _("Time"),
            "phone": _("Phone"),
            "how": _("Show this slip or the code to the staff when you come. To cancel, scan it on the kiosk."),
        },
    }
    try:
        return print_receipt(LAYOUT, context)
    except Exception:  # a printer fault must not undo a booking already made
        log.exception("venue: the booking slip could not be queued")
        return None
