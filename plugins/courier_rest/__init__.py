"""暖蜂驿站: check-in, seats, charging slots and services for couriers and riders.

Hook implementations only; each job lives in its own module (see the package
listing): ``visits``, ``capacity``, ``waiting``, ``hazards``, ``stats`` …
"""

from __future__ import annotations

from kiosk import hookimpl
from kiosk.i18n import N_

# models is imported for its side effect: its tables join the metadata that
# migrations are checked against.
from kiosk_plugins.courier_rest import (  # noqa: F401  (the view modules add their routes to screen.bp)
    api,
    checkin_views,
    hazard_views,
    mobile,
    models,
    pass_views,
    place_views,
    screen,
    service_views,
    staff,
    staff_services,
    staff_stats,
)
from kiosk_plugins.courier_rest.demo import fill as fill_demo
from kiosk_plugins.courier_rest.health import report as health_report
from kiosk_plugins.courier_rest.jobs import register as register_courier_jobs
from kiosk_plugins.courier_rest.reader import handle as handle_read
from kiosk_plugins.courier_rest.receipts import LAYOUTS
from kiosk_plugins.courier_rest.retention import register_retention  # noqa: F401  (how long its personal data lives)

KIOSK_API = ">=1,<2"
__version__ = "1.0.0"


@hookimpl
def register_blueprints(register):
    """Kiosk screens (/k/courier_rest/), phone pages (/m/), staff pages (/staff/) and the district API (/api/)."""
    register(screen.bp, "kiosk")
    register(hazard_views.bp, "kiosk")
    register(mobile.bp, "mobile")
    register(staff.bp, "staff")
    register(staff_services.bp, "staff")
    register(staff_stats.bp, "staff")
    register(api.bp, "api")


@hookimpl
def register_tiles(register, station):
    """The home tile: 暖蜂驿站, on every station (an admin switches it off where there is none)."""
    register(
        key="checkin",
        label={"zh_Hans": "暖蜂驿站", "zh_Hant": "暖蜂驛站", "en": "Rider rest station"},
        endpoint="courier_rest.index",
        icon="courier",
        order=20,
    )


@hookimpl
def register_settings(register):
    """``[plugins.courier_rest]`` of the station file, checked once at start."""
    from kiosk_plugins.courier_rest.settings import SCHEMA

    register(SCHEMA)


@hookimpl
def register_receipt_layouts(register):
    """``courier_rest.pass`` (the rider's code) and ``courier_rest.slot`` (a charging-slot note)."""
    for name, build in LAYOUTS.items():
        register(name, build)


@hookimpl
def handle_reader_event(event, screen, station):
    """Card taps and rider-code scans check the rider in (see :mod:`.reader`)."""
    return handle_read(event, screen, station)


@hookimpl
def register_staff_panels(register, station):
    """The console panel: riders in, places in use, overstays, waiting, open requests."""
    register(key="station", title=N_("Rider rest station"), render=staff.render_panel, order=20)


@hookimpl
def register_home_status(register, station):
    """Free seats and charging places now, for riders on the home screen (no one named)."""
    from kiosk_plugins.courier_rest.home_status import register_status

    register_status(register, station)


@hookimpl
def register_audit_actions(register):
    """What staff and the station's jobs did, in words for the audit log."""
    for action, words in {
        "staff_checkout": ("为骑手签退", "為騎手簽退", "Rider checked out by staff"),
        "staff_release": ("释放座位或充电位", "釋放座位或充電位", "Seat or charging place freed by staff"),
        "request_done": ("服务请求已办结", "服務請求已辦結", "Service request done"),
        "hazard_done": ("隐患报告已处理", "隱患報告已處理", "Hazard report handled"),
        "service_added": ("添加服务项目", "新增服務項目", "Service added"),
        "service_edited": ("修改服务项目", "修改服務項目", "Service changed"),
        "service_shown": ("显示服务项目", "顯示服務項目", "Service shown"),
        "service_hidden": ("隐藏服务项目", "隱藏服務項目", "Service hidden"),
        "overstay": ("充电位超时占用", "充電位超時佔用", "Charging place overstayed"),
        "auto_closed": ("忘记签退的自动签退", "忘記簽退的自動簽退", "Forgotten check-outs closed"),
    }.items():
        register(f"courier_rest.{action}", dict(zip(("zh_Hans", "zh_Hant", "en"), words, strict=True)))


@hookimpl
def register_jobs(register):
    """Per station: holds, overstays, forgotten check-outs, riders from before the registry; at the hub: hazards."""
    register_courier_jobs(register)


@hookimpl
def register_sync(register):
    """One district-wide rider registry, visits for the hub, and hazard reports filed as hub petitions."""
    from kiosk_plugins.courier_rest import sync

    sync.register(register)


@hookimpl
def health_check(station):
    """Riders in, free places and overstays for /healthz."""
    return health_report(station)


@hookimpl
def register_demo_data(station, session):
    """Riders and two weeks of visits for the demo station."""
    fill_demo(station, session)


@hookimpl
def district_figures(station, day):
    """Today's rider check-ins, riders in now, and charging overstays (an alert while one is still on)."""
    from kiosk_plugins.courier_rest import district

    return district.figures(station, day)


@hookimpl
def api_description():
    """The check-in board, the print button's endpoint and the district's figures, as JSON."""
    from kiosk_plugins.courier_rest import openapi

    return openapi.describe()
