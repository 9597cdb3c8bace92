"""The resident's path on the kiosk: identify, plate, lot and time, voucher, quota, cancel.

Everything through the test client on SQLite and PostgreSQL.
"""

from __future__ import annotations

import queue
import re
from datetime import UTC, datetime

from sqlalchemy import select
from test_parking_support import (
    PEOPLE,
    add_lot,
    add_people,
    choose_plate,
    csrf_token,
    get_voucher,
    identify,
    issue,
    next_occurrence,
    text_of,
    voucher_id_from,
    vouchers,
)

from kiosk.models import KioskEvent
from kiosk_hardware.readers import ReaderEvent
from kiosk_plugins.parking import codes


def _events(app, prefix="parking."):
    with app.app_context():
        session = app.extensions["db"].Session()
        rows = list(session.scalars(select(KioskEvent).where(KioskEvent.name.like(prefix + "%"))))
        session.close()
    return rows


def test_home_tile_leads_to_the_parking_screen(client):
    html = client.get("/").get_data(as_text=True)
    assert 'data-tile="parking.parking"' in html and "共享停车" in html
    assert 'href="/k/parking/"' in html
    page = client.get("/k/parking/")
    assert page.status_code == 200
    assert 'data-screen="parking.identify"' in page.get_data(as_text=True)
    assert 'data-osk="phone"' in page.get_data(as_text=True)


def test_unknown_or_bad_phone_says_what_to_do(app, client):
    add_people(app)
    bad = identify(client, "12345")
    assert bad.status_code == 400
    assert "11 位手机号" in text_of(bad) or "11" in text_of(bad)
    unknown = identify(client, "13700137000")
    assert unknown.status_code == 404
    assert "工作人员" in text_of(unknown), "tells the resident to ask the staff"
    assert client.get("/k/parking/plate").status_code == 302, "not identified: back to the start"


def test_full_path_by_phone_gives_a_voucher_with_masked_plate(app, client):
    ids = add_lot(app, spaces=3)
    add_people(app)
    occ = next_occurrence(app, ids["windows"][0])
    assert identify(client, "13800138001").headers["Location"].endswith("/k/parking/plate")
    plate_page = client.get("/k/parking/plate")
    html = plate_page.get_data(as_text=True)
    assert "粤B***45" in html and "粤B12345" not in html, "registered plates are shown masked"
    assert 'data-osk="plate"' in html
    assert choose_plate(client, "粤b 12345").headers["Location"].endswith("/k/parking/lots")
    lots = client.get("/k/parking/lots")
    assert lots.status_code == 200
    assert "水贝万山珠宝产业园停车场" in text_of(lots)
    assert f'data-key="{occ.key}"' in lots.get_data(as_text=True)
    assert "剩余空位：3 个" in text_of(lots)
    confirm = client.get(f"/k/parking/confirm?window={occ.window_id}&day={occ.day}")
    assert confirm.status_code == 200 and "10 元" in text_of(confirm)
    response = issue(client, occ.window_id, occ.day)
    assert response.status_code == 302
    vid = voucher_id_from(response)
    page = client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "粤B***45" in html and "粤B12345" not in html
    [row] = vouchers(app)
    assert row.id == vid and row.plate == "粤B12345" and row.status == "issued" and row.price_cents == 1000
    assert codes.display_code(row.code) in html and len(row.code) > codes.LEGACY_LENGTH, "a station-signed code"
    assert 'src="data:image/png;base64,' in html, "the QR code is drawn on the screen"
    # No personal data in the pushed events.
    [event] = _events(app)
    assert event.name == "parking.voucher_issued"
    assert "粤B12345" not in str(event.payload) and "138" not in str(event.payload)
    # The lot now has one space less.
    assert "剩余空位：2 个" in text_of(client.get("/k/parking/lots"))


def test_card_tap_on_the_identify_screen_signs_the_household_in(app, client):
    add_lot(app)
    add_people(app)
    hub = app.extensions["reader_hub"]
    on_screen = hub.subscribe("parking.identify")
    elsewhere = hub.subscribe("home")
    try:
        delivered = hub.publish(ReaderEvent("card", "card", "04:a1:b2:c3", datetime.now(UTC)))
        assert delivered == 1, "only the parking identify screen claims the card"
        action = on_screen.get(timeout=2)
        with __import__("pytest").raises(queue.Empty):
            elsewhere.get_nowait()
    finally:
        hub.unsubscribe(on_screen)
        hub.unsubscribe(elsewhere)
    assert action["submit"] == "#parking-card-form"
    token = action["fill"]["card_token"]
    assert "04A1B2C3" not in token.upper() and "A1B2C3" not in str(action), "the page never sees the card number"
    client.get("/k/parking/")
    response = client.post("/k/parking/card", data={"card_token": token, "csrf_token": csrf_token(client)})
    assert response.headers["Location"].endswith("/k/parking/plate")
    assert "粤B***45" in client.get("/k/parking/plate").get_data(as_text=True)


def test_unknown_card_and_forged_token_are_refused(app, client):
    add_people(app)
    hub = app.extensions["reader_hub"]
    q = hub.subscribe("parking.identify")
    try:
        hub.publish(ReaderEvent("card", "card", "DEADBEEF", datetime.now(UTC)))
        action = q.get(timeout=2)
    finally:
        hub.unsubscribe(q)
    client.get("/k/parking/")
    unknown = client.post(
        "/k/parking/card", data={"card_token": action["fill"]["card_token"], "csrf_token": csrf_token(client)}
    )
    assert unknown.status_code == 404 and "手机号" in text_of(unknown)
    forged = client.post(
        "/k/parking/card", data={"card_token": "eyJoIjoxfQ.forged.sig", "csrf_token": csrf_token(client)}
    )
    assert forged.status_code == 400 and "请重新刷卡" in text_of(forged)
    assert client.get("/k/parking/plate").status_code == 302


def test_plate_typed_wrong_or_not_registered(app, client):
    add_lot(app)
    add_people(app)
    identify(client, "13800138001")
    invalid = choose_plate(client, "粤B1234")
    assert invalid.status_code == 400 and "7 位" in text_of(invalid)
    invalid = choose_plate(client, "粤B123456")
    assert invalid.status_code == 400 and "新能源" in text_of(invalid)
    other = choose_plate(client, "粤BD12345")  # a neighbour's car
    assert other.status_code == 404 and "未登记" in text_of(other)
    assert "粤BD12345" not in other.get_data(as_text=True).replace('value="粤BD12345"', "")
    # Picking another household's plate id is refused too.
    with app.app_context():
        from kiosk_plugins.parking.models import Plate

        session = app.extensions["db"].Session()
        foreign = session.scalar(select(Plate.id).where(Plate.plate == "粤BD12345"))
        session.close()
    picked = client.post("/k/parking/plate", data={"plate_id": str(foreign), "csrf_token": csrf_token(client)})
    assert picked.status_code == 400
    assert client.get("/k/parking/lots").status_code == 302, "no plate chosen yet"


def test_pick_a_registered_car_with_one_tap(app, client):
    ids = add_lot(app)
    add_people(app)
    identify(client, "13900139003")
    html = client.get("/k/parking/plate").get_data(as_text=True)
    choices = re.findall(r'name="plate_id" value="(\d+)"', html)
    assert len(choices) == 2 and "粤B****45" in html and "粤B***P8" in html
    response = client.post("/k/parking/plate", data={"plate_id": choices[0], "csrf_token": csrf_token(client)})
    assert response.headers["Location"].endswith("/k/parking/lots")
    occ = next_occurrence(app, ids["windows"][0])
    assert issue(client, occ.window_id, occ.day).status_code == 302


def test_quota_per_household_per_month(app, client):
    ids = add_lot(
        app,
        spaces=10,
        quota=2,
        windows=[
            ("夜间", "19:00", "08:00", "0123456"),
            ("凌晨", "01:00", "06:00", "0123456"),
            ("午间", "12:00", "14:00", "0123456"),
        ],
    )
    add_people(app)
    identify(client, "13900139003")
    choose_plate(client, "粤BD12345")
    # Three windows of the same lot on the same local day, so the same month.
    from test_parking_support import TZ

    from kiosk_plugins.parking import schedule

    now = datetime.now(UTC)
    tomorrow = now.astimezone(TZ).date() + __import__("datetime").timedelta(days=1)
    assert issue(client, ids["windows"][1], tomorrow).status_code == 302
    assert issue(client, ids["windows"][2], tomorrow).status_code == 302
    refused = issue(client, ids["windows"][0], tomorrow)
    assert refused.status_code == 409
    assert "2 张" in text_of(refused) and "工作人员" in text_of(refused)
    assert len(vouchers(app)) == 2
    lots = client.get("/k/parking/lots")
    if schedule.month_bounds(tomorrow, TZ) == schedule.month_bounds(now.astimezone(TZ).date(), TZ):
        assert "本月还可领取：0" in text_of(lots)


def test_same_car_cannot_hold_two_vouchers_for_one_night(app, client):
    ids = add_lot(app, spaces=5)
    add_people(app)
    occ = next_occurrence(app, ids["windows"][0])
    assert get_voucher(client, "13800138001", "粤B12345", occ.window_id, occ.day).status_code == 302
    again = issue(client, occ.window_id, occ.day)
    assert again.status_code == 409 and "我的停车券" in text_of(again)
    assert len(vouchers(app)) == 1


def test_full_lot_refuses_and_cancelling_frees_the_space(app, client):
    ids = add_lot(app, spaces=1)
    add_people(app)
    occ = next_occurrence(app, ids["windows"][0])
    first = get_voucher(client, "13800138001", "粤B12345", occ.window_id, occ.day)
    vid = voucher_id_from(first)
    other = app.test_client()
    refused = get_voucher(other, "13900139003", "粤BD12345", occ.window_id, occ.day)
    assert refused.status_code == 409 and "没有空位" in text_of(refused)
    assert "已满" in text_of(other.get("/k/parking/lots"))
    # The first resident comes back, identifies again and cancels.
    client.get("/k/parking/")
    identify(client, "13800138001")
    mine = client.get("/k/parking/mine")
    assert "粤B***45" in text_of(mine) and f"/k/parking/mine/{vid}/cancel" in mine.get_data(as_text=True)
    ask = client.get(f"/k/parking/mine/{vid}/cancel")
    assert ask.status_code == 200 and "取消" in text_of(ask)
    done = client.post(f"/k/parking/mine/{vid}/cancel", data={"csrf_token": csrf_token(client)})
    assert done.status_code == 302
    assert "已取消" in text_of(client.get("/k/parking/mine"))
    assert [v.status for v in vouchers(app)] == ["cancelled"]
    assert issue(other, occ.window_id, occ.day).status_code == 302, "the space went to the neighbour"
    again = client.post(f"/k/parking/mine/{vid}/cancel", data={"csrf_token": csrf_token(client)})
    assert again.status_code == 302 and len([v for v in vouchers(app) if v.status == "issued"]) == 1


def test_voucher_and_cancel_pages_belong_to_the_session_that_got_them(app, client):
    ids = add_lot(app)
    add_people(app)
    occ = next_occurrence(app, ids["windows"][0])
    vid = voucher_id_from(get_voucher(client, "13800138001", "粤B12345", occ.window_id, occ.day))
    stranger = app.test_client()
    assert stranger.get(f"/k/parking/voucher/{vid}").status_code == 302
    identify(stranger, "13900139003")  # another household
    assert stranger.get(f"/k/parking/voucher/{vid}").status_code == 302
    stranger.post(f"/k/parking/mine/{vid}/cancel", data={"csrf_token": csrf_token(stranger)})
    assert vouchers(app)[0].status == "issued"


def test_start_screen_and_finish_forget_the_resident(app, client, monkeypatch):
    ids = add_lot(app)
    add_people(app)
    identify(client, "13800138001")
    assert client.get("/k/parking/plate").status_code == 200
    client.get("/k/parking/")
    assert client.get("/k/parking/plate").status_code == 302
    identify(client, "13800138001")
    client.post("/k/parking/done", data={"csrf_token": csrf_token(client)})
    assert client.get("/k/parking/mine").status_code == 302
    # And the turn lapses on its own after a few minutes.
    identify(client, "13800138001")
    import time

    from kiosk import visitors

    monkeypatch.setattr(visitors, "_now", lambda: time.time() + 5 * 60 + 1)
    assert client.get("/k/parking/plate").status_code == 302
    assert ids


def test_bad_form_values_never_500_and_write_nothing(app, client):
    ids = add_lot(app)
    add_people(app)
    identify(client, "13800138001")
    choose_plate(client, "粤B12345")
    for window, day in [
        ("x", "2024-01-01"),
        (str(ids["windows"][0]), "not-a-day"),
        ("999999", "2024-01-01"),
        (str(ids["windows"][0]), "2001-01-01"),
        ("99999999999", "2024-01-01"),
        ("-1", "2024-01-01"),
    ]:
        response = client.post(
            "/k/parking/issue", data={"window": window, "day": day, "csrf_token": csrf_token(client)}
        )
        assert response.status_code in (400, 409), (window, day)
        assert "请选择其他时段" in text_of(response)
    assert client.get("/k/parking/confirm?window=abc").status_code == 302
    # Ids beyond PostgreSQL's integer range never reach a query.
    assert client.get("/k/parking/confirm?window=99999999999&day=2024-01-01").status_code == 302
    assert client.get("/k/parking/voucher/99999999999").status_code == 404
    assert client.post("/k/parking/mine/99999999999/cancel", data={"csrf_token": csrf_token(client)}).status_code == 404
    assert client.get("/k/parking/confirm?window=999999&day=2024-01-01").status_code == 409
    plate = client.post("/k/parking/plate", data={"plate_id": "abc", "csrf_token": csrf_token(client)})
    assert plate.status_code == 400
    assert client.post("/k/parking/issue", data={"window": "1"}).status_code == 400, "CSRF token required"
    assert vouchers(app) == []


def test_other_languages(app, client):
    ids = add_lot(app)
    add_people(app)
    client.post("/lang", data={"lang": "en", "csrf_token": csrf_token(client)})
    assert "Mobile number registered with your household" in text_of(client.get("/k/parking/"))
    identify(client, "13800138001")
    choose_plate(client, "粤B12345")
    occ = next_occurrence(app, ids["windows"][0])
    assert "10 yuan" in text_of(client.get(f"/k/parking/confirm?window={occ.window_id}&day={occ.day}"))
    client.post("/lang", data={"lang": "zh_Hant", "csrf_token": csrf_token(client)})
    assert "停車" in text_of(client.get("/k/parking/lots"))
    assert PEOPLE


def test_the_home_screen_says_how_many_spaces_are_left_today(app, client):
    from kiosk import clock

    def line():
        home = client.get("/").get_data(as_text=True)
        if 'data-service="parking.spaces"' not in home:
            return None
        return home.split('data-service="parking.spaces"', 1)[1].split("</li>", 1)[0]

    assert line() is None  # no car park open for booking: nothing to say
    clock.set_clock(app, lambda: datetime(2024, 5, 6, 4, 0, tzinfo=UTC))  # Monday 12:00 in Shenzhen
    add_lot(app, name="翠竹大厦停车场", spaces=3, windows=(("周末", "09:00", "18:00", "56"),))
    assert "共享停车：今日无开放时段" in line()
    night = add_lot(app, spaces=2)  # every night 19:00 to 08:00: last night's is over, tonight's is to come
    assert "共享停车：今日还可预约车位 2 个" in line()
    add_people(app)
    get_voucher(client, "13800138001", "粤B12345", night["windows"][0], "2024-05-06")
    shown = line()
    assert "今日还可预约车位 1 个" in shown and "粤B" not in shown and "王" not in shown
    client.post("/lang", data={"lang": "en", "csrf_token": csrf_token(client)})
    assert "Shared parking: 1 space left today" in line()  # English says "space" for one
    add_lot(app, name="翠竹大厦停车场二期", spaces=4)
    assert "Shared parking: 5 spaces left today" in line()
