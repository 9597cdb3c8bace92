"""The legal consultation queue (法律咨询排队): tickets, counters, a calling display with voice.

Hook implementations only; each job lives in its own module (numbering,
fairness, estimates, calling, booking, voice, receipts, views, staff, stats).
"""

from __future__ import annotations

import re

from kiosk import hookimpl
from kiosk_plugins.legal.retention import register_retention  # noqa: F401  (how long its personal data lives)

KIOSK_API = ">=1,<2"
__version__ = "1.0.0"

BOOKING_SCAN = re.compile(r"^(?:legal-booking:)?(\d{8}|\d{6})$")  # 6: codes of older versions


@hookimpl
def kiosk_startup(app):
    """Keep the settings the core checked at start on the app (``runtime.settings()``)."""
    from kiosk_plugins.legal import runtime

    runtime.init_app(app)


@hookimpl
def register_blueprints(register):
    """Kiosk screens, the calling display, the phone page, staff and admin pages."""
    from kiosk_plugins.legal import booking_screens, display, mobile, staff, stats, views

    register(views.bp, "kiosk")
    register(booking_screens.bp, "kiosk")
    register(display.bp, "kiosk")
    register(mobile.bp, "mobile")
    register(staff.bp, "staff")
    register(stats.bp, "admin")


@hookimpl
def register_tiles(register, station):
    """The home tile, first among the services."""
    from kiosk_plugins.legal.runtime import settings

    if settings().show_tile:
        register(
            key="queue",
            label={"zh_Hans": "法律咨询", "zh_Hant": "法律諮詢", "en": "Legal services"},
            endpoint="legal_kiosk.index",
            icon="legal",
            order=10,
        )


@hookimpl
def register_home_status(register, station):
    """How many wait in each legal queue now, the wait for someone who joins, and its counters."""
    from kiosk.db import get_session
    from kiosk_plugins.legal import estimates
    from kiosk_plugins.legal.runtime import settings

    if not settings().show_tile:
        return
    for order, (key, load) in enumerate(estimates.loads(get_session(), station).items()):
        register(
            key=key,
            label=load.service.label,
            waiting=load.waiting,
            wait_minutes=load.wait_minutes(load.waiting) if load.waiting else 0,
            counters=load.service.counters,
            order=10 + order,
        )


#: What counter staff and residents did, in words for the audit log (zh_Hans, zh_Hant, en).
AUDIT_ACTIONS = {
    "call_next": ("叫号", "叫號", "Next ticket called"),
    "recall": ("重新叫号", "重新叫號", "Ticket called again"),
    "recall_no_show": ("过号重叫", "過號重叫", "Missed ticket called back"),
    "transfer": ("转号", "轉號", "Ticket transferred"),
    "served": ("办结", "辦結", "Served"),
    "no_show": ("过号未到", "過號未到", "No-show"),
    "counter_paused": ("窗口暂停", "窗口暫停", "Counter paused"),
    "counter_resumed": ("窗口恢复", "窗口恢復", "Counter resumed"),
    "counter_taken": ("接管窗口", "接管窗口", "Counter taken"),
    "slot_added": ("添加律师值班时段", "新增律師值班時段", "Duty slot added"),
    "slot_deleted": ("删除律师值班时段", "刪除律師值班時段", "Duty slot deleted"),
    "booked": ("预约", "預約", "Booked"),
    "checked_in": ("预约签到", "預約簽到", "Booking checked in"),
}


@hookimpl
def register_audit_actions(register):
    """What counter staff did with tickets, counters and bookings, in words for the audit log."""
    for action, words in AUDIT_ACTIONS.items():
        register(f"legal.{action}", dict(zip(("zh_Hans", "zh_Hant", "en"), words, strict=True)))


@hookimpl
def register_settings(register):
    """``[plugins.legal]`` of the station file, checked once at start."""
    from kiosk_plugins.legal.settings import SCHEMA

    register(SCHEMA)


@hookimpl
def register_receipt_layouts(register):
    """``legal.ticket`` (the queue ticket) and ``legal.booking`` (the booking slip)."""
    from kiosk_plugins.legal import receipts

    register("legal.ticket", receipts.build_ticket)
    register("legal.booking", receipts.build_booking)


@hookimpl
def register_staff_panels(register, station):
    """Waiting per queue, with a link to the counter page."""
    from kiosk.i18n import N_
    from kiosk_plugins.legal import staff

    register(key="queue", title=N_("Legal services queue"), render=staff.panel, order=10)


@hookimpl
def register_jobs(register):
    """Expire earlier days' unfinished tickets and erase phone numbers whose ticket or slot is over.

    Per station (``scope="station"``): the station runs its queue; the hub
    learns of expired tickets through sync. On the hub (``scope="hub"``) the
    stations' synced tickets go after a year and a month.
    """
    from kiosk_plugins.legal import day_close, hub

    register("close_day", day_close.expire_old_tickets, every=900, scope="station")
    register("prune_hub_tickets", hub.prune, every=86400, scope="hub")


@hookimpl
def register_sync(register):
    """``legal.ticket`` and ``legal.queue``, station to hub: the hub's phone page shows the station's queue."""
    from kiosk_plugins.legal import syncing

    syncing.register(register)


@hookimpl
def register_metrics(register):
    """Tickets issued today and people waiting, per queue, for Prometheus (``GET /metrics``)."""
    from kiosk_plugins.legal import metrics

    metrics.register(register)


@hookimpl
def handle_reader_event(event, screen, station):
    """On the check-in screen, a scanned booking slip fills in the code and submits."""
    if screen != "legal.checkin" or event.kind != "code":
        return None
    match = BOOKING_SCAN.match((event.value or "").strip())
    if match is None:
        return None
    return {"fill": {"code": match.group(1)}, "submit": "#checkin-form"}


@hookimpl
def request_service(kind, payload, station):
    """``queue_ticket``: a ticket for another plugin's user (the courier station's legal aid)."""
    if kind != "queue_ticket":
        return None
    from kiosk_plugins.legal import service_requests

    return service_requests.queue_ticket(payload, station)


@hookimpl
def health_check(station):
    """The calling display needs espeak-ng for its voice; without it calls are still shown."""
    from kiosk.i18n import gettext
    from kiosk_plugins.legal import voice

    if voice.espeak_binary() is None:
        return {
            "ok": True,
            "detail": "espeak-ng is missing (apt-get install espeak-ng): calls are shown but not spoken",
            "summary": gettext("The calling display shows calls but cannot speak them: espeak-ng is not installed."),
        }
    return {"ok": True, "detail": "calling voice ready", "summary": gettext("Calls are shown and spoken.")}


@hookimpl
def register_demo_data(station, session):
    """A week of the lawyers' duty roster and three past days of tickets."""
    from flask import current_app

    from kiosk_plugins.legal import demo

    demo.fill(station, session, current_app.config.get("PLUGINS", {}).get("legal", {}))


@hookimpl
def district_figures(station, day):
    """Today's tickets issued, served and still waiting (an alert when the queue is long)."""
    from kiosk_plugins.legal import district

    return district.figures(station, day)


@hookimpl
def api_description():
    """The calling display's state and a ticket's live status, as JSON."""
    from kiosk_plugins.legal import openapi

    return openapi.describe()
