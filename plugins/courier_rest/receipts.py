"""Receipt layouts: the rider's own check-in code, and a note of the charging slot they took.

Builders get plain data from the view (already masked: a receipt never holds a
full phone number or name) and translate their labels in the request's language.
"""

from __future__ import annotations

from kiosk.i18n import _
from kiosk.privacy import mask_phone
from kiosk_hardware.receipt import Receipt

PASS_LAYOUT = "courier_rest.pass"
SLOT_LAYOUT = "courier_rest.slot"


def build_pass(context: dict) -> Receipt:
    """The rider's QR code: for the scanner next time where the kiosk has one, else for their phone.

    Context: ``station`` (name), ``name`` (masked), ``phone`` (masked again
    here in case a caller forgot), ``pass_url``, ``scanner`` (whether the
    kiosk printing it has a code scanner; without one the pass says nothing of a scanner).
    """
    receipt = Receipt()
    receipt.title(_("Rider rest station"))
    receipt.text(_("Your rider code"), size=2, bold=True, align="center")
    receipt.separator()
    receipt.kv(_("Name"), context.get("name", ""))
    receipt.kv(_("Phone"), mask_phone(context.get("phone", "")))
    receipt.qr(context["pass_url"], module=8)
    if context.get("scanner"):
        receipt.text(_("Next time, hold this code under the scanner to check in."), align="center")
    else:
        receipt.text(
            _("Scan this code with your phone to keep it: it shows your places and the waiting list."), align="center"
        )
    receipt.footer(context.get("station", ""))
    return receipt


def build_slot(context: dict) -> Receipt:
    """A note of the charging slot taken: number, time limit, the rider's status page.

    Context: ``station``, ``kind_label``, ``slot`` (number), ``since``,
    ``until`` (local times), ``phone`` (masked), ``status_url``.
    """
    receipt = Receipt()
    receipt.title(_("Rider rest station"))
    receipt.text(context.get("kind_label", ""), size=2, bold=True, align="center")
    receipt.separator()
    receipt.kv(_("Slot"), str(context["slot"]), bold=True, size=2)
    receipt.kv(_("From"), context.get("since", ""))
    receipt.kv(_("Please collect by"), context.get("until", ""), bold=True)
    receipt.kv(_("Phone"), mask_phone(context.get("phone", "")))
    receipt.separator()
    receipt.qr(context["status_url"], module=6)
    receipt.text(_("Scan to see your slot and the waiting list on your phone."), align="center")
    receipt.footer(context.get("station", ""))
    return receipt


LAYOUTS = {PASS_LAYOUT: build_pass, SLOT_LAYOUT: build_slot}
