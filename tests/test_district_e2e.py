"""The district, proven with the processes an operator runs (issue 15, "Proof").

A hub (``kiosk serve``, role hub, PostgreSQL) and stations (``kiosk serve`` on
SQLite files), each station linked to the hub only through a TCP relay the test
cuts and restores; enrolment through ``kiosk stations enrol`` and ``kiosk sync
join``; residents and staff through the real HTTP pages with CSRF; receipts
decoded from the bytes a fake TCP printer received; card taps written to a
serial card reader's pseudo-terminal. See tests/district_harness.py.

PostgreSQL only (the hub runs on it; CI sets KIOSK_TEST_DATABASE_URL), in two
xdist groups of about equal time (``district`` and ``district-2``, the latter
with tests/test_deploy_docs.py's guide run): each test starts three or four
servers, so one group runs its tests one after another, but all of them in one
group made a single worker's run of some 280 s, the suite's longest pole. Each
test has its own hub database, folders and ports; nothing is shared between
them.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import time
from pathlib import Path

import pytest
import requests
from flask import Flask

from kiosk.testing import PG_SKIP, PG_URL, EventStream

sys.path.insert(0, str(Path(__file__).resolve().parent))

from district_harness import (  # noqa: E402 - the harness lives beside the tests
    SECRET,
    Browser,
    District,
    Station,
    expect_redirect,
    receipt_qr_codes,
    wait_for,
)

pytestmark = pytest.mark.skipif(not PG_URL, reason=PG_SKIP)
#: The two halves (see the module's docstring); tests/test_deploy_docs.py's district test is in the second.
FIRST_HALF = pytest.mark.xdist_group("district")
SECOND_HALF = pytest.mark.xdist_group("district-2")

A = ("shuibei", "水贝社区党群服务中心", "party_service")
B = ("huangbei", "黄贝社区党群服务中心", "party_service")
#: Demo households (``kiosk demo`` loads them at every station): phone and plate.
HOUSEHOLDS = [("13800138001", "粤B12345"), ("13800138002", "粤BD10086"), ("13900139004", "粤BF26888")]


@pytest.fixture
def district(tmp_path):
    with District(tmp_path, dispatch=True) as d:
        yield d


def make_station(district: District, spec, start: bool = True) -> Station:
    """A station with the demo data (households, lots, counters, a staff account), enrolled at the hub."""
    code, name, kind = spec
    station = district.add_station(code, name, kind, enrol=False, start=False)
    station.cli("demo")
    station.join(district.hub.enrol(code, name, kind))
    if start:
        station.start()
    return station


# -- what residents and staff do at a station ----------------------------------------------------
def session_of(browser: Browser) -> dict:
    """What the server put in this browser's session cookie (signed; readable with the key)."""
    reader = Flask("session-reader")
    reader.secret_key = SECRET
    return reader.session_interface.get_signing_serializer(reader).loads(browser.http.cookies["session"])


def take_ticket(screen: Browser, station: Station) -> str:
    """A resident takes a consultation ticket at the kiosk; its token.

    The kiosk keeps it with the visitor on the server (the cookie holds only
    the turn's random id), so it is read from the station's database.
    """
    import hashlib

    screen.get("/k/legal/")
    expect_redirect(screen.post("/k/legal/take/consultation", {"phone": "", "priority": ""}), "/k/legal/issued")
    key = hashlib.sha256(session_of(screen)["kiosk_visit"].encode()).hexdigest()
    (data,) = station.sql("SELECT data FROM kiosk_visitor WHERE key = ?", key)[0]
    data = json.loads(data)
    return data["legal"]["data"]["issued"]["token"]


class Counter:
    """A staff member at counter 1 of a station's legal queue."""

    def __init__(self, station: Station, number: int = 1):
        self.browser = station.browser()
        self.browser.login("staff", "kiosk-staff-demo")
        self.number = number
        self.browser.get("/staff/legal/")
        expect_redirect(self.browser.post(f"/staff/legal/counter/{number}/take"), "/staff/legal/counter")

    def call_next(self) -> None:
        self.browser.get(f"/staff/legal/counter/{self.number}")
        response = self.browser.post(f"/staff/legal/counter/{self.number}/call")
        assert response.status_code in (302, 303), response.text[:500]


def register_rider(screen: Browser, phone: str, name: str = "骑手小王") -> None:
    """A new rider registers by phone at the 暖蜂驿站 screen (and is checked in)."""
    screen.get("/k/courier_rest/")
    expect_redirect(screen.post("/k/courier_rest/phone", {"phone": phone}), "/register")
    screen.get("/k/courier_rest/register")
    expect_redirect(
        screen.post(
            "/k/courier_rest/register", {"name": name, "phone": phone, "platform": "meituan", "vehicle": "ebike"}
        ),
        "/k/courier_rest/result",
    )


def as_kiosk_terminal(station: Station, screen: Browser) -> None:
    """The screen holds the credential of the station's own kiosk terminal, kiosk-1 (issue 16), enrolled once."""
    credential = getattr(station, "kiosk_credential", None)
    if credential is None:
        enrolled = station.enrol_terminal(Browser(station.url))
        credential = station.kiosk_credential = enrolled.http.cookies["kiosk_terminal"]
    screen.http.cookies.set("kiosk_terminal", credential)


def tap_card(station: Station, screen: Browser, uid: str) -> str:
    """Lay a card on the station's serial reader while the check-in screen is open; where the page goes."""
    as_kiosk_terminal(station, screen)
    cookies = "; ".join(f"{c.name}={c.value}" for c in screen.http.cookies)
    with EventStream(station.url, "/events/reader?screen=courier_rest.checkin", headers={"Cookie": cookies}) as stream:
        station.reader.tap(uid)
        action = stream.wait_for("reader", timeout=15)
    assert action and action.get("redirect"), f"the card tap reached no page: {action}"
    response = screen.get(action["redirect"])  # the terminal's single-use link: on to the plugin's page
    if response.status_code in (302, 303) and "/r/" not in action["redirect"]:
        return response.headers.get("Location", "")
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    response = screen.get(response.headers["Location"])
    return response.headers.get("Location", "") if response.status_code in (302, 303) else response.url


def register_rider_with_card(station: Station, phone: str, uid: str, name: str = "骑手小李") -> None:
    screen = station.browser()
    screen.get("/k/courier_rest/")
    assert "/register" in tap_card(station, screen, uid)
    screen.get("/k/courier_rest/register")
    expect_redirect(
        screen.post(
            "/k/courier_rest/register", {"name": name, "phone": phone, "platform": "eleme", "vehicle": "ebike"}
        ),
        "/k/courier_rest/result",
    )


def issue_voucher(screen: Browser, phone: str, plate: str) -> int:
    """A household takes a parking voucher for the first window offered; the voucher's id at the station."""
    screen.get("/k/parking/")
    expect_redirect(screen.post("/k/parking/identify", {"phone": phone}), "/k/parking/plate")
    expect_redirect(screen.post("/k/parking/plate", {"plate": plate}), "/k/parking/lots")
    lots = screen.get("/k/parking/lots").text
    offer = re.search(r'href="/k/parking/confirm\?window=(\d+)&amp;day=([\d-]+)"', lots)
    assert offer, "no parking window offered"
    screen.get(f"/k/parking/confirm?window={offer.group(1)}&day={offer.group(2)}")
    location = expect_redirect(
        screen.post("/k/parking/issue", {"window": offer.group(1), "day": offer.group(2)}), "/k/parking/voucher/"
    )
    return int(re.search(r"/voucher/(\d+)", location).group(1))


def submit_petition(screen: Browser, marker: str) -> str:
    """A resident sends a request from the kiosk's last step; its status token."""
    screen.get("/k/petitions/new")
    location = expect_redirect(
        screen.post(
            "/k/petitions/new",
            {
                "step": "4",
                "go": "submit",
                "type": "complaint",
                "category": "environment",
                "place": "other",
                "description": f"楼道灯坏了，晚上很黑 {marker}",
                "anonymous": "1",
            },
        ),
        "/k/petitions/done/",
    )
    return location.split("/done/")[1].split("?")[0]


# -- what the hub holds --------------------------------------------------------------------------
def hub_tickets(district: District, code: str) -> list[tuple[str, str, int]]:
    """(token, status, place) of the station's tickets at the hub, in the order the hub stored them."""
    return [
        tuple(row)
        for row in district.hub.sql(
            "SELECT t.token, t.status, t.place FROM legal_hub_ticket t JOIN station s ON s.id = t.station_id "
            "WHERE s.code = :code ORDER BY t.id",
            code=code,
        )
    ]


def hub_petitions(district: District, code: str) -> dict[str, tuple[str, str]]:
    """token → (tracking number, status) of the station's petitions at the hub."""
    rows = district.hub.sql(
        "SELECT p.token, p.tracking_no, p.status FROM petitions_request p JOIN station s ON s.id = p.station_id "
        "WHERE s.code = :code",
        code=code,
    )
    return {token: (number, status) for token, number, status in rows}


def hub_riders_by_phone(district: District, phone: str) -> int:
    return district.hub.sql("SELECT count(*) FROM courier_rest_rider WHERE phone = :phone", phone=phone)[0][0]


def station_voucher_code(station: Station, voucher_id: int) -> str:
    return station.sql("SELECT code FROM parking_voucher WHERE id = ?", voucher_id)[0][0]


def hub_parked(district: District) -> list:
    return district.hub.sql("SELECT kind, key, reason FROM sync_parked")


def hub_snapshot(district: District) -> dict:
    """The hub's sync tables, to show that a refused batch changed nothing."""
    hub = district.hub
    return {
        "peers": hub.sql("SELECT station_id, last_seq, revoked_at, key_hash FROM sync_peer ORDER BY station_id"),
        "stations": hub.sql("SELECT id, code, name FROM station ORDER BY id"),
        "parked": hub.sql("SELECT count(*) FROM sync_parked")[0][0],
        "tickets": hub.sql("SELECT count(*) FROM legal_hub_ticket")[0][0],
    }


# -- offline, then back --------------------------------------------------------------------------
def work_offline(station: Station, n: int) -> dict:
    """Residents and staff use every service of a station (its link is down); what they were given."""
    kiosk = station.browser()
    tokens = [take_ticket(kiosk, station) for _ in range(3)]
    Counter(station).call_next()  # the first ticket is called while offline: its latest state must win
    phones = [f"1391{n}00{k:04d}" for k in range(2)]
    for phone in phones:
        register_rider(station.browser(), phone)
    vouchers = [issue_voucher(station.browser(), *HOUSEHOLDS[n])]
    petitions = [submit_petition(station.browser(), f"[{station.code}-offline]")]
    return {"tickets": tokens, "riders": phones, "vouchers": vouchers, "petitions": petitions}


def check_arrived_once_in_order(district: District, station: Station, did: dict) -> None:
    """Everything the station did is at the hub, once each, in the station's order, in its latest state."""
    top = district.synced(station)
    assert district.hub.last_seq(station.code) == top
    tickets = hub_tickets(district, station.code)
    tokens = [t[0] for t in tickets]
    assert len(tokens) == len(set(tokens)), "a ticket stored twice at the hub"
    ours = [t for t in tickets if t[0] in did["tickets"]]
    assert [t[0] for t in ours] == did["tickets"], "the hub has the tickets in another order than they were issued"
    assert [t[2] for t in ours] == sorted(t[2] for t in ours)
    assert ours[0][1] == "called" and {t[1] for t in ours[1:]} == {"waiting"}, ours
    for phone in did["riders"]:
        assert hub_riders_by_phone(district, phone) == 1, phone
    for voucher_id in did["vouchers"]:
        at_hub = district.hub.sql(
            "SELECT v.code, v.status FROM parking_hub_voucher v JOIN station s ON s.id = v.station_id "
            "WHERE s.code = :code AND v.serial = :serial",
            code=station.code,
            serial=voucher_id,
        )
        assert at_hub == [(station_voucher_code(station, voucher_id), "issued")], at_hub
    petitions = hub_petitions(district, station.code)
    for token in did["petitions"]:
        assert token in petitions
    assert hub_parked(district) == [], "entries the hub could not apply"


@FIRST_HALF
def test_two_stations_offline_then_back_every_record_reaches_the_hub_once_in_order(district):
    district.start_hub()
    a, b = make_station(district, A), make_station(district, B)
    district.synced(a), district.synced(b)  # the demo data is across; from here on the link is down
    before = {code: district.hub.last_seq(code) for code in (a.code, b.code)}
    a.relay.cut()
    b.relay.cut()
    did = {a.code: work_offline(a, 1), b.code: work_offline(b, 2)}
    for station in (a, b):  # each station's pusher has tried the cut link and failed
        wait_for(station.sync_error, 30, f"{station.code}'s pusher to fail on the cut link")
    assert {code: district.hub.last_seq(code) for code in (a.code, b.code)} == before, "something crossed a cut link"
    for station in (a, b):
        assert station.outbox_waiting() > 0
        assert not set(did[station.code]["tickets"]) & {t[0] for t in hub_tickets(district, station.code)}
    a.relay.restore()
    b.relay.restore()
    for station in (a, b):
        check_arrived_once_in_order(district, station, did[station.code])
    # Both stations' petitions reached the dispatch system from the hub, once each, signed with the hub's secret.
    numbers = [hub_petitions(district, s.code)[token][0] for s in (a, b) for token in did[s.code]["petitions"]]
    wait_for(lambda: all(dispatched(district, n) for n in numbers), 60, "the petitions at the dispatch system")
    another_deliver_round(district)  # nothing is sent again
    for number in numbers:
        assert dispatched(district, number) == 1, number
    assert district.dispatch.rejected == 0


@SECOND_HALF
def test_a_station_killed_in_the_middle_of_a_sync_resends_and_the_hub_applies_once(district):
    district.start_hub()
    a = make_station(district, A)
    district.synced(a)
    a.relay.cut()
    kiosk = a.browser()
    tokens = [take_ticket(kiosk, a) for _ in range(230)]  # more than one batch of 200
    petition = submit_petition(a.browser(), "[killed-mid-sync]")
    top = a.sql("SELECT count(*) FROM sync_outbox WHERE sent_at IS NULL")[0][0]
    assert top >= 231
    start = district.hub.last_seq(a.code)
    # A slow link, so the kill lands while a batch is on its way.
    a.relay.throttle = 40_000
    a.relay.restore()
    wait_for(lambda: district.hub.last_seq(a.code) > start, 90, "the first batch to be applied", every=0.02)
    a.kill(signal.SIGKILL)
    at_kill = district.hub.last_seq(a.code)
    assert at_kill < start + top, "the kill came after the whole sync; nothing proven"
    print(f"\nSIGKILL with the hub at entry {at_kill} of {start + top}")
    a.relay.throttle = None
    a.run_out_pusher_lease()
    a.start()
    district.synced(a, seconds=120)
    at_hub = [t[0] for t in hub_tickets(district, a.code) if t[0] in set(tokens)]
    assert at_hub == tokens, "a ticket lost, doubled or out of order after the kill"
    number = hub_petitions(district, a.code)[petition][0]
    wait_for(lambda: dispatched(district, number), 60, "the petition at the dispatch system")
    another_deliver_round(district)
    assert dispatched(district, number) == 1
    assert hub_parked(district) == []


# -- phones ----------------------------------------------------------------------------------------
@FIRST_HALF
def test_a_tickets_printed_qr_opens_the_hubs_live_page_and_a_call_shows_there(district):
    district.start_hub()
    a = make_station(district, A)
    kiosk = a.browser()
    before = len(a.printer.jobs)
    token = take_ticket(kiosk, a)
    (job,) = a.printer.wait_for_jobs(before + 1, timeout=30)[before:]
    urls = [u for u in receipt_qr_codes(job) if token in u]
    assert urls, f"no QR code on the receipt names the ticket: {receipt_qr_codes(job)}"
    url = urls[0]
    assert url.startswith(district.hub.url + "/m/legal/"), f"the QR code does not open the hub: {url}"
    assert f"station={a.code}" in url
    phone = Browser(district.hub.url)

    def shown():
        response = phone.get(url)
        return response if response.status_code == 200 and "A0" in response.text else None

    page = wait_for(shown, 30, "the hub's page of the ticket")
    assert "A0" in page.text
    json_url = url.replace(f"/t/{token}", f"/t/{token}.json")
    assert phone.json(json_url)[1]["status"] == "waiting"
    counter = Counter(a)
    with EventStream(district.hub.url, f"/events/stream?channel=legal&station={a.code}") as stream:
        called_at = time.monotonic()
        counter.call_next()

        def called():
            status, data = phone.json(json_url)
            return time.monotonic() if status == 200 and data.get("status") == "called" else None

        seen = wait_for(called, 10, "the call to show on the hub's phone page", every=0.05)
        pushed = stream.wait_at("legal.ticket_called", timeout=5) or stream.wait_at("legal.changed", timeout=1)
    delay = seen - called_at
    print(f"\ncall at the station → shown on the hub's phone page: {delay * 1000:.0f} ms (target ≤ 2 s)")
    if pushed:
        print(f"call at the station → pushed on the hub's stream: {(pushed[0] - called_at) * 1000:.0f} ms")
    assert phone.json(json_url)[1]["counter"] == 1


@SECOND_HALF
def test_the_hubs_phone_page_says_since_when_its_station_is_offline_and_keeps_the_last_position(district):
    district.start_hub()
    a = make_station(district, A)
    token = take_ticket(a.browser(), a)
    district.synced(a)
    phone = Browser(district.hub.url)
    page = f"/m/legal/t/{token}?station={a.code}"
    wait_for(lambda: phone.get(page).status_code == 200, 30, "the ticket at the hub")
    assert "起离线" not in phone.get(page).text
    a.relay.cut()
    # The hub calls a station offline 90 s after its last contact. Rather than wait that out (CI
    # time), the cut station's last contact is moved three minutes back in the hub's database:
    # nothing can refresh it while the link is cut, but a push or pull already under way when the
    # link was cut may land just after: whatever it refreshed is moved back again before each look.
    from sqlalchemy import create_engine, text

    engine = create_engine(district.hub.database_url)

    def backdate() -> None:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE sync_peer SET last_sync_at = now() - interval '3 minutes' "
                    "WHERE station_id = (SELECT id FROM station WHERE code = :code) "
                    "AND (last_sync_at IS NULL OR last_sync_at > now() - interval '150 seconds')"
                ),
                {"code": a.code},
            )

    def notice():
        backdate()
        text = phone.get(page).text
        return re.search(r"本站自 (\d\d:\d\d) 起离线", text) and text

    try:
        text = wait_for(notice, 60, "the offline notice on the hub's page", every=0.5)
    finally:
        engine.dispose()
    assert "A0" in text, "the last known position is not shown"
    a.relay.restore()
    wait_for(lambda: "起离线" not in phone.get(page).text, 90, "the notice to go once the station is back", every=2)


# -- petitions -------------------------------------------------------------------------------------
def another_deliver_round(district: District) -> None:
    """Wait until the hub's deliver job has run once more, from start to end, after now.

    What that round would send again is at the dispatch system by then (a sleep
    of more than its 5 s period did the same, always the whole 6 s).
    """
    since = district.hub.sql("SELECT now()")[0][0]
    wait_for(
        lambda: district.hub.sql(
            "SELECT 1 FROM job_run WHERE name = 'petitions.deliver_district@hub' "
            "AND last_run_at > :since AND lease_until IS NULL",
            since=since,
        ),
        60,
        "one more round of the hub's deliver job",
        every=0.2,
    )


def dispatched(district: District, tracking_no: str, event: str = "created") -> int:
    """How many times the dispatch system accepted this petition's ``event`` message (signed with the hub's secret)."""
    got = district.dispatch.got
    return sum(1 for body in got if body.get("tracking_no") == tracking_no and body.get("event") == event)


@SECOND_HALF
def test_a_petition_taken_offline_reaches_dispatch_once_from_the_hub_and_its_status_comes_back(district):
    district.start_hub()
    a = make_station(district, A)
    district.synced(a)
    a.relay.cut()
    token = submit_petition(a.browser(), "[offline-petition]")
    number = a.sql("SELECT tracking_no FROM petitions_request WHERE token = ?", token)[0][0]
    # The station tried to send it and could not: the hub cannot have it, so nothing may be forwarded.
    wait_for(a.sync_error, 30, "the station's pusher to fail on the cut link")
    assert dispatched(district, number) == 0, "forwarded before the hub had it"
    a.relay.restore()
    district.synced(a)
    wait_for(lambda: dispatched(district, number), 60, "the petition at the dispatch system")
    another_deliver_round(district)
    assert dispatched(district, number) == 1
    assert district.dispatch.rejected == 0, "something was signed with another secret than the hub's"
    # District staff move it on at the hub; the station's kiosk lookup shows it, then offline too.
    district.hub.create_account("district1", "district")
    staff = district.hub.browser()
    staff.login("district1")
    (petition_id,) = district.hub.sql("SELECT id FROM petitions_request WHERE tracking_no = :n", n=number)[0]
    staff.get(f"/staff/petitions/{petition_id}?station={a.code}")
    response = staff.post(
        f"/staff/petitions/{petition_id}/update?station={a.code}",
        {"action": "in_progress", "note": "已派城管处理"},
    )
    assert response.status_code in (302, 303), response.text[:500]
    assert district.hub.sql("SELECT status FROM petitions_request WHERE id = :i", i=petition_id)[0][0] == "in_progress"
    wait_for(lambda: dispatched(district, number, "in_progress"), 60, "the status change at the dispatch system")
    (message,) = [b for b in district.dispatch.got if b.get("tracking_no") == number and b["event"] == "created"]
    assert message["station"]["code"] == a.code, "the dispatch system is not told which station took it"
    kiosk = a.browser()
    wait_for(
        lambda: a.sql("SELECT status FROM petitions_request WHERE token = ?", token)[0][0] == "in_progress",
        30,
        "the hub's status change to reach the station",
    )
    page = kiosk.get(f"/k/petitions/status/{token}")
    assert page.status_code == 200 and "办理中" in page.text, "the kiosk lookup does not show the hub's status"
    a.relay.cut()
    page = kiosk.get(f"/k/petitions/status/{token}")
    assert page.status_code == 200 and "办理中" in page.text, "the kiosk lookup needs the hub"
    assert number in page.text


# -- riders ----------------------------------------------------------------------------------------
@FIRST_HALF
def test_a_rider_registered_at_one_station_checks_in_by_card_at_another_and_one_phone_is_one_rider(district):
    district.start_hub()
    a = make_station(district, ("sungang-bee", "笋岗暖蜂驿站", "courier_station"))
    b = make_station(district, ("qingshuihe-bee", "清水河暖蜂驿站", "courier_station"))
    register_rider_with_card(a, "13912340001", "04A1B2C3D4")
    district.synced(a)
    # B pulls the district registry; then the card works there.
    screen = b.browser()
    screen.get("/k/courier_rest/")

    def checked_in_at_b():
        where = tap_card(b, screen, "04:a1:b2:c3:d4")
        return where if "/register" not in where else None

    where = wait_for(checked_in_at_b, 30, "the rider from A to be known at B", every=1)
    assert "/k/courier_rest/menu" in where, where
    visits_at_b = b.sql(
        "SELECT count(*) FROM courier_rest_visit v JOIN courier_rest_rider r ON r.id = v.rider_id "
        "WHERE r.phone = ? AND v.method_in = 'card'",
        "13912340001",
    )[0][0]
    assert visits_at_b == 1, "the card tap at B did not check the rider from A in"
    # The same phone, registered at both while both links are down: one rider at the hub.
    a.relay.cut()
    b.relay.cut()
    register_rider(a.browser(), "13912340002", "骑手老陈")
    register_rider(b.browser(), "13912340002", "骑手老陈")
    a.relay.restore()
    b.relay.restore()
    district.synced(a), district.synced(b)
    wait_for(lambda: hub_riders_by_phone(district, "13912340002") == 1, 30, "one rider at the hub")
    visits = district.hub.sql(
        "SELECT count(*) FROM courier_rest_visit v JOIN courier_rest_rider r ON r.id = v.rider_id WHERE r.phone = :p",
        p="13912340002",
    )[0][0]
    assert visits == 2, "the merged rider's visits at the two stations are not both at the hub"
    (canonical,) = district.hub.sql("SELECT uid FROM courier_rest_rider WHERE phone = :p", p="13912340002")[0]

    def one_rider_everywhere():
        uids = [s.sql("SELECT uid FROM courier_rest_rider WHERE phone = ?", "13912340002") for s in (a, b)]
        return all(rows == [(canonical,)] for rows in uids)

    wait_for(one_rider_everywhere, 30, "the merge to reach both stations")
    for station in (a, b):
        kept = station.sql(
            "SELECT count(*) FROM courier_rest_visit v JOIN courier_rest_rider r ON r.id = v.rider_id "
            "WHERE r.phone = ?",
            "13912340002",
        )[0][0]
        assert kept == 1, f"{station.code} lost its visit of the merged rider"


# -- vouchers --------------------------------------------------------------------------------------
@SECOND_HALF
def test_a_voucher_issued_offline_is_redeemed_once_at_the_hub_and_forgeries_are_refused(district):
    district.start_hub()
    a = make_station(district, A)
    district.synced(a)
    a.relay.cut()
    voucher_id = issue_voucher(a.browser(), *HOUSEHOLDS[0])
    code = station_voucher_code(a, voucher_id)
    lot = a.sql("SELECT l.name FROM parking_voucher v JOIN parking_lot l ON l.id = v.lot_id WHERE v.id = ?", voucher_id)
    # The hub has not heard of the voucher: it checks the signature alone.
    district.hub.create_account("attendant", "district")
    attendant = district.hub.browser()
    attendant.login("attendant")
    page = attendant.get(f"/staff/parking/redeem?station={a.code}").text
    lots = dict((name, value) for value, name in re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', page))
    lot_value = lots.get(lot[0][0]) if lot else None

    def redeem(text: str) -> requests.Response:
        form = {"code": text}
        if lot_value:
            form["lot"] = lot_value
        return attendant.post(f"/staff/parking/redeem?station={a.code}", form)

    first = redeem(code)
    assert first.status_code == 200, first.text[:800]
    again = redeem(code)
    assert again.status_code == 409, "a voucher redeemed twice"
    forged = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert redeem(forged).status_code in (400, 409)
    a.relay.restore()
    district.synced(a)

    def redeemed_at_station():
        return a.sql("SELECT status FROM parking_voucher WHERE id = ?", voucher_id)[0][0] in ("used", "redeemed")

    try:
        wait_for(redeemed_at_station, 30, "the redemption to reach the station")
    except AssertionError as exc:
        down = district.hub.sql("SELECT id, station_id, kind, key FROM sync_down WHERE kind LIKE 'parking.%'")
        here = a.sql("SELECT status FROM parking_voucher WHERE id = ?", voucher_id)
        pulled = a.sql("SELECT pulled_id, last_error FROM sync_state")
        raise AssertionError(f"{exc}: hub down-log {down}, station voucher {here}, station {pulled}") from None
    assert redeem(code).status_code == 409
    # The voucher's record arrived after its redemption: it is kept redeemed, not reset to issued.
    (status,) = district.hub.sql(
        "SELECT v.status FROM parking_hub_voucher v JOIN station s ON s.id = v.station_id "
        "WHERE s.code = :code AND v.serial = :serial",
        code=a.code,
        serial=voucher_id,
    )[0]
    assert status == "used"


# -- bad input at the hub's sync endpoints ---------------------------------------------------------
class Peer:
    """Speaks the sync protocol to the hub directly, with a station's credentials (the station is not running)."""

    def __init__(self, district: District, station: Station):
        self.url = district.hub.url + "/sync/v1"
        row = station.sql("SELECT station_key, protocol FROM sync_state")[0]
        self.code, self.key, self.protocol = station.code, row[0], row[1] or 1

    def push(self, after: int, entries: list[dict], *, code=None, key=None, protocol=None, raw: bytes | None = None):
        headers = {
            "Authorization": f"Bearer {code or self.code}:{key or self.key}",
            "Kiosk-Sync-Protocol": str(protocol if protocol is not None else self.protocol),
            "Content-Type": "application/json",
        }
        body = raw if raw is not None else json.dumps({"after": after, "entries": entries}).encode()
        return requests.post(self.url + "/push", data=body, headers=headers, timeout=60)


def entry(seq: int, kind: str = "probe.thing", key: str | None = None, data: dict | None = None) -> dict:
    return {"seq": seq, "kind": kind, "key": key or f"k{seq}", "data": data or {"n": seq}, "at": "2026-12-06T02:00:00Z"}


@FIRST_HALF
def test_the_hub_refuses_bad_batches_from_real_peers_and_changes_nothing(district):
    district.start_hub()
    a = make_station(district, A, start=False)
    b = make_station(district, B, start=False)
    peer = Peer(district, a)
    first = peer.push(0, [entry(1), entry(2)])
    assert first.status_code == 200, first.text
    assert first.json()["last_seq"] == 2
    base = hub_snapshot(district)

    refusals = []

    def refused(response, statuses, what):
        refusals.append(what)
        assert response.status_code in statuses, (what, response.status_code, response.text[:300])
        assert response.headers.get("Content-Type", "").startswith("application/json"), what
        assert response.json().get("error") or response.json().get("message"), what
        assert hub_snapshot(district) == base, f"{what} changed the hub"

    refused(peer.push(2, [entry(3)], code="nosuch"), (401, 403), "unknown station")
    refused(peer.push(2, [entry(3)], key="wrong-key"), (401, 403), "wrong key")
    out_of_order = peer.push(7, [entry(8)])
    refused(out_of_order, (409,), "out of order")
    assert out_of_order.json().get("last_seq") == 2, "a 409 must say where the hub is, so the station resumes there"
    wrong_pull = requests.get(
        peer.url + "/pull?after=0",
        headers={"Authorization": f"Bearer {a.code}:wrong", "Kiosk-Sync-Protocol": str(peer.protocol)},
        timeout=60,
    )
    refused(wrong_pull, (401,), "a pull with a wrong key")
    refused(peer.push(2, [entry(3, "legal.ticket", data={"station": b.code})]), (403,), "another station's record")
    refused(peer.push(2, [entry(3 + k) for k in range(501)]), (413,), "more than 500 entries")
    big = [entry(3, data={"blob": "x" * (2 * 1024 * 1024 + 10)})]
    refused(peer.push(2, big), (413,), "more than 2 MiB")
    refused(peer.push(2, [], raw=b"{not json"), (400,), "malformed")
    refused(peer.push(2, [entry(3)], protocol=peer.protocol + 1), (426,), "a peer one version ahead")
    if peer.protocol >= 2:
        refused(peer.push(2, [entry(3)], protocol=peer.protocol - 2), (426,), "a peer two versions behind")
    # A replayed batch is applied idempotently: 200, and nothing is parked twice.
    replay = peer.push(0, [entry(1), entry(2)])
    assert replay.status_code == 200 and replay.json()["last_seq"] == 2
    assert hub_snapshot(district) == base
    # One version behind is still accepted (a hub upgraded before its stations).
    behind = peer.push(2, [entry(3)], protocol=peer.protocol - 1)
    assert behind.status_code == 200 and behind.json()["last_seq"] == 3, behind.text
    # Revoked: refused at once, and the station says so.
    district.hub.cli("stations", "revoke", a.code)
    revoked = hub_snapshot(district)
    refused_now = peer.push(district.hub.last_seq(a.code), [entry(50)])
    refusals.append("revoked")
    assert refused_now.status_code == 403, refused_now.text
    assert hub_snapshot(district) == revoked
    status = a.cli("sync", "now", check=False)
    assert status.returncode != 0
    assert "revoked" in (status.stdout + status.stderr)
    # Every refusal is in the hub's log, a line each, saying why.
    logged = [line for line in district.hub.log().splitlines() if "refused" in line and "/sync/v1/" in line]
    assert len(logged) >= len(refusals) + 1, (refusals, logged)  # + the revoked station's own `sync now`


@FIRST_HALF
def test_an_enrolment_token_works_once(district):
    district.start_hub()
    a = district.add_station(*A, enrol=False, start=False)
    token = district.hub.enrol(a.code, a.name, a.kind)
    a.join(token)
    again = a.cli("sync", "join", a.relay.url, token, check=False)
    assert again.returncode != 0
    assert "token" in (again.stdout + again.stderr).lower()


# -- the district bench's clients ------------------------------------------------------------------
@FIRST_HALF
def test_the_district_bench_runs_and_each_event_wakes_only_its_own_stations_streams():
    """A short run of `python -m bench district` with 6 stations: its figures mean something.

    Six stations' 18 streams are more than the hub's two workers would keep from one address (8 each).
    """
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)  # bench/ is a folder of the checkout, not an installed package
    from bench import district as bench_district

    figures = bench_district.run_once(6, seconds=8, idle_seconds=2)
    assert figures["stations_failed"] == 0, figures["failures"]
    assert figures["streams_open"] == 18
    # Every stream stayed open: one shed or refused on the way (a cap, a full pool) would make the
    # bench measure the hub reopening streams instead of syncing (its streams once all came from one
    # address, over the per-client cap).
    assert figures["streams_dropped"] == 0
    assert figures["streams_refused_while_opening_or_running"] == 0
    assert figures["entries_synced"] > 0
    assert figures["events_seen"] == figures["ticket_events"] > 0, "an event never reached its station's streams"
    assert figures["deliveries_to_other_stations_streams"] == 0
    assert figures["stream_deliveries_per_event"] == 3.0
    assert set(figures["http_statuses"]) <= {"200", "429"}
