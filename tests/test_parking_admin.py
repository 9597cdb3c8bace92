"""Admin: partner lots and windows, usage per lot and window, the settlement CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from sqlalchemy import select
from test_parking_support import add_household, add_lot, at_local, station_of, text_of

from kiosk_plugins.parking.models import Lot, Window
from kiosk_plugins.parking.vouchers import cancel_voucher, expire_due, issue_voucher, redeem

LOT_FORM = {
    "name": "水贝万山珠宝产业园停车场",
    "address": "罗湖区翠竹街道水贝社区",
    "spaces": "30",
    "price": "10",
    "quota_per_month": "8",
    "reserve_days": "1",
    "hold_minutes": "0",
    "active": "1",
}


def _lots(app):
    with app.app_context():
        session = app.extensions["db"].Session()
        rows = list(session.scalars(select(Lot)))
        session.close()
    return rows


def test_admin_adds_a_lot_and_its_windows(app, client, auth, csrf):
    auth.login("admin")
    assert client.get("/admin/parking/lots/new").status_code == 200
    response = client.post("/admin/parking/lots/new", data={**LOT_FORM, "csrf_token": csrf(client)})
    assert response.status_code == 302
    [lot] = _lots(app)
    assert (lot.spaces, lot.price_cents, lot.quota_per_month, lot.active) == (30, 1000, 8, True)
    added = client.post(
        f"/admin/parking/lots/{lot.id}/windows",
        data={
            "label": "周末白天",
            "start": "08:00",
            "end": "19:00",
            "weekdays": ["5", "6"],
            "csrf_token": csrf(client),
        },
    )
    assert added.status_code == 302
    page = text_of(client.get(f"/admin/parking/lots/{lot.id}"))
    assert "周末白天" in page and "周六、周日 08:00 – 19:00" in page
    client.post(
        f"/admin/parking/lots/{lot.id}/windows",
        data={
            "label": "夜间",
            "start": "19:00",
            "end": "08:00",
            "weekdays": list("0123456"),
            "csrf_token": csrf(client),
        },
    )
    assert "每天 19:00 – 次日 08:00" in text_of(client.get(f"/admin/parking/lots/{lot.id}"))
    # The kiosk now offers it.
    assert "水贝万山珠宝产业园停车场" in text_of(client.get("/admin/parking/"))
    edit = client.post(
        f"/admin/parking/lots/{lot.id}", data={**LOT_FORM, "price": "7.50", "spaces": "12", "csrf_token": csrf(client)}
    )
    assert edit.status_code == 302
    assert (_lots(app)[0].price_cents, _lots(app)[0].spaces) == (750, 12)
    with app.app_context():
        session = app.extensions["db"].Session()
        window = session.scalar(select(Window).where(Window.label == "夜间"))
        session.close()
    client.post(f"/admin/parking/windows/{window.id}/toggle", data={"csrf_token": csrf(client)})
    assert "重新开放" in text_of(client.get(f"/admin/parking/lots/{lot.id}"))


def test_bad_lot_and_window_forms_change_nothing(app, client, auth, csrf):
    auth.login("admin")
    for field, value, words in [
        ("name", "", "名称"),
        ("spaces", "0", "共享车位数"),
        ("spaces", "abc", "整数"),
        ("price", "-1", "收费"),
        ("price", "10.001", "收费"),
        ("price", "NaN", "收费"),
        ("quota_per_month", "101", "每户每月"),
        ("hold_minutes", "9999", "分钟"),
    ]:
        response = client.post("/admin/parking/lots/new", data={**LOT_FORM, field: value, "csrf_token": csrf(client)})
        assert response.status_code == 400 and words in text_of(response), (field, value)
    assert _lots(app) == []
    ids = add_lot(app)
    for data, words in [
        ({"label": "", "start": "19:00", "end": "08:00", "weekdays": ["1"]}, "时段名称"),
        ({"label": "夜间", "start": "25:00", "end": "08:00", "weekdays": ["1"]}, "25:00"),
        ({"label": "夜间", "start": "19:00", "end": "19:00", "weekdays": ["1"]}, "不能与开始时间相同"),
        ({"label": "夜间", "start": "19:00", "end": "08:00"}, "至少选择"),
    ]:
        response = client.post(f"/admin/parking/lots/{ids['lot']}/windows", data={**data, "csrf_token": csrf(client)})
        assert response.status_code == 400 and words in text_of(response), data
    with app.app_context():
        session = app.extensions["db"].Session()
        assert len(list(session.scalars(select(Window)))) == 1
        session.close()
    assert client.get("/admin/parking/lots/999999").status_code == 404


def test_staff_cannot_open_the_admin_pages(app, client, auth):
    auth.login("staff")
    assert client.get("/admin/parking/").status_code == 403
    assert client.get("/admin/parking/settlement.csv").status_code == 403


def test_usage_and_settlement_for_a_month(app, client, auth):
    day = date(2024, 5, 20)
    ids = add_lot(app, spaces=4, price_cents=1000)
    other = add_lot(app, name='=HYPERLINK("x")', spaces=2, price_cents=500)
    households = [add_household(app, f"贝丽花园{i}栋", "住户", f"1380013{i:04d}", [f"粤B{i:05d}"]) for i in range(5)]
    with app.app_context():
        session = app.extensions["db"].Session()
        station = station_of(app, session)
        session.close()
        noon = at_local(day, 12)
        made = [
            issue_voucher(
                station, household_id=households[i], plate=f"粤B{i:05d}", window_id=ids["windows"][0], day=day, now=noon
            )
            for i in range(4)
        ]
        redeem(station, code_text=made[0].code, lot_id=ids["lot"], user_id=None, now=at_local(day, 20))
        redeem(station, code_text=made[1].code, lot_id=ids["lot"], user_id=None, now=at_local(day, 21))
        cancel_voucher(station, household_id=households[2], voucher_id=made[2].id, now=at_local(day, 13))
        # made[3] is never used: it expires when the night ends.
        assert expire_due(app, now=at_local(day + timedelta(days=1), 9)) == 1
        late = issue_voucher(
            station,
            household_id=households[4],
            plate="粤B00004",
            window_id=other["windows"][0],
            day=day + timedelta(days=11),
            now=at_local(day + timedelta(days=11), 12),
        )
        redeem(
            station, code_text=late.code, lot_id=other["lot"], user_id=None, now=at_local(day + timedelta(days=11), 22)
        )
    auth.login("admin")
    page = text_of(client.get("/admin/parking/?month=2024-05"))
    assert "应与该停车场结算：20 元" in page and "应与该停车场结算：5 元" in page
    # 31 nights in May × 4 spaces = 124 offered; 2 used → 2%.
    assert "124" in page and "2%" in page
    response = client.get("/admin/parking/settlement.csv?month=2024-05")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0] == [
        "结算月份",
        "停车场",
        "地址",
        "每次收费（元）",
        "已发放",
        "已使用",
        "过期未用",
        "已取消",
        "应结算金额（元）",
    ]
    by_lot = {r[1]: r for r in rows[1:]}
    assert by_lot["水贝万山珠宝产业园停车场"] == [
        "2024-05",
        "水贝万山珠宝产业园停车场",
        "罗湖区翠竹街道水贝社区",
        "10.00",
        "3",
        "2",
        "1",
        "1",
        "20.00",
    ]
    assert '\'=HYPERLINK("x")' in by_lot, "a lot name is never run as a spreadsheet formula"
    assert by_lot['\'=HYPERLINK("x")'][5:] == ["1", "0", "0", "5.00"]
    april = list(
        csv.reader(
            io.StringIO(
                client.get("/admin/parking/settlement.csv?month=2024-04").get_data(as_text=True).lstrip("\ufeff")
            )
        )
    )
    assert all(r[4:] == ["0", "0", "0", "0", "0.00"] for r in april[1:])
    assert client.get("/admin/parking/?month=garbage").status_code == 200


def test_staff_console_panel_and_health(app, client, auth):
    add_lot(app)
    auth.login("staff")
    console = text_of(client.get("/staff/"))
    assert "共享停车" in console and "今日停车券" in console and "核验停车券" in console
    health = client.get("/healthz").get_json()
    assert health["plugins"]["parking"]["ok"] is True
    assert "1 partner car park" in health["plugins"]["parking"]["detail"]


def test_demo_data_fills_the_station_once(app, client):
    from kiosk.demo import load_demo

    load_demo(app, [])
    load_demo(app, [])  # a second run adds nothing
    names = sorted(lot.name for lot in _lots(app))
    assert names == ["周边商场共享车位", "水贝万山珠宝产业园停车场"]
    with app.app_context():
        session = app.extensions["db"].Session()
        windows = len(list(session.scalars(select(Window))))
        from kiosk_plugins.parking.models import Household

        households = len(list(session.scalars(select(Household))))
        session.close()
    assert (windows, households) == (3, 4)
    from test_parking_support import choose_plate, identify

    identify(client, "13800138001")
    choose_plate(client, "粤B12345")
    assert "水贝万山珠宝产业园停车场" in text_of(client.get("/k/parking/lots"))
