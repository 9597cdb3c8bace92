"""The legal queue end to end over HTTP: issue → display → call → serve, and every counter action."""

from __future__ import annotations

import json
import re

from sqlalchemy import select
from test_legal_support import (  # noqa: F401  (fixtures are found by name)
    call_next,
    csrf_token,
    current_at,
    legal_admin,
    legal_app,
    legal_staff,
    login,
    staff_post,
    take_ticket,
)

from kiosk.models import AuditLog, KioskEvent


def _events(app, name=None):
    session = app.extensions["db"].Session()
    try:
        query = select(KioskEvent).where(KioskEvent.channel == "legal").order_by(KioskEvent.id)
        rows = list(session.scalars(query))
    finally:
        session.close()
    return [r for r in rows if name is None or r.name == name]


def _audit(app):
    session = app.extensions["db"].Session()
    try:
        return [
            (a.action, a.detail, a.user_id, a.at)
            for a in session.scalars(select(AuditLog).where(AuditLog.action.like("legal.%")).order_by(AuditLog.id))
        ]
    finally:
        session.close()


def test_home_tile_and_service_list_show_waiting_and_estimate(legal_app):
    client = legal_app.test_client()
    home = client.get("/").get_data(as_text=True)
    assert 'data-tile="legal.queue"' in home and "法律咨询" in home
    take_ticket(legal_app.test_client(), "mediation")
    page = client.get("/k/legal/").get_data(as_text=True)
    for name in ("法律咨询", "人民调解", "劳动仲裁", "公证", "法律援助"):
        assert name in page
    mediation = re.search(r'data-service="mediation">(.*?)</a>', page, re.S).group(1)
    assert 'data-waiting="1"' in mediation
    # Nobody served yet: the typical 40 minutes of a mediation stand in, called an estimate.
    assert "约 40 分钟" in mediation and "估计" in mediation
    assert "法治宣传" in page  # listed, but not a queue


def test_issue_display_call_serve(legal_app, legal_staff):
    kiosk = legal_app.test_client()
    first = take_ticket(kiosk, "consultation")
    second = take_ticket(legal_app.test_client(), "consultation")
    assert (first["ticket"], first["ahead"]) == ("A001", 0)
    assert (second["ticket"], second["ahead"]) == ("A002", 1)

    display = legal_app.test_client()
    board = display.get("/k/legal/display").get_data(as_text=True)
    assert 'data-stream="/events/stream?channel=legal&amp;channel=staff_calls"' in board
    state = display.get("/k/legal/display/state.json").get_json()
    assert state["calls"] == []
    assert {w["key"]: w["count"] for w in state["waiting"]}["consultation"] == 2

    staff = legal_staff
    assert staff_post(staff, "/staff/legal/counter/2/take").status_code == 302
    assert call_next(staff, 2) == "A001"
    state = display.get("/k/legal/display/state.json").get_json()
    assert state["calls"][0] == {"ticket": "A001", "counter": 2, "service": "法律咨询", "at": "10:00"}
    called = _events(legal_app, "legal.ticket_called")[-1]
    assert called.payload == {"ticket": "A001", "service": "consultation", "counter": 2, "calls": 1, "recall": False}

    # The phone page of the second ticket moves up as the first is called.
    status = kiosk.get(f"/m/legal/t/{second['token']}.json").get_json()
    assert status["status"] == "waiting" and status["ahead"] == 0

    legal_app.legal_clock.advance(minutes=12)
    assert staff_post(staff, "/staff/legal/counter/2/served").status_code == 302
    assert current_at(staff, 2) is None
    # A real service time now exists: 12 minutes per person, one counter of two busy-free.
    page = kiosk.get("/k/legal/take/consultation").get_data(as_text=True)
    assert "约 6 分钟" in page

    assert call_next(staff, 2) == "A002"
    status = kiosk.get(f"/m/legal/t/{second['token']}.json").get_json()
    assert status["status"] == "called" and status["counter"] == 2 and "2" in status["call_text"]
    actions = [a[0] for a in _audit(legal_app)]
    assert actions == ["legal.counter_taken", "legal.call_next", "legal.served", "legal.call_next"]
    staff_id = _audit(legal_app)[0][2]
    assert staff_id is not None and all(a[2] == staff_id and a[3] is not None for a in _audit(legal_app))


def test_the_event_stream_pushes_calls_to_the_display(legal_app, legal_staff):
    take_ticket(legal_app.test_client(), "legal_aid")
    call_next(legal_staff, 6)
    display = legal_app.test_client()
    legal_app.config["SSE_MAX_SECONDS"] = 1
    response = display.get("/events/stream?channel=legal&after=0", buffered=False)
    body = ""
    for chunk in response.response:
        body += chunk if isinstance(chunk, str) else chunk.decode("utf-8")
        if "legal.ticket_called" in body:
            break
    response.close()
    block = next(b for b in body.split("\n\n") if "event: legal.ticket_called" in b)
    data = json.loads(block.split("data: ", 1)[1])
    assert data["ticket"] == "F001" and data["counter"] == 6


def test_recall_no_show_window_transfer_and_pause(legal_app, legal_staff):
    for _ in range(3):
        take_ticket(legal_app.test_client(), "consultation")
    staff = legal_staff
    assert call_next(staff, 1) == "A001"
    staff_post(staff, "/staff/legal/counter/1/recall")
    recall = _events(legal_app, "legal.ticket_called")[-1].payload
    assert recall["ticket"] == "A001" and recall["recall"] is True and recall["calls"] == 2

    staff_post(staff, "/staff/legal/counter/1/no-show")
    assert current_at(staff, 1) is None
    ticket_id = int(
        re.search(r'name="ticket" value="(\d+)"', staff.get("/staff/legal/counter/1").get_data(as_text=True)).group(1)
    )
    legal_app.legal_clock.advance(minutes=10)  # inside the 15-minute window
    staff_post(staff, "/staff/legal/counter/1/recall-no-show", ticket=str(ticket_id))
    assert current_at(staff, 1) == "A001"

    staff_post(staff, "/staff/legal/counter/1/no-show")
    legal_app.legal_clock.advance(minutes=16)
    response = staff_post(staff, "/staff/legal/counter/1/recall-no-show", ticket=str(ticket_id))
    page = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert "需要重新取号" in page and current_at(staff, 1) is None

    # Transfer keeps the number and the place by time in the new queue.
    assert call_next(staff, 1) == "A002"
    staff_post(staff, "/staff/legal/counter/1/transfer", service="mediation")
    assert call_next(staff, 3) == "A002"
    moved = _events(legal_app, "legal.ticket_transferred")[-1].payload
    assert moved == {"ticket": "A002", "from": "consultation", "service": "mediation"}

    staff_post(staff, "/staff/legal/counter/1/pause", paused="1")
    response = staff_post(staff, "/staff/legal/counter/1/call")
    page = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert "暂停" in page and current_at(staff, 1) is None
    # Counter 2 still serves consultation, so the queue is not shown as paused to residents.
    assert "暂停" not in legal_app.test_client().get("/k/legal/take/consultation").get_data(as_text=True)
    staff_post(staff, "/staff/legal/counter/2/pause", paused="1")
    assert "暂停" in legal_app.test_client().get("/k/legal/take/consultation").get_data(as_text=True)
    staff_post(staff, "/staff/legal/counter/1/pause", paused="0")
    assert call_next(staff, 1) == "A003"
    actions = [a[0] for a in _audit(legal_app)]
    for expected in (
        "legal.recall",
        "legal.no_show",
        "legal.recall_no_show",
        "legal.transfer",
        "legal.counter_paused",
        "legal.counter_resumed",
    ):
        assert expected in actions


def test_staff_see_todays_queue_and_their_served_count(legal_app, legal_staff):
    take_ticket(legal_app.test_client(), "consultation", priority="elderly")
    take_ticket(legal_app.test_client(), "notarisation", phone="13912345678")
    staff = legal_staff
    page = staff.get("/staff/legal/").get_data(as_text=True)
    assert 'data-queue="consultation"' in page and "A001" in page and "D001" in page
    # Staff pages are the one place the full number appears.
    assert "13912345678" in page
    call_next(staff, 5)
    staff_post(staff, "/staff/legal/counter/5/served")
    page = staff.get("/staff/legal/counter/5").get_data(as_text=True)
    assert "您今天已办理：1" in page
    console = staff.get("/staff/").get_data(as_text=True)
    assert "panel-legal-queue" in console and "/staff/legal/" in console


def test_bad_input_gets_a_message_and_changes_nothing(legal_app, legal_staff):
    client = legal_app.test_client()
    response = client.post(
        "/k/legal/take/consultation", data={"csrf_token": csrf_token(client), "phone": "2345", "priority": ""}
    )
    assert response.status_code == 400
    assert "11 位" in response.get_data(as_text=True)
    response = client.post("/k/legal/take/consultation", data={"csrf_token": csrf_token(client), "priority": "vip"})
    assert response.status_code == 400
    assert client.get("/k/legal/take/nonsense").status_code == 404
    assert client.get("/k/legal/take/education").status_code == 404  # a service, but not a queue
    assert client.get("/m/legal/t/not-a-token").status_code == 404
    assert _events(legal_app, "legal.ticket_issued") == []
    assert legal_staff.get("/staff/legal/counter/42").status_code == 404
    response = staff_post(legal_staff, "/staff/legal/counter/1/served")
    assert "请先叫下一个号" in legal_staff.get(response.headers["Location"]).get_data(as_text=True)


def test_request_service_queue_ticket_contract(legal_app):
    plugins = legal_app.extensions["kiosk_plugins"]
    with legal_app.test_request_context("/"):
        from kiosk.stations import current_station

        station = current_station()
        first = plugins.call(
            "request_service",
            firstresult=True,
            kind="queue_ticket",
            payload={"service": "legal_aid", "source": "courier_rest"},
            station=station,
        )
        second = plugins.call(
            "request_service",
            firstresult=True,
            kind="queue_ticket",
            payload={"service": "legal_aid", "source": "courier_rest"},
            station=station,
        )
        unknown = plugins.call(
            "request_service",
            firstresult=True,
            kind="queue_ticket",
            payload={"service": "tax_advice", "source": "courier_rest"},
            station=station,
        )
        from kiosk_plugins import legal

        assert legal.request_service(kind="parking_voucher", payload={"service": "legal_aid"}, station=station) is None
    assert first["ticket"] == "F001" and second["ticket"] == "F002"
    assert first["service"] == "法律援助" and second["ahead"] == 1 and isinstance(first["ticket_id"], int)
    # The phone's address is absolute (kiosk.urls.public_url); the path is this server's.
    assert first["status_url"].startswith("http") and "/m/legal/t/" in first["status_url"] and unknown is None
    assert first["status_path"].startswith("/m/legal/t/")
    page = legal_app.test_client().get(first["status_path"])
    assert page.status_code == 200 and "F001" in page.get_data(as_text=True)


def test_admin_statistics_and_csv(legal_app, legal_admin):
    for _ in range(3):
        take_ticket(legal_app.test_client(), "consultation")
    staff = legal_admin
    clock = legal_app.legal_clock
    clock.advance(minutes=4)
    call_next(staff, 1)  # A001 waited 4 min
    clock.advance(minutes=10)
    call_next(staff, 1)  # A001 served in 10 min; A002 waited 14
    clock.advance(minutes=20)
    staff_post(staff, "/staff/legal/counter/1/no-show")
    page = staff.get("/admin/legal/?start=2024-05-06&end=2024-05-06")
    assert page.status_code == 200
    row = re.search(
        r'data-day="2024-05-06" data-service="consultation">(.*?)</tr>', page.get_data(as_text=True), re.S
    ).group(1)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells == ["3", "1", "1", "0", "9.0", "10.0", "50.0"]
    csv_response = staff.get("/admin/legal/stats.csv?start=2024-05-06&end=2024-05-06")
    assert csv_response.mimetype == "text/csv"
    lines = csv_response.get_data(as_text=True).lstrip("\ufeff").strip().splitlines()
    assert lines[1] == "2024-05-06,consultation,法律咨询,3,1,1,0,9.0,10.0,50.0"
    bad = staff.get("/admin/legal/?start=yesterday")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_data(as_text=True)
    # Counter staff cannot open the admin statistics.
    assert login(legal_app, "staff", "counter2").get("/admin/legal/").status_code == 403
