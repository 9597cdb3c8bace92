"""Shared parking (共享停车): per-use vouchers for residents' cars at partner car parks.

Hook implementations only; the work is in the modules named after it.
"""

from __future__ import annotations

from kiosk import hookimpl
from kiosk_plugins.parking.retention import register_retention  # noqa: F401  (how long its personal data lives)

KIOSK_API = ">=1,<2"
__version__ = "1.0.0"


@hookimpl
def register_blueprints(register):
    """Kiosk screens, the attendant and whitelist pages, and the lots admin."""
    from kiosk_plugins.parking import admin, staff, views

    register(views.bp, "kiosk")
    register(staff.bp, "staff")
    register(admin.bp, "admin")


@hookimpl
def register_tiles(register, station):
    """The home tile."""
    register(
        key="parking",
        label={"zh_Hans": "共享停车", "zh_Hant": "共享停車", "en": "Shared parking"},
        endpoint="parking_kiosk.index",
        icon="parking",
        order=30,
    )


@hookimpl
def register_settings(register):
    """``[plugins.parking]`` of the station file, checked once at start."""
    from kiosk_plugins.parking.settings import SCHEMA

    register(SCHEMA)


@hookimpl
def register_receipt_layouts(register):
    """The printed voucher."""
    from kiosk_plugins.parking.receipts import LAYOUT, build_voucher

    register(LAYOUT, build_voucher)


@hookimpl
def handle_reader_event(event, screen, station):
    """A resident card tapped on the identify screen signs the household in."""
    if screen != "parking.identify" or event.kind != "card":
        return None
    from kiosk.db import get_session
    from kiosk_plugins.parking.households import by_card
    from kiosk_plugins.parking.identify import card_token

    household = by_card(get_session(), station.id, event.value)
    return {"fill": {"card_token": card_token(household.id if household else None)}, "submit": "#parking-card-form"}


@hookimpl
def register_staff_panels(register, station):
    """Today's vouchers and the way to the attendant page."""
    from kiosk_plugins.parking.panel import render_panel

    register(
        key="parking",
        title={"zh_Hans": "共享停车", "zh_Hant": "共享停車", "en": "Shared parking"},
        render=render_panel,
        order=30,
    )


@hookimpl
def register_home_status(register, station):
    """Spaces left to book today at the partner car parks, for residents on the home screen."""
    from kiosk_plugins.parking.home_status import register_status

    register_status(register, station)


@hookimpl
def register_audit_actions(register):
    """What staff and attendants did with lots, households and vouchers, in words for the audit log."""
    for action, words in {
        "voucher_checked": ("核验停车券", "核驗停車券", "Voucher checked"),
        "lot_added": ("添加停车场", "新增停車場", "Car park added"),
        "lot_changed": ("修改停车场", "修改停車場", "Car park changed"),
        "window_added": ("添加停车时段", "新增停車時段", "Parking window added"),
        "window_switched": ("启用或停用停车时段", "啟用或停用停車時段", "Parking window switched on or off"),
        "settlement_exported": ("导出月度结算", "匯出月度結算", "Monthly settlement exported"),
        "households_imported": ("导入住户名单", "匯入住戶名單", "Household list imported"),
        "household_switched": ("启用或停用住户", "啟用或停用住戶", "Household switched on or off"),
    }.items():
        register(f"parking.{action}", dict(zip(("zh_Hans", "zh_Hant", "en"), words, strict=True)))


@hookimpl
def register_jobs(register):
    """Mark unused vouchers past their time as expired (their spaces are already free).

    Each station expires its own vouchers (and tells the hub); settlement is
    read at the hub from what the stations synced, so it needs no job.
    """
    from kiosk_plugins.parking.vouchers import announce_legacy, expire_due

    register("expire_vouchers", expire_due, every=300, scope="station")
    register("announce_legacy_vouchers", announce_legacy, every=3600, scope="station")


@hookimpl
def register_sync(register):
    """Lots and vouchers go up to the hub; redemptions made at the hub's attendant page come back."""
    from kiosk_plugins.parking import syncing

    syncing.register(register)


@hookimpl
def health_check(station):
    """Say whether any partner car park is open for booking."""
    from kiosk_plugins.parking.panel import health

    return health(station)


@hookimpl
def register_demo_data(station, session):
    """Shuibei's shared-parking lots and a few registered households."""
    from kiosk_plugins.parking.demo import load

    load(station, session)


@hookimpl
def district_figures(station, day):
    """Today's parking vouchers issued and used."""
    from kiosk_plugins.parking import district

    return district.figures(station, day)
