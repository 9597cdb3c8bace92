"""The lawyers' duty schedule, booking a slot at the kiosk, and checking in at the booked time."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from test_legal_support import SHENZHEN, call_next, csrf_token, legal_app, legal_staff, sqlite_legal_app, staff_post  # noqa: F401  (fixtures are found by name)

from kiosk_hardware.readers.events import ReaderEvent


def _add_slot(staff, **fields):
    form = {
        "service": "consultation",
        "day": "2024-05-06",
        "start": "10:30",
        "end": "11:30",
        "lawyer": "陈志明",
        "organisation": "区司法局公共法律服务律师",
        "capacity": "1",
    }
    form.update(fields)
    return staff_post(staff, "/staff/legal/schedule", **form)


def _book(client, slot_id, phone=""):
    return client.post(f"/k/legal/book/slot/{slot_id}", data={"csrf_token": csrf_token(client), "phone": phone})


def _check_in(client, code):
    return client.post("/k/legal/checkin", data={"csrf_token": csrf_token(client), "code": code})


def _take(client, service="consultation"):
    response = client.post(f"/k/legal/take/{service}", data={"csrf_token": csrf_token(client), "priority": ""})
    assert response.status_code == 302


def test_staff_keep_the_schedule_and_bad_slots_are_refused(legal_app, legal_staff):
    response = _add_slot(legal_staff, start="11:00", end="10:00")
    assert response.status_code == 400 and "结束时间必须晚于开始时间" in response.get_data(as_text=True)
    response = _add_slot(legal_staff, day="2024-05-06", start="09:00", end="09:30")  # already past at 10:00
    assert response.status_code == 400 and "必须在现在之后" in response.get_data(as_text=True)
    response = _add_slot(legal_staff, day="next monday")
    assert response.status_code == 400 and "YYYY-MM-DD" in response.get_data(as_text=True)
    assert _add_slot(legal_staff, lawyer="").status_code == 400
    assert _add_slot(legal_staff, capacity="0").status_code == 400
    assert _add_slot(legal_staff).status_code == 302
    page = legal_staff.get("/staff/legal/schedule").get_data(as_text=True)
    slot_id = re.search(r'data-slot="(\d+)"', page).group(1)
    assert "2024-05-06 10:30–11:30" in page and "陈志明" in page
    assert staff_post(legal_staff, f"/staff/legal/schedule/{slot_id}/delete").status_code == 302
    assert f'data-slot="{slot_id}"' not in legal_staff.get("/staff/legal/schedule").get_data(as_text=True)


def test_book_check_in_and_join_the_queue_at_the_booked_time(legal_app, legal_staff):
    clock = legal_app.legal_clock
    clock.set_local(datetime(2024, 5, 6, 9, 0, tzinfo=SHENZHEN))
    assert _add_slot(legal_staff, start="10:30", end="11:30", capacity="1").status_code == 302
    resident = legal_app.test_client()
    services = resident.get("/k/legal/book").get_data(as_text=True)
    assert "未来 7 天还有 1 个名额" in services
    slots = resident.get("/k/legal/book/consultation").get_data(as_text=True)
    slot_id = re.search(r'data-slot="(\d+)"', slots).group(1)
    # The duty lawyer's name is masked on the public kiosk.
    assert "陈*明" in slots and "陈志明" not in slots and "10:30–11:30" in slots and "今天" in slots

    response = _book(resident, slot_id, phone="1391234567")  # ten digits
    assert response.status_code == 400 and "11 位" in response.get_data(as_text=True)
    assert _book(resident, slot_id, phone="13912345678").status_code == 302
    booked = resident.get("/k/legal/booked").get_data(as_text=True)
    code = re.search(r'data-testid="booking-code">(\d{8})<', booked).group(1)
    assert "139****5678" in booked and "13912345678" not in booked

    # Capacity 1: the next resident is told to choose another time, nothing is written.
    response = _book(legal_app.test_client(), slot_id)
    assert response.status_code == 400 and "约满" in response.get_data(as_text=True)
    assert 'data-slot="' not in legal_app.test_client().get("/k/legal/book/consultation").get_data(as_text=True)
    schedule = legal_staff.get("/staff/legal/schedule").get_data(as_text=True)
    assert code in schedule and "13912345678" in schedule  # staff may see the full number

    too_early = _check_in(legal_app.test_client(), code)  # 09:00 for 10:30: opens at 09:30
    assert too_early.status_code == 400 and "10:30" in too_early.get_data(as_text=True)
    assert _check_in(legal_app.test_client(), "12345").status_code == 400
    assert "找不到" in _check_in(legal_app.test_client(), "000000").get_data(as_text=True)

    clock.set_local(datetime(2024, 5, 6, 10, 0, tzinfo=SHENZHEN))
    _take(legal_app.test_client())  # A001 at 10:00
    clock.set_local(datetime(2024, 5, 6, 10, 10, tzinfo=SHENZHEN))
    booked_client = legal_app.test_client()
    assert _check_in(booked_client, code).status_code == 302  # A002, placed at 10:30
    issued = booked_client.get("/k/legal/issued").get_data(as_text=True)
    assert 'data-testid="ticket-number">A002<' in issued and 'data-testid="ahead">1<' in issued
    again = _check_in(legal_app.test_client(), code)
    assert again.status_code == 400 and "已经签到" in again.get_data(as_text=True)
    clock.set_local(datetime(2024, 5, 6, 10, 20, tzinfo=SHENZHEN))
    _take(legal_app.test_client())  # A003 at 10:20: before the 10:30 booking
    clock.set_local(datetime(2024, 5, 6, 10, 40, tzinfo=SHENZHEN))
    _take(legal_app.test_client())  # A004 at 10:40: after it
    order = [call_next(legal_staff, 1) for _ in range(4)]
    assert order == ["A001", "A003", "A002", "A004"]


def test_late_check_in_is_refused_with_what_to_do(legal_app, legal_staff):
    legal_app.legal_clock.set_local(datetime(2024, 5, 6, 9, 0, tzinfo=SHENZHEN))
    _add_slot(legal_staff, service="notarisation", start="10:30", end="11:00", capacity="2")
    slots = legal_app.test_client().get("/k/legal/book/notarisation").get_data(as_text=True)
    _book(legal_app.test_client(), re.search(r'data-slot="(\d+)"', slots).group(1))
    code = re.search(
        r"<strong>(\d{8})</strong>", legal_staff.get("/staff/legal/schedule").get_data(as_text=True)
    ).group(1)
    legal_app.legal_clock.set_local(datetime(2024, 5, 6, 10, 46, tzinfo=SHENZHEN))
    late = _check_in(legal_app.test_client(), code)
    assert late.status_code == 400 and "已过" in late.get_data(as_text=True) and "取号" in late.get_data(as_text=True)
    # A slot with a booking cannot be deleted silently.
    slot_id = re.search(r'data-slot="(\d+)"', legal_staff.get("/staff/legal/schedule").get_data(as_text=True)).group(1)
    response = staff_post(legal_staff, f"/staff/legal/schedule/{slot_id}/delete")
    assert "已有居民预约" in legal_staff.get(response.headers["Location"]).get_data(as_text=True)


def test_scanning_the_booking_slip_fills_in_the_code_on_the_check_in_screen(sqlite_legal_app):
    hub = sqlite_legal_app.extensions["reader_hub"]
    on_checkin, elsewhere = hub.subscribe("legal.checkin"), hub.subscribe("legal.take")
    try:
        at = datetime.now(UTC)
        assert hub.publish(ReaderEvent("scanner", "code", "legal-booking:482913", at)) == 1
        assert on_checkin.get(timeout=1) == {"fill": {"code": "482913"}, "submit": "#checkin-form"}
        with_no_claim = hub.publish(ReaderEvent("scanner", "code", "https://example.com/x", at))
        assert with_no_claim == 0 and elsewhere.empty()
        assert hub.publish(ReaderEvent("card", "card", "482913", at)) == 0
    finally:
        hub.unsubscribe(on_checkin)
        hub.unsubscribe(elsewhere)


def _slot_ids(legal_app):
    slots = legal_app.test_client().get("/k/legal/book/consultation").get_data(as_text=True)
    return re.findall(r'data-slot="(\d+)"', slots)


def _phone(app):
    """A resident's phone: the test client's own 127.0.0.1 is the station PC's kiosk, with a kiosk's allowance."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.23"
    return client


def test_a_booking_flood_is_refused_and_one_phone_holds_one_booking_a_day(legal_app, legal_staff):
    """Issue 17 point 11: 54 bookings from one session in seconds booked the duty lawyers out."""
    from kiosk.testing import count_rows
    from kiosk_plugins.legal.models import Booking

    legal_app.legal_clock.set_local(datetime(2024, 5, 6, 9, 0, tzinfo=SHENZHEN))
    assert _add_slot(legal_staff, start="10:30", end="11:30", capacity="50").status_code == 302
    assert _add_slot(legal_staff, start="14:00", end="15:00", capacity="50").status_code == 302
    morning, afternoon = _slot_ids(legal_app)
    resident = _phone(legal_app)
    assert _book(resident, morning, phone="13912345678").status_code == 302
    # The same phone on the same day: refused, with what to do instead.
    twice = _book(resident, afternoon, phone="13912345678")
    assert twice.status_code == 400 and "当天已有预约" in twice.get_data(as_text=True)
    # Five bookings a day from one address, whatever the phone (or none): the sixth is a 429.
    answers = [_book(_phone(legal_app), afternoon).status_code for _ in range(4)]
    assert answers == [302, 302, 302, 429]
    refused = _book(_phone(legal_app), afternoon, phone="13800000000")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 3600
    assert "请求过于频繁" in refused.get_data(as_text=True)
    assert count_rows(legal_app, Booking) == 4


def test_guessing_booking_codes_is_slowed_down(legal_app, legal_staff):
    clock = legal_app.legal_clock
    clock.set_local(datetime(2024, 5, 6, 10, 0, tzinfo=SHENZHEN))
    assert _add_slot(legal_staff, start="10:30", end="11:30", capacity="5").status_code == 302
    booked = _phone(legal_app)
    assert _book(booked, _slot_ids(legal_app)[0]).status_code == 302
    code = re.search(r'data-testid="booking-code">(\d{8})<', booked.get("/k/legal/booked").get_data(as_text=True))[1]
    guesser = _phone(legal_app)
    wrong = [f"{int(code) % 90_000_000 + 10_000_000 + n:08d}"[:8] for n in range(1, 6)]
    assert code not in wrong
    for guess in wrong:  # five wrong codes cost nothing…
        answer = _check_in(guesser, guess)
        assert answer.status_code == 400 and "找不到" in answer.get_data(as_text=True)
    # …then each try waits, twice as long after each wrong one: even the right code must wait now,
    # so guessing cannot go on at the speed of a script.
    held = _check_in(guesser, code)
    assert held.status_code == 429 and "预约码次数过多" in held.get_data(as_text=True)
    wait = int(held.headers["Retry-After"])
    assert 1 <= wait <= 600
    clock.advance(seconds=wait)
    assert _check_in(guesser, wrong[0]).status_code == 400  # the sixth wrong code: the wait doubles
    doubled = _check_in(guesser, code)
    assert doubled.status_code == 429 and int(doubled.headers["Retry-After"]) == 2 * wait
    # The wait is the guesser's: the resident, from elsewhere, checks in at once.
    resident = legal_app.test_client()
    resident.environ_base["REMOTE_ADDR"] = "192.0.2.8"
    assert _check_in(resident, code).status_code == 302
