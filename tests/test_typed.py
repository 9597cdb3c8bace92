"""Codes people paste or type with a Chinese input method read as the plain characters they meant."""

from __future__ import annotations

from datetime import date

import pytest

from kiosk.typed import plain
from kiosk_plugins.parking.codes import compose, display_code, normalize_code
from kiosk_plugins.parking.plates import classify_plate
from kiosk_plugins.petitions.numbering import compact

# A zero-width space, a left-to-right mark, the isolates a phone puts around a pasted word, a BOM.
INVISIBLE = ("\u200b{}", "{}\u200e", "\u2068{}\u2069", "\ufeff{}", "{}\u200d")


def test_plain_folds_full_width_forms_and_drops_format_marks_only():
    assert plain("Ｐ２６１２０６\u3000ＫＱ") == "P261206 KQ"
    for mark in INVISIBLE:
        assert plain(mark.format("粤B·12345")) == "粤B·12345"
    assert plain("法律咨询 A001") == "法律咨询 A001"  # Chinese and spaces are kept
    assert plain(None) == "" and plain("") == ""


@pytest.mark.parametrize("mark", INVISIBLE)
def test_a_pasted_voucher_code_plate_and_tracking_number_read_through_invisible_marks(mark):
    code = compose("HL3U", 9, 1, date(2026, 5, 21), "A7QM3XPA9K")
    assert normalize_code(mark.format(display_code(code))) == normalize_code(code) is not None
    assert classify_plate(mark.format("粤B·12345")) == classify_plate("粤B12345")
    assert compact(mark.format("p261206-k7qm-0001")) == compact("P261206K7QM0001") != ""
