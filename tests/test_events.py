"""Domain events and push: stored, broadcast to plugins, streamed across apps; reader routing."""

import time
import types
from datetime import UTC, datetime

from sqlalchemy import func, select

from kiosk import hookimpl
from kiosk.events import emit
from kiosk.testing import Auth, EventStream, LiveServer


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
    try:
        # The page's stream has subscribed its screen by the time its first line arrives.
        with EventStream(server.url, "/events/reader?screen=tapper.checkin") as page:
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
    assert got == [("reader", {"fill": {"card": "04A1B2C3D4"}, "station": "shuibei"})]
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
