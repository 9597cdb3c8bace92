"""The hub's district dashboard: every enrolled station's synced figures and device reports, stale stations flagged."""

from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import select

from kiosk import clock, device_reports, district
from kiosk.db import session_for, utcnow
from kiosk.models import Station
from kiosk.sync import pusher
from kiosk.sync.core import record_figures
from kiosk.sync.models import SyncPeer
from kiosk.testing import Auth
from tests.test_sync_transport import enrol_token, hub, join, live  # noqa: F401  (fixtures)

_accounts = itertools.count(1)


def _station_with_devices(make_app, kiosk_database_template, tmp_path):
    import shutil

    path = tmp_path / "station.db"
    shutil.copy(kiosk_database_template, path)
    return make_app("sqlite:///" + str(path), START_DEVICES=True)


def _summary(hub):
    client = hub.test_client()
    Auth(hub, client).login("district", username=f"district{next(_accounts)}")
    response = client.get("/admin/district/summary.json")
    assert response.status_code == 200
    page = client.get("/admin/district/")
    assert page.status_code == 200
    return {s["code"]: s for s in response.get_json()["stations"]}, page.get_data(as_text=True)


def test_figures_and_device_reports_reach_the_hub_dashboard(make_app, kiosk_database_template, tmp_path, hub, live):  # noqa: F811
    station = _station_with_devices(make_app, kiosk_database_template, tmp_path)
    assert join(station, live, enrol_token(hub)).exit_code == 0

    # The station's scheduled job and its device report, as the scheduler runs them.
    job = next(j for j in station.extensions["kiosk_jobs"] if j["name"] == "kiosk.figures")
    assert job["scope"] == "station" and job["every"] == 300 and job["func"] is record_figures
    with station.app_context():
        assert record_figures(station) is True
        assert record_figures(station) is False  # unchanged: nothing more to send
    assert device_reports.report(station) == 1
    pusher.sync_once(station)

    with station.test_request_context("/"), session_for(station) as session:
        here = session.get(Station, station.extensions["kiosk_station_id"])
        local = district.station_figures(here, clock.today(here))
    stations, page = _summary(hub)
    assert set(stations) == {"district", "shuibei"}
    card = stations["shuibei"]
    assert [(f["key"], f["value"], f["label"]) for f in card["figures"]] == [
        (f["key"], f["value"], f["label"]) for f in local
    ]  # the same figures, labels translated at the hub as at the station
    assert card["figures"], "the built-in plugins give figures"
    assert [d["device"] for d in card["devices"]] == ["printer"] and card["devices"][0]["stale"] is False
    assert card["last_sync_at"] and card["stale"] is False
    assert 'data-station="shuibei"' in page and "data-last-sync" in page and "data-sync-stale" not in page


def test_a_station_silent_too_long_is_flagged(hub, live, make_app, kiosk_database_template, tmp_path):  # noqa: F811
    station = _station_with_devices(make_app, kiosk_database_template, tmp_path)
    assert join(station, live, enrol_token(hub)).exit_code == 0
    pusher.sync_once(station)
    with session_for(hub, write=True) as session:
        peer = session.scalar(select(SyncPeer))
        peer.last_sync_at = utcnow() - timedelta(minutes=20)
        session.commit()
    stations, page = _summary(hub)
    assert stations["shuibei"]["stale"] is True and stations["shuibei"]["alert"] is True
    assert "data-sync-stale" in page
    assert stations["district"]["stale"] is False  # the hub's own station is counted live

    hub.config["HUB"]["stale_after_minutes"] = 30
    stations, _page = _summary(hub)
    assert stations["shuibei"]["stale"] is False


def test_a_station_enrolled_but_never_synced_is_flagged(hub, live):  # noqa: F811
    enrol_token(hub)  # the token was never exchanged: not on the dashboard yet
    stations, _page = _summary(hub)
    assert set(stations) == {"district"}
    with session_for(hub, write=True) as session:
        session.scalar(select(SyncPeer)).enrolled_at = utcnow()
        session.commit()
    stations, page = _summary(hub)
    assert stations["shuibei"]["stale"] is True and "data-sync-stale" in page
