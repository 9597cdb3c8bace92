"""Domain events and push: stored, broadcast to plugins, streamed across apps; reader routing."""

import threading
import time
import types
from datetime import UTC, datetime

from sqlalchemy import func, select

from kiosk import hookimpl
from kiosk.events import emit
from kiosk.testing import Auth, EventStream, LiveServer, terminal_credential


def test_event_reaches_plugins_and_is_stored(make_app, database_url):
    seen = []
    mod = types.ModuleType("kiosk_listener_test")

    def kiosk_event(event):
        seen.append((event.name, event.payload, event.channel))

    mod.kiosk_event = hookimpl(kiosk_event)
    app = make_app(database_url, EXTRA_PLUGINS={"listener": mod})
    with app.test_request_context("/"):
        event = emit("legal.ticket_called", {"ticket": "A012", "counter": 3}, channel="legal")
    assert event.id is not None
    assert seen == [("legal.ticket_called", {"ticket": "A012", "counter": 3}, "legal")]


def test_stream_delivers_an_event_emitted_by_another_app_on_the_same_database(make_app, database_url):
    """Two kiosk processes' worth of apps on one database: push crosses between them."""
    display_app = make_app(database_url)
    counter_app = make_app(database_url)
    with LiveServer(display_app) as server, EventStream(server.url, "/events/stream?channel=legal") as display:
        started = time.monotonic()
        with counter_app.test_request_context("/"):
            emit("legal.ticket_called", {"ticket": "B007", "counter": 2}, channel="legal")
        arrived = display.wait_at("legal.ticket_called", timeout=10)
        got = display.collect(1, timeout=0)
    assert arrived is not None, "the event never reached the other app's stream"
    elapsed = arrived[0] - started
    assert got == [
        ("legal.ticket_called", {"name": "legal.ticket_called", "channel": "legal", "ticket": "B007", "counter": 2})
    ]
    assert elapsed < 5  # generous: the display must update without a reload, not instantly here


def test_stream_filters_by_channel_and_station(make_app, database_url):
    app = make_app(database_url)
    with LiveServer(app) as server, EventStream(server.url, "/events/stream?channel=parking") as stream:
        with app.test_request_context("/"):
            emit("legal.ticket_called", {"ticket": "A001"}, channel="legal")
            emit("parking.space_freed", {"lot": 1}, channel="parking")
        # The legal event was stored first: had it passed the filter it would be first here.
        got = stream.collect(1, timeout=6)
    assert [name for name, _ in got] == ["parking.space_freed"]


def test_reader_event_goes_only_to_a_screen_that_claims_it(make_app, database_url):
    from kiosk_hardware.readers import ReaderEvent

    mod = types.ModuleType("kiosk_cardy_test")

    def handle_reader_event(event, screen, station):
        if screen == "cardy.checkin" and event.kind == "card":
            return {"fill": {"card": event.value}}
        return None

    mod.handle_reader_event = hookimpl(handle_reader_event)
    app = make_app(database_url, EXTRA_PLUGINS={"cardy": mod})
    hub = app.extensions["reader_hub"]
    read = ReaderEvent(source="card", kind="card", value="04A1B2C3", at=datetime.now(UTC))
    assert hub.publish(read) == 0  # nobody looking: dropped, not queued
    home = hub.subscribe(None)
    checkin = hub.subscribe("cardy.checkin")
    assert hub.publish(read) == 1
    assert checkin.get_nowait() == {"fill": {"card": "04A1B2C3"}}
    assert home.empty()
    hub.unsubscribe(checkin)
    assert hub.publish(read) == 0
    assert checkin.empty()  # a page that has gone never receives the next user's card


def test_card_tap_reaches_the_open_page_through_the_whole_chain(make_app, database_url):
    """Test reader → reader manager → hub → plugin hook → the page's event stream."""
    mod = types.ModuleType("kiosk_tapper_test")

    def handle_reader_event(event, screen, station):
        if screen == "tapper.checkin":
            return {"fill": {"card": event.value}, "station": station.code}
        return None

    mod.handle_reader_event = hookimpl(handle_reader_event)
    app = make_app(
        database_url,
        EXTRA_PLUGINS={"tapper": mod},
        START_DEVICES=True,
        DEVICES={"printer": {"type": "preview"}, "readers": {"desk": {"type": "test", "kind": "card"}}},
    )
    server = LiveServer(app)
    manager = app.extensions["kiosk_devices"].manager
    # The station file's readers belong to the station's own terminal, kiosk-1: its screen listens.
    credential = terminal_credential(app, "kiosk-1")
    try:
        # The page's stream has subscribed its screen by the time its first line arrives.
        with EventStream(
            server.url, "/events/reader?screen=tapper.checkin", headers={"Cookie": f"kiosk_terminal={credential}"}
        ) as page:
            started = time.monotonic()
            manager.reader("desk").inject("card", "04A1B2C3D4")
            arrived = page.wait_at("reader", timeout=5)
            got = page.collect(1, timeout=0)
        elapsed = arrived[0] - started if arrived else float("inf")
        health = app.test_client().get("/healthz").get_json()
        admin = app.test_client()
        Auth(app, admin).login("admin")
        admin_page = admin.get("/admin/").get_data(as_text=True)
    finally:
        server.stop()
        app.extensions["kiosk_devices"].stop()
    [(name, action)] = got
    assert name == "reader" and action["station"] == "shuibei" and set(action["fill"]) == {"card"}
    # The page is handed a claim of its terminal, never the card number itself.
    assert action["fill"]["card"].startswith("rc_") and "04A1B2C3D4" not in str(action)
    assert elapsed < 0.5
    assert health["devices"]["desk"]["state"] == "ok"
    assert 'data-device="desk"' in admin_page and 'data-device="printer"' in admin_page


def test_an_event_that_commits_after_a_newer_one_is_still_streamed(make_app, database_url):
    """Ids are taken at insert, commits land in their own order: a late commit is delivered late, not lost."""
    app = make_app(database_url)
    with LiveServer(app) as server, EventStream(server.url, "/events/stream?channel=legal") as stream:
        with app.test_request_context("/"):
            slow = app.extensions["db"].Session()
            emit("legal.ticket_called", {"ticket": "A001", "counter": 1}, channel="legal", session=slow)
            if app.extensions["db"].is_sqlite:
                # One writer at a time on SQLite: commit order is id order. Still check both arrive.
                slow.commit()
                emit("legal.ticket_called", {"ticket": "A002", "counter": 2}, channel="legal")
            else:
                emit("legal.ticket_called", {"ticket": "A002", "counter": 2}, channel="legal")
                # The stream reads A002 (past A001's id) before A001 commits.
                assert (
                    stream.wait_for("legal.ticket_called", timeout=10, where=lambda data: data["ticket"] == "A002")
                    is not None
                )
                slow.commit()
            slow.close()
        got = stream.collect(2, timeout=12)
    assert sorted(data["ticket"] for _name, data in got) == ["A001", "A002"]


def test_event_cursor_waits_for_missing_ids_then_gives_them_up(make_app, database_url):
    from kiosk.events import GAP_SECONDS, EventCursor
    from kiosk.models import KioskEvent

    app = make_app(database_url)
    with app.app_context():
        station_id = app.extensions["kiosk_station_id"]
        session = app.extensions["db"].Session()
        top = session.scalar(select(func.coalesce(func.max(KioskEvent.id), 0)))
        cursor = EventCursor(top)

        def add(event_id, channel="legal", station=station_id):
            session.add(
                KioskEvent(
                    id=event_id, station_id=station, channel=channel, name=f"{channel}.x", payload={"n": event_id}
                )
            )
            session.commit()

        add(top + 3)
        assert [r.id for r in cursor.poll(session, station_id, ["legal"], now=100.0)] == [top + 3]
        assert set(cursor.gaps) == {top + 1, top + 2}
        add(top + 1, channel="parking")  # fills a gap, but not on this stream's channel
        add(top + 2)
        add(top + 4)
        assert [r.id for r in cursor.poll(session, station_id, ["legal"], now=101.0)] == [top + 2, top + 4]
        assert cursor.gaps == {}
        add(top + 7)
        assert [r.id for r in cursor.poll(session, station_id, ["legal"], now=102.0)] == [top + 7]
        assert set(cursor.gaps) == {top + 5, top + 6}
        # A rolled-back insert never commits: after GAP_SECONDS the stream stops asking for it.
        assert cursor.poll(session, station_id, ["legal"], now=102.0 + GAP_SECONDS) == []
        assert cursor.gaps == {}
        assert cursor.high == top + 7
        session.close()


# -- wake-ups per (station, channel) ----------------------------------------------------
class KioskEventReads:
    """Counts the SELECTs on kiosk_event an app's engine runs (a stream's reads), from any thread."""

    def __init__(self, app):
        from sqlalchemy import event as sa_event

        self.engine = app.extensions["db"].engine
        self.count = 0
        self._lock = threading.Lock()
        sa_event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "kiosk_event" in statement:
            with self._lock:
                self.count += 1

    def settled(self, quiet: float = 0.6, timeout: float = 10.0) -> int:
        """The count once no read came for ``quiet`` seconds (the streams' first reads are done)."""
        deadline = time.monotonic() + timeout
        last, since = self.count, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if self.count != last:
                last, since = self.count, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last

    def close(self):
        from sqlalchemy import event as sa_event

        sa_event.remove(self.engine, "before_cursor_execute", self._seen)


def _other_station(app, code="tianbei") -> int:
    from kiosk.models import Station

    session = app.extensions["db"].Session()
    try:
        row = Station(code=code, name="田贝社区党群服务中心", kind="party_service", timezone="Asia/Shanghai")
        row.disabled_plugins = []
        session.add(row)
        session.commit()
        return row.id
    finally:
        session.close()


def _wait(condition, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_events_at_another_station_wake_none_of_this_stations_streams(make_app, database_url):
    """The issue's measurement: 40 tickets at B made A's 4 displays run 160 SELECTs. Now none."""
    app = make_app(database_url)
    notifier = app.extensions["kiosk_notifier"]
    pg = app.extensions["db"].dialect == "postgresql"
    if pg:
        assert _wait(lambda: notifier.listening), "the LISTEN thread never connected"
    a_id = app.extensions["kiosk_station_id"]
    b_id = _other_station(app)
    reads = KioskEventReads(app)
    streams = []
    try:
        with LiveServer(app) as server:
            streams = [EventStream(server.url, "/events/stream?channel=legal") for _ in range(4)]
            assert notifier.streams == 4
            subs = list(notifier._subscribers[(a_id, "legal")])
            # Stands for a stream of station B at this worker: it must be rung for each of B's events.
            b_display = notifier.subscribe(b_id, ["legal"])
            before = reads.settled()
            rings = notifier.rings
            with app.test_request_context("/"):
                for n in range(40):
                    emit("legal.ticket_called", {"ticket": f"B{n:03d}", "counter": 1}, channel="legal", station_id=b_id)
            # Every one of B's events has come through (over NOTIFY on PostgreSQL) by now.
            assert _wait(lambda: b_display.wakeups == 40), b_display.wakeups
            time.sleep(0.3)
            assert [s.wakeups for s in subs] == [0, 0, 0, 0]
            assert notifier.rings - rings == 40
            if pg:
                # SQLite streams poll the file 4 times a second anyway (other processes cannot ring them).
                assert reads.count - before == 0
            # The same count sees A's own event: each of A's streams is rung once and reads it.
            with app.test_request_context("/"):
                emit("legal.ticket_called", {"ticket": "A001", "counter": 2}, channel="legal")
            for stream in streams:
                assert stream.wait_for("legal.ticket_called", timeout=10) == {
                    "name": "legal.ticket_called",
                    "channel": "legal",
                    "ticket": "A001",
                    "counter": 2,
                }
            assert _wait(lambda: all(s.wakeups >= 1 for s in subs))
            assert reads.count > before
            notifier.unsubscribe(b_display)
    finally:
        for stream in streams:
            stream.close()
        reads.close()


def test_a_stream_wakes_for_its_own_channels_only():
    from kiosk.events import Notifier

    notifier = Notifier()
    legal = notifier.subscribe(1, ["legal"])
    both = notifier.subscribe(1, ["legal", "parking"])
    everything = notifier.subscribe(1, [])
    elsewhere = notifier.subscribe(2, [])
    assert notifier.wake(1, "parking") == 2
    assert (legal.wakeups, both.wakeups, everything.wakeups, elsewhere.wakeups) == (0, 1, 1, 0)
    assert notifier.wake(1, "legal") == 3
    assert notifier.wake(3, "legal") == 0
    notifier.unsubscribe(both)
    assert notifier.wake(1, "parking") == 1 and both.wakeups == 2  # gone: not rung again
    assert notifier.wake_all() == 3
    assert legal.wait(0) and not legal.wait(0)  # a ring is kept until the next wait, once


def test_a_waiting_stream_holds_no_database_connection(make_app, database_url):
    app = make_app(database_url)
    engine = app.extensions["db"].engine
    with LiveServer(app) as server:
        streams = [EventStream(server.url, f"/events/stream?channel=c{n}") for n in range(6)]
        try:
            assert app.extensions["kiosk_notifier"].streams == 6
            # Between reads every connection is back in the pool: six idle displays hold none.
            assert _wait(lambda: engine.pool.checkedout() == 0, timeout=5), engine.pool.checkedout()
        finally:
            for stream in streams:
                stream.close()


def test_a_stream_behind_many_events_of_other_stations_still_gets_its_own_at_once(make_app, database_url):
    """Not rung for B's events, a stream reading after 500 of them must not stop at the first 200 ids."""
    from kiosk.models import KioskEvent

    app = make_app(database_url)
    b_id = _other_station(app)
    with LiveServer(app) as server, EventStream(server.url, "/events/stream?channel=legal") as stream:
        session = app.extensions["db"].Session()
        session.add_all(
            KioskEvent(station_id=b_id, channel="legal", name="legal.ticket_called", payload={"n": n})
            for n in range(500)
        )
        session.commit()
        session.close()
        with app.test_request_context("/"):
            emit("legal.ticket_called", {"ticket": "A002"}, channel="legal")
        got = stream.wait_for("legal.ticket_called", timeout=1.5)
    assert got is not None and got["ticket"] == "A002"
