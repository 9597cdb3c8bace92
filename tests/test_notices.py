"""Station notices, today's hours and queue lengths on the home screen, and calls for staff (issue 19 points 8b, 10).

Through the real app on SQLite and PostgreSQL: staff write a notice in three
languages (login, CSRF, audit), residents see it on the home screen in theirs
until it ends; bad input is refused in the user's language with nothing
stored; a resident's 呼叫工作人员 is stored, pushed on the ``staff_calls``
channel, acknowledged by staff, and limited so it cannot be spammed.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from test_legal_support import take_ticket

from kiosk.db import session_for
from kiosk.models import AuditLog, KioskEvent
from kiosk.notices import Notice, StaffCall, hours_on

HOURS = ["mon-sun 09:00-18:00", "mon-fri 09:00-12:00,14:00-18:00", "sun closed"]


def _count(app, model, *where) -> int:
    with app.app_context(), session_for(app) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def _actions(app, prefix: str) -> list[str]:
    with app.app_context(), session_for(app) as session:
        # In the order they were written: PostgreSQL returns rows in the order they sit in the table,
        # and the rows a test's cleanup deleted leave room that new ones fill out of order.
        query = select(AuditLog.action).where(AuditLog.action.like(prefix + "%")).order_by(AuditLog.id)
        return list(session.scalars(query))


def test_hours_on_a_day_later_items_win():
    monday, saturday, sunday = date(2026, 12, 7), date(2026, 12, 12), date(2026, 12, 13)
    assert hours_on(monday, HOURS) == [("09:00", "12:00"), ("14:00", "18:00")]
    assert hours_on(saturday, HOURS) == [("09:00", "18:00")]
    assert hours_on(sunday, HOURS) == []
    assert hours_on(monday, []) is None
    assert hours_on(sunday, ["fri-mon 10:00-16:00"]) == [("10:00", "16:00")]  # across the week's end


def test_staff_write_a_notice_residents_read_it_in_their_language_until_it_ends(app, client, login, csrf):
    assert client.get("/staff/notices").status_code == 302  # staff only
    login("staff")
    texts = {
        "text_zh_Hans": "12月8日下午律师值班，欢迎咨询",
        "text_zh_Hant": "12月8日下午律師值班，歡迎諮詢",
        "text_en": "A lawyer is on duty on 8 December in the afternoon",
    }
    assert client.post("/staff/notices", data=texts).status_code == 400  # no CSRF token: refused
    assert _count(app, Notice) == 0
    response = client.post("/staff/notices", data={**texts, "csrf_token": csrf(client)})
    assert response.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="home-notices"' in home and texts["text_zh_Hans"] in home
    client.post("/lang", data={"lang": "en", "csrf_token": csrf(client)})
    home = client.get("/").get_data(as_text=True)
    assert texts["text_en"] in home and texts["text_zh_Hans"] not in home
    client.post("/lang", data={"lang": "zh_Hans", "csrf_token": csrf(client)})

    with app.app_context(), session_for(app) as session:
        notice_id = session.scalar(select(Notice.id))
    edited = {**texts, "text_zh_Hans": "12月8日全天律师值班", "csrf_token": csrf(client)}
    assert client.post(f"/staff/notices/{notice_id}", data=edited).status_code == 302
    assert "12月8日全天律师值班" in client.get("/").get_data(as_text=True)
    assert client.post(f"/staff/notices/{notice_id}/end", data={"csrf_token": csrf(client)}).status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "律师值班" not in home and 'data-testid="home-notices"' not in home
    assert _actions(app, "notice.") == ["notice.created", "notice.updated", "notice.ended"]
    listing = client.get("/staff/notices").get_data(as_text=True)
    assert "12月8日全天律师值班" in listing  # kept among the ended ones


def test_a_bad_notice_is_refused_in_chinese_and_nothing_is_stored(app, client, login, csrf):
    login("staff")
    token = csrf(client)
    empty = client.post("/staff/notices", data={"text_zh_Hans": "  ", "text_en": "Closed", "csrf_token": token})
    assert empty.status_code == 400
    assert "请至少用第一种语言写通知" in empty.get_data(as_text=True)
    past = (date.today() - timedelta(days=3)).isoformat()
    late = client.post("/staff/notices", data={"text_zh_Hans": "今天闭馆", "expires_on": past, "csrf_token": token})
    assert late.status_code == 400 and "已经过去" in late.get_data(as_text=True)
    assert "今天闭馆" in late.get_data(as_text=True)  # what was typed is kept in the form
    garbled = client.post(
        "/staff/notices", data={"text_zh_Hans": "今天闭馆", "expires_on": "明天", "csrf_token": token}
    )
    assert garbled.status_code == 400
    long = client.post("/staff/notices", data={"text_zh_Hans": "长" * 201, "csrf_token": token})
    assert long.status_code == 400
    assert client.post("/staff/notices/999999/end", data={"csrf_token": token}).status_code == 404
    assert _count(app, Notice) == 0 and _actions(app, "notice.") == []


def test_home_shows_waiting_per_service_and_todays_hours(app, client):
    app.config["STATION"]["hours"] = ["mon-sun 08:30-12:00,14:00-17:30"]
    take_ticket(client, "consultation")
    take_ticket(client, "consultation")
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="home-queues"' in home
    consultation = home.split('data-service="legal.consultation"', 1)[1].split("</li>", 1)[0]
    assert "<b>2</b> 人等候" in consultation and "1、2 号窗口" in consultation
    assert "今天开放时间" in home and "08:30–12:00" in home and "14:00–17:30" in home
    app.config["STATION"]["hours"] = ["mon-sun closed"]
    assert "今天休息" in client.get("/").get_data(as_text=True)


def test_a_call_for_staff_is_pushed_answered_and_limited(app, client, login, csrf):
    token = csrf(client)
    first = client.post(
        "/call-staff", data={"screen": "legal.take", "csrf_token": token}, headers={"Accept": "application/json"}
    )
    assert first.status_code == 200
    body = first.get_json()
    assert body["ok"] and body["message"] == "工作人员马上就来，请在这里稍候。" and not body["joined"]
    again = client.post("/call-staff", data={"csrf_token": token}, headers={"Accept": "application/json"}).get_json()
    assert again["joined"] and again["call"] == body["call"]  # a second press joins the open call
    assert _count(app, StaffCall) == 1
    assert client.get("/call-staff/state.json").get_json() == {"open": 1}  # a count, nothing else
    assert _count(app, KioskEvent, KioskEvent.name == "staff_calls.called", KioskEvent.channel == "staff_calls") == 1
    # Without script: the form posts and the page it returns to says the same.
    plain = client.post("/call-staff", data={"csrf_token": token, "next": "/k/legal/"}, follow_redirects=True)
    assert "工作人员马上就来" in plain.get_data(as_text=True)

    staff = app.test_client()
    assert staff.post(f"/staff/calls/{body['call']}/ack").status_code in (302, 400)
    assert _count(app, StaffCall, StaffCall.acknowledged_at.is_not(None)) == 0  # not logged in: nothing changed
    login("staff")  # the fixture's client is now staff
    page = client.get("/staff/").get_data(as_text=True)
    assert "居民请求帮助" in page and f'data-call="{body["call"]}"' in page  # the banner on every staff page
    assert "法律咨询" in page and "legal.take" not in page  # where the resident was, in words
    assert client.post(f"/staff/calls/{body['call']}/ack").status_code == 400  # no CSRF token
    answered = client.post(f"/staff/calls/{body['call']}/ack", data={"csrf_token": csrf(client)})
    assert answered.status_code == 302
    assert _count(app, StaffCall, StaffCall.acknowledged_at.is_not(None)) == 1
    with app.app_context(), session_for(app) as session:
        event = session.scalars(select(KioskEvent).where(KioskEvent.name == "staff_calls.acknowledged")).one()
    assert event.payload["open"] == 0
    assert _actions(app, "staff_call.") == ["staff_call.called", "staff_call.acknowledged"]
    assert client.get("/call-staff/state.json").get_json() == {"open": 0}
    assert "居民请求帮助" not in client.get("/staff/").get_data(as_text=True)

    # A phone-sized address pressing again and again is refused after a few, in Chinese, with nothing stored.
    phone = app.test_client()
    phone.environ_base["REMOTE_ADDR"] = "10.8.0.23"
    phone_token = csrf(phone)
    codes = [
        phone.post("/call-staff", data={"csrf_token": phone_token}, headers={"Accept": "application/json"})
        for _ in range(5)
    ]
    assert [c.status_code for c in codes] == [200, 200, 200, 200, 429]
    assert "请求过于频繁" in codes[-1].get_json()["error"]
    assert _count(app, StaffCall) == 2  # the first became a call; the rest joined it or were refused
