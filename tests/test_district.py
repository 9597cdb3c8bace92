"""The district dashboard and the device reports it reads, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from kiosk.db import utcnow
from kiosk.models import DeviceReport, Station

SHENZHEN = ZoneInfo("Asia/Shanghai")


def _session(app):
    return app.extensions["db"].Session()


def _reports(app):
    session = _session(app)
    try:
        return {r.device: (r.kind, r.state, r.updated_at) for r in session.scalars(select(DeviceReport))}
    finally:
        session.close()


# -- device reports -------------------------------------------------------------
def test_a_kiosk_with_devices_reports_them_at_start_and_on_its_job(make_app, database_url):
    from kiosk import device_reports, jobs

    app = make_app(database_url, START_DEVICES=True)
    first = _reports(app)
    assert set(first) == {"printer"} and first["printer"][0] == "printer"
    names = [j["name"] for j in app.extensions["kiosk_jobs"]]
    assert "kiosk.device_report.shuibei" in names
    job = next(j for j in app.extensions["kiosk_jobs"] if j["name"] == "kiosk.device_report.shuibei")
    assert job["every"] == device_reports.REPORT_SECONDS == 30

    ran = jobs.run_due(app)
    assert "kiosk.device_report.shuibei" in ran
    again = _reports(app)
    assert set(again) == {"printer"}  # upserted: still one row per device
    assert again["printer"][2] >= first["printer"][2]
    # Not due again until 30 s have passed; due after.
    assert "kiosk.device_report.shuibei" not in jobs.run_due(app)
    assert "kiosk.device_report.shuibei" in jobs.run_due(app, now=utcnow() + timedelta(seconds=31))


def test_a_process_without_devices_reports_nothing(make_app, database_url):
    from kiosk import jobs

    app = make_app(database_url)  # START_DEVICES false, as on a fleet server with several workers
    assert not any(j["name"].startswith("kiosk.device_report") for j in app.extensions["kiosk_jobs"])
    jobs.run_due(app)
    assert _reports(app) == {}


def test_report_overwrites_the_state_of_the_same_device(make_app, database_url):
    from kiosk import device_reports

    app = make_app(database_url)
    devices = app.extensions["kiosk_devices"]
    states = iter(
        [
            {"card": {"kind": "pcsc", "state": "fault", "detail": "reader unplugged"}},
            {"card": {"kind": "pcsc", "state": "ok", "detail": ""}},
        ]
    )
    devices.statuses = lambda: next(states)  # the reader itself is a USB device this machine lacks
    assert device_reports.report(app) == 1
    assert _reports(app)["card"][1] == "fault"
    device_reports.report(app)
    assert _reports(app)["card"][1] == "ok"
    session = _session(app)
    try:
        assert len(session.scalars(select(DeviceReport)).all()) == 1
    finally:
        session.close()


# -- the dashboard -------------------------------------------------------------
def _login(app, role):
    from kiosk.testing import Auth

    auth = Auth(app, app.test_client())
    auth.login(role)
    return auth.client


@pytest.mark.parametrize("role, status", [("staff", 403), ("admin", 403), ("district", 200)])
def test_only_the_district_role_opens_the_dashboard(app, role, status):
    client = _login(app, role)
    assert client.get("/admin/district/").status_code == status
    assert client.get("/admin/district/summary.json", headers={"Accept": "application/json"}).status_code == status
    bar = client.get("/staff/").get_data(as_text=True)
    assert ('href="/admin/district/"' in bar) is (role == "district")


def test_dashboard_needs_a_login(client):
    assert client.get("/admin/district/").status_code == 302
    assert client.get("/admin/district/summary.json", headers={"Accept": "application/json"}).status_code == 401


def _fill(app, now):
    """Two stations with known figures on Shenzhen's "today" and some noise around it."""
    from kiosk_plugins.courier_rest.models import Rider, Visit
    from kiosk_plugins.legal.models import Ticket

    session = _session(app)
    shuibei = session.get(Station, app.extensions["kiosk_station_id"])
    sungang = Station(
        code="sungang-bee", name="笋岗暖蜂驿站", kind="courier_station", timezone="Asia/Shanghai", disabled_plugins=[]
    )
    session.add(sungang)
    session.flush()
    today = now.astimezone(SHENZHEN).date()
    for n, (status, day) in enumerate(
        [
            ("served", today),
            ("served", today),
            ("waiting", today),
            ("called", today),
            ("served", today - timedelta(days=1)),
        ],
        1,
    ):
        session.add(
            Ticket(
                station_id=shuibei.id,
                day=day,
                numbered_service="consultation",
                number=n,
                code=f"A{n:03d}",
                service="consultation",
                status=status,
                token=f"tok{n}",
                queue_at=now,
                issued_at=now,
            )
        )
    rider = Rider(
        station_id=sungang.id,
        name="李师傅",
        phone="13800000001",
        platform="美团",
        vehicle="e-bike",
        pass_token="pass-1",
    )
    session.add(rider)
    session.flush()
    local_midnight = datetime.combine(today, datetime.min.time(), tzinfo=SHENZHEN).astimezone(UTC)
    for at, out in [
        (local_midnight + timedelta(minutes=5), None),  # today, still in
        (local_midnight + timedelta(minutes=1), local_midnight + timedelta(minutes=30)),
        (local_midnight - timedelta(minutes=5), local_midnight),
    ]:  # yesterday (Shenzhen time)
        session.add(
            Visit(station_id=sungang.id, rider_id=rider.id, checked_in_at=at, checked_out_at=out, method_in="phone")
        )
    session.add(
        DeviceReport(
            station_id=sungang.id, device="card", kind="pcsc", state="fault", detail="reader unplugged", updated_at=now
        )
    )
    session.add(
        DeviceReport(
            station_id=shuibei.id,
            device="printer",
            kind="printer",
            state="ok",
            detail="",
            updated_at=now - timedelta(minutes=10),
        )
    )
    session.commit()
    session.close()


def test_dashboard_shows_each_station_figures_and_devices(app, auth):
    now = utcnow()
    _fill(app, now)
    auth.login("district")
    body = auth.client.get("/admin/district/summary.json").get_json()
    stations = {s["code"]: s for s in body["stations"]}
    assert set(stations) == {"shuibei", "sungang-bee"}
    shuibei = {f["key"]: f["value"] for f in stations["shuibei"]["figures"]}
    assert (shuibei["legal.tickets_issued"], shuibei["legal.tickets_served"], shuibei["legal.tickets_waiting"]) == (
        4,
        2,
        1,
    )
    sungang = {f["key"]: f["value"] for f in stations["sungang-bee"]["figures"]}
    assert (sungang["courier_rest.checkins"], sungang["courier_rest.riders_in"]) == (2, 1)
    assert sungang["courier_rest.overstays"] == 0
    assert shuibei["parking.vouchers_issued"] == 0 and shuibei["petitions.overdue"] == 0
    assert stations["shuibei"]["day"] == now.astimezone(SHENZHEN).date().isoformat()

    # A fault reported a moment ago, and a printer that went silent ten minutes ago.
    (fault,) = stations["sungang-bee"]["faults"]
    assert (fault["device"], fault["fault"], fault["stale"]) == ("card", True, False)
    (silent,) = stations["shuibei"]["faults"]
    assert (silent["device"], silent["fault"], silent["stale"]) == ("printer", False, True)
    assert stations["sungang-bee"]["alert"] and stations["shuibei"]["alert"]

    page = auth.client.get("/admin/district/").get_data(as_text=True)
    assert "区级总览" in page and "笋岗暖蜂驿站" in page and "水贝社区党群服务中心" in page
    assert 'data-figure="legal.tickets_issued"' in page and "今日取号" in page
    assert "reader unplugged" in page and "data-stale" in page


def test_dashboard_respects_a_station_that_switched_a_plugin_off(app, auth):
    session = _session(app)
    station = session.get(Station, app.extensions["kiosk_station_id"])
    station.disabled_plugins = ["parking"]
    session.commit()
    session.close()
    auth.login("district")
    (station,) = auth.client.get("/admin/district/summary.json").get_json()["stations"]
    plugins = {f["plugin"] for f in station["figures"]}
    assert "parking" not in plugins and {"legal", "petitions"} <= plugins
