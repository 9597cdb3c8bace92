"""A station node and the district hub: one package, two roles (issue 15 points 1 and 2).

The hub serves phones (``/m``), the API, staff and admin pages, ``/sync`` and
``/healthz``; it never shows a kiosk screen (``/k/...`` and the home screen
answer 404) and never opens a printer or reader. A request at the hub belongs
to a staff account's own station, else to the station named by ``?station=``
(kept in the session), else to the hub's own (the district). Fleet mode, one
server pretending to be many stations, is gone: its setting is refused with
what replaces it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from flask import url_for

from kiosk.auth import create_user
from kiosk.config import ConfigError
from kiosk.db import session_for
from kiosk.models import Station
from kiosk.testing import TEST_PASSWORD, TEST_SECRET_KEY, csrf_of

DISTRICT = {"code": "district", "name": "罗湖区党群服务中心"}


def _hub(make_app, url, **extra):
    return make_app(url, ROLE="hub", STATION=dict(DISTRICT), **extra)


def _add_station(app, code: str, name: str, kind: str = "party_service") -> int:
    with app.app_context(), session_for(app, write=True) as session:
        station = Station(code=code, name=name, kind=kind, timezone="Asia/Shanghai", disabled_plugins=[])
        session.add(station)
        session.commit()
        return station.id


def _login(app, client, username: str, role: str, station_id: int) -> None:
    with app.app_context(), session_for(app, write=True) as session:
        create_user(session, username, TEST_PASSWORD, role=role, station_id=station_id)
        session.commit()
    client.get("/staff/login")
    answer = client.post(
        "/staff/login", data={"username": username, "password": TEST_PASSWORD, "csrf_token": csrf_of(client)}
    )
    assert answer.status_code in (200, 302), answer.get_data(as_text=True)[:300]


def test_the_hub_shows_no_kiosk_screens_but_serves_phones_staff_and_health(make_app, database_url):
    hub = _hub(make_app, database_url)
    client = hub.test_client()
    for path in ("/", "/k/legal/", "/k/petitions/", "/k/courier_rest/"):
        answer = client.get(path)
        body = answer.get_data(as_text=True)
        assert answer.status_code == 404, path
        assert 'role="alert"' in body and "<h1>" in body  # the friendly page, in the station's language
        # No home button nor idle reset: both would lead to the kiosk home screen the hub does not have.
        assert 'href="/"' not in body and "data-reset" not in body
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json()["devices"] == {}  # devices belong to stations
    assert client.get("/staff/login").status_code == 200
    assert client.get("/admin/").status_code in (302, 401)  # the login first, not a 404
    assert client.get("/api/openapi.json").status_code == 200
    with hub.test_request_context("/"):
        form = url_for("petitions_mobile.form")
    assert form.startswith("/m/") and client.get(form).status_code == 200  # the phone form lives at the hub


def test_a_station_node_shows_its_kiosk_screens_and_ignores_station_in_the_query(make_app, database_url):
    station = make_app(database_url)
    _add_station(station, "sungang", "笋岗社区党群服务中心")
    client = station.test_client()
    assert client.get("/").status_code == 200 and client.get("/k/legal/").status_code == 200
    # A station node serves its own station only: ?station= names nothing here.
    assert client.get("/healthz?station=sungang").get_json()["station"] == "shuibei"


def test_the_hub_opens_no_devices_and_runs_no_print_queue(make_app, database_url):
    import threading

    from kiosk import printing
    from kiosk_hardware.receipt import Receipt

    def status_threads() -> set:
        return {t for t in threading.enumerate() if t.name == "kiosk-printer-status" and t.is_alive()}

    # Another test's station in this process may still be polling its printer: only the hub's would be new.
    before = status_threads()
    hub = _hub(make_app, database_url, START_DEVICES=True)
    assert hub.config["START_DEVICES"] is False  # forced off whatever asked for it
    assert not any(j["name"].startswith("kiosk.device_report") for j in hub.extensions["kiosk_jobs"])
    with hub.test_request_context("/"):
        printing.submit(Receipt().title("区级"), "test")
    assert hub.extensions["kiosk_printing"]._started is False
    assert not status_threads() - before


def test_doctor_on_a_hub_without_trusted_proxies_warns_that_phones_share_nginxs_address(make_app, database_url):
    from kiosk.doctor import run_checks

    hub = _hub(make_app, database_url)
    with hub.app_context():
        warned = [c for c in run_checks(hub) if c["name"] == "reverse proxy"]
    assert len(warned) == 1 and warned[0]["warning"] and "trusted_proxy_hops" in warned[0]["detail"]
    behind_nginx = _hub(make_app, database_url, SECURITY={"trusted_proxy_hops": 1})
    with behind_nginx.app_context():
        assert not [c for c in run_checks(behind_nginx) if c["name"] == "reverse proxy"]


def test_a_phone_at_the_hub_stays_in_the_station_its_code_named(make_app, database_url):
    hub = _hub(make_app, database_url)
    _add_station(hub, "huangbei", "黄贝街道党群服务中心")
    phone = hub.test_client()
    assert phone.get("/healthz?station=huangbei").get_json()["station"] == "huangbei"
    assert phone.get("/healthz").get_json()["station"] == "huangbei"  # kept in the session
    phone.post("/reset", data={"csrf_token": csrf_of(phone)})
    assert phone.get("/healthz").get_json()["station"] == "huangbei"  # a reset keeps it too
    for bad in ("no-such-station", "x\x00y", "a" * 500):
        other = hub.test_client()
        answer = other.get("/healthz", query_string={"station": bad})
        assert answer.status_code == 200 and answer.get_json()["station"] == "district"


def test_staff_at_the_hub_see_their_own_station_and_district_staff_may_switch(make_app, database_url):
    hub = _hub(make_app, database_url)
    huangbei = _add_station(hub, "huangbei", "黄贝街道党群服务中心")
    _add_station(hub, "sungang", "笋岗社区党群服务中心")
    staff = hub.test_client()
    _login(hub, staff, "lawyer-desk", "staff", huangbei)
    # ?station= cannot take a station's staff into another station's records.
    assert staff.get("/healthz?station=sungang").get_json()["station"] == "huangbei"

    district = hub.test_client()
    _login(hub, district, "district1", "district", hub.extensions["kiosk_station_id"])
    assert district.get("/healthz").get_json()["station"] == "district"
    assert district.get("/healthz?station=sungang").get_json()["station"] == "sungang"


def test_fleet_mode_is_refused_with_what_replaces_it(make_app, tmp_path, caplog):
    from kiosk.app import create_app
    from kiosk.testing import app_config

    with pytest.raises(ConfigError, match='role = "hub"') as refused:
        create_app(app_config(str(tmp_path / "refused"), f"sqlite:///{tmp_path / 'a.db'}", FLEET=True))
    assert "fleet mode" in str(refused.value) and "station node" in str(refused.value)
    app = make_app(f"sqlite:///{tmp_path / 'b.db'}", FLEET=False)  # a leftover "fleet = false" is harmless
    assert "FLEET" not in app.config
    assert "no longer read" in caplog.text


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"ROLE": "district"}, "role must be one of station, hub"),
        ({"HUB": {"stale_after_minutes": 0}}, "hub.stale_after_minutes must be a whole number"),
        ({"HUB": {"stale_after_minutes": "soon"}}, "hub.stale_after_minutes must be a whole number"),
        ({"HUB": {"stale_after_minutes": True}}, "hub.stale_after_minutes must be a whole number"),
        ({"HUB": "15"}, r"\[hub\] must be a table"),
        ({"STATION": {"tag": "S"}}, "station.tag must be 2 to 6 letters"),
        ({"STATION": {"tag": "SB-01"}}, "station.tag must be 2 to 6 letters"),
    ],
)
def test_bad_role_and_hub_settings_are_refused_saying_what_to_write(make_app, tmp_path, config, message):
    with pytest.raises(ConfigError, match=message):
        make_app(f"sqlite:///{tmp_path / 'k.db'}", **config)


def test_hub_settings_have_defaults_and_come_from_the_station_file(make_app, tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'a.db'}")
    assert app.config["ROLE"] == "station" and app.config["HUB"]["stale_after_minutes"] == 15
    station_file = tmp_path / "hub.toml"
    station_file.write_text(
        'role = "hub"\n[station]\ncode = "district"\nname = "罗湖区"\ntag = "lh"\n[hub]\nstale_after_minutes = 30\n',
        encoding="utf-8",
    )
    hub = make_app(f"sqlite:///{tmp_path / 'b.db'}", STATION_FILE=str(station_file), STATION={})
    assert hub.config["ROLE"] == "hub" and hub.config["HUB"]["stale_after_minutes"] == 30
    assert hub.config["STATION"]["tag"] == "LH"


# -- a real `kiosk serve` in the hub role ----------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_kiosk_serve_as_a_hub(tmp_path):
    """KIOSK_ROLE=hub on a real server process: kiosk screens 404, health and staff pages answer."""
    port = _free_port()
    env = dict(
        os.environ,
        KIOSK_ROLE="hub",
        KIOSK_SECRET_KEY=TEST_SECRET_KEY,
        KIOSK_INSTANCE_PATH=str(tmp_path),
        KIOSK_DATABASE_URL=f"sqlite:///{tmp_path / 'hub.db'}",
        KIOSK_STATION_FILE=str(tmp_path / "none.toml"),
        KIOSK_IME_PRELOAD="false",
        KIOSK_STATION__code="district",
        KIOSK_STATION__name="罗湖区党群服务中心",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            try:
                if _status(base + "/healthz") in (200, 503):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the hub did not answer in 60 s"
            time.sleep(0.2)
        assert _status(base + "/healthz") == 200
        assert _status(base + "/") == 404
        assert _status(base + "/k/legal/") == 404
        assert _status(base + "/staff/login") == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
