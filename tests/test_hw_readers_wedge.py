"""Keyboard-wedge scanners: raw input_event decoding and the reader over a FIFO.

There is no /dev/uinput in CI containers, so no kernel input device can be made.
The backend reads the same raw ``struct input_event`` bytes from a FIFO as from
/dev/input/eventN (only the EVIOCGRAB grab is skipped), which covers everything
but the grab; opening a character device that is not an input device covers the
python-evdev open path up to the point where the kernel says "not an evdev".
"""

from __future__ import annotations

import os
import struct

import pytest
from evdev import ecodes as e
from hypothesis import given
from hypothesis import strategies as st

from kiosk_hardware.readers import ReaderManager, RetryPolicy, WedgeReader
from kiosk_hardware.readers.keymap import US_LAYOUT
from kiosk_hardware.readers.keystrokes import INPUT_EVENT, InputEvent, InputEventParser, KeystrokeDecoder
from kiosk_hardware.readers.testing.collect import EventCollector, reader_threads, wait_until
from kiosk_hardware.readers.testing.input_events import encode, scan_bytes, scan_events

FAST_RETRY = RetryPolicy(initial=0.02, maximum=0.1, stable_after=0.2, tick=0.01)
TYPABLE = "".join(sorted({c for pair in US_LAYOUT.values() for c in pair}))


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = reader_threads()
    yield
    wait_until(lambda: not (reader_threads() - before), timeout=3, what="reader threads to end")


def decode(data: bytes, terminator: str = "enter") -> list[str]:
    """Run raw bytes through the same two steps as WedgeReader."""
    parser, decoder = InputEventParser(), KeystrokeDecoder(terminator)
    scans = []
    for event in parser.feed(data):
        text = decoder.feed(event.type, event.code, event.value)
        if text is not None:
            scans.append(text)
    return scans


def raw(*events: tuple[int, int, int]) -> bytes:
    """input_event records packed by hand, field by field, as the kernel lays them out."""
    return b"".join(struct.pack("@llHHi", 1700000000, 0, t, c, v) for t, c, v in events)


def press(code: int) -> list[tuple[int, int, int]]:
    return [
        (e.EV_MSC, e.MSC_SCAN, 0x70000 + code),
        (e.EV_KEY, code, 1),
        (e.EV_SYN, 0, 0),
        (e.EV_KEY, code, 0),
        (e.EV_SYN, 0, 0),
    ]


# -- decoding --------------------------------------------------------------------------


def test_input_event_layout_matches_the_kernel_abi():
    # struct input_event on 64-bit Linux: two 8-byte timeval fields, u16, u16, s32.
    if struct.calcsize("@l") == 8:
        assert INPUT_EVENT.size == 24
    assert INPUT_EVENT.unpack(raw((e.EV_KEY, e.KEY_A, 1)))[2:] == (e.EV_KEY, e.KEY_A, 1)


def test_our_records_read_back_through_python_evdev_c_reader():
    """python-evdev's C extension parses the bytes exactly as it does a device's."""
    from evdev import _input

    events = scan_events("Ab1")
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, encode(events))
        parsed = _input.device_read_many(read_fd)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert [tuple(p) for p in parsed] == [tuple(ev) for ev in events]


def test_decodes_shifted_scan_terminated_by_enter():
    assert decode(scan_bytes("AbC-12_3?x=Y&z=%7E")) == ["AbC-12_3?x=Y&z=%7E"]


def test_right_shift_caps_lock_repeat_and_non_key_events():
    events = [
        (e.EV_KEY, e.KEY_RIGHTSHIFT, 1),
        *press(e.KEY_H),
        (e.EV_KEY, e.KEY_RIGHTSHIFT, 0),
        (e.EV_KEY, e.KEY_I, 1),
        (e.EV_KEY, e.KEY_I, 2),
        (e.EV_KEY, e.KEY_I, 0),  # repeat must not type twice
        *press(e.KEY_CAPSLOCK),
        *press(e.KEY_K),
        *press(e.KEY_1),
        *press(e.KEY_CAPSLOCK),
        *press(e.KEY_F1),  # types nothing
        (e.EV_LED, e.LED_CAPSL, 1),
        *press(e.KEY_KP7),
        *press(e.KEY_KPDOT),
        *press(e.KEY_KPENTER),
    ]
    assert decode(raw(*events)) == ["HiK17."]


def test_empty_scan_is_ignored_and_scans_are_separate():
    data = raw(*press(e.KEY_ENTER)) + scan_bytes("one") + scan_bytes("two")
    assert decode(data) == ["one", "two"]


def test_tab_terminator():
    assert decode(scan_bytes("A1", terminator="tab"), terminator="tab") == ["A1"]
    assert decode(scan_bytes("A1", terminator="enter"), terminator="tab") == []


def test_records_split_anywhere_are_reassembled():
    data = scan_bytes("Split")
    for cut in range(1, len(data), 7):
        parser, decoder = InputEventParser(), KeystrokeDecoder()
        out = [decoder.feed(ev.type, ev.code, ev.value) for ev in parser.feed(data[:cut]) + parser.feed(data[cut:])]
        assert [t for t in out if t] == ["Split"], cut


@given(st.text(alphabet=TYPABLE, min_size=1, max_size=60).filter(lambda s: s.strip(" ") == s and s.strip()))
def test_any_us_typable_text_round_trips(text):
    assert decode(scan_bytes(text)) == [text]


def test_magnetic_track_characters():
    track = "%B6228480402564890^ZHANG/SAN^2512101?;6228480402564890=2512101?"
    assert decode(scan_bytes(track)) == [track]


def test_parsed_events_are_named_tuples():
    (event,) = InputEventParser().feed(raw((e.EV_KEY, e.KEY_Z, 1)))
    assert isinstance(event, InputEvent) and event.code == e.KEY_Z and event.sec == 1700000000


# -- the backend ---------------------------------------------------------------------------


class EventFifo:
    """A FIFO that appears atomically at ``path`` with a writer already attached,
    standing in for /dev/input/eventN being created when a scanner is plugged in."""

    def __init__(self, path) -> None:
        self.path = path
        self.fd: int | None = None

    def plug(self) -> None:
        staging = self.path.with_name(self.path.name + ".new")
        os.mkfifo(staging)
        # O_RDWR never blocks on a FIFO, so the writer exists before any reader.
        self.fd = os.open(staging, os.O_RDWR)
        os.rename(staging, self.path)

    def unplug(self) -> None:
        self.path.unlink(missing_ok=True)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def write(self, data: bytes) -> None:
        assert self.fd is not None
        os.write(self.fd, data)


@pytest.fixture
def fifo(tmp_path):
    stream = EventFifo(tmp_path / "usb-scanner-event-kbd")
    yield stream
    stream.unplug()


def test_wedge_reader_appears_scans_and_reconnects(fifo):
    collector = EventCollector()
    mgr = ReaderManager({"qr": {"type": "wedge", "device": str(fifo.path)}}, collector, retry=FAST_RETRY)
    mgr.start()
    try:
        wait_until(
            lambda: mgr.status("qr").state == "disconnected" and "not present" in mgr.status("qr").detail,
            what="missing device reported",
        )

        fifo.plug()
        wait_until(lambda: mgr.status("qr").ok, what="picked up when it appears")
        payload = "https://szft.gov.cn/minyi?station=SG-042&v=2"
        data = scan_bytes(payload)
        fifo.write(data[:37])  # a pipe may hand over half a record
        fifo.write(data[37:])
        event = collector.wait_for(1)[0]
        assert (event.source, event.kind, event.value) == ("qr", "code", payload)

        fifo.unplug()
        wait_until(lambda: mgr.status("qr").state == "disconnected", what="loss reported")
        fifo.plug()
        wait_until(lambda: mgr.status("qr").ok, what="back")
        fifo.write(scan_bytes("SECOND"))
        assert [e.value for e in collector.wait_for(2)] == [payload, "SECOND"]
    finally:
        mgr.stop()


def test_half_scan_is_not_carried_over_a_reconnect(fifo):
    collector = EventCollector()
    reader = WedgeReader("card", str(fifo.path), event_kind="card")
    fifo.plug()
    reader.start(collector)
    try:
        wait_until(lambda: reader.status().ok)
        fifo.write(scan_bytes("123")[: INPUT_EVENT.size * 6])  # "1" typed, no Enter
        fifo.unplug()
        wait_until(lambda: not reader.running)
        fifo.plug()
        reader.start(collector)
        wait_until(lambda: reader.status().ok)
        fifo.write(scan_bytes("0008123456"))
        assert collector.wait_for(1)[0].value == "0008123456"
        assert collector.events[0].kind == "card"
    finally:
        reader.stop()


def test_char_device_that_is_not_an_input_device_is_an_error():
    reader = WedgeReader("qr", "/dev/null")
    reader.start(lambda event: None)
    wait_until(lambda: not reader.running)
    status = reader.status()
    assert status.state == "error", status
    reader.stop()


def test_regular_file_is_rejected(tmp_path):
    path = tmp_path / "not-a-device"
    path.write_bytes(scan_bytes("x"))
    reader = WedgeReader("qr", str(path))
    reader.start(lambda event: None)
    wait_until(lambda: not reader.running)
    assert reader.status().state == "error"
    assert "neither an input device nor a FIFO" in reader.status().detail
    reader.stop()


def test_stop_is_prompt_while_waiting_for_keys(fifo):
    reader = WedgeReader("qr", str(fifo.path))
    fifo.plug()
    reader.start(lambda event: None)
    wait_until(lambda: reader.status().ok)
    reader.stop()
    assert not reader.running
    assert reader.status().state == "stopped"
