"""Vouchers on the district: issued at a station that has never synced, redeemed once at the hub.

Two apps in one process: the station on its own SQLite file, the hub on this
run's backend (``ROLE="hub"``), enrolled with ``kiosk.sync.local`` and synced
with ``transfer``, which calls what the HTTP transport calls. The attendant
checks codes on the hub's real staff page through its test client.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, select
from test_parking_support import (
    TZ,
    add_lot,
    add_people,
    at_local,
    get_voucher,
    identify,
    next_occurrence,
    station_of,
    text_of,
    voucher_id_from,
    vouchers,
)

from kiosk import clock, sync
from kiosk.auth import create_user
from kiosk.db import session_for
from kiosk.models import AuditLog, KioskEvent, Station
from kiosk.stations import station_tag
from kiosk.sync.local import enrol_local, transfer
from kiosk.sync.models import SyncOutbox
from kiosk.testing import TEST_PASSWORD, TEST_SECRET_KEY, FixedClock, csrf_of
from kiosk_plugins.parking import codes
from kiosk_plugins.parking.models import ISSUED, HubLot, HubVoucher, Redemption, Voucher
from kiosk_plugins.parking.syncing import valid_until
from kiosk_plugins.parking.vouchers import announce_legacy, cancel_voucher, expire_due

DAY = date(2026, 5, 20)  # a Wednesday


@pytest.fixture
def district(make_app, database_url, tmp_path):
    """A station (SQLite, never synced) enrolled at a hub (this run's backend); both clocks stopped at noon."""
    station = make_app(f"sqlite:///{tmp_path / 'shuibei.db'}")
    hub = make_app(database_url, ROLE="hub", STATION={"code": "district", "name": "罗湖区", "kind": "party_service"})
    clocks = {"station": FixedClock(at_local(DAY, 12)), "hub": FixedClock(at_local(DAY, 12))}
    clock.set_clock(station, clocks["station"])
    clock.set_clock(hub, clocks["hub"])
    hub_id = enrol_local(station, hub)
    yield station, hub, hub_id, clocks
    clock.set_clock(station, None)
    clock.set_clock(hub, None)


def _attendant(app, username, station_id=None):
    """A hub staff account (of ``station_id``, default the hub's own) logged in on a new client."""
    with app.app_context(), session_for(app, write=True) as session:
        own = app.extensions["kiosk_station_id"]
        create_user(session, username, TEST_PASSWORD, role="staff", station_id=station_id or own)
        session.commit()
    client = app.test_client()
    client.get("/staff/login")
    response = client.post(
        "/staff/login", data={"username": username, "password": TEST_PASSWORD, "csrf_token": csrf_of(client)}
    )
    assert response.status_code == 302
    assert client.get("/staff/parking/redeem").status_code == 200  # the page holds the form's CSRF token
    return client


def _check(client, code, lot=None):
    token = csrf_of(client)
    assert token
    data = {"code": code, "csrf_token": token}
    if lot is not None:
        data["lot"] = str(lot)
    return client.post("/staff/parking/redeem", data=data, content_type="multipart/form-data")


def _issue(station, ids, phone, plate):
    kiosk = station.test_client()
    occ = next_occurrence(station, ids["windows"][0], at_local(DAY, 12))
    assert occ.day == DAY
    vid = voucher_id_from(get_voucher(kiosk, phone, plate, occ.window_id, occ.day))
    return next(v for v in vouchers(station) if v.id == vid)


def _hub_rows(hub, model):
    with hub.app_context(), session_for(hub) as session:
        return list(session.scalars(select(model).order_by(model.id)))


def _last_check(hub):
    with hub.app_context(), session_for(hub) as session:
        return session.scalars(
            select(AuditLog).where(AuditLog.action == "parking.voucher_checked").order_by(AuditLog.id.desc())
        ).first()


def _flip(code: str, at: int) -> str:
    """``code`` with the character at ``at`` changed (still a valid base-32 character)."""
    other = "2" if code[at] != "2" else "3"
    return code[:at] + other + code[at + 1 :]


def test_offline_voucher_redeemed_once_at_the_hub_then_synced_both_ways(district, make_app, tmp_path, database_url):
    station, hub, hub_id, clocks = district
    ids = add_lot(station)
    add_people(station)
    voucher = _issue(station, ids, "13800138001", "粤B12345")
    with station.app_context(), session_for(station) as session:
        tag = station_tag(station_of(station, session))
    shown = codes.display_code(voucher.code)
    assert voucher.code.startswith(tag) and 13 <= len(voucher.code) <= 24
    assert codes.split(voucher.code, tag).serial == voucher.id
    assert codes.split(voucher.code, tag).lot_ref == ids["lot"]
    # The station has never transferred: the hub knows nothing of its lots or vouchers.
    assert _hub_rows(hub, HubLot) == [] and _hub_rows(hub, HubVoucher) == []

    clocks["hub"].set(at_local(DAY, 20))
    attendant = _attendant(hub, "gate-district")
    page = attendant.get("/staff/parking/redeem")
    assert page.status_code == 200 and 'data-testid="pk-no-lots"' in page.get_data(as_text=True)
    ok = _check(attendant, shown.lower().replace("0", "o"))
    assert ok.status_code == 200, text_of(ok)
    assert "核验通过" in text_of(ok)
    assert "尚未" in text_of(ok), "the attendant is told the details have not arrived and to check the printed plate"
    [redemption] = _hub_rows(hub, Redemption)
    assert (redemption.station_id, redemption.serial, redemption.lot_ref) == (hub_id, voucher.id, ids["lot"])
    assert redemption.valid_until == valid_until(voucher.expires_at, TZ)

    again = _check(attendant, shown)
    assert again.status_code == 409 and "已于" in text_of(again) and "使用过" in text_of(again)
    # A second hub process on the same database refuses it too: the row is in the database, not in memory.
    second_hub = make_app(database_url, ROLE="hub", STATION={"code": "district", "name": "罗湖区"})
    clock.set_clock(second_hub, clocks["hub"])
    try:
        other_phone = _attendant(second_hub, "gate-district-2")
        assert _check(other_phone, voucher.code).status_code == 409
    finally:
        clock.set_clock(second_hub, None)
    assert len(_hub_rows(hub, Redemption)) == 1

    # Forged: one changed character anywhere (tag, serial, lot, day, signature) is refused.
    for at in (1, len(tag), len(voucher.code) - 10, len(voucher.code) - 9, len(voucher.code) - 1):
        forged = _check(attendant, _flip(voucher.code, at))
        assert forged.status_code == 409, at
        assert "不通过" in text_of(forged) and "核验通过" not in text_of(forged)
    assert _last_check(hub).detail["result"] in ("unknown", "wrong_lot")

    # Another station's key signing a code that names this station: refused as forged.
    other = make_app(f"sqlite:///{tmp_path / 'other.db'}", STATION={"code": "tianbei", "name": "田贝社区"})
    enrol_local(other, hub)
    with other.app_context(), session_for(other, write=True) as session:
        fake = codes.sign_voucher(
            session,
            station_id=other.extensions["kiosk_station_id"],
            tag=tag,
            serial=voucher.id + 1,
            lot_ref=ids["lot"],
            valid_until=DAY + timedelta(days=1),
        )
        session.commit()
    refused = _check(attendant, fake)
    assert refused.status_code == 409
    assert _last_check(hub).detail == {
        "station_id": None,
        "serial": None,
        "lot_ref": None,
        "result": "unknown",
        "forged": True,
        "at_hub": True,
    }
    assert len(_hub_rows(hub, Redemption)) == 1

    # A second voucher issued offline, then cancelled at the station: once the record
    # arrives the hub refuses it. A third is checked two days after its last valid day.
    cancelled = _issue(station, ids, "13900139003", "粤BD12345")
    late = _issue(station, ids, "13800138002", "粤B23456D")
    with station.app_context():
        cancel_voucher(
            station_of_app(station), household_id=cancelled.household_id, voucher_id=cancelled.id, now=at_local(DAY, 13)
        )
    clocks["hub"].set(at_local(DAY + timedelta(days=3), 20))
    expired = _check(attendant, late.code)
    assert expired.status_code == 409 and "有效期至" in text_of(expired)
    clocks["hub"].set(at_local(DAY, 20, 30))

    pushed, pulled = transfer(station, hub)
    assert pushed >= 4 and pulled == 1
    rows = {v.serial: v for v in _hub_rows(hub, HubVoucher)}
    assert rows[voucher.id].status == "used", "the record arrived as issued but the hub had let it in"
    assert rows[voucher.id].used_at == redemption.used_at
    assert rows[voucher.id].plate == "粤B12345" and rows[voucher.id].code == voucher.code
    assert rows[cancelled.id].status == "cancelled" and rows[late.id].status == "issued"
    [lot] = _hub_rows(hub, HubLot)
    assert (lot.station_id, lot.ref, lot.name, lot.tag) == (hub_id, ids["lot"], "水贝万山珠宝产业园停车场", tag)
    # The station learnt of the redemption: the voucher is used there too, at the hub's time.
    at_station = {v.id: v for v in vouchers(station)}
    assert at_station[voucher.id].status == "used"
    assert at_station[voucher.id].used_at == redemption.used_at
    assert at_station[cancelled.id].status == "cancelled"
    with station.app_context(), session_for(station) as session:
        names = list(session.scalars(select(KioskEvent.name).where(KioskEvent.name == "parking.voucher_used")))
    assert names == ["parking.voucher_used"], "the station's panel hears of the car let in at the hub"

    refused_cancelled = _check(attendant, cancelled.code)
    assert (
        refused_cancelled.status_code == 409
        and "已于" in text_of(refused_cancelled)
        and "取消" in text_of(refused_cancelled)
    )
    assert _check(attendant, voucher.code).status_code == 409

    # Nothing is applied twice; the voucher stays used at both ends.
    assert transfer(station, hub) == (0, 0)
    assert len(_hub_rows(hub, Redemption)) == 1
    assert {v.serial: v.status for v in _hub_rows(hub, HubVoucher)}[voucher.id] == "used"

    # The resident's "my vouchers" at the kiosk shows it used.
    kiosk = station.test_client()
    assert identify(kiosk, "13800138001").status_code == 302
    mine = kiosk.get("/k/parking/mine")
    assert mine.status_code == 200
    assert 'data-testid="parking-used-item"' in mine.get_data(as_text=True)
    assert "20:00" in text_of(mine)


def station_of_app(app):
    with session_for(app) as session:
        return session.get(Station, app.extensions["kiosk_station_id"])


def test_hub_attendant_of_the_station_checks_the_lot_and_lists_the_night(district, csrf):
    """Once lots have synced, the station's attendant at the hub picks the car park; another car park is refused."""
    station, hub, hub_id, clocks = district
    ids = add_lot(station)
    add_people(station)
    # A second car park added on the admin page: its record goes up on its own.
    admin = station.test_client()
    with station.app_context(), session_for(station, write=True) as session:
        create_user(session, "admin1", TEST_PASSWORD, role="admin", station_id=station.extensions["kiosk_station_id"])
        session.commit()
    admin.get("/staff/login")
    admin.post("/staff/login", data={"username": "admin1", "password": TEST_PASSWORD, "csrf_token": csrf(admin)})
    created = admin.post(
        "/admin/parking/lots/new",
        data={
            "name": "周边商场共享车位",
            "address": "罗湖区翠竹街道",
            "spaces": "5",
            "price": "8",
            "quota_per_month": "0",
            "reserve_days": "1",
            "hold_minutes": "0",
            "active": "on",
            "csrf_token": csrf(admin),
        },
    )
    assert created.status_code == 302, text_of(created)
    voucher = _issue(station, ids, "13800138001", "粤B12345")
    transfer(station, hub)
    lots = {lot.name: lot for lot in _hub_rows(hub, HubLot)}
    assert set(lots) == {"水贝万山珠宝产业园停车场", "周边商场共享车位"}
    assert lots["周边商场共享车位"].price_cents == 800

    clocks["hub"].set(at_local(DAY, 19, 30))
    gate = _attendant(hub, "gate-shuibei", station_id=hub_id)
    page = gate.get(f"/staff/parking/redeem?lot={lots['水贝万山珠宝产业园停车场'].id}")
    assert page.status_code == 200
    assert "周边商场共享车位" in text_of(page) and "粤B12345" in text_of(page), "tonight's vouchers with full plates"
    wrong = _check(gate, voucher.code, lots["周边商场共享车位"].id)
    assert wrong.status_code == 409 and "水贝万山珠宝产业园停车场" in text_of(wrong)
    assert _hub_rows(hub, Redemption) == []
    ok = _check(gate, voucher.code, lots["水贝万山珠宝产业园停车场"].id)
    assert ok.status_code == 200 and "粤B12345" in text_of(ok) and "尚未" not in text_of(ok)
    assert [v.status for v in _hub_rows(hub, HubVoucher)] == ["used"]

    # Settlement at the hub: per car park, from what the station synced and the hub let in.
    district_admin = hub.test_client()
    with hub.app_context(), session_for(hub, write=True) as session:
        create_user(session, "hubadmin", TEST_PASSWORD, role="admin", station_id=hub_id)
        session.commit()
    district_admin.get("/staff/login")
    district_admin.post(
        "/staff/login", data={"username": "hubadmin", "password": TEST_PASSWORD, "csrf_token": csrf(district_admin)}
    )
    csv_text = district_admin.get("/admin/parking/settlement.csv?month=2026-05").get_data(as_text=True)
    line = next(row for row in csv_text.splitlines() if "水贝万山珠宝产业园停车场" in row)
    assert line.endswith(",1,1,0,0,10.00"), line
    overview = district_admin.get("/admin/parking/?month=2026-05")
    assert overview.status_code == 200 and 'data-testid="pk-hub-settlement"' in overview.get_data(as_text=True)
    assert "周边商场共享车位" in text_of(overview) and "10 元" in text_of(overview)
    # The station owns its car parks: the hub does not add or change them.
    refused = district_admin.post("/admin/parking/lots/new", data={"name": "x", "csrf_token": csrf(district_admin)})
    assert refused.status_code == 302 and refused.headers["Location"].endswith("/admin/parking/")
    assert len(_hub_rows(hub, HubLot)) == 2


def test_voucher_from_before_the_district_redeems_at_the_hub_once_its_record_arrives(district):
    """An 8-character code (keyed with the station's app secret) is taken from its synced record only."""
    station, hub, hub_id, clocks = district
    ids = add_lot(station)
    add_people(station)
    old = _issue(station, ids, "13800138001", "粤B12345")
    expiring = _issue(station, ids, "13900139003", "粤BD12345")
    # As the station's database held it before the upgrade: the earlier code, and nothing in the outbox.
    legacy = codes.make_code(TEST_SECRET_KEY, station.extensions["kiosk_station_id"], old.id)
    with station.app_context(), session_for(station, write=True) as session:
        session.get(Voucher, old.id).code = legacy
        session.execute(delete(SyncOutbox))
        session.commit()
    clocks["hub"].set(at_local(DAY, 20))
    gate = _attendant(hub, "gate")
    assert _check(gate, codes.display_code(legacy)).status_code == 409, "the hub cannot check that key itself"
    assert _hub_rows(hub, Redemption) == []

    with station.app_context():
        assert announce_legacy(station, now=at_local(DAY, 12)) == 1
        assert announce_legacy(station, now=at_local(DAY, 12)) == 0, "once per process"
    transfer(station, hub)
    ok = _check(gate, codes.display_code(legacy).lower())
    assert ok.status_code == 200 and "粤B12345" in text_of(ok)
    assert _check(gate, legacy).status_code == 409
    transfer(station, hub)
    assert {v.id: v.status for v in vouchers(station)}[old.id] == "used"

    # The station's expiry job tells the hub; the hub then refuses it as expired, not as unknown.
    with station.app_context():
        assert expire_due(station, now=at_local(DAY + timedelta(days=1), 9)) == 1
    transfer(station, hub)
    assert {v.serial: v.status for v in _hub_rows(hub, HubVoucher)}[expiring.id] == "expired"
    clocks["hub"].set(at_local(DAY + timedelta(days=1), 9, 30))
    late = _check(gate, expiring.code)
    assert late.status_code == 409 and "过期" in text_of(late)


def test_three_attendants_at_two_hub_processes_redeem_one_code_at_once(district, make_app, database_url):
    """Two hub apps on one database (as two hub processes are), three phones at the same instant: one lets in."""
    station, hub, hub_id, clocks = district
    ids = add_lot(station)
    add_people(station)
    voucher = _issue(station, ids, "13800138001", "粤B12345")
    clocks["hub"].set(at_local(DAY, 20))
    second = make_app(database_url, ROLE="hub", STATION={"code": "district", "name": "罗湖区"})
    clock.set_clock(second, clocks["hub"])
    try:
        phones = [_attendant(app, f"gate-{i}") for i, app in enumerate((hub, second, hub))]
        for phone in phones:
            assert phone.get("/staff/parking/redeem").status_code == 200
        tokens = [csrf_of(phone) for phone in phones]
        assert all(tokens)
        barrier = threading.Barrier(len(phones))
        answers: list[int] = []

        def check(phone, token):
            barrier.wait(timeout=30)
            response = phone.post(
                "/staff/parking/redeem",
                data={"code": voucher.code, "csrf_token": token},
                content_type="multipart/form-data",
            )
            answers.append(response.status_code)

        threads = [threading.Thread(target=check, args=pair) for pair in zip(phones, tokens, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        clock.set_clock(second, None)
    assert sorted(answers) == [200, 409, 409]
    assert len(_hub_rows(hub, Redemption)) == 1
    transfer(station, hub)
    assert {v.id: v.status for v in vouchers(station)}[voucher.id] == "used"


def test_a_redemption_is_applied_at_the_station_by_the_pusher_thread(district):
    """The pusher applies pulled entries in its own thread, with no app context: the voucher is still marked used."""
    station, hub, hub_id, clocks = district
    ids = add_lot(station)
    add_people(station)
    voucher = _issue(station, ids, "13800138001", "粤B12345")
    clocks["hub"].set(at_local(DAY, 20))
    assert _check(_attendant(hub, "gate"), voucher.code).status_code == 200
    with hub.app_context(), session_for(hub) as session:
        down = [e for e in sync.down_since(session, hub_id, 0) if e["kind"].startswith("parking.")]
    assert [e["kind"] for e in down] == ["parking.redemption"]
    result: dict = {}

    def pusher_like():
        try:
            with session_for(station, write=True) as session:
                here = session.get(Station, station.extensions["kiosk_station_id"])
                sync.apply_down(station, session, here, down)
                session.commit()
        except Exception as exc:  # reported below, with its type
            result["error"] = repr(exc)

    thread = threading.Thread(target=pusher_like)
    thread.start()
    thread.join(timeout=30)
    assert result == {}
    assert {v.id: v.status for v in vouchers(station)}[voucher.id] == "used"


def test_an_enrolled_stations_own_attendant_page_sends_attendants_to_the_hub(district):
    """Redeeming at the station as well as at the hub could let one voucher in twice before a sync."""
    station, hub, hub_id, clocks = district
    ids = add_lot(station)
    add_people(station)
    voucher = _issue(station, ids, "13800138001", "粤B12345")
    attendant = _attendant(station, "gate-shuibei")
    refused = _check(attendant, codes.display_code(voucher.code), lot=ids["lot"])
    assert refused.status_code == 409
    assert 'data-reason="at_hub"' in refused.get_data(as_text=True)
    assert all(v.status == ISSUED for v in vouchers(station) if v.id == voucher.id)
