"""One helper builds every link a phone opens (issue 15 point 5).

On a station enrolled at a district hub every QR code opens the hub's public
address with ``?station=<code>``; on a standalone station its own
``public_url`` (or the request's host); on the hub its own ``public_url`` with
``?station=``. ``kiosk doctor`` fails a station whose codes would open a
loopback, private or link-local address (a demo only warns).
"""

from __future__ import annotations

import json
import urllib.request

from sqlalchemy import event

from kiosk import sync
from kiosk.cli import cli
from kiosk.db import session_for, utcnow
from kiosk.models import Station
from kiosk.sync.local import enrol_local
from kiosk.testing import LiveServer
from kiosk.urls import has_public_url, public_url

HUB = "https://district.example.gov.cn"
OWN = "https://shuibei.example.gov.cn"


def _enrolled(app, hub_public_url: str, **state) -> None:
    """What `kiosk sync join` leaves in the station's sync state."""
    with app.app_context(), session_for(app, write=True) as session:
        row = sync.state(session, app.extensions["kiosk_station_id"])
        row.hub_url = state.get("hub_url", hub_public_url)
        row.hub_public_url = hub_public_url
        row.enrolled_at = utcnow()
        row.last_ok_at = state.get("last_ok_at")
        row.last_error = state.get("last_error", "")
        session.commit()


def _doctor(app):
    return app.test_cli_runner().invoke(cli, ["doctor"])


def _line(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if f"] {name}:" in line)


def test_a_standalone_station_links_to_its_own_address(make_app, tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'k.db'}", PUBLIC_URL=OWN)
    with app.test_request_context("/k/legal/", base_url="http://127.0.0.1:5000"):
        assert public_url("legal_mobile.status", token="abc") == f"{OWN}/m/legal/t/abc"
        assert has_public_url()
    bare = make_app(f"sqlite:///{tmp_path / 'bare.db'}")
    with bare.test_request_context("/", base_url="http://kiosk.example.gov.cn"):
        assert public_url("legal_mobile.status", token="abc") == "http://kiosk.example.gov.cn/m/legal/t/abc"
        assert not has_public_url()


def test_an_enrolled_station_links_to_the_hub_with_its_code(make_app, tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'k.db'}", PUBLIC_URL=OWN)
    _enrolled(app, HUB + "/")
    with app.test_request_context("/k/legal/", base_url="http://127.0.0.1:5000"):
        assert public_url("legal_mobile.status", token="abc") == f"{HUB}/m/legal/t/abc?station=shuibei"
        assert public_url(path="/m/petitions/s/xyz") == f"{HUB}/m/petitions/s/xyz?station=shuibei"
        assert public_url(path="/m/petitions/s/x?y=1") == f"{HUB}/m/petitions/s/x?y=1&station=shuibei"
        assert has_public_url()
    with app.app_context():  # a job (a webhook, a reminder) builds the same link
        assert public_url("legal_mobile.status", token="abc") == f"{HUB}/m/legal/t/abc?station=shuibei"
    result = _doctor(app)
    assert f"[ok ] public URL: QR codes open {HUB}" in result.output
    assert f"enrolled at the district hub {HUB}" in _line(result.output, "sync")


def test_the_hub_address_is_read_once_per_request(make_app, tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'k.db'}")
    _enrolled(app, HUB)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if "sync_state" in statement:
            statements.append(statement)

    engine = app.extensions["db"].engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        with app.test_request_context("/"):
            links = [public_url("legal_mobile.status", token=f"t{i}") for i in range(20)]
        with app.test_request_context("/"):
            public_url("legal_mobile.status", token="next")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(set(links)) == 20 and all(link.startswith(HUB) for link in links)
    # Once, not once per QR code; the next request takes the process's copy (kiosk.urls.HUB_URL_CACHE_SECONDS).
    assert len(statements) == 1


def test_the_hub_links_to_itself_with_the_station_shown(make_app, database_url):
    hub = make_app(database_url, ROLE="hub", PUBLIC_URL=HUB, STATION={"code": "district", "name": "罗湖区"})
    with hub.app_context(), session_for(hub, write=True) as session:
        session.add(Station(code="sungang", name="笋岗社区党群服务中心", kind="party_service", disabled_plugins=[]))
        session.commit()
        sungang = session.query(Station).filter_by(code="sungang").one()
        session.expunge(sungang)
    with hub.app_context():  # a hub job linking to a station's page
        assert public_url("legal_mobile.status", token="abc", station=sungang) == (
            f"{HUB}/m/legal/t/abc?station=sungang"
        )
    with hub.test_request_context("/m/legal/t/abc?station=sungang", base_url="http://10.0.0.5:8000"):
        # A page the phone opened for a station links on within that station.
        assert public_url("legal_mobile.status", token="def") == f"{HUB}/m/legal/t/def?station=sungang"
    with hub.test_request_context("/staff/", base_url="http://10.0.0.5:8000"):
        assert public_url("legal_mobile.status", token="def") == f"{HUB}/m/legal/t/def"  # the district's own


def test_a_link_from_an_enrolled_station_opens_that_station_at_the_hub(make_app, database_url, tmp_path):
    """Over real HTTP: the link a station prints is opened at the hub, in the station that printed it."""
    station = make_app(f"sqlite:///{tmp_path / 'station.db'}", STATION={"code": "shuibei-001"})
    hub = make_app(database_url, ROLE="hub", STATION={"code": "district", "name": "罗湖区"})
    enrol_local(station, hub)
    with LiveServer(hub) as server:
        _enrolled(station, server.url, hub_url=server.url)
        with station.test_request_context("/k/legal/", base_url="http://127.0.0.1:5000"):
            link = public_url(path="/healthz")
        assert link == f"{server.url}/healthz?station=shuibei-001"
        with urllib.request.urlopen(link, timeout=10) as answer:
            assert json.load(answer)["station"] == "shuibei-001"
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as answer:
            assert json.load(answer)["station"] == "district"  # no code: the hub's own


def test_doctor_fails_codes_no_phone_on_mobile_data_can_open(make_app, tmp_path):
    for address, what in (
        ("http://192.168.1.20:5000", "a private address"),
        ("http://169.254.10.1", "a link-local address"),
        ("http://kiosk-pc.local", "a private address"),
        ("http://localhost:5000", "this machine's own address"),
    ):
        app = make_app(f"sqlite:///{tmp_path / (str(abs(hash(address))) + '.db')}", PUBLIC_URL=address)
        result = _doctor(app)
        line = _line(result.output, "public URL")
        assert line.startswith("[FIX]") and what in line and "public_url under [station]" in line, line
        assert result.exit_code != 0


def test_doctor_fails_when_the_hub_gave_a_private_address(make_app, tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'k.db'}", PUBLIC_URL=OWN)
    _enrolled(app, "http://10.20.0.5", last_error="ConnectionRefusedError")
    result = _doctor(app)
    line = _line(result.output, "public URL")
    assert line.startswith("[FIX]") and "the hub's public address http://10.20.0.5" in line
    assert "hub's station file" in line and result.exit_code != 0
    sync_line = _line(result.output, "sync")
    assert sync_line.startswith("[!  ]") and "last synced never" in sync_line and "ConnectionRefusedError" in sync_line


def test_doctor_names_the_role_and_warns_only_on_a_demo(make_app, tmp_path):
    demo = make_app(f"sqlite:///{tmp_path / 'demo.db'}", DEMO=True)
    result = _doctor(demo)
    assert "[ok ] role: station node for shuibei" in result.output
    assert "[ok ] sync: standalone: not enrolled at a district hub" in result.output
    line = _line(result.output, "public URL")
    assert line.startswith("[!  ]") and "not set" in line and "kiosk sync join" in line
    assert result.exit_code == 0, result.output

    hub = make_app(f"sqlite:///{tmp_path / 'hub.db'}", ROLE="hub", STATION={"code": "district"})
    result = _doctor(hub)
    assert "[ok ] role: district hub (its own station: district" in result.output
    assert "printer" not in result.output  # the hub drives no devices
    assert _line(result.output, "public URL").startswith("[FIX]") and result.exit_code != 0
