"""Serial readers: framing, and the real pyserial backend over pseudo-terminals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_hardware.readers import ReaderManager, RetryPolicy, SerialReader
from kiosk_hardware.readers.framing import framer_from_config
from kiosk_hardware.readers.testing.collect import EventCollector, reader_threads, wait_until

FAST_RETRY = RetryPolicy(initial=0.02, maximum=0.1, stable_after=0.2, tick=0.01)


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = reader_threads()
    yield
    wait_until(lambda: not (reader_threads() - before), timeout=3, what="reader threads to end")


class FakeTty:
    """A pseudo-terminal reached through a symlink, the way udev names a USB reader.

    ``unplug()`` closes the terminal and removes the link; ``plug()`` makes a new
    terminal under the same name, like re-plugging the cable.
    """

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        os.symlink(os.ttyname(self.slave), self.link)

    def unplug(self) -> None:
        self.link.unlink(missing_ok=True)
        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        self.master = self.slave = None

    def write(self, data: bytes) -> None:
        assert self.master is not None
        os.write(self.master, data)


@pytest.fixture
def tty(tmp_path):
    fake = FakeTty(tmp_path / "ttyREADER")
    fake.plug()
    yield fake
    fake.unplug()


@pytest.fixture
def manager():
    managers: list[ReaderManager] = []

    def make(configs, on_event) -> ReaderManager:
        mgr = ReaderManager(configs, on_event, retry=FAST_RETRY)
        managers.append(mgr)
        mgr.start()
        return mgr

    yield make
    for mgr in managers:
        mgr.stop()


# -- framing ----------------------------------------------------------------------


def feed_all(framing, chunks, gap=0.2, times=None):
    framer = framer_from_config(framing, gap)
    frames = []
    for i, chunk in enumerate(chunks):
        frames += framer.feed(chunk, times[i] if times else 0.0)
    return frames


def test_line_framing_accepts_cr_lf_and_crlf():
    assert feed_all("crlf", [b"0012345678\r\n00AB", b"CDEF\n", b"77\r", b"\r\n"]) == [
        b"0012345678",
        b"00ABCDEF",
        b"77",
    ]
    assert feed_all("lf", [b"a\rb\nc\n"]) == [b"a\rb", b"c"]


def test_start_end_framing_skips_noise_between_frames():
    assert feed_all({"start": "02", "end": "03"}, [b"\xff\x00\x0212", b"34\x03junk\x02", b"ABCD\x03"]) == [
        b"1234",
        b"ABCD",
    ]


def test_multibyte_markers():
    assert feed_all({"start": "AA55", "end": "0D0A"}, [b"\xaa\x00\xaa", b"\x55hi\x0d", b"\x0a"]) == [b"hi"]


def test_fixed_length_framing_with_optional_start():
    assert feed_all({"length": 4}, [b"abcdef", b"gh"]) == [b"abcd", b"efgh"]
    assert feed_all({"start": "02", "length": 3}, [b"x\x02abcy\x02de", b"f"]) == [b"abc", b"def"]


def test_idle_gap_discards_a_partial_frame():
    # A byte was lost from the first read; without the gap reset every later
    # fixed-length frame would be shifted by one.
    frames = feed_all({"length": 4}, [b"abc", b"WXYZ", b"1234"], gap=0.1, times=[0.0, 1.0, 1.01])
    assert frames == [b"WXYZ", b"1234"]
    assert feed_all("crlf", [b"half", b"whole\r"], gap=0.1, times=[0.0, 5.0]) == [b"whole"]


frame_text = st.binary(min_size=1, max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b)


@given(frames=st.lists(frame_text, min_size=1, max_size=8), cuts=st.lists(st.integers(0, 400), max_size=10))
def test_line_framing_does_not_depend_on_chunking(frames, cuts):
    stream = b"".join(f + b"\r\n" for f in frames)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert feed_all("crlf", chunks) == frames


# -- the serial backend over a pty ----------------------------------------------------


@pytest.mark.parametrize(
    ("framing", "wire", "expected"),
    [
        ("crlf", b"0008123456\r\n0008654321\r\n", ["0008123456", "0008654321"]),
        # RDM6300-style 125 kHz module: STX, 10 hex digits + 2 checksum digits, ETX.
        (
            {"start": "02", "end": "03"},
            b"\x020A00B1C2D3E4F1\x03\x021122334455AB\x03",
            ["0A00B1C2D3E4F1", "1122334455AB"],
        ),
        ({"length": 10}, b"12345678900987654321", ["1234567890", "0987654321"]),
    ],
    ids=["crlf", "stx-etx", "length"],
)
def test_serial_reader_reads_frames_from_a_pty(tty, manager, framing, wire, expected):
    collector = EventCollector()
    mgr = manager({"rfid": {"type": "serial", "device": str(tty.link), "framing": framing}}, collector)
    wait_until(lambda: mgr.status("rfid").ok, what="serial ok")
    assert str(tty.link) in mgr.status("rfid").detail
    tty.write(wire)
    events = collector.wait_for(len(expected))
    assert [e.value for e in events] == expected
    assert {(e.source, e.kind) for e in events} == {("rfid", "card")}


def test_serial_reader_decodes_configured_encoding(tty, manager):
    collector = EventCollector()
    cfg = {"type": "serial", "device": str(tty.link), "framing": "lf", "encoding": "gb18030", "kind": "code"}
    mgr = manager({"scanner": cfg}, collector)
    wait_until(lambda: mgr.status("scanner").ok)
    tty.write("暖蜂驿站-042\n".encode("gb18030"))
    assert collector.wait_for(1)[0].value == "暖蜂驿站-042"


def test_serial_reader_comes_back_after_unplug(tty, manager):
    collector = EventCollector()
    mgr = manager({"rfid": {"type": "serial", "device": str(tty.link), "framing": "crlf"}}, collector)
    wait_until(lambda: mgr.status("rfid").ok, what="serial ok")
    tty.write(b"FIRST\r\n")
    collector.wait_for(1)

    tty.unplug()
    wait_until(lambda: mgr.status("rfid").state == "disconnected", what="disconnected")
    wait_until(lambda: "not present" in mgr.status("rfid").detail, what="retrying a missing device")

    tty.plug()
    wait_until(lambda: mgr.status("rfid").ok, what="ok after re-plug")
    tty.write(b"SECOND\r\n")
    assert [e.value for e in collector.wait_for(2)] == ["FIRST", "SECOND"]
    assert mgr.status("rfid").last_event_at == collector.events[-1].at


def test_second_reader_on_same_port_reports_error(tty):
    first = SerialReader("a", str(tty.link))
    second = SerialReader("b", str(tty.link))
    first.start(lambda event: None)
    try:
        wait_until(lambda: first.status().ok)
        second.start(lambda event: None)
        wait_until(lambda: not second.running)
        status = second.status()
        assert status.state == "error", status
        assert "lock" in status.detail.lower()
    finally:
        first.stop()
        second.stop()


def test_missing_serial_device_is_disconnected(tmp_path):
    reader = SerialReader("rfid", str(tmp_path / "ttyNOPE"))
    reader.start(lambda event: None)
    wait_until(lambda: not reader.running)
    assert reader.status().state == "disconnected"
    assert "not present" in reader.status().detail
    reader.stop()
    assert reader.status().state == "stopped"
