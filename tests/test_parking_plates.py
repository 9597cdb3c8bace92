"""Plate numbers: the real ordinary and new-energy formats, and what is refused and why."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_plugins.parking.plates import (
    NEW_ENERGY,
    ORDINARY,
    PROVINCES,
    InvalidPlate,
    classify_plate,
    is_valid_plate,
    normalize_plate,
)

ORDINARY_OK = ["粤B12345", "京A8K3P9", "沪C0000A", "川AB1234", "琼E9Z8Y7", "粤BD1234"]
NEW_ENERGY_OK = ["粤BD12345", "粤BF01234", "粤BDF1234", "京ADA1234", "粤B12345D", "京A54321F"]


@pytest.mark.parametrize("plate", ORDINARY_OK)
def test_ordinary_plates_are_accepted(plate):
    assert classify_plate(plate) == (plate, ORDINARY)


@pytest.mark.parametrize("plate", NEW_ENERGY_OK)
def test_new_energy_plates_are_accepted(plate):
    assert classify_plate(plate) == (plate, NEW_ENERGY)


@pytest.mark.parametrize(
    "typed, plate",
    [
        ("粤b·12345", "粤B12345"),
        (" 粤B 12345 ", "粤B12345"),
        ("粤Ｂ１２３４５", "粤B12345"),
        ("粤b-d12345", "粤BD12345"),
    ],
)
def test_what_people_type_is_normalised(typed, plate):
    assert normalize_plate(typed) == plate
    assert classify_plate(typed)[0] == plate


@pytest.mark.parametrize(
    "plate, reason",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("B12345", "province"),
        ("港B12345", "province"),
        ("粤112345", "letter"),
        ("粤I12345", "letter"),
        ("粤O12345", "letter"),
        ("粤", "letter"),
        ("粤B1234", "length"),
        ("粤B1234567", "length"),
        ("粤B12I45", "characters"),
        ("粤B12O45", "characters"),
        ("粤B12#45", "characters"),
        ("粤B12粤45", "characters"),
        ("粤B123456", "new_energy"),  # 8 characters but no D/F where it belongs
        ("粤BA2345D", "new_energy"),  # large vehicles: five digits before the D
        ("粤BD1234A", "new_energy"),  # small cars: the last four are digits
        ("粤B1234DD", "new_energy"),
        ("粤BE12345", "new_energy"),  # E is not a new-energy mark
    ],
)
def test_invalid_plates_are_refused_with_the_reason(plate, reason):
    with pytest.raises(InvalidPlate) as info:
        classify_plate(plate)
    assert info.value.reason == reason
    assert not is_valid_plate(plate)


LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
ALNUM = LETTERS + "0123456789"


@given(st.sampled_from(PROVINCES), st.sampled_from(LETTERS), st.text(ALNUM, min_size=5, max_size=5))
def test_every_grammatical_ordinary_plate_is_valid(province, letter, tail):
    plate = province + letter + tail
    assert classify_plate(plate) == (plate, ORDINARY)


@given(
    st.sampled_from(PROVINCES),
    st.sampled_from(LETTERS),
    st.sampled_from("DF"),
    st.sampled_from(ALNUM),
    st.text("0123456789", min_size=4, max_size=4),
)
def test_every_small_new_energy_plate_is_valid(province, letter, mark, second, digits):
    assert classify_plate(province + letter + mark + second + digits)[1] == NEW_ENERGY


@given(st.text(max_size=12))
def test_anything_typed_either_validates_or_says_why(text):
    try:
        plate, kind = classify_plate(text)
    except InvalidPlate as exc:
        assert exc.reason in {"empty", "province", "letter", "length", "characters", "new_energy"}
    else:
        assert len(plate) in (7, 8) and "I" not in plate and "O" not in plate
        assert kind == (ORDINARY if len(plate) == 7 else NEW_ENERGY)
