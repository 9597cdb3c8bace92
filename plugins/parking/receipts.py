"""The printed voucher (layout ``parking.voucher``).

The kiosk fills the context in the resident's language, with the plate
already masked: a receipt can be left on the printer or thrown away whole.
"""

from __future__ import annotations

from kiosk.i18n import _
from kiosk_hardware.receipt import Receipt

LAYOUT = "parking.voucher"
#: Context keys the layout reads; all are plain strings, ready to print.
CONTEXT_KEYS = ("lot", "address", "plate", "window", "price", "code", "qr", "valid_until", "station")


def build_voucher(context: dict) -> Receipt:
    """Build the voucher receipt from a context holding every key of :data:`CONTEXT_KEYS`."""
    missing = [k for k in CONTEXT_KEYS if k not in context]
    if missing:
        raise KeyError(f"parking.voucher needs {', '.join(missing)}")
    receipt = Receipt().title(_("Shared parking voucher"))
    receipt.text(context["lot"], size=2, bold=True, align="center")
    if context["address"]:
        receipt.text(context["address"], align="center")
    receipt.separator()
    receipt.kv(_("Plate"), context["plate"], bold=True)
    receipt.kv(_("Parking time"), context["window"])
    # The voucher is used by driving in before this; the parking it pays for lasts the whole window
    # ("有效期至 06:24" beside a window to 08:00 read as the parking ending early).
    receipt.kv(_("Drive in by"), context["valid_until"])
    receipt.kv(_("Price per use"), context["price"])
    receipt.separator()
    receipt.text(_("Voucher code"), align="center")
    # Double size fits a 58 mm roll up to 16 characters; longer district codes print bold at normal size.
    receipt.text(context["code"], size=2 if len(context["code"]) <= 16 else 1, bold=True, align="center")
    receipt.qr(context["qr"], level="M")
    receipt.text(_("Show this voucher to the car park attendant. It is valid once."), align="center")
    receipt.footer(context["station"])
    return receipt
