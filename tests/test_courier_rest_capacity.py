"""Seats and charging slots: one of each per rider, live free counts, the waiting list and holds."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from test_courier_rest_support import Kiosk, courier_app, db, kiosk, notice, slot_number, switch_off  # noqa: F401

from kiosk.db import utcnow
from kiosk.models import KioskEvent
from kiosk_plugins.courier_rest import jobs
from kiosk_plugins.courier_rest.models import Rider, Use, Waiting

PHONES = ["13900000011", "13900000012", "13900000013", "13900000014"]


def riders(app, count):
    """``count`` registered, checked-in riders, each on their own kiosk session."""
    out = []
    for i in range(count):
        k = Kiosk(app.test_client())
        k.signup(name=f"骑手{i}号", phone=PHONES[i])
        out.append(k)
    return out


def board(kiosk):
    return kiosk.get("/k/courier_rest/board.json").get_json()["board"]


def test_take_and_give_back_with_live_counts_and_events(kiosk, courier_app):
    kiosk.signup()
    assert board(kiosk)["phone"] == {"free": 2, "total": 2}
    page = kiosk.take("phone")
    html = page.get_data(as_text=True)
    assert slot_number(page) == 1
    assert "请在" in html and "前取回" in html  # the time limit, said as a time to collect by
    assert board(kiosk)["phone"] == {"free": 1, "total": 2}
    assert board(kiosk)["in_station"] == 1
    seat = kiosk.take("seat")
    assert slot_number(seat) == 1 and board(kiosk)["seat"]["free"] == 1
    with db(courier_app) as s:
        use_id = s.scalar(select(Use.id).where(Use.kind == "phone"))
        events = s.scalars(select(KioskEvent).where(KioskEvent.channel == "courier_rest").order_by(KioskEvent.id)).all()
    capacity = [e.payload for e in events if e.name == "courier_rest.capacity"]
    assert capacity[-1]["phone"] == {"free": 1, "total": 2} and capacity[-1]["seat"]["free"] == 1
    for e in events:  # pushed to public screens: numbers only
        text = repr(e.payload)
        assert "13812345678" not in text and "张" not in text and "rider" not in text
    page = kiosk.follow(kiosk.post(f"/k/courier_rest/release/{use_id}"))
    assert 'data-result="released"' in page.get_data(as_text=True)
    assert board(kiosk)["phone"]["free"] == 2


def test_one_seat_and_one_charging_slot_per_rider(kiosk, courier_app):
    kiosk.signup()
    assert slot_number(kiosk.take("phone")) == 1
    page = kiosk.take("battery")  # another kind of charging: still one charging slot per rider
    assert "1 号充电位" in notice(page) or "您已在使用 1 号充电位" in notice(page)
    page = kiosk.take("phone")
    assert "您已在使用 1 号充电位" in notice(page)
    kiosk.take("seat")
    assert "您已在使用 1 号座位" in notice(kiosk.take("seat"))
    with db(courier_app) as s:
        assert sorted(s.scalars(select(Use.kind).where(Use.live_slot_id.is_not(None)))) == ["phone", "seat"]
    # The menu shows what the rider holds instead of offering more.
    menu = kiosk.menu().get_data(as_text=True)
    assert 'data-need="phone" data-state="have"' in menu
    assert 'data-need="battery" data-state="blocked"' in menu


def test_seats_full_says_what_is_still_possible(courier_app):
    a, b, c = riders(courier_app, 3)
    a.take("seat")
    b.take("seat")
    page = c.take("seat")
    assert page.request.path == "/k/courier_rest/menu"
    assert "座位暂时已满" in notice(page)
    assert 'data-need="seat" data-state="full"' in c.menu().get_data(as_text=True)


def test_waiting_list_holds_the_freed_slot_for_the_first_in_line(courier_app):
    a, b, c, d = riders(courier_app, 4)
    assert slot_number(a.take("phone")) == 1
    assert slot_number(b.take("phone")) == 2
    full = c.take("phone")
    assert 'data-result="full"' in full.get_data(as_text=True)
    page = c.wait("phone")
    html = page.get_data(as_text=True)
    assert 'data-testid="waiting-number">W01<' in html and "前面还有 0 人" in html
    assert 'data-testid="waiting-number">W02<' in d.wait("phone").get_data(as_text=True)
    assert board(a)["waiting"]["phone"] == 2
    # Joining twice keeps the same place.
    assert "W01" in c.wait("phone").get_data(as_text=True)
    # The rider's phone page shows their place in line, masked.
    with db(courier_app) as s:
        token_c = s.scalar(select(Rider.pass_token).where(Rider.phone == PHONES[2]))
    mobile = c.get(f"/m/courier_rest/r/{token_c}").get_data(as_text=True)
    assert "W01" in mobile and "139****0013" in mobile and PHONES[2] not in mobile

    a.checkout()  # slot 1 frees and is kept for W01, not given to whoever taps first
    assert board(a)["phone"]["free"] == 0
    ready = a.get("/k/courier_rest/board.json").get_json()["ready"]
    assert [(r["no"], r["slot"]) for r in ready] == [("W01", 1)]
    assert "W01" in a.get("/k/courier_rest/").get_data(as_text=True)
    mobile = c.get(f"/m/courier_rest/r/{token_c}").get_data(as_text=True)
    assert 'data-testid="offer"' in mobile and "1 号位" in mobile
    with db(courier_app) as s:
        ready_events = s.scalars(select(KioskEvent.payload).where(KioskEvent.name == "courier_rest.slot_ready")).all()
    assert ready_events[-1]["waiting_no"] == "W01" and ready_events[-1]["slot"] == 1
    # W02 cannot jump the line; W01 takes the kept slot from the menu.
    assert 'data-state="waiting"' in d.menu().get_data(as_text=True)
    menu = c.menu().get_data(as_text=True)
    assert 'data-testid="take-held"' in menu
    page = c.follow(c.post("/k/courier_rest/take-held"))
    assert slot_number(page) == 1
    with db(courier_app) as s:
        states = dict(s.execute(select(Waiting.number, Waiting.state)).all())
    assert states == {1: "served", 2: "waiting"}


def test_a_hold_nobody_takes_passes_to_the_next_rider(courier_app):
    a, b, c, d = riders(courier_app, 4)
    a.take("phone")
    b.take("phone")
    c.wait("phone")
    d.wait("phone")
    a.checkout()
    later = utcnow() + timedelta(minutes=11)
    with courier_app.app_context():
        done = jobs.tick(courier_app, now=later)
    assert done["holds"] == 1 and done["offered"] == 1
    with db(courier_app) as s:
        states = dict(s.execute(select(Waiting.number, Waiting.state)).all())
    assert states == {1: "expired", 2: "offered"}
    page = c.follow(c.post("/k/courier_rest/take-held"))
    assert "转给了下一位骑手" in notice(page)
    assert slot_number(d.follow(d.post("/k/courier_rest/take-held"))) == 1


def test_leaving_the_line_by_checking_out_frees_the_place(courier_app):
    a, b, c, d = riders(courier_app, 4)
    a.take("phone")
    b.take("phone")
    c.wait("phone")
    d.wait("phone")
    c.checkout()
    a.checkout()
    with db(courier_app) as s:
        states = dict(s.execute(select(Waiting.number, Waiting.state)).all())
    assert states == {1: "cancelled", 2: "offered"}


def test_waiting_is_refused_while_a_slot_is_free(kiosk):
    kiosk.signup()
    page = kiosk.wait("phone")
    assert "现在有空闲充电位" in notice(page)


def test_menu_and_phone_page_show_an_overdue_slot(kiosk, courier_app):
    kiosk.signup()
    kiosk.take("phone")
    with db(courier_app) as s:
        use = s.scalar(select(Use))
        use.due_at = utcnow() - timedelta(minutes=5)
        token = s.scalar(select(Rider.pass_token))
        s.commit()
    assert "cr-late" in kiosk.menu().get_data(as_text=True)
    assert 'class="card late"' in kiosk.get(f"/m/courier_rest/r/{token}").get_data(as_text=True)
    assert kiosk.get("/m/courier_rest/r/not-a-real-token-000").status_code == 404


def test_taking_a_phone_slot_while_in_line_for_a_battery_leaves_the_line(courier_app):
    a, b = riders(courier_app, 2)
    a.take("battery")  # the station's only battery slot
    b.wait("battery")
    assert slot_number(b.take("phone")) == 1
    a.checkout()  # the battery slot frees: nobody is in line any more, so it stays free
    with db(courier_app) as s:
        assert s.scalar(select(Waiting.state)) == "cancelled"
        assert s.scalar(select(Use.id).where(Use.state == "held")) is None
    assert board(a)["battery"]["free"] == 1


def test_the_home_screen_says_what_is_free_now_and_names_nobody(kiosk, courier_app, csrf):
    def line():
        home = kiosk.get("/").get_data(as_text=True)
        return home.split('data-service="courier_rest.places"', 1)[1].split("</li>", 1)[0]

    # No place made yet (no rider screen opened): the station's settings, all free.
    assert "暖蜂驿站空位：座位 2，手机 2，电池 1" in line()
    kiosk.signup()
    kiosk.take("phone")
    kiosk.take("seat")
    shown = line()
    assert "暖蜂驿站空位：座位 1，手机 1，电池 1" in shown
    assert "张三明" not in shown and "5678" not in shown and "人等候" not in shown
    kiosk.client.post("/lang", data={"lang": "en", "csrf_token": csrf(kiosk.client)})
    assert "Rider rest station, free places: seats 1, phones 1, batteries 1" in line()
    switch_off(courier_app, "courier_rest")
    assert 'data-service="courier_rest.' not in kiosk.get("/").get_data(as_text=True)
