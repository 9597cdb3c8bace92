"""Sync over real HTTP: a hub (role hub, on the test backend) behind a LiveServer and a station app on SQLite.

The station enrols with the token `kiosk stations enrol` prints, pushes its
entries and pulls the hub's with the same code its pusher runs; the bad
batches an operator's district will see (replays, gaps, another station's
records, old and new protocol versions, a hub that is down or busy) are sent
as raw HTTP requests.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from kiosk import sync
from kiosk.cli import cli
from kiosk.db import session_for, utcnow
from kiosk.models import DeviceReport, Station, User
from kiosk.sync import pusher
from kiosk.sync.models import SyncOutbox, SyncParked, SyncPeer, SyncState
from kiosk.testing import LiveServer, count_rows, csrf_of, wait_for

HUB_STATION = {"code": "district", "name": "罗湖区党群服务中心", "kind": "party_service"}


@pytest.fixture
def hub(make_app, database_url):
    return make_app(database_url, ROLE="hub", STATION=HUB_STATION)


@pytest.fixture
def station(make_app, kiosk_database_template, tmp_path):
    path = tmp_path / "station.db"
    shutil.copy(kiosk_database_template, path)
    return make_app("sqlite:///" + str(path))


@pytest.fixture
def live(hub):
    server = LiveServer(hub)
    yield server
    server.stop()


def enrol_token(hub, code="shuibei", *extra) -> str:
    args = ["stations", "enrol", code, "--name", "水贝社区党群服务中心", "--kind", "party_service", *extra]
    result = hub.test_cli_runner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return re.search(r"kiosk sync join \S+ (\S+)", result.output).group(1)


def join(station, live, token):
    return station.test_cli_runner().invoke(cli, ["sync", "join", live.url, token])


@pytest.fixture
def enrolled(station, hub, live):
    result = join(station, live, enrol_token(hub))
    assert result.exit_code == 0, result.output
    return station


def record(app, kind, key, data):
    with app.app_context(), session_for(app, write=True) as session:
        sync.record(session, kind, key, data)
        session.commit()


def device(name, state="ok"):
    return {"device": name, "kind": "printer", "state": state, "detail": "", "updated_at": utcnow().isoformat()}


def hub_reports(hub):
    with session_for(hub) as session:
        return {
            r.device: r.state
            for r in session.scalars(select(DeviceReport).join(Station).where(Station.code == "shuibei"))
        }


def peer_of(hub, code="shuibei") -> SyncPeer:
    with session_for(hub) as session:
        return session.scalar(select(SyncPeer).join(Station).where(Station.code == code))


def http(url, *, method="GET", body=None, headers=None, raw: bytes | None = None):
    """(status, JSON answer, headers) of a request; never raises on 4xx/5xx."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    all_headers = {"Kiosk-Sync-Protocol": str(sync.PROTOCOL), "Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, json.loads(text) if text else {}, exc.headers


def raw_station_key(hub, live, code="shuibei") -> str:
    """Enrol through the endpoint itself, as `kiosk sync join` does; returns the station key."""
    token = enrol_token(hub, code)
    status, answer, _ = http(
        live.url + "/sync/v1/enrol",
        method="POST",
        body={"code": code, "token": token, "signing_key": "k" * 40, "protocol": sync.PROTOCOL},
    )
    assert status == 200, answer
    return answer["station_key"]


def entries(*seqs, kind="kiosk.device_report", station=None):
    out = []
    for seq in seqs:
        data = device(f"printer{seq}")
        if station is not None:
            data["station"] = station
        out.append({"seq": seq, "kind": kind, "key": f"printer{seq}", "data": data, "at": utcnow().isoformat()})
    return out


# -- enrolment -------------------------------------------------------------------------------------
def test_enrol_join_push_and_pull_over_http(enrolled, hub, live):
    station = enrolled
    with session_for(station) as session:
        state = session.get(SyncState, station.extensions["kiosk_station_id"])
        assert state.station_key and state.hub_url == live.url and state.tag
    peer = peer_of(hub)
    assert peer.enrolled_at is not None and peer.token_hash == ""
    assert peer.key_hash and peer.key_hash != state.station_key  # only a hash of the key at the hub
    assert peer.signing_key == state.signing_key  # the hub can verify the station's signed codes

    record(station, "kiosk.device_report", "printer", device("printer", "paper_out"))
    pushed, _pulled = pusher.sync_once(station)
    assert pushed >= 1  # the station's description goes too
    assert hub_reports(hub) == {"printer": "paper_out"}
    with session_for(hub) as session:
        hub_station = session.scalar(select(Station).where(Station.code == "shuibei"))
        assert hub_station.name == "水贝社区党群服务中心"

    # An account the hub creates for the station reaches it with its password, by user name.
    from kiosk.auth import create_user

    with hub.app_context(), session_for(hub, write=True) as session:
        create_user(session, "worker1", "long-enough-pw", role="staff", station_id=hub_station.id)
        create_user(session, "district1", "long-enough-pw", role="district")
        create_user(session, "elsewhere", "long-enough-pw", role="staff", station_id=hub.extensions["kiosk_station_id"])
        session.commit()
    _pushed, pulled = pusher.sync_once(station)
    assert pulled == 2  # not the account of another station
    with session_for(station) as session:
        users = {u.username: u for u in session.scalars(select(User))}
    assert users["worker1"].station_id == station.extensions["kiosk_station_id"] and users["worker1"].role == "staff"
    assert users["district1"].station_id is None and "elsewhere" not in users
    client = station.test_client()
    client.get("/staff/login")
    response = client.post(
        "/staff/login", data={"username": "worker1", "password": "long-enough-pw", "csrf_token": csrf_of(client)}
    )
    assert response.status_code == 302  # logged in at the station with the password set at the hub

    # Nothing new: a pass sends and pulls nothing, and says so.
    assert pusher.sync_once(station) == (0, 0)
    status = station.test_cli_runner().invoke(cli, ["sync", "status"])
    assert "hub: " + live.url in status.output and "entries waiting: 0" in status.output
    listing = hub.test_cli_runner().invoke(cli, ["stations", "list"])
    assert re.search(r"shuibei\s+水贝", listing.output)


def test_a_token_works_once_and_a_wrong_one_never(station, hub, live):
    token = enrol_token(hub)
    assert join(station, live, "not-the-token").exit_code != 0
    first = join(station, live, token)
    assert first.exit_code == 0, first.output
    again = join(station, live, token)
    assert again.exit_code != 0 and "already used or expired" in again.output
    # The refused attempt changed nothing: the key from the first join still works.
    assert pusher.sync_once(station)[0] >= 1


def test_an_expired_token_is_refused(station, hub, live):
    token = enrol_token(hub)
    with session_for(hub, write=True) as session:
        peer = session.scalar(select(SyncPeer))
        peer.token_expires_at = utcnow() - timedelta(minutes=1)
        session.commit()
    result = join(station, live, token)
    assert result.exit_code != 0 and "expired" in result.output


def test_commands_refused_in_the_wrong_role(station, hub):
    on_station = station.test_cli_runner().invoke(
        cli, ["stations", "enrol", "x", "--name", "X", "--kind", "party_service"]
    )
    assert on_station.exit_code != 0 and "district hub" in on_station.output
    on_hub = hub.test_cli_runner().invoke(cli, ["sync", "now"])
    assert on_hub.exit_code != 0 and "station node" in on_hub.output
    standalone = station.test_cli_runner().invoke(cli, ["sync", "now"])
    assert standalone.exit_code == 1 and "not enrolled" in standalone.output


def test_a_tag_is_given_to_one_station_only(hub):
    enrol_token(hub, "shuibei", "--tag", "SB")
    result = hub.test_cli_runner().invoke(
        cli, ["stations", "enrol", "cuizhu", "--name", "翠竹", "--kind", "party_service", "--tag", "sb"]
    )
    assert result.exit_code != 0 and "already used by station shuibei" in result.output
    assert count_rows(hub, SyncPeer) == 1


def test_a_revoked_station_is_refused_at_once(enrolled, hub):
    station = enrolled
    pusher.sync_once(station)
    before = peer_of(hub).last_seq
    result = hub.test_cli_runner().invoke(cli, ["stations", "revoke", "shuibei"])
    assert result.exit_code == 0, result.output
    record(station, "kiosk.device_report", "printer", device("printer"))
    with pytest.raises(pusher.SyncFailure) as refused:
        pusher.sync_once(station)
    assert refused.value.status == 403 and "revoked" in str(refused.value)
    assert peer_of(hub).last_seq == before and hub_reports(hub) == {}
    with session_for(station) as session:
        assert "hub answered" in session.get(SyncState, station.extensions["kiosk_station_id"]).last_error
    now = station.test_cli_runner().invoke(cli, ["sync", "now"])
    assert now.exit_code == 1


# -- protocol and bad batches ------------------------------------------------------------------------
def test_protocol_one_behind_is_accepted_others_get_426(hub, live):
    key = raw_station_key(hub, live)
    auth = {"Authorization": f"Bearer shuibei:{key}"}
    status, answer, _ = http(live.url + "/sync/v1/pull?after=0", headers={**auth, "Kiosk-Sync-Protocol": "0"})
    assert status == 200 and answer["entries"] == []
    status, answer, _ = http(
        live.url + "/sync/v1/pull", headers={**auth, "Kiosk-Sync-Protocol": str(sync.PROTOCOL + 1)}
    )
    assert status == 426 and "upgrade the hub" in answer["error"]
    status, answer, _ = http(
        live.url + "/sync/v1/pull", headers={**auth, "Kiosk-Sync-Protocol": str(sync.PROTOCOL - 2)}
    )
    assert status == 426 and "upgrade the station" in answer["error"]
    status, answer, _ = http(live.url + "/sync/v1/pull", headers={**auth, "Kiosk-Sync-Protocol": "x"})
    assert status == 400


def test_unknown_station_and_wrong_key_are_refused(hub, live):
    key = raw_station_key(hub, live)
    batch = {"after": 0, "entries": entries(1)}
    for auth, want in (("nobody:" + key, 401), ("shuibei:wrong", 401), ("garbage", 401)):
        status, answer, _ = http(
            live.url + "/sync/v1/push", method="POST", body=batch, headers={"Authorization": f"Bearer {auth}"}
        )
        assert status == want and answer["error"]
    assert hub_reports(hub) == {} and peer_of(hub).last_seq == 0


def test_replayed_out_of_order_oversized_and_foreign_batches(hub, live):
    key = raw_station_key(hub, live)
    auth = {"Authorization": f"Bearer shuibei:{key}"}
    push = live.url + "/sync/v1/push"

    status, answer, _ = http(push, method="POST", body={"after": 0, "entries": entries(1, 2)}, headers=auth)
    assert status == 200 and answer == {"last_seq": 2}
    # Replayed (the station never heard the answer): applied idempotently, nothing twice.
    status, answer, _ = http(push, method="POST", body={"after": 0, "entries": entries(1, 2, 3)}, headers=auth)
    assert status == 200 and answer == {"last_seq": 3}
    assert sorted(hub_reports(hub)) == ["printer1", "printer2", "printer3"]
    # A gap: the hub says where it is, the station resumes from there.
    status, answer, _ = http(push, method="POST", body={"after": 5, "entries": entries(6)}, headers=auth)
    assert status == 409 and answer["last_seq"] == 3
    # Too many entries, too many bytes, not JSON, a bad entry: refused, nothing applied.
    status, answer, _ = http(push, method="POST", body={"after": 3, "entries": entries(*range(4, 505))}, headers=auth)
    assert status == 413
    big = {
        "after": 3,
        "entries": [{"seq": 4, "kind": "kiosk.device_report", "key": "p", "data": {"x": "y" * 2_200_000}}],
    }
    status, answer, _ = http(push, method="POST", body=big, headers=auth)
    assert status == 413
    status, answer, _ = http(push, method="POST", raw=b"{not json", headers=auth)
    assert status == 400 and answer["error"]
    bad = {"after": 3, "entries": [{"seq": "four", "kind": "kiosk.device_report", "key": "p", "data": None}]}
    status, answer, _ = http(push, method="POST", body=bad, headers=auth)
    assert status == 400 and "seq" in answer["error"]
    # Another station's record in the batch: the whole batch is refused.
    mixed = entries(4) + entries(5, station="cuizhu")
    status, answer, _ = http(push, method="POST", body={"after": 3, "entries": mixed}, headers=auth)
    assert status == 403 and "cuizhu" in answer["error"]
    assert peer_of(hub).last_seq == 3 and "printer4" not in hub_reports(hub)
    # Its own code in data is fine.
    status, answer, _ = http(
        push, method="POST", body={"after": 3, "entries": entries(4, station="shuibei")}, headers=auth
    )
    assert status == 200 and answer == {"last_seq": 4}


def test_an_unknown_kind_is_parked_and_a_failing_entry_does_not_stop_the_station(hub, live):
    key = raw_station_key(hub, live)
    auth = {"Authorization": f"Bearer shuibei:{key}"}
    batch = (
        entries(1)
        + [
            {"seq": 2, "kind": "noplugin.thing", "key": "a", "data": {"v": 1}},
            {"seq": 3, "kind": "kiosk.figures", "key": "not-a-day", "data": {"figures": []}},
        ]
        + entries(4)
    )
    status, answer, _ = http(
        live.url + "/sync/v1/push", method="POST", body={"after": 0, "entries": batch}, headers=auth
    )
    assert status == 200 and answer == {"last_seq": 4}
    with session_for(hub) as session:
        parked = {p.kind: p.reason for p in session.scalars(select(SyncParked))}
    assert set(parked) == {"noplugin.thing", "kiosk.figures"}
    assert "no installed plugin" in parked["noplugin.thing"] and "ISO day" in parked["kiosk.figures"]
    assert sorted(hub_reports(hub)) == ["printer1", "printer4"]


def test_the_hub_refuses_on_a_station_node(station):
    client = station.test_client()
    response = client.get("/sync/v1/pull?after=0", headers={"Kiosk-Sync-Protocol": str(sync.PROTOCOL)})
    assert response.status_code == 404 and "not a district hub" in response.get_json()["error"]


# -- the pusher ----------------------------------------------------------------------------------------
def test_a_busy_hub_answers_429_and_the_pusher_waits_as_told(enrolled, hub):
    station = enrolled
    slots = threading.BoundedSemaphore(1)
    hub.extensions["kiosk_sync_slots"] = slots
    slots.acquire()  # every slot busy
    record(station, "kiosk.device_report", "printer", device("printer"))
    worker = pusher.Pusher(station, idle=0.05)
    delay = worker.step()
    assert delay == pytest.approx(1.0)  # Retry-After: 1, not the back-off
    with session_for(station) as session:
        assert "429" in session.get(SyncState, station.extensions["kiosk_station_id"]).last_error
    assert hub_reports(hub) == {}
    slots.release()
    assert worker.step() == pytest.approx(0.05)
    assert hub_reports(hub) == {"printer": "ok"}


def test_a_push_waits_for_a_slot_freed_within_a_second_instead_of_backing_off(enrolled, hub):
    """A burst of stations fills the batch slots for a moment: a push waits that moment out (no 429).

    A 429 costs the station its Retry-After on top of the wait; at 200 stations the refused pushes were
    the sync lag's p99 (README, the district bench), so a slot freed within SLOT_WAIT_SECONDS is waited for.
    """
    from kiosk.sync import views as sync_views

    station = enrolled
    slots = threading.BoundedSemaphore(1)
    hub.extensions["kiosk_sync_slots"] = slots
    slots.acquire()  # another station's batch holds the only slot...
    freed = threading.Timer(0.7, slots.release)  # ...for 0.7 s
    freed.start()
    try:
        record(station, "kiosk.device_report", "printer", device("printer"))
        worker = pusher.Pusher(station, idle=0.05)
        assert sync_views.SLOT_WAIT_SECONDS >= 0.7
        assert worker.step() == pytest.approx(0.05)  # applied, not told to come back
        assert hub_reports(hub) == {"printer": "ok"}
    finally:
        freed.cancel()


def test_the_pusher_survives_the_hub_being_down_and_catches_up(station, hub):
    server = make_server("127.0.0.1", 0, hub, threaded=True)
    port = server.server_port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    assert station.test_cli_runner().invoke(cli, ["sync", "join", url, enrol_token(hub)]).exit_code == 0
    server.shutdown()
    server.server_close()  # connection refused from now on

    worker = pusher.Pusher(station, idle=0.05).start()
    try:
        for n in range(5):
            record(station, "kiosk.device_report", f"printer{n}", device(f"printer{n}"))
        sid = station.extensions["kiosk_station_id"]

        def failing():
            with session_for(station) as session:
                return "unreachable" in (session.get(SyncState, sid).last_error or "")

        wait_for(failing, 10, "the pusher to meet the closed port")
        assert worker.failures >= 1 and hub_reports(hub) == {}

        server = make_server("127.0.0.1", port, hub, threaded=True)  # the hub is back at the same address
        threading.Thread(target=server.serve_forever, daemon=True).start()
        wait_for(lambda: len(hub_reports(hub)) == 5, 30, "the pusher to catch up")
        wait_for(lambda: worker.failures == 0, 10, "the pusher to notice")
        assert count_rows(station, SyncOutbox, SyncOutbox.sent_at.is_(None)) == 0
    finally:
        worker.stop()
        server.shutdown()
        server.server_close()


def test_a_commit_wakes_the_pusher_at_once(enrolled, hub):
    station = enrolled
    worker = pusher.Pusher(station, idle=60, poll=60).start()  # it would otherwise sleep a minute
    try:
        wait_for(lambda: peer_of(hub).last_seq >= 1, 10, "the first pass")  # the station's description
        record(station, "kiosk.device_report", "printer", device("printer", "paper_low"))
        wait_for(lambda: hub_reports(hub) == {"printer": "paper_low"}, 10, "the woken pusher")
    finally:
        worker.stop()


def test_a_pusher_with_nothing_to_do_waits_however_often_commits_wake_it(station):
    """A station not enrolled (the demo) must not spin.

    Every commit sets the pusher's wake event; a turn that returned early without
    clearing it made run() loop without waiting, a database round trip each time,
    for as long as the station issued tickets (issue 22: 41% of the GIL).
    """
    lone = pusher.Pusher(station)  # this station never joined a hub
    lone.wake.set()
    assert lone.step() == 5.0 and not lone.wake.is_set()
    lone._release()


def test_commits_do_not_wake_a_pusher_that_cannot_push(station):
    """A station with no hub: a ticket's commit used to wake the pusher for a lease check and a
    look at the enrolment, every ticket (7% of the worker's GIL time under load, issue 22)."""
    lone = pusher.Pusher(station)
    looks = []
    enrolled = lone._enrolled

    def counted() -> bool:
        looks.append(1)
        return enrolled()

    lone._enrolled = counted  # type: ignore[method-assign]
    lone.start()
    try:
        wait_for(lambda: looks and lone.idle_until_due, 10, "the first turn")
        time.sleep(0.05)  # the turn that looked returns its 5 s wait
        first = len(looks)
        for _ in range(20):
            lone.wake.set()
            time.sleep(0.01)
        assert len(looks) == first  # none of the 20 wake-ups ran a turn
    finally:
        lone.stop()


def test_a_pusher_without_the_lease_waits_for_the_one_holding_it(enrolled):
    holder, other = pusher.Pusher(enrolled), pusher.Pusher(enrolled)
    assert holder._hold_lease() is True
    other.wake.set()
    assert other.step() == pusher.LEASE_SECONDS / 3 and not other.wake.is_set()
    holder._release()


def test_one_pusher_per_station_holds_the_lease(enrolled):
    first, second = pusher.Pusher(enrolled), pusher.Pusher(enrolled)
    assert first._hold_lease() is True
    assert second._hold_lease() is False
    first._release()
    assert second._hold_lease() is True


def test_a_crash_after_the_hub_applied_resends_and_nothing_is_doubled(enrolled, hub, live):
    """SIGKILL between the hub's answer and marking the entries sent: the next pass resends, the hub skips."""
    station = enrolled
    pusher.sync_once(station)
    for n in range(3):  # a kind the hub parks: a second application would park a second row
        record(station, "noplugin.thing", f"p{n}", {"n": n})
    sid = station.extensions["kiosk_station_id"]
    with station.app_context(), session_for(station, write=True) as session:
        sync.sequence(session, sid)
        session.commit()
        key = session.get(SyncState, sid).station_key
        acked = session.get(SyncState, sid).acked_seq
        batch = sync.pending(session, sid, acked)
    status, answer, _ = http(
        live.url + "/sync/v1/push",
        method="POST",
        body={"after": acked, "entries": batch},
        headers={"Authorization": f"Bearer shuibei:{key}"},
    )
    assert status == 200  # … and the station "dies" before it marks them sent
    assert count_rows(hub, SyncParked) == 3
    pusher.sync_once(station)  # resends them; the hub had them all
    assert peer_of(hub).last_seq == answer["last_seq"] and count_rows(hub, SyncParked) == 3
    assert count_rows(station, SyncOutbox, SyncOutbox.sent_at.is_(None)) == 0


def test_sent_entries_are_pruned_after_a_week(enrolled):
    station = enrolled
    record(station, "kiosk.device_report", "printer", device("printer"))
    pusher.sync_once(station)
    assert pusher.prune(station) == 0
    assert pusher.prune(station, utcnow() + timedelta(days=8)) >= 1
    assert count_rows(station, SyncOutbox) == 0


def test_a_station_with_no_hub_keeps_its_outbox_bounded(station):
    """Standalone, nobody sends the entries: after 90 days they go (enrolled, unsent ones stay: below)."""
    record(station, "kiosk.device_report", "printer", device("printer"))
    later = utcnow() + timedelta(days=91)
    assert pusher.prune_outbox(station) == 0
    assert pusher.prune_outbox(station, later) >= 1
    assert count_rows(station, SyncOutbox) == 0


def test_an_enrolled_station_keeps_unsent_entries_however_old(enrolled):
    record(enrolled, "kiosk.device_report", "printer", device("printer"))
    assert pusher.prune_outbox(enrolled, utcnow() + timedelta(days=400)) == 0
    assert count_rows(enrolled, SyncOutbox, SyncOutbox.sent_at.is_(None)) >= 1


def test_the_hub_drops_what_every_station_has_pulled(enrolled, hub, live):
    """The down-log keeps an entry until every enrolled station has pulled it (and a week has passed)."""
    from kiosk.sync.models import SyncDown

    enrol_token(hub, "tianbei")  # a second station, enrolled at the hub but silent
    with hub.app_context(), session_for(hub, write=True) as session:
        sync.publish(session, "kiosk.user", "nobody", None)
        session.commit()
    pusher.sync_once(enrolled)  # shuibei pulls it
    with hub.app_context(), session_for(hub, write=True) as session:
        session.query(SyncPeer).update({"last_sync_at": None})  # the next pull records its position
        session.commit()
    pusher.sync_once(enrolled)
    week_later = utcnow() + timedelta(days=8)
    with hub.app_context(), session_for(hub, write=True) as session:
        silent = session.get(SyncPeer, session.scalar(select(Station.id).where(Station.code == "tianbei")))
        silent.enrolled_at = utcnow()  # tianbei has not pulled: the entry stays for it
        session.commit()
    assert pusher.prune_down(hub, week_later) == 0
    with hub.app_context(), session_for(hub, write=True) as session:
        session.get(SyncPeer, silent.station_id).revoked_at = utcnow()  # a revoked station holds nothing back
        session.commit()
    assert pusher.prune_down(hub, utcnow()) == 0  # not a week old yet
    assert pusher.prune_down(hub, week_later) >= 1
    assert count_rows(hub, SyncDown) == 0


def test_healthz_of_a_station_shows_its_sync(enrolled):
    body = enrolled.test_client().get("/healthz").get_json()
    assert body["sync"]["enrolled"] is True and body["sync"]["waiting"] >= 0
    record(enrolled, "kiosk.device_report", "printer", device("printer"))
    body = enrolled.test_client().get("/healthz").get_json()
    assert body["sync"]["waiting"] == 1 and body["sync"]["oldest_waiting_at"]


def test_accounts_made_or_changed_at_the_hub_reach_their_station(enrolled, hub):
    station = enrolled
    result = hub.test_cli_runner().invoke(
        cli, ["users", "create", "worker2", "--station", "shuibei", "--password", "long-enough-pw"]
    )
    assert result.exit_code == 0, result.output
    pusher.sync_once(station)
    with session_for(station) as session:
        worker = session.scalar(select(User).where(User.username == "worker2"))
        assert worker.active and worker.station_id == station.extensions["kiosk_station_id"]
    with session_for(hub, write=True) as session:
        session.scalar(select(User).where(User.username == "worker2")).active = False  # left the job
        session.commit()
    assert pusher.sync_once(station)[1] == 1
    with session_for(station) as session:
        assert session.scalar(select(User).where(User.username == "worker2")).active is False
    refused = station.test_cli_runner().invoke(
        cli, ["users", "create", "worker3", "--station", "shuibei", "--password", "long-enough-pw"]
    )
    assert refused.exit_code != 0 and "district hub" in refused.output


def test_join_says_when_the_codes_or_tags_of_the_two_sides_differ(station, hub, live):
    token = enrol_token(hub, "cuizhu")
    result = join(station, live, token)
    assert result.exit_code != 0 and "no station 'shuibei' is waiting to enrol" in result.output
    token = enrol_token(hub, "shuibei", "--tag", "SB")  # the station's file sets no tag: it derives another
    result = join(station, live, token)
    assert result.exit_code != 0 and 'set tag = "SB" under [station]' in result.output
    with session_for(station) as session:
        assert not sync.enrolled(session, station.extensions["kiosk_station_id"])


def test_entries_committed_by_another_process_are_pushed_without_waiting_for_a_pull(enrolled, hub, make_app):
    station = enrolled
    other = make_app(station.config["DATABASE_URL"])  # a second worker of the same station: its commits wake nobody
    worker = pusher.Pusher(station, idle=60, poll=0.05).start()
    try:
        wait_for(lambda: worker.last_pull is not None, 10, "the first pass")
        pulls_before = worker.last_pull
        record(other, "kiosk.device_report", "printer", device("printer", "cover_open"))
        wait_for(lambda: hub_reports(hub) == {"printer": "cover_open"}, 10, "the local look to find the entry")
        assert worker.last_pull == pulls_before  # pushed by the local look, not by a pull's pass
    finally:
        worker.stop()


def test_a_hub_restored_from_an_older_backup_gets_the_missing_entries_again(enrolled, hub):
    station = enrolled
    pusher.sync_once(station)  # the station's description first
    for n in range(3):
        record(station, "kiosk.device_report", f"printer{n}", device(f"printer{n}"))
    pusher.sync_once(station)
    top = peer_of(hub).last_seq
    # The hub's database goes back in time: it has lost the last two entries.
    with session_for(hub, write=True) as session:
        session.scalar(select(SyncPeer)).last_seq = top - 2
        for row in session.scalars(select(DeviceReport).where(DeviceReport.device.in_(["printer1", "printer2"]))):
            session.delete(row)
        session.commit()
    assert sorted(hub_reports(hub)) == ["printer0"]
    record(station, "kiosk.device_report", "printer3", device("printer3"))
    pusher.sync_once(station)  # 409 with the hub's position, then the station resends from there
    assert sorted(hub_reports(hub)) == ["printer0", "printer1", "printer2", "printer3"]
    assert peer_of(hub).last_seq == top + 1


def test_numbers_and_text_the_database_cannot_hold_are_refused_not_a_500(hub, live):
    key = raw_station_key(hub, live)
    auth = {"Authorization": f"Bearer shuibei:{key}"}
    push = live.url + "/sync/v1/push"
    for batch in (
        {"after": 2**40, "entries": []},
        {"after": 0, "entries": [{"seq": 2**40, "kind": "kiosk.device_report", "key": "p", "data": None}]},
        {"after": 0, "entries": [{"seq": 1, "kind": "kiosk.device\x00", "key": "p", "data": None}]},
        {"after": 0, "entries": [{"seq": 1, "kind": "kiosk.device_report", "key": "p\x00", "data": None}]},
        {"after": True, "entries": []},
    ):
        status, answer, _ = http(push, method="POST", body=batch, headers=auth)
        assert status == 400 and answer["error"], batch
    for after in ("99999999999999999999", "-1", "x", "1e3"):
        status, answer, _ = http(f"{live.url}/sync/v1/pull?after={after}", headers=auth)
        assert status == 400 and answer["error"]
    for body in (
        {"code": "shui\x00bei", "token": "t", "signing_key": "k"},
        {"code": "shuibei", "token": "t", "signing_key": "k", "acked_seq": 2**40},
        {"code": "x" * 65, "token": "t", "signing_key": "k"},
        {"code": "shuibei", "token": "t", "signing_key": "k", "tag": 7},
    ):
        status, answer, _ = http(live.url + "/sync/v1/enrol", method="POST", body=body)
        assert status == 400 and answer["error"], body
    status, answer, _ = http(live.url + "/sync/v1/pull", headers={"Authorization": "Bearer shui\x01bei:" + key})
    assert status == 401
    assert peer_of(hub).last_seq == 0 and count_rows(hub, SyncParked) == 0


def test_an_entry_from_the_hub_that_fails_at_the_station_is_parked_and_the_rest_applies(enrolled, hub):
    station = enrolled

    def boom(session, station_row, key, data):
        raise ValueError("this plugin's code is broken")

    station.extensions["kiosk_sync_kinds"]["test.boom"] = sync.SyncKind("test", "test.boom", to_station=boom)
    from kiosk.auth import create_user

    with hub.app_context(), session_for(hub, write=True) as session:
        hub_station = session.scalar(select(Station).where(Station.code == "shuibei"))
        sync.publish(session, "test.boom", "x", {"v": 1}, station_id=hub_station.id)
        create_user(session, "worker9", "long-enough-pw", role="staff", station_id=hub_station.id)
        session.commit()
    assert pusher.sync_once(station)[1] == 2
    with session_for(station) as session:
        assert session.scalar(select(User).where(User.username == "worker9")) is not None
        parked = session.scalars(select(SyncParked)).all()
        assert [(p.kind, p.key) for p in parked] == [("test.boom", "x")] and "broken" in parked[0].reason
    assert pusher.sync_once(station) == (0, 0)  # not pulled again


def test_large_entries_travel_in_batches_the_hub_accepts(enrolled, hub):
    """Six entries of 600 kB each (petitions with photos, taken offline) are more than one 2 MiB batch."""
    for n in range(6):
        record(enrolled, "kiosk.device_report", f"big-{n}", {**device(f"big-{n}"), "detail": "x" * 600_000})
    pusher.sync_once(enrolled)
    assert count_rows(enrolled, SyncOutbox, SyncOutbox.sent_at.is_(None)) == 0
    assert peer_of(hub).last_seq >= 6
