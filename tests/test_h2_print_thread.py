"""The print thread's shortcuts give what the long way gives (issue 22, point 2: CPU per receipt)."""

from __future__ import annotations

import time

import pytest

from kiosk_hardware.escpos_encode import _TextEncoder
from kiosk_hardware.job_store import InMemoryJobStore, JobState, PrintJob
from kiosk_hardware.print_queue import PrintQueue
from kiosk_hardware.printers import printer_from_config
from kiosk_hardware.profiles import get_profile
from kiosk_hardware.receipt import KeyValue, Receipt, Separator, Text, block_values
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter
from kiosk_hardware.text_wrap import wrap_text

TEXTS = [
    "",
    " ",
    "A012",
    "2024-05-06 09:31",
    "水贝社区党群服务中心",
    "约 15 分钟",
    "扫码查看排队进度，叫号前会提醒您（请妥善保管此票，过号请重新取号）",
    "please wait here until your number is called on the screen",
    "trailing spaces   ",
    "tab\there",
    "bell\x07and\x1bescape",
    "line one\nline two",
    "全角空格\u3000在这里",
    "x" * 60,
    "号" * 23,
    "号" * 24,
    "号" * 25,
    "取号 😀",
]


def _columns(ch: str) -> int:
    return 1 if ord(ch) < 0x80 else 2


@pytest.mark.parametrize("width", [1, 5, 16, 23, 24, 32, 48])
def test_a_text_that_fits_gives_the_lines_the_character_walk_gives(width):
    for text in TEXTS:
        assert wrap_text(text, _columns, width, _TextEncoder.width) == wrap_text(text, _columns, width), text


def test_the_encoders_string_width_is_its_characters_columns_summed():
    for text in TEXTS:
        assert _TextEncoder.width(text) == sum(map(_columns, text)), text


def test_what_the_encoder_calls_printable_is_what_the_font_covers_character_by_character():
    encoder = _TextEncoder(get_profile({"base": "80mm", "text_columns": 47}))
    for _ in range(2):  # the second time from what it kept
        for text in [*TEXTS, "\x7f", "~", "é", "\ue000"]:
            assert encoder.printable(text) == all(encoder.covers(ch) for ch in text), repr(text)
    assert encoder.printable("A012", "水贝") and not encoder.printable("A012", "取号 😀")


def test_block_values_are_the_type_and_each_field_in_order():
    assert block_values(Separator("solid")) == (Separator, "solid")
    assert block_values(Text("A012", size=4, bold=True, align="center")) == (Text, "A012", 4, True, "center")
    assert block_values(KeyValue("前面等候", "3", bold=True)) == (KeyValue, "前面等候", "3", True, 1)


def test_a_jobs_copy_is_equal_and_changing_it_leaves_the_job_alone():
    job = PrintJob(receipt=Receipt().text("A012"), printer="counter", label="t", expires_at=5.0)
    copy = job.copy()
    assert copy == job and copy is not job and type(copy) is PrintJob
    copy.state, copy.attempts = JobState.PRINTING, 1
    assert job.state is JobState.QUEUED and job.attempts == 0
    assert copy.receipt is job.receipt  # shallow, as dataclasses.replace


def test_an_idle_worker_drops_a_stale_handed_copy_without_being_woken():
    """A handed job the store shows printed is met at the worker's next idle poll, not only after a wake-up."""
    store = InMemoryJobStore()
    with FakeNetworkPrinter() as fake:
        printer = printer_from_config(fake.printer_config(status_timeout=0.2))
        with PrintQueue({"counter": printer}, store=store, poll_interval=0.05) as q:
            stale = PrintJob(receipt=Receipt().text("S000"), printer="counter", state=JobState.DONE)
            store.add(stale)
            with q._lock:
                q._handed["counter"][stale.id] = PrintJob(receipt=stale.receipt, printer="counter", id=stale.id)
            deadline = time.monotonic() + 5.0
            while q._handed["counter"] and time.monotonic() < deadline:
                time.sleep(0.01)
            assert not q._handed["counter"]
        assert store.get(stale.id).state is JobState.DONE
        assert not fake.completed_jobs  # its claim failed: nothing printed
