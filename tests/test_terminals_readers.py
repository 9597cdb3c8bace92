"""Card taps reach only their own terminal, and what they hand the page is single-use (issue 16 points 2, 3).

Two kiosk terminals at one station, each with its own test card reader (a
reader manager whose reads are published for that terminal, as the station
file's and the agent's readers are), pages listening over real HTTP.
"""

from __future__ import annotations

import functools
import logging
import re
import types
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from test_courier_rest_support import OTHER_SERVICES, courier_config, switch_off
from test_parking_support import add_lot, add_people

from kiosk import hookimpl
from kiosk.db import session_for, utcnow
from kiosk.terminals import COOKIE, ReaderClaim
from kiosk.testing import EventStream, LiveServer, count_rows, csrf_of, enrol_terminal
from kiosk_hardware.readers import ReaderEvent, ReaderManager

SESSION = "session"


def _cookies(client) -> dict:
    found = {}
    for name in (COOKIE, SESSION):
        cookie = client.get_cookie(name)
        if cookie is not None:
            found[name] = cookie.value
    return found


def stream(server, client, screen: str) -> EventStream:
    """The reader stream a page of ``client``'s browser opens for ``screen`` (its terminal and session cookies)."""
    header = "; ".join(f"{k}={v}" for k, v in _cookies(client).items())
    return EventStream(server.url, f"/events/reader?screen={screen}", headers={"Cookie": header} if header else {})


def refused_stream(server, client, screen: str) -> int:
    """The status a client gets for a reader stream it may not open."""
    with pytest.raises(AssertionError) as failed:
        stream(server, client, screen)
    return int(re.search(r"answered (\d+)", str(failed.value)).group(1))


def terminal(app, name: str):
    client = app.test_client()
    enrol_terminal(client, app, name)
    client.get("/")  # the page: its session (and CSRF token) exist before it listens
    return client


def card_readers(app, name: str) -> ReaderManager:
    """A test card reader at terminal ``name``."""
    hub = app.extensions["reader_hub"]
    manager = ReaderManager(
        {"card": {"type": "test", "kind": "card"}}, on_event=functools.partial(hub.publish, terminal=name)
    )
    manager.start()
    return manager


def _cardy_app(make_app, database_url):
    mod = types.ModuleType("kiosk_cardy_terminal_test")

    def handle_reader_event(event, screen, station):
        if screen == "cardy.checkin" and event.kind == "card":
            return {"fill": {"card": event.value}, "submit": "#card-form"}
        return None

    mod.handle_reader_event = hookimpl(handle_reader_event)
    return make_app(database_url, EXTRA_PLUGINS={"cardy": mod})


def test_a_card_tapped_at_terminal_2_reaches_only_terminal_2s_page(make_app, database_url, caplog):
    app = _cardy_app(make_app, database_url)
    hall1, hall2 = terminal(app, "hall-1"), terminal(app, "hall-2")
    readers = {name: card_readers(app, name) for name in ("hall-1", "hall-2")}
    server = LiveServer(app)
    try:
        with stream(server, hall1, "cardy.checkin") as page1, stream(server, hall2, "cardy.checkin") as page2:
            readers["hall-2"].reader("card").inject("card", "04A1B2C3")
            action = page2.wait_for("reader", timeout=5)
            assert action is not None and action["submit"] == "#card-form"
            assert action["fill"]["card"].startswith("rc_") and "04A1B2C3" not in str(action)
            assert page1.collect(1, timeout=1) == [], "terminal 1 never sees terminal 2's card"
            # And the other way round.
            readers["hall-1"].reader("card").inject("card", "0BADF00D")
            assert page1.wait_for("reader", timeout=5) is not None
            assert len(page2.events) == 1

        # Anonymous, a phone session, a staff browser: 403 for the reader stream.
        anonymous = app.test_client()
        assert refused_stream(server, anonymous, "cardy.checkin") == 403
        phone = app.test_client()
        phone.get("/m/petitions/new", headers={"User-Agent": "Mozilla/5.0 (iPhone)"})
        assert refused_stream(server, phone, "cardy.checkin") == 403
        staff = app.test_client()
        from kiosk.testing import create_account

        create_account(app, "counter-staff", "staff")
        staff.post(
            "/staff/login",
            data={"username": "counter-staff", "password": "correct-horse", "csrf_token": csrf_of(staff)},
        )
        assert refused_stream(server, staff, "cardy.checkin") == 403
        # A stolen session cookie of terminal 2's page without its credential: still not a terminal.
        thief = app.test_client()
        thief.set_cookie(SESSION, hall2.get_cookie(SESSION).value)
        assert refused_stream(server, thief, "cardy.checkin") == 403
    finally:
        server.stop()
        for manager in readers.values():
            manager.stop()

    # A read for a terminal the station does not have: refused, logged, nothing delivered.
    hub = app.extensions["reader_hub"]
    listening = hub.subscribe("cardy.checkin")
    try:
        with caplog.at_level(logging.WARNING, logger="kiosk.readers"):
            read = ReaderEvent("card", "card", "04A1B2C3", datetime.now(UTC))
            assert hub.publish(read, terminal="hall-7") == 0
        assert listening.empty()
        assert any("no enrolled terminal 'hall-7'" in r.getMessage() for r in caplog.records)
    finally:
        hub.unsubscribe(listening)


def _claim_for(app, client, screen: str, read: ReaderEvent, at: str) -> dict:
    """What terminal ``at``'s page open on ``screen`` is handed for ``read``, over its real stream."""
    server = LiveServer(app)
    try:
        with stream(server, client, screen) as page:
            # (A page of an earlier server of this test may still be counted until its stream notices.)
            assert app.extensions["reader_hub"].publish(read, terminal=at) >= 1
            action = page.wait_for("reader", timeout=5)
    finally:
        server.stop()
    assert action is not None
    return action


def _expire_claims(app) -> None:
    with session_for(app, write=True) as session:
        session.execute(update(ReaderClaim).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()


def _post_card(client, token: str):
    return client.post("/k/parking/card", data={"card_token": token, "csrf_token": csrf_of(client)})


def _identified_in_parking(client) -> bool:
    return client.get("/k/parking/plate").status_code == 200


def test_parking_card_token_is_bound_to_the_terminal_its_session_once_and_30_seconds(app):
    add_lot(app)
    add_people(app)
    hall1, hall2 = terminal(app, "hall-1"), terminal(app, "hall-2")
    hall2.get("/k/parking/")
    read = ReaderEvent("card", "card", "04:a1:b2:c3", datetime.now(UTC))
    action = _claim_for(app, hall2, "parking.identify", read, "hall-2")
    claim = action["fill"]["card_token"]
    assert claim.startswith("rc_") and action["submit"] == "#parking-card-form"

    # Replayed from another session (no terminal), from terminal 1, from terminal 2's browser
    # with another session: refused as an unreadable card, nobody identified.
    other_session = app.test_client()
    other_session.get("/k/parking/")
    same_terminal_new_session = app.test_client()
    same_terminal_new_session.set_cookie(COOKIE, hall2.get_cookie(COOKIE).value)
    same_terminal_new_session.get("/k/parking/")
    for replay in (other_session, hall1, same_terminal_new_session):
        refused = _post_card(replay, claim)
        assert refused.status_code == 400 and "重新刷卡" in refused.get_data(as_text=True)
        assert not _identified_in_parking(replay)

    # The screen it was handed to: once.
    hall2.get("/k/parking/")
    assert _post_card(hall2, claim).headers["Location"].endswith("/k/parking/plate")
    assert _identified_in_parking(hall2)
    hall2.get("/")  # 首页: the household is forgotten
    hall2.get("/k/parking/")
    assert _post_card(hall2, claim).status_code == 400, "a second time"
    assert not _identified_in_parking(hall2)

    # After its lifetime.
    later = _claim_for(app, hall2, "parking.identify", read, "hall-2")["fill"]["card_token"]
    _expire_claims(app)
    assert _post_card(hall2, later).status_code == 400
    assert not _identified_in_parking(hall2)


@pytest.fixture
def courier_app(make_app, database_url):
    app = make_app(database_url, **courier_config())
    switch_off(app, *OTHER_SERVICES)
    return app


def test_courier_card_check_in_link_is_bound_to_its_terminal(courier_app):
    from kiosk_plugins.courier_rest.models import Visit

    hall1, hall2 = terminal(courier_app, "hall-1"), terminal(courier_app, "hall-2")
    hall2.get("/k/courier_rest/")
    read = ReaderEvent("front", "card", "04:a2:1b:9c", datetime.now(UTC))
    action = _claim_for(courier_app, hall2, "courier_rest.checkin", read, "hall-2")
    link = action["redirect"]
    assert re.fullmatch(r"/r/rc_[A-Za-z0-9_-]+", link), "the page gets a claim, not the signed card token"

    for replay in (courier_app.test_client(), hall1):
        refused = replay.get(link)
        assert refused.status_code == 410 and "重新刷卡" in refused.get_data(as_text=True)
    followed = hall2.get(link)
    assert followed.status_code == 302 and followed.headers["Location"].startswith("/k/courier_rest/id/")
    assert hall2.get(link).status_code == 410, "a second time"
    page = hall2.get(followed.headers["Location"], follow_redirects=True)
    assert page.request.path == "/k/courier_rest/register", "an unknown card goes on to register"
    assert count_rows(courier_app, Visit) == 0


def test_legal_booking_scan_fills_a_code_only_its_terminal_can_post(app):
    hall1, hall2 = terminal(app, "hall-1"), terminal(app, "hall-2")
    hall2.get("/k/legal/checkin")
    read = ReaderEvent("scanner", "code", "legal-booking:482913", datetime.now(UTC))
    action = _claim_for(app, hall2, "legal.checkin", read, "hall-2")
    claim = action["fill"]["code"]
    assert claim.startswith("rc_") and "482913" not in str(action)

    def check_in(client):
        return client.post("/k/legal/checkin", data={"code": claim, "csrf_token": csrf_of(client)})

    # From terminal 1 the code arrives empty: the plugin's own "enter your code" answer.
    refused = check_in(hall1).get_data(as_text=True)
    assert "482913" not in refused
    # Its own screen: the code itself reaches the plugin (no such booking here).
    found = check_in(hall2).get_data(as_text=True)
    assert "找不到" in found
    again = check_in(hall2).get_data(as_text=True)
    assert "找不到" not in again, "a second time the field is empty"


def test_petitions_receipt_scan_opens_the_status_only_at_its_terminal(app):
    from test_petitions_intake import kiosk_post

    resident = app.test_client()
    resident.get("/k/petitions/new")
    token = kiosk_post(resident, csrf_of, 4, go="submit").headers["Location"].split("/done/")[1].split("?")[0]
    hall1, hall2 = terminal(app, "hall-1"), terminal(app, "hall-2")
    read = ReaderEvent("scanner", "code", f"https://kiosk.example/m/petitions/s/{token}", datetime.now(UTC))
    action = _claim_for(app, hall2, "home", read, "hall-2")
    assert token not in str(action), "the status token is not handed out"
    link = action["redirect"]
    assert hall1.get(link).status_code == 410
    assert app.test_client().get(link).status_code == 410
    _expire_claims(app)
    assert hall2.get(link).status_code == 410, "after its lifetime"
    fresh = _claim_for(app, hall2, "home", read, "hall-2")["redirect"]
    assert hall2.get(fresh).headers["Location"] == f"/k/petitions/status/{token}"
    with session_for(app) as session:
        used = session.scalars(select(ReaderClaim.used_at)).all()
    assert sum(1 for at in used if at is not None) == 1


def test_only_claims_are_swapped_in_a_posted_form(make_app, database_url):
    """What a resident typed is never taken for a claim; an unknown or stale claim arrives empty."""
    from flask import Blueprint, request

    bp = Blueprint("echo", __name__)

    @bp.route("/say", methods=["POST"])
    def say():
        return {"said": request.form.get("text", ""), "also": request.form.getlist("more")}

    mod = types.ModuleType("kiosk_echo_terminal_test")
    mod.register_blueprints = hookimpl(lambda register: register(bp))
    app = make_app(database_url, EXTRA_PLUGINS={"echo": mod})
    hall = terminal(app, "hall-1")

    def say(text, *more):
        answer = hall.post("/k/echo/say", data={"text": text, "more": list(more), "csrf_token": csrf_of(hall)})
        assert answer.status_code == 200
        return answer.get_json()

    assert say("rc_我家门口路灯不亮")["said"] == "rc_我家门口路灯不亮"
    assert say("rc_short")["said"] == "rc_short"
    assert say("rc_" + "A" * 32, "plain")["said"] == "", "a claim nobody made: empty"
    assert say("x", "plain", "rc_" + "B" * 32)["also"] == ["plain", ""]


def test_a_revoked_terminals_open_stream_receives_nothing_more(make_app, database_url, caplog):
    from kiosk.cli import cli

    app = _cardy_app(make_app, database_url)
    hall2 = terminal(app, "hall-2")
    hub = app.extensions["reader_hub"]
    read = ReaderEvent("card", "card", "04A1B2C3", datetime.now(UTC))
    server = LiveServer(app)
    try:
        with stream(server, hall2, "cardy.checkin") as page:
            assert hub.publish(read, terminal="hall-2") == 1
            assert page.wait_for("reader", timeout=5) is not None
            assert app.test_cli_runner().invoke(cli, ["terminals", "revoke", "hall-2"]).exit_code == 0
            with caplog.at_level(logging.WARNING, logger="kiosk.readers"):
                assert hub.publish(read, terminal="hall-2") == 0
            assert page.collect(2, timeout=1) == page.collect(1, timeout=0), "nothing after the revocation"
    finally:
        server.stop()
    assert any("no enrolled terminal 'hall-2'" in r.getMessage() for r in caplog.records)
