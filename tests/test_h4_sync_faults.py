"""The station's pusher against links and middleboxes that misbehave (helper H4's outside check).

A hub reached through a reverse proxy or a flaky link does not only refuse
connections: it answers with bytes that trickle in, with something that is not
HTTP, with a body cut short, with a proxy's page instead of JSON. Each must end
the pass as a sync failure the station's staff see (``last_error``), with the
back-off, and the next pass over a good link must catch up with nothing lost.
"""

from __future__ import annotations

import socket
import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select
from test_sync_transport import hub, live, station  # noqa: F401 (fixtures shared with the transport tests)

from kiosk import sync
from kiosk.db import session_for, utcnow
from kiosk.models import DeviceReport, JobRun
from kiosk.sync import pusher
from kiosk.sync.models import SyncOutbox, SyncPeer, SyncState
from kiosk.testing import count_rows, wait_for


@pytest.fixture
def enrolled(station, hub, live):
    import re

    from kiosk.cli import cli

    args = ["stations", "enrol", "shuibei", "--name", "水贝社区党群服务中心", "--kind", "party_service"]
    result = hub.test_cli_runner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    token = re.search(r"kiosk sync join \S+ (\S+)", result.output).group(1)
    result = station.test_cli_runner().invoke(cli, ["sync", "join", live.url, token])
    assert result.exit_code == 0, result.output
    return station


class Middlebox:
    """A TCP server in place of the hub: each connection gets ``answer(conn)``; ``drip`` trickles a byte at a time."""

    def __init__(self, answer):
        self.answer = answer
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stopped = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(5)
            conn.recv(65536)  # the request's head (and most of a small body)
            self.answer(self, conn)
        except OSError:
            pass
        finally:
            conn.close()

    def drip(self, conn, data: bytes, every: float) -> None:
        for i in range(len(data)):
            if self.stopped.wait(every):
                return
            conn.sendall(data[i : i + 1])

    def stop(self):
        self.stopped.set()
        self.listener.close()
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def point_at(app, url: str) -> str:
    """Make the station's hub address ``url``; returns the one it had."""
    with session_for(app, write=True) as session:
        row = session.get(SyncState, app.extensions["kiosk_station_id"])
        before, row.hub_url = row.hub_url, url
        session.commit()
    return before


def last_error(app) -> str:
    with session_for(app) as session:
        return session.get(SyncState, app.extensions["kiosk_station_id"]).last_error or ""


def record_report(app, name: str) -> None:
    with app.app_context(), session_for(app, write=True) as session:
        sync.record(session, "kiosk.device_report", name, {"device": name, "kind": "printer", "state": "ok"})
        session.commit()


def hub_devices(hub) -> set[str]:
    with session_for(hub) as session:
        return set(session.scalars(select(DeviceReport.device)).all())


def pass_in_thread(app) -> dict:
    """Run one sync pass in a thread (it may hang on the old code); what it raised lands in the dict."""
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = pusher.sync_once(app)
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            outcome["error"] = exc

    threading.Thread(target=run, daemon=True).start()
    return outcome


def test_an_answer_that_trickles_in_ends_the_pass_at_the_deadline_and_the_next_one_catches_up(
    enrolled, hub, monkeypatch
):
    """Each byte arrives within the socket timeout, so only a deadline on the whole request ends it.

    On the old code the pass waited on the trickle for ever (a real link dripping the
    hub's answer held the pusher for minutes after the link was good again, with no
    error shown to staff).
    """
    station = enrolled
    monkeypatch.setattr(pusher, "TIMEOUT", 2.0)
    monkeypatch.setattr(pusher, "DEADLINE", 1.0, raising=False)
    body = b'{"last_seq": 0, "entries": [], "more": false}'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    box = Middlebox(lambda box, conn: box.drip(conn, head + body, 0.3))
    try:
        hub_url = point_at(station, box.url)
        record_report(station, "printer-drip")
        outcome = pass_in_thread(station)
        wait_for(lambda: outcome, 30, "the pass over a dripping link to end")
        assert isinstance(outcome.get("error"), pusher.SyncFailure), outcome
        assert "no whole answer" in str(outcome["error"])
        assert "no whole answer" in last_error(station)
    finally:
        box.stop()
    point_at(station, hub_url)
    assert pusher.sync_once(station)[0] >= 1
    assert "printer-drip" in hub_devices(hub)
    assert last_error(station) == ""
    assert count_rows(station, SyncOutbox, SyncOutbox.sent_at.is_(None)) == 0


def _garbage(box, conn):
    conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n")


def _cut_short(box, conn):
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{"last_seq"')


def _json_list(box, conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]")


def _proxy_page(box, conn):
    page = "<html><body>网络维护中，请稍后再试</body></html>".encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(page) + page)


def _bad_gateway(box, conn):
    page = b"<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"
    conn.sendall(
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(page) + page
    )


@pytest.mark.parametrize(
    "answer, says",
    [
        (_garbage, "unreachable"),
        (_cut_short, "unreachable"),
        (_json_list, "not a JSON object"),
        (_proxy_page, "unreachable"),
        (_bad_gateway, "502"),
    ],
    ids=["not-http", "cut-short", "json-list", "proxy-page-200", "bad-gateway"],
)
def test_a_middlebox_answer_is_a_sync_failure_staff_see_and_nothing_is_marked_sent(enrolled, hub, answer, says):
    """Not HTTP, a body cut short, a JSON list: on the old code these escaped as other exceptions.

    The pusher's loop then logged a traceback, kept its back-off at the start and left
    ``last_error`` empty: the station's status said all was well while nothing went.
    """
    station = enrolled
    box = Middlebox(answer)
    try:
        hub_url = point_at(station, box.url)
        record_report(station, "printer-mb")
        with pytest.raises(pusher.SyncFailure, match=says):
            pusher.sync_once(station)
        assert says in last_error(station)
        assert count_rows(station, SyncOutbox, SyncOutbox.sent_at.is_(None)) >= 1
        worker = pusher.Pusher(station, idle=0.05)
        worker.step()
        assert worker.failures == 1  # the back-off counts it
    finally:
        box.stop()
    point_at(station, hub_url)
    pusher.sync_once(station)
    assert "printer-mb" in hub_devices(hub)
    assert count_rows(station, SyncOutbox, SyncOutbox.sent_at.is_(None)) == 0


def test_an_unexpected_error_in_a_pass_is_shown_to_staff(enrolled, monkeypatch):
    """Whatever ends a pass, the station's status must not keep saying the last sync was fine."""
    station = enrolled
    pusher.sync_once(station)
    assert last_error(station) == ""

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pusher, "sync_once", broken)
    worker = pusher.Pusher(station, idle=0.05)
    worker.wake.set()
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: "disk on fire" in last_error(station), 10, "the failure in the station's status")
    finally:
        worker.stop_event.set()
        worker.wake.set()
        thread.join(10)
    assert not thread.is_alive()


# -- the station's clock set back (NTP correcting a clock that ran ahead) ---------------------------------
def test_a_clock_set_back_does_not_freeze_the_last_good_sync(enrolled):
    """The last success is written at most every 30 s, measured on the clock; one "in the future" is written now.

    On the old code a station whose clock went back a day kept showing the
    last good sync of the future day (a negative sync age) until the clock caught up.
    """
    station = enrolled
    pusher.sync_once(station)
    sid = station.extensions["kiosk_station_id"]
    with session_for(station, write=True) as session:
        session.get(SyncState, sid).last_ok_at = utcnow() + timedelta(days=1)
        session.commit()
    pusher.sync_once(station)
    with session_for(station) as session:
        assert session.get(SyncState, sid).last_ok_at <= utcnow()


def test_a_lease_taken_before_the_clock_was_set_back_is_not_waited_out(enrolled):
    """A pusher killed after the clock went back an hour left a lease ending an hour ahead.

    A lease never lasts more than LEASE_SECONDS, so its successor takes it; on the old
    code the station pushed nothing for the hour. A fresh lease of a live holder still
    keeps others out.
    """
    station = enrolled
    worker = pusher.Pusher(station)

    def lease_ends(at):
        with session_for(station, write=True) as session:
            row = session.get(JobRun, worker.lease_name)
            if row is None:
                row = JobRun(name=worker.lease_name, last_error="")
                session.add(row)
            row.lease_until = at
            session.commit()

    lease_ends(utcnow() + timedelta(seconds=pusher.LEASE_SECONDS - 2))
    assert worker._hold_lease() is False  # a live holder's lease
    lease_ends(utcnow() + timedelta(hours=1))
    assert worker._hold_lease() is True
    record_report(station, "printer-after-jump")
    assert worker.step() < pusher.LEASE_SECONDS / 3  # it pushes, it does not wait for the lease
    assert count_rows(station, SyncOutbox, SyncOutbox.sent_at.is_(None)) == 0


@pytest.mark.parametrize(
    "skew",
    [timedelta(hours=-1), timedelta(minutes=-10), timedelta(hours=3)],
    ids=["behind-1h", "behind-10min", "ahead-3h"],
)
def test_a_stations_device_reports_are_on_the_hubs_clock_whatever_the_stations_says(enrolled, hub, monkeypatch, skew):
    """A station's clock behind the hub's made the hub's dashboard flag every one of its devices as not
    reporting (their last report looked older than 7 minutes); one ahead made a device that stopped
    reporting look fresh for as long as the skew. The hub now corrects by the skew its push says.
    """
    from kiosk.device_reports import STALE_SECONDS, SYNC_REFRESH_SECONDS, reports_by_station

    station = enrolled
    station_now = utcnow() + skew
    monkeypatch.setattr(pusher, "utcnow", lambda: utcnow() + skew)  # the station's clock as the pusher reads it
    with station.app_context(), session_for(station, write=True) as session:
        data = {"device": "printer", "kind": "printer", "state": "ok", "updated_at": station_now.isoformat()}
        sync.record(session, "kiosk.device_report", "printer", data)
        session.commit()
    pusher.sync_once(station)
    with session_for(hub) as session:
        row = session.scalar(select(DeviceReport).where(DeviceReport.device == "printer"))
        assert row is not None
        assert abs(row.updated_at - utcnow()) < timedelta(seconds=60), (row.updated_at, utcnow())
        reports = reports_by_station(session, [row.station_id], stale_seconds=STALE_SECONDS + SYNC_REFRESH_SECONDS)
    assert [r["stale"] for r in reports[row.station_id]] == [False]


# -- a station restored from its backup (docs/deploy.md, "Backup and restore") --------------------------
@pytest.mark.parametrize("new", [2, 5], ids=["fewer-than-the-hub-has", "more-than-the-hub-has"])
def test_entries_recorded_after_a_station_is_restored_from_a_backup_reach_the_hub(enrolled, hub, new):
    """The restored outbox numbers from where the backup was, below what the hub has applied.

    On the old code the hub skipped every entry recorded after the restore whose number
    it had applied before, as a replay, and the station marked them sent: lost without
    a word. The mark of the restore makes the station renumber them past the hub's
    number, however many it recorded.
    """
    station = enrolled
    sid = station.extensions["kiosk_station_id"]
    record_report(station, "printer-1")
    pusher.sync_once(station)
    with session_for(station) as session:
        at_backup = session.get(SyncState, sid).acked_seq
    for n in (2, 3, 4):
        record_report(station, f"printer-{n}")
    pusher.sync_once(station)
    assert hub_devices(hub) >= {"printer-1", "printer-2", "printer-3", "printer-4"}
    # The disk fails; the backup of when printer-1 had just synced is restored.
    with session_for(station, write=True) as session:
        session.execute(delete(SyncOutbox).where(SyncOutbox.seq > at_backup))
        session.get(SyncState, sid).acked_seq = at_backup
        session.commit()
    pusher.mark_restored(station)  # what `kiosk restore` (or `kiosk sync restored` after pg_restore) does
    after_restore = {f"printer-after-restore-{n}" for n in range(5, 5 + new)}
    for name in sorted(after_restore):
        record_report(station, name)
    pusher.sync_once(station)
    assert after_restore <= hub_devices(hub)
    assert count_rows(station, SyncOutbox, SyncOutbox.sent_at.is_(None)) == 0
    assert count_rows(station, JobRun, JobRun.name.like("kiosk.sync.restored@%")) == 0  # done with the mark
    with session_for(hub) as session:
        peer_seq = session.scalar(select(func.max(SyncPeer.last_seq)))
    with session_for(station) as session:
        assert session.get(SyncState, sid).acked_seq == peer_seq
        top = session.scalar(select(func.max(SyncOutbox.seq)))
    assert top == peer_seq
    record_report(station, "printer-7")  # numbering goes on from there
    pusher.sync_once(station)
    assert "printer-7" in hub_devices(hub)


def test_a_scheduled_job_whose_last_run_is_after_now_is_due():
    from zoneinfo import ZoneInfo

    from kiosk.jobs import _due, make_job

    now = utcnow()
    every = make_job("kiosk", "probe", lambda app: None, every=300)
    assert _due(every, now + timedelta(hours=1), now, ZoneInfo("Asia/Shanghai"))
