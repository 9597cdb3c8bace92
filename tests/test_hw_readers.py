"""The readers layer's common parts: events, statuses, TestReader, ReaderManager, config."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime

import pytest

from kiosk_hardware.readers import (
    DeviceStatus,
    PcscReader,
    ReaderEvent,
    ReaderManager,
    RetryPolicy,
    SerialReader,
    TestReader,
    WedgeReader,
    reader_from_config,
)
from kiosk_hardware.readers.testing.collect import EventCollector, reader_threads, wait_until

FAST_RETRY = RetryPolicy(initial=0.02, maximum=0.1, stable_after=0.2, tick=0.01)


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = reader_threads()
    yield
    wait_until(lambda: not (reader_threads() - before), timeout=3, what="reader threads to end")


@pytest.fixture
def manager():
    managers: list[ReaderManager] = []

    def make(configs, on_event=None, retry=FAST_RETRY) -> ReaderManager:
        mgr = ReaderManager(configs, on_event, retry=retry)
        managers.append(mgr)
        mgr.start()
        return mgr

    yield make
    for mgr in managers:
        mgr.stop()


# -- events and statuses ------------------------------------------------------------


def test_event_to_dict_is_json_with_utc_offset():
    at = datetime(2023, 5, 4, 1, 2, 3, tzinfo=UTC)
    event = ReaderEvent(source="前台读卡器", kind="card", value="04A1B2C3", at=at)
    data = json.loads(json.dumps(event.to_dict()))
    assert data == {"source": "前台读卡器", "kind": "card", "value": "04A1B2C3", "at": "2023-05-04T01:02:03+00:00"}


def test_event_rejects_naive_time_and_unknown_kind():
    with pytest.raises(ValueError, match="aware"):
        ReaderEvent(source="x", kind="card", value="1", at=datetime(2023, 1, 1))
    with pytest.raises(ValueError, match="kind"):
        ReaderEvent(source="x", kind="fingerprint", value="1", at=datetime.now(UTC))


def test_status_to_dict_and_validation():
    status = DeviceStatus(name="qr", kind="wedge", state="disconnected", detail="not present")
    assert status.to_dict() == {
        "name": "qr",
        "kind": "wedge",
        "state": "disconnected",
        "detail": "not present",
        "last_event_at": None,
    }
    assert not status.ok
    with pytest.raises(ValueError):
        DeviceStatus(name="qr", kind="wedge", state="sleeping")


# -- TestReader ----------------------------------------------------------------------


def test_test_reader_delivers_injected_reads():
    collector = EventCollector()
    reader = TestReader("desk")
    assert reader.inject("card", "0001") is None, "a stopped reader must not deliver"
    assert reader.status().state == "stopped"
    reader.start(collector)
    try:
        wait_until(lambda: reader.status().ok, what="test reader ok")
        event = reader.inject("code", "https://example.org/petition/42")
        assert collector.events == [event]
        assert (event.source, event.kind, event.value) == ("desk", "code", "https://example.org/petition/42")
        assert event.at.tzinfo is not None
        assert reader.status().last_event_at == event.at
        with pytest.raises(ValueError):
            reader.inject("smell", "x")
    finally:
        reader.stop()
    assert reader.status().state == "stopped"
    assert reader.inject("card", "0002") is None
    assert len(collector.events) == 1


def test_test_reader_cannot_start_twice():
    reader = TestReader("desk")
    reader.start(lambda event: None)
    try:
        with pytest.raises(RuntimeError):
            reader.start(lambda event: None)
    finally:
        reader.stop()


def test_callback_error_does_not_stop_reader(caplog):
    seen: list[str] = []

    def flaky(event: ReaderEvent) -> None:
        seen.append(event.value)
        if event.value == "bad":
            raise RuntimeError("plugin bug")

    reader = TestReader("desk")
    reader.start(flaky)
    try:
        wait_until(lambda: reader.status().ok)
        with caplog.at_level(logging.ERROR):
            reader.inject("card", "bad")
        reader.inject("card", "good")
        assert seen == ["bad", "good"]
        assert reader.status().ok
        assert "plugin bug" in caplog.text
    finally:
        reader.stop()


# -- ReaderManager -------------------------------------------------------------------


def test_manager_routes_events_to_callback(manager):
    collector = EventCollector()
    mgr = manager({"front": {"type": "test"}, "scanner": {"type": "test", "kind": "code"}}, collector)
    wait_until(lambda: all(s.ok for s in mgr.statuses()), what="both ok")
    mgr.reader("front").inject("card", "A1")
    mgr.reader("scanner").inject("code", "Q1")
    assert [(e.source, e.kind, e.value) for e in collector.events] == [
        ("front", "card", "A1"),
        ("scanner", "code", "Q1"),
    ]
    assert mgr.delivered == 2


def test_manager_without_callback_drops_events_and_keeps_no_backlog(manager):
    mgr = manager({"front": {"type": "test"}})
    wait_until(lambda: mgr.status("front").ok)
    assert mgr.reader("front").inject("card", "nobody-listening") is not None
    assert mgr.dropped == 1
    collector = EventCollector()
    mgr.on_event = collector  # a screen that wants cards opens
    mgr.reader("front").inject("card", "next-user")
    assert collector.values == [("card", "next-user")]
    mgr.on_event = None  # and closes again
    mgr.reader("front").inject("card", "after-close")
    assert collector.values == [("card", "next-user")]
    assert (mgr.delivered, mgr.dropped) == (1, 2)


def test_manager_reconnects_unplugged_device(manager):
    collector = EventCollector()
    mgr = manager({"front": {"type": "test"}}, collector)
    reader = mgr.reader("front")
    wait_until(lambda: mgr.status("front").ok)
    reader.unplug()
    wait_until(lambda: mgr.status("front").state == "disconnected", what="disconnected")
    assert reader.inject("card", "lost") is None
    assert "unplugged" in mgr.status("front").detail
    reader.plug()
    wait_until(lambda: mgr.status("front").ok, what="ok again")
    reader.inject("card", "back")
    assert collector.values == [("card", "back")]


class CountingReader(TestReader):
    """A TestReader that records when each open attempt happened."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.attempts = 0

    def _open(self) -> str:
        self.attempts += 1
        return super()._open()


def test_manager_backs_off_and_logs_a_missing_device_once(caplog):
    reader = CountingReader("gone")
    reader.unplug()
    retry = RetryPolicy(initial=0.01, maximum=0.16, tick=0.005, remind_every=600)
    mgr = ReaderManager.from_readers([reader], retry=retry)
    with caplog.at_level(logging.DEBUG, logger="kiosk_hardware.readers.manager"):
        mgr.start()
        stop = threading.Event()
        stop.wait(0.8)
        mgr.stop()
    # Without backoff a 5 ms tick would make ~160 attempts; doubling from 10 ms to a
    # 160 ms ceiling allows at most 1 + ~8 in 0.8 s.
    assert 3 <= reader.attempts <= 12, reader.attempts
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "gone" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert mgr.status("gone").state == "stopped"


def test_manager_statuses_in_config_order_and_stop_is_clean(manager):
    # Another test's manager in this worker process may still be winding down: only ours must be gone.
    others = reader_threads()
    mgr = manager({"b": {"type": "test"}, "a": {"type": "test"}, "c": {"type": "serial", "device": "/nonexistent/tty"}})
    wait_until(lambda: "not present" in mgr.status("c").detail, what="missing serial device reported")
    assert mgr.names == ["b", "a", "c"]
    statuses = mgr.statuses()
    assert [s.name for s in statuses] == ["b", "a", "c"]
    assert [s.kind for s in statuses] == ["test", "test", "serial"]
    assert "not present" in statuses[2].detail
    json.dumps([s.to_dict() for s in statuses])
    with pytest.raises(RuntimeError):
        mgr.start()
    mgr.stop()
    assert {s.state for s in mgr.statuses()} == {"stopped"}
    assert not reader_threads() - others


def test_manager_can_be_started_again_after_stop():
    collector = EventCollector()
    mgr = ReaderManager({"front": {"type": "test"}}, collector, retry=FAST_RETRY)
    for round_ in range(2):
        mgr.start()
        try:
            wait_until(lambda: mgr.status("front").ok)
            mgr.reader("front").inject("card", f"round-{round_}")
        finally:
            mgr.stop()
        assert mgr.status("front").state == "stopped"
    assert collector.values == [("card", "round-0"), ("card", "round-1")]


def test_from_readers_rejects_duplicate_names():
    with pytest.raises(ValueError, match="duplicate"):
        ReaderManager.from_readers([TestReader("x"), TestReader("x")])


# -- configuration -------------------------------------------------------------------


def test_reader_from_config_builds_each_backend():
    pcsc = reader_from_config("nfc", {"type": "pcsc", "reader": "ACR122"})
    assert isinstance(pcsc, PcscReader) and pcsc.reader_match == "ACR122" and pcsc.event_kind == "card"
    wedge = reader_from_config("qr", {"type": "wedge", "device": "/dev/input/by-id/usb-scanner-event-kbd"})
    assert isinstance(wedge, WedgeReader) and wedge.event_kind == "code" and wedge.grab
    serial = reader_from_config(
        "rfid",
        {"type": "serial", "device": "/dev/ttyACM0", "baudrate": 115200, "framing": {"length": 10}, "gap_ms": 50},
    )
    assert isinstance(serial, SerialReader)
    assert (serial.baudrate, serial.framing, serial.gap) == (115200, {"length": 10}, 0.05)
    test = reader_from_config("t", {"type": "test", "kind": "track"})
    assert isinstance(test, TestReader) and test.event_kind == "track"
    for reader in (pcsc, wedge, serial, test):
        assert reader.status().state == "stopped"


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"type": "bluetooth"}, "unknown type"),
        ({"type": "test", "colour": "red"}, "unknown keys"),
        ({"type": "test", "kind": "removed"}, "kind must be"),
        ({"type": "wedge"}, "'device'"),
        ({"type": "wedge", "device": "/dev/x", "terminator": "space"}, "terminator"),
        ({"type": "serial", "device": "/dev/x", "framing": "stx"}, "unknown framing"),
        ({"type": "serial", "device": "/dev/x", "framing": {"start": "02"}}, "end marker or a length"),
        ({"type": "serial", "device": "/dev/x", "framing": {"end": "zz"}}, "not hex"),
        ({"type": "serial", "device": "/dev/x", "framing": {"length": 0}}, "positive"),
        ({"type": "serial", "device": "/dev/x", "baudrate": "fast"}, "baudrate"),
        ({"type": "serial", "device": "/dev/x", "encoding": "klingon"}, "klingon"),
        ({"type": "serial", "device": "/dev/x", "parity": "X"}, "parity"),
        ({"type": "pcsc", "reader": 3}, "'reader'"),
    ],
)
def test_reader_from_config_rejects_bad_config_naming_the_device(cfg, message):
    with pytest.raises(ValueError, match=message) as info:
        reader_from_config("lobby-reader", cfg)
    assert "lobby-reader" in str(info.value)


def test_manager_rejects_bad_config_at_construction():
    with pytest.raises(ValueError, match="broken"):
        ReaderManager({"fine": {"type": "test"}, "broken": {"type": "serial"}})
