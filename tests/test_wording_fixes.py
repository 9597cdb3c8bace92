"""Issue 19 point 11: the small wording faults a resident or rider read, one test each.

估计 once on a ticket; a seat is a seat, not a charging place; a mistyped phone
or plate stays in its field to be corrected; a parking voucher says by when to
drive in and how long the car may stay; booking slots say the weekday.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from test_courier_rest_support import Kiosk, courier_app, courier_config, kiosk  # noqa: F401  (fixtures)
from test_legal_support import SHENZHEN, csrf_token, legal_app, legal_staff, staff_post, take_ticket  # noqa: F401
from test_parking_support import TZ, add_lot, add_people, choose_plate, get_voucher, identify, next_occurrence, text_of


@pytest.fixture(params=["sqlite"])
def backend(request):
    """SQLite only: these are words on screens; the flows behind them run on PostgreSQL in their own tests."""
    return request.param


def visible(response_or_html) -> str:
    page = response_or_html if isinstance(response_or_html, str) else response_or_html.get_data(as_text=True)
    page = re.sub(r"<script.*?</script>|<style.*?</style>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_the_ticket_says_estimate_once(legal_app):
    take_ticket(legal_app.test_client())
    second = take_ticket(legal_app.test_client())
    assert second["ahead"] == 1
    facts = visible(second["html"].split('class="ticket-facts"', 1)[1].split("</dl>", 1)[0])
    assert facts.count("预计等候") == 1 and "估计" not in facts  # it was 预计等候 约 N 分钟（估计） 估计
    assert re.search(r"约 \d+ 分钟", facts)


def test_a_seat_is_worded_as_a_seat_and_a_charging_place_as_one(kiosk):
    kiosk.signup()
    seat = kiosk.take("seat")
    number = re.search(r'data-testid="slot-number">([^<]+)<', seat.get_data(as_text=True)).group(1).strip()
    how = visible(seat.get_data(as_text=True).split('data-testid="slot-how"', 1)[1].split("</p>", 1)[0])
    assert f"请到 {number} 号座位休息" in how and "充电" not in how
    phone = kiosk.take("phone")
    how = visible(phone.get_data(as_text=True).split('data-testid="slot-how"', 1)[1].split("</p>", 1)[0])
    assert "号手机充电位充电" in how and "带走手机" in how


def test_a_mistyped_phone_stays_in_the_field_at_the_rest_station(kiosk):
    page = kiosk.phone("1381234")  # seven digits
    assert "11 位手机号码" in visible(page)
    assert re.search(r'<input id="phone" name="phone"[^>]*value="1381234"', page.get_data(as_text=True))
    assert 'value="1381234"' not in kiosk.get("/k/courier_rest/").get_data(as_text=True)  # shown once only


def test_a_mistyped_phone_stays_in_the_field_for_parking(app, client):
    add_lot(app)
    add_people(app)
    wrong = identify(client, "1380013800")  # ten digits
    assert wrong.status_code == 400 and 'value="1380013800"' in wrong.get_data(as_text=True)
    unknown = identify(client, "13700137000")  # not on the list: kept too, a digit may be wrong
    assert unknown.status_code == 404 and 'value="13700137000"' in unknown.get_data(as_text=True)


def test_a_mistyped_plate_stays_in_the_field(app, client):
    add_lot(app)
    add_people(app)
    assert identify(client, "13800138001").status_code == 302
    refused = choose_plate(client, "粤B1234")  # one character short
    assert refused.status_code == 400
    assert re.search(r'id="parking-plate"[^>]*value="粤B1234"', refused.get_data(as_text=True))
    other = choose_plate(client, "粤B99999")  # a plate, but not this household's
    assert other.status_code == 404 and 'value="粤B99999"' in other.get_data(as_text=True)


def test_the_voucher_says_drive_in_by_and_park_until(app, client, fixed_clock):
    ids = add_lot(app, hold_minutes=30)
    add_people(app)
    # 23:00 in Shenzhen, inside the 19:00–08:00 window: drive in by 23:30, park until 08:00.
    now = datetime.now(TZ).replace(hour=23, minute=0, second=0, microsecond=0)
    fixed_clock.set(now)
    occ = next_occurrence(app, ids["windows"][0], now)
    response = get_voucher(client, "13800138001", "粤B12345", ids["windows"][0], occ.day)
    page = client.get(response.headers["Location"])
    text = text_of(page)
    assert "有效期至" not in text
    enter_by = visible(page.get_data(as_text=True).split('data-testid="parking-enter-by">', 1)[1].split("<", 1)[0])
    assert enter_by.strip().endswith("23:30")
    validity = visible(page.get_data(as_text=True).split('data-testid="parking-validity">', 1)[1].split("</p>", 1)[0])
    assert "前入场使用本券" in validity and "23:30" in validity and "入场后可停到" in validity
    assert validity.strip().endswith("08:00。")


def test_booking_slots_say_the_weekday(legal_app, legal_staff):
    legal_app.legal_clock.set_local(datetime(2024, 5, 6, 9, 0, tzinfo=SHENZHEN))  # a Monday
    for day in ("2024-05-06", "2024-05-07", "2024-05-09"):
        assert (
            staff_post(
                legal_staff,
                "/staff/legal/schedule",
                service="consultation",
                day=day,
                start="10:30",
                end="11:30",
                lawyer="陈志明",
                organisation="",
                capacity="1",
            ).status_code
            == 302
        )
    resident = legal_app.test_client()
    slots = visible(resident.get("/k/legal/book/consultation"))
    assert "今天 5月6日" in slots and "明天 5月7日" in slots and "周四 5月9日" in slots
    assert "05-09" not in slots and "2024-05-09" not in slots
    resident.post("/lang", data={"lang": "en", "csrf_token": csrf_token(resident)})
    assert "Thu May 9" in visible(resident.get("/k/legal/book/consultation"))
