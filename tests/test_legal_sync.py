"""The legal queue on the district: a station's tickets reach the hub, whose phone page follows them.

Two apps in one process, as kiosk.sync.local runs them: the station on its own
SQLite file (role station) and the hub on this run's backend (role hub).
``transfer`` is one push and pull, through the same functions the HTTP
transport calls.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from test_legal_support import call_next, install_clock, login, staff_post, take_ticket

from kiosk.db import session_for, utcnow
from kiosk.models import KioskEvent, Station
from kiosk.sync.local import enrol_local, transfer
from kiosk.sync.models import SyncOutbox, SyncPeer
from kiosk.testing import LiveServer, count_rows
from kiosk_plugins.legal import day_close, syncing
from kiosk_plugins.legal.models import HubQueue, HubTicket

PHONE = "13812345678"
#: The station names one of its queues as no default does: the hub must show the station's names.
FAMILY = {
    "key": "family",
    "prefix": "H",
    "counters": [1, 2],
    "minutes": 12,
    "label": {"zh_Hans": "家事咨询", "zh_Hant": "家事諮詢", "en": "Family law advice"},
}
MEDIATION = {
    "key": "mediation",
    "prefix": "B",
    "counters": [3],
    "minutes": 40,
    "label": {"zh_Hans": "人民调解", "zh_Hant": "人民調解", "en": "People's mediation"},
}


@pytest.fixture
def district(make_app, database_url, tmp_path, request):
    """(station app, hub app), the station enrolled at the hub."""
    path = tmp_path / "station.db"
    shutil.copy(request.getfixturevalue("kiosk_database_template"), path)
    station = make_app(
        "sqlite:///" + str(path),
        PLUGINS={"legal": {"print_tickets": False, "services": [FAMILY, MEDIATION]}},
    )
    station.legal_clock = install_clock(station)
    hub = make_app(
        database_url,
        ROLE="hub",
        STATION={"code": "district", "name": "福田区党群服务中心", "kind": "party_service"},
    )
    enrol_local(station, hub)
    return station, hub


def page(hub, token: str, station: str = "shuibei", lang: str = ""):
    """The hub's phone page and its JSON for ``token`` as a phone opens them from the QR code."""
    client = hub.test_client()
    query = f"?station={station}" + (f"&lang={lang}" if lang else "")
    html = client.get(f"/m/legal/t/{token}{query}")
    data = client.get(f"/m/legal/t/{token}.json{query}")
    return html, data


def station_json(station, token: str) -> dict:
    return station.test_client().get(f"/m/legal/t/{token}.json").get_json()


def test_tickets_issued_at_the_station_show_their_place_on_the_hubs_phone_page(district):
    station, hub = district
    kiosk = station.test_client()
    first = take_ticket(kiosk, "family", phone=PHONE)
    second = take_ticket(kiosk, "family", priority="elderly")
    third = take_ticket(kiosk, "family")

    # Not synced yet: the hub answers with a page that tries again, not an error, and shows nothing.
    html, data = page(hub, third["token"])
    assert html.status_code == 404 and 'http-equiv="refresh"' in html.get_data(as_text=True)
    assert "H003" not in html.get_data(as_text=True) and data.get_json()["pending"] is True

    pushed, _pulled = transfer(station, hub)
    assert pushed >= 3
    html, data = page(hub, third["token"])
    body = html.get_data(as_text=True)
    assert html.status_code == 200 and "H003" in body and "家事咨询" in body
    # The priority ticket goes first, then H001: two ahead, exactly as the station counts.
    hub_state = data.get_json()
    assert hub_state["ahead"] == 2 and hub_state["status"] == "waiting"
    for ticket in (first, second, third):
        at_hub = page(hub, ticket["token"])[1].get_json()
        assert at_hub == station_json(station, ticket["token"]) | {"notice": ""}
    assert page(hub, third["token"], lang="en")[1].get_json()["service"] == "Family law advice"

    # Nothing personal left the station: no phone, no priority reason.
    with station.app_context(), session_for(station) as session:
        sent = json.dumps([row.data for row in session.scalars(select(SyncOutbox))], ensure_ascii=False)
    assert PHONE not in sent and "5678" not in sent and "elderly" not in sent
    assert '"priority": true' in sent and f'"token": "{first["token"]}"' in sent
    assert "5678" not in body and "5678" not in json.dumps(hub_state)


def test_a_call_at_the_station_reaches_the_hubs_page_and_its_push_stream(district):
    from kiosk.testing import EventStream

    station, hub = district
    kiosk = station.test_client()
    first = take_ticket(kiosk, "family")
    second = take_ticket(kiosk, "family")
    transfer(station, hub)
    assert page(hub, second["token"])[1].get_json()["ahead"] == 1

    staff = login(station, "staff")
    with LiveServer(hub) as server, EventStream(server.url, "/events/stream?channel=legal&station=shuibei") as stream:
        assert call_next(staff, 2) == "H001"
        transfer(station, hub)
        called = stream.wait_for("legal.ticket_called", timeout=5)
        assert called is not None and called["ticket"] == "H001" and called["counter"] == 2
    state = page(hub, first["token"])[1].get_json()
    assert state["status"] == "called" and state["counter"] == 2 and "2" in state["call_text"]
    html = page(hub, first["token"])[0].get_data(as_text=True)
    assert "It is your turn" in html or "轮到您" in html or state["status_text"] in html
    assert page(hub, second["token"])[1].get_json()["ahead"] == 0

    # Recall, served with the next call, no-show: each state as the station has it.
    staff_post(staff, "/staff/legal/counter/2/recall")
    assert call_next(staff, 2) == "H002"
    staff_post(staff, "/staff/legal/counter/2/no-show")
    transfer(station, hub)
    assert page(hub, first["token"])[1].get_json()["status"] == "served"
    assert page(hub, second["token"])[1].get_json()["status"] == "no_show"
    with hub.app_context(), session_for(hub) as session:
        names = [e.name for e in session.scalars(select(KioskEvent).order_by(KioskEvent.id))]
    assert names.count("legal.ticket_called") == 3  # H001, its recall, H002
    assert "legal.ticket_served" in names and "legal.ticket_no_show" in names


def test_priority_skips_and_a_transfer_keep_the_hubs_places_right(district):
    station, hub = district
    kiosk = station.test_client()
    tickets = [take_ticket(kiosk, "family") for _ in range(3)]
    tickets += [take_ticket(kiosk, "family", priority="pregnant"), take_ticket(kiosk, "family")]
    staff = login(station, "staff")
    # The priority ticket is called first: the three earlier normal tickets are skipped once each.
    assert call_next(staff, 1) == "H004"
    staff_post(staff, "/staff/legal/counter/1/transfer", service="mediation")
    transfer(station, hub)
    for ticket in tickets:
        assert page(hub, ticket["token"])[1].get_json() == station_json(station, ticket["token"]) | {"notice": ""}
    moved = page(hub, tickets[3]["token"])[1].get_json()
    assert moved["service"] == "人民调解" and moved["status"] == "waiting" and moved["ahead"] == 0
    with hub.app_context(), session_for(hub) as session:
        skips = dict(session.execute(select(HubTicket.code, HubTicket.skips)).all())
        names = [e.name for e in session.scalars(select(KioskEvent))]
    assert skips == {"H001": 1, "H002": 1, "H003": 1, "H004": 0, "H005": 0}
    assert "legal.ticket_transferred" in names


def test_a_station_not_heard_from_shows_the_offline_notice_with_the_time(district):
    station, hub = district
    waiting = take_ticket(station.test_client(), "family")
    transfer(station, hub)
    html, data = page(hub, waiting["token"])
    assert data.get_json()["notice"] == "" and 'data-testid="offline-notice" hidden' in html.get_data(as_text=True)

    # A quiet station that is online is heard from once a minute (its pulls): no notice at 70 s.
    with hub.app_context(), session_for(hub, write=True) as session:
        session.execute(update(SyncPeer).values(last_sync_at=utcnow() - timedelta(seconds=70)))
        session.commit()
    assert page(hub, waiting["token"])[1].get_json()["notice"] == ""
    # Last heard from seven minutes ago: the page says since when, on the station's clock.
    last = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=7)
    with hub.app_context(), session_for(hub, write=True) as session:
        session.execute(update(SyncPeer).values(last_sync_at=last))
        session.commit()
    shanghai = ZoneInfo("Asia/Shanghai")
    # Just after midnight on the station's clock, seven minutes ago was yesterday: the date is given too.
    same_day = last.astimezone(shanghai).date() == utcnow().astimezone(shanghai).date()
    local = last.astimezone(shanghai).strftime("%H:%M" if same_day else "%m-%d %H:%M")
    html, data = page(hub, waiting["token"])
    assert data.get_json()["notice"] == f"本站自 {local} 起离线；以下为最后已知位置"
    assert f"本站自 {local} 起离线" in html.get_data(as_text=True)
    assert data.get_json()["ticket"] == "H001" and data.get_json()["ahead"] == 0
    english = page(hub, waiting["token"], lang="en")[1].get_json()["notice"]
    assert english == f"The station has been offline since {local}; this is the last known position."
    traditional = page(hub, waiting["token"], lang="zh_Hant")[1].get_json()["notice"]
    assert traditional == f"本站自 {local} 起離線；以下為最後已知位置"

    # Heard from again: the notice goes.
    transfer(station, hub)
    with hub.app_context(), session_for(hub, write=True) as session:
        session.execute(update(SyncPeer).values(last_sync_at=utcnow()))
        session.commit()
    assert page(hub, waiting["token"])[1].get_json()["notice"] == ""


def test_transferring_again_changes_nothing_and_a_replayed_entry_is_idempotent(district):
    station, hub = district
    kiosk = station.test_client()
    tickets = [take_ticket(kiosk, "family") for _ in range(2)]
    call_next(login(station, "staff"), 1)
    transfer(station, hub)
    before_rows = count_rows(hub, HubTicket), count_rows(hub, HubQueue)
    before_events = count_rows(hub, KioskEvent)
    before = [page(hub, t["token"])[1].get_json() for t in tickets]
    assert transfer(station, hub) == (0, 0)
    # Entries applied again, as if the core had not filtered a replay: the whole history ends in the
    # same state, and the latest state of each record applied again changes nothing and pushes nothing.
    with station.app_context(), session_for(station) as session:
        entries = [(r.kind, r.key, r.data) for r in session.scalars(select(SyncOutbox).order_by(SyncOutbox.id))]
    latest = list({(kind, key): (kind, key, data) for kind, key, data in entries}.values())
    assert len(latest) < len(entries)

    def apply(batch):
        with hub.app_context(), session_for(hub, write=True) as session:
            sender = session.scalar(select(Station).where(Station.code == "shuibei"))
            for kind, key, data in batch:
                (syncing.apply_ticket if kind == syncing.TICKET else syncing.apply_queue)(session, sender, key, data)
            session.commit()

    apply(entries)
    assert (count_rows(hub, HubTicket), count_rows(hub, HubQueue)) == before_rows == (2, 1)
    assert [page(hub, t["token"])[1].get_json() for t in tickets] == before
    replayed = count_rows(hub, KioskEvent)
    apply(latest)
    assert count_rows(hub, KioskEvent) == replayed
    assert [page(hub, t["token"])[1].get_json() for t in tickets] == before
    assert before_events > 0


def test_a_wrong_station_in_the_link_shows_nothing_of_the_ticket(district, make_app, tmp_path, request):
    station, hub = district
    ticket = take_ticket(station.test_client(), "family")
    transfer(station, hub)
    # A second station enrolled at the same hub.
    path = tmp_path / "other.db"
    shutil.copy(request.getfixturevalue("kiosk_database_template"), path)
    other = make_app("sqlite:///" + str(path), STATION={"code": "tianbei", "name": "田贝社区党群服务中心"})
    enrol_local(other, hub)
    for code in ("tianbei", "district", "nowhere", "x\x00y"):
        html, data = page(hub, ticket["token"], station=code)
        assert html.status_code == 404 and data.status_code == 404, code
        assert "H001" not in html.get_data(as_text=True) and "H001" not in data.get_data(as_text=True)
    for token in ("nope", "x" * 40, "a%00b"):
        response = hub.test_client().get(f"/m/legal/t/{token}.json?station=shuibei")
        assert response.status_code == 404 and response.get_json()["pending"] is True, token
    assert hub.test_client().get("/m/legal/t/..%2f.json?station=shuibei").status_code == 404
    assert page(hub, ticket["token"])[0].status_code == 200


def test_tickets_left_at_day_close_and_service_requests_reach_the_hub(district):
    from kiosk.services import request_service
    from kiosk.stations import current_station

    station, hub = district
    left = take_ticket(station.test_client(), "family")
    with station.test_request_context("/"):
        asked = request_service("queue_ticket", {"service": "mediation"}, current_station())
    # The address a courier station prints is the phone page's public one, never a path.
    assert asked["ticket"] == "B001" and asked["status_url"].startswith("http")
    assert "/m/legal/t/" in asked["status_url"]
    station.legal_clock.advance(days=1)
    assert day_close.expire_old_tickets(station) == 2
    transfer(station, hub)
    token = asked["status_path"].split("/t/")[1].split("?")[0]
    assert page(hub, left["token"])[1].get_json()["status"] == "expired"
    assert page(hub, token)[1].get_json()["status"] == "expired"
    # The hub runs no queue: it gives out no tickets for other plugins.
    with hub.test_request_context("/"):
        assert request_service("queue_ticket", {"service": "mediation"}, current_station()) is None


def test_the_hub_refuses_an_unreadable_ticket_entry_and_keeps_nothing_of_it(district):
    station, hub = district
    take_ticket(station.test_client(), "family")
    with station.app_context(), session_for(station) as session:
        good = session.scalar(select(SyncOutbox).where(SyncOutbox.kind == syncing.TICKET)).data
    bad = [
        {**good, "status": "lost"},
        {**good, "queue_at": "yesterday"},
        {**good, "queue_at": "2024-05-06T10:00:00"},  # no zone
        {**good, "number": "one"},
        {**good, "place": 2**40},  # beyond an integer column
        {**good, "counter": -1},
        {**good, "token": "another"},
        "not an object",
    ]
    with hub.app_context(), session_for(hub, write=True) as session:
        sender = session.scalar(select(Station).where(Station.code == "shuibei"))
        for data in bad:
            with pytest.raises(syncing.BadEntry):
                syncing.apply_ticket(session, sender, good["token"], data)
        session.rollback()
    assert count_rows(hub, HubTicket) == 0


def test_the_ticket_qr_code_of_an_enrolled_station_opens_the_hubs_page(district):
    from urllib.parse import urlsplit

    from kiosk.stations import current_station
    from kiosk.sync.models import SyncState
    from kiosk_plugins.legal import issuing
    from kiosk_plugins.legal.models import Ticket

    station, hub = district
    with station.app_context(), session_for(station, write=True) as session:
        session.execute(update(SyncState).values(hub_public_url="https://hub.futian.example.cn"))
        session.commit()
    taken = take_ticket(station.test_client(), "family")
    with station.test_request_context("/"):
        from kiosk.db import get_session

        ticket = get_session().scalar(select(Ticket).where(Ticket.token == taken["token"]))
        url = issuing.status_url(ticket, current_station())
    # What the printed ticket and the issued screen carry (kiosk.urls.public_url): the hub, with the station.
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "https://hub.futian.example.cn"
    assert parts.path == f"/m/legal/t/{taken['token']}" and "station=shuibei" in parts.query
    transfer(station, hub)
    opened = hub.test_client().get(f"{parts.path}?{parts.query}")
    assert opened.status_code == 200 and "H001" in opened.get_data(as_text=True)


def test_district_staff_at_the_hub_see_the_stations_queue_and_change_nothing(district):
    from kiosk.testing import Auth
    from kiosk_plugins.legal.models import Counter, Ticket

    station, hub = district
    install_clock(hub)  # the hub's "today" is the station's
    kiosk = station.test_client()
    take_ticket(kiosk, "family", phone=PHONE)
    take_ticket(kiosk, "family", priority="disabled")
    take_ticket(kiosk, "mediation")
    assert call_next(login(station, "staff"), 3) == "B001"
    transfer(station, hub)

    auth = Auth(hub, hub.test_client())
    auth.login("district")
    staff = auth.client
    overview = staff.get("/staff/legal/?station=shuibei")
    body = overview.get_data(as_text=True)
    assert overview.status_code == 200 and 'data-testid="hub-note"' in body
    # Call order as the station's: the priority ticket first; B001 is at counter 3.
    assert body.index("H002") < body.index("H001") and "B001" in body and "家事咨询" in body
    assert PHONE not in body and "5678" not in body
    console = staff.get("/staff/").get_data(as_text=True)
    assert 'data-service="family"' in console and "家事咨询" in console and "B001" in console
    # Counter actions and the schedule are the station's: back to the overview, nothing written.
    for path in ("/staff/legal/counter/1/call", "/staff/legal/counter/1/pause"):
        answer = staff_post(staff, path, paused="1")
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/staff/legal/")
    assert staff.get("/staff/legal/schedule").status_code == 302
    assert count_rows(hub, Ticket) == 0 and count_rows(hub, Counter) == 0
    assert page(hub, take_ticket(kiosk, "family")["token"])[0].status_code == 404  # not synced yet


def test_day_close_runs_at_the_station_and_the_hub_forgets_old_tickets(district):
    from kiosk.jobs import run_due

    station, hub = district
    take_ticket(station.test_client(), "family")
    transfer(station, hub)
    at_station = run_due(station, now=station.legal_clock())
    assert "legal.close_day" in at_station and "legal.prune_hub_tickets" not in at_station
    hub_clock = install_clock(hub)
    assert "legal.close_day" not in run_due(hub, now=hub_clock()) and count_rows(hub, HubTicket) == 1
    hub_clock.advance(days=401)
    assert "legal.prune_hub_tickets" in run_due(hub, now=hub_clock())
    assert count_rows(hub, HubTicket) == 0 and count_rows(hub, HubQueue) == 1


def test_the_hubs_statistics_of_a_station_are_the_stations_own(district):
    from kiosk.testing import Auth

    station, hub = district
    install_clock(hub)
    kiosk = station.test_client()
    for _ in range(3):
        take_ticket(kiosk, "family")
    take_ticket(kiosk, "mediation")
    staff = login(station, "staff")
    call_next(staff, 1)
    station.legal_clock.advance(minutes=9)
    call_next(staff, 1)
    staff_post(staff, "/staff/legal/counter/1/no-show")
    call_next(staff, 2)
    staff_post(staff, "/staff/legal/counter/2/transfer", service="mediation")
    transfer(station, hub)

    at_station = login(station, "admin").get("/admin/legal/stats.csv").get_data(as_text=True)
    auth = Auth(hub, hub.test_client())
    auth.login("district")
    at_hub = auth.client.get("/admin/legal/stats.csv?station=shuibei")
    assert at_hub.status_code == 200
    assert at_hub.get_data(as_text=True) == at_station
    assert "家事咨询" in at_station and "人民调解" in at_station
    html = auth.client.get("/admin/legal/?station=shuibei").get_data(as_text=True)
    assert "家事咨询" in html


def test_over_http_the_printed_qr_code_opens_the_hub_and_a_call_shows_there(make_app, database_url, tmp_path, request):
    """The real transport: `kiosk sync join`, the station's pusher thread, the hub behind a LiveServer."""
    import re
    import time
    import urllib.error
    import urllib.request

    from kiosk.cli import cli
    from kiosk.sync import pusher
    from kiosk.testing import EventStream
    from kiosk_plugins.legal import issuing
    from kiosk_plugins.legal.models import Ticket

    hub = make_app(database_url, ROLE="hub", STATION={"code": "district", "name": "福田区", "kind": "party_service"})
    path = tmp_path / "station.db"
    shutil.copy(request.getfixturevalue("kiosk_database_template"), path)
    station = make_app("sqlite:///" + str(path), PLUGINS={"legal": {"print_tickets": False}})
    with LiveServer(hub) as server:
        enrol = hub.test_cli_runner().invoke(
            cli, ["stations", "enrol", "shuibei", "--name", "水贝社区党群服务中心", "--kind", "party_service"]
        )
        token = re.search(r"kiosk sync join \S+ (\S+)", enrol.output).group(1)
        joined = station.test_cli_runner().invoke(cli, ["sync", "join", server.url, token])
        assert joined.exit_code == 0, joined.output
        worker = pusher.start(station)
        try:
            taken = take_ticket(station.test_client(), "consultation")
            with station.test_request_context("/"):
                from kiosk.db import get_session
                from kiosk.stations import current_station

                ticket = get_session().scalar(select(Ticket).where(Ticket.token == taken["token"]))
                qr = issuing.status_url(ticket, current_station())
            assert qr.startswith(server.url + "/m/legal/t/") and "station=shuibei" in qr

            def opened():
                try:
                    with urllib.request.urlopen(qr.replace("/t/" + taken["token"], f"/t/{taken['token']}.json")) as r:
                        return json.load(r)
                except urllib.error.HTTPError:
                    return None

            deadline = time.monotonic() + 15
            while (state := opened()) is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert state is not None and state["ticket"] == "A001" and state["status"] == "waiting"

            with EventStream(server.url, "/events/stream?channel=legal&station=shuibei") as stream:
                called_at = time.monotonic()
                assert call_next(login(station, "staff"), 1) == "A001"
                arrived = stream.wait_at("legal.ticket_called", timeout=15)
            assert arrived is not None and arrived[1]["ticket"] == "A001"
            print(f"call shown at the hub {arrived[0] - called_at:.2f} s after the staff pressed call")
            assert opened()["status"] == "called"
        finally:
            worker.stop()
