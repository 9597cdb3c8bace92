"""扫码反映诉求 / 民意直通车: residents report problems at the kiosk or on their phone.

Requests are tracked received → dispatched → in progress → resolved → closed,
forwarded to the district's event-dispatch system through an outbox, readable
through Open311 GeoReport v2, and rated by the resident ("民有所呼,我有所应").
This module holds the hook implementations only; each job has its own module.
"""

from kiosk import hookimpl
from kiosk_plugins.petitions.retention import register_retention  # noqa: F401  (how long its personal data lives)

KIOSK_API = ">=1,<2"
__version__ = "1.0.0"


@hookimpl
def register_blueprints(register):
    """Kiosk screens, phone pages, staff and admin pages, the Open311 API."""
    from kiosk_plugins.petitions import admin, mobile, open311, staff, views

    register(views.bp, "kiosk")
    register(mobile.bp, "mobile")
    register(staff.bp, "staff")
    register(admin.bp, "admin")
    register(open311.bp, "api")


@hookimpl
def register_tiles(register, station):
    """The home tile."""
    register(
        key="report",
        label={"zh_Hans": "扫码反映诉求", "zh_Hant": "掃碼反映訴求", "en": "Report a problem"},
        endpoint="petitions_kiosk.index",
        icon="petition",
        order=40,
    )


@hookimpl
def register_settings(register):
    """``[plugins.petitions]`` of the station file, checked once at start."""
    from kiosk_plugins.petitions.settings import SCHEMA

    register(SCHEMA)


@hookimpl
def register_receipt_layouts(register):
    """``petitions.receipt``: tracking number and status-page QR code."""
    from kiosk_plugins.petitions import receipts

    register(receipts.LAYOUT, receipts.build)


@hookimpl
def handle_reader_event(event, screen, station):
    """A scanned receipt opens its request's progress."""
    from kiosk_plugins.petitions import views

    return views.reader_action(event, screen, station)


@hookimpl
def register_staff_panels(register, station):
    """Counts, overdue requests and forwarding state on the staff console."""
    from kiosk_plugins.petitions import staff

    register(key="requests", title="Residents' requests", render=staff.render_panel, order=40)


@hookimpl
def register_audit_actions(register):
    """What staff did with requests, places and the dispatch queue, in words for the audit log."""
    for action, words in {
        "updated": ("处理诉求", "處理訴求", "Request handled"),
        "outbox_retry": ("重新发送到事件分拨系统", "重新發送到事件分撥系統", "Sending to the dispatch system retried"),
        "place_saved": ("保存地点", "儲存地點", "Place saved"),
        "place_toggled": ("启用或停用地点", "啟用或停用地點", "Place switched on or off"),
    }.items():
        register(f"petitions.{action}", dict(zip(("zh_Hans", "zh_Hant", "en"), words, strict=True)))


@hookimpl
def request_service(kind, payload, station):
    """``civic_request``: another plugin files a request (e.g. a rider patrol's hazard report)."""
    if kind != "civic_request":
        return None
    from kiosk_plugins.petitions import service

    return service.civic_request(payload, station)


@hookimpl
def register_jobs(register):
    """Forwarding retries to the district's dispatch system.

    The hub forwards every station's requests with its own webhook settings
    (``deliver_district``); a station forwards only what it took while it stood
    alone, with no hub (an enrolled station queues nothing for ``deliver``).
    Contact details, the rest of a closed request's personal data and the
    old intake counts go through the kiosk's retention job (:mod:`.retention`),
    each side for its own copies.
    """
    from kiosk_plugins.petitions import outbox

    register("deliver", outbox.deliver_due, every=5, scope="station")
    register("deliver_district", outbox.deliver_due, every=5, scope="hub")


@hookimpl
def register_sync(register):
    """Requests go up to the hub once taken (``petitions.petition``); their handling comes back (``.status``)."""
    from kiosk_plugins.petitions import syncing

    register("petition", to_hub=syncing.to_hub)
    register("status", to_station=syncing.to_station)


@hookimpl
def health_check(station):
    """Not ok when acknowledged requests have waited for the dispatch system over an hour."""
    from flask import current_app

    from kiosk.db import utcnow
    from kiosk.i18n import gettext
    from kiosk.sync import is_hub
    from kiosk_plugins.petitions import outbox
    from kiosk_plugins.petitions.settings import get_settings

    summary = outbox.pending_summary(current_app, None if is_hub() else station.id)
    pending = summary["pending"]
    if not pending and outbox.handed_to_hub(current_app):
        return {
            "ok": True,
            "detail": "the district hub forwards this station's requests",
            "summary": gettext("The district hub passes this station's requests to the dispatch system."),
        }
    if not get_settings().webhook.configured:
        return {
            "ok": True,
            "detail": f"forwarding off; {pending} request message(s) kept",
            "summary": gettext(
                "Requests are not passed to the dispatch system (no address set); %(n)s message(s) kept here.",
                n=pending,
            ),
        }
    if get_settings().webhook.problem:
        # An address without a secret: nothing is sent unsigned, so everything waits.
        return {
            "ok": False,
            "detail": f"{get_settings().webhook.problem}; {pending} message(s) waiting",
            "summary": gettext(
                "The dispatch system's address is set but its signing secret is not: %(n)s message(s) waiting.",
                n=pending,
            ),
        }
    stale = summary["oldest"] is not None and (utcnow() - summary["oldest"]).total_seconds() > 3600
    words = (
        gettext("%(n)s message(s) waiting for the dispatch system, the oldest for over an hour.", n=pending)
        if stale
        else gettext("%(n)s message(s) waiting for the dispatch system.", n=pending)
    )
    return {"ok": not stale, "detail": f"{pending} message(s) waiting for the dispatch system", "summary": words}


@hookimpl
def register_demo_data(station, session):
    """The demo station's places and requests from the source documents."""
    from kiosk_plugins.petitions import demo

    demo.register(station, session)


@hookimpl
def district_figures(station, day):
    """Open requests and overdue ones (an alert when any is overdue)."""
    from kiosk_plugins.petitions import district

    return district.figures(station, day)


@hookimpl
def api_description():
    """Open311 GeoReport v2: discovery, services, filing and reading requests."""
    from kiosk_plugins.petitions import openapi

    return openapi.describe()
