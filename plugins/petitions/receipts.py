"""The ``petitions.receipt`` layout: tracking number and the QR code of the status page.

The builder runs in the print queue's worker, outside any request, so the
context carries every word already in the resident's language. Contact
details are never printed: the receipt may be left on the counter.
"""

from __future__ import annotations

import logging

from kiosk.i18n import gettext
from kiosk_hardware.receipt import Receipt

log = logging.getLogger("kiosk_plugins.petitions.receipts")

LAYOUT = "petitions.receipt"

#: Words used when a context lacks them (a reprint from an old job, a test).
DEFAULT_LABELS = {
    "title": "扫码反映诉求",
    "tracking_no": "受理编号",
    "type": "诉求类型",
    "category": "问题类别",
    "place": "地点",
    "time": "提交时间",
    "hint": "扫描二维码查看办理进度和结果",
    "slogan": "民有所呼,我有所应",
}


def build(context: dict) -> Receipt:
    """Build the receipt from ``tracking_no``, ``status_url`` and the localized words in ``context``."""
    labels = {**DEFAULT_LABELS, **(context.get("labels") or {})}
    receipt = Receipt().title(labels["title"])
    receipt.text(labels["slogan"], align="center")
    receipt.separator()
    receipt.text(labels["tracking_no"], align="center")
    receipt.text(str(context["tracking_no"]), size=2, bold=True, align="center")
    receipt.separator()
    for key in ("type", "category", "place", "time"):
        value = str(context.get(key) or "")
        if value:
            receipt.kv(labels[key], value)
    receipt.separator()
    receipt.text(labels["hint"], align="center")
    receipt.qr(str(context["status_url"]), level="M")
    receipt.text(str(context["tracking_no"]), align="center")
    if context.get("station_name"):
        receipt.footer(str(context["station_name"]))
    return receipt


def context_for(summary: dict, status_url: str, station_name: str) -> dict:
    """The print context of a request, with every word in the request's language (call in a request)."""
    return {
        "tracking_no": summary["tracking_no"],
        "status_url": status_url,
        "station_name": station_name,
        "type": summary["type"],
        "category": summary["category"],
        "place": summary["place"],
        "time": summary["created"],
        "labels": {
            "title": gettext("Report a problem"),
            "tracking_no": gettext("Tracking number"),
            "type": gettext("Type"),
            "category": gettext("Category"),
            "place": gettext("Place"),
            "time": gettext("Submitted"),
            "hint": gettext("Scan the QR code to follow the handling and see the result"),
            "slogan": gettext("We answer when residents call"),
        },
    }


def send_to_printer(context: dict) -> dict | None:
    """Queue the receipt; ``{"job_id", "state"}``, or None when this kiosk cannot print.

    Printing never decides whether the request was taken: the tracking number
    is on the screen either way.
    """
    try:
        from kiosk.printing import print_receipt
    except ImportError:
        return None
    try:
        return print_receipt(LAYOUT, context)
    except Exception as exc:  # a missing or broken printer must not lose the resident's request
        log.warning("receipt for a petition could not be queued: %s", type(exc).__name__)
        return None
