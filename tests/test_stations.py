"""Many stations in one database: each kiosk sees only its own station's data."""

from kiosk.events import emit
from kiosk.testing import EventStream, LiveServer


def _station(code, name, kind="party_service"):
    return {"STATION": {"code": code, "name": name, "kind": kind}}


def test_two_stations_share_a_database_but_not_their_data(make_app, database_url):
    shuibei = make_app(database_url, **_station("shuibei", "水贝社区党群服务中心"))
    sungang = make_app(database_url, **_station("sungang-bee", "笋岗暖蜂驿站", "courier_station"))
    assert shuibei.extensions["kiosk_station_id"] != sungang.extensions["kiosk_station_id"]
    assert "笋岗暖蜂驿站" in sungang.test_client().get("/").get_data(as_text=True)
    assert "笋岗暖蜂驿站" not in shuibei.test_client().get("/").get_data(as_text=True)

    from kiosk import printing
    from kiosk_hardware.receipt import Receipt

    with shuibei.test_request_context("/"):
        job = printing.submit(Receipt().title("水贝"), "test")
    assert shuibei.test_client().get(f"/print-jobs/{job['job_id']}").status_code == 200
    assert sungang.test_client().get(f"/print-jobs/{job['job_id']}").status_code == 404

    with LiveServer(sungang) as server, EventStream(server.url, "/events/stream?channel=legal") as display:
        with shuibei.test_request_context("/"):
            emit("legal.ticket_called", {"ticket": "A001"}, channel="legal")
        # Streams deliver in id order: once this station's own later call has
        # arrived, the other station's earlier one can no longer come.
        with sungang.test_request_context("/"):
            emit("legal.ticket_called", {"ticket": "S001"}, channel="legal")
        assert display.wait_for("legal.ticket_called", timeout=10, where=lambda d: d["ticket"] == "S001")
        got = [data["ticket"] for _name, data in display.collect(2, timeout=0) if data["ticket"] != "S001"]
    assert got == []  # another station's call never reaches this display


def test_a_hub_request_is_pointed_at_its_station_once(make_app, database_url):
    from kiosk.models import Station

    app = make_app(database_url, ROLE="hub", **_station("district", "罗湖区服务平台"))
    with app.app_context():
        session = app.extensions["db"].Session()
        session.add(
            Station(
                code="huangbei",
                name="黄贝街道党群服务中心",
                kind="party_service",
                timezone="Asia/Shanghai",
                disabled_plugins=[],
            )
        )
        session.commit()
        session.close()
    phone = app.test_client()
    assert phone.get("/healthz?station=huangbei").get_json()["station"] == "huangbei"
    assert phone.get("/healthz").get_json()["station"] == "huangbei"  # remembered
    other = app.test_client()
    assert other.get("/healthz?station=no-such-station").get_json()["station"] == "district"
