"""Voucher codes: HMAC-derived, typed forgivingly, found inside a scan."""

import pytest

from kiosk_plugins.parking.codes import (
    ALPHABET,
    QR_PREFIX,
    display_code,
    extract_code,
    make_code,
    normalize_code,
    qr_payload,
    verify_code,
)

SECRET = "test-secret-key-not-for-production"


def test_code_is_8_characters_of_the_unambiguous_alphabet():
    codes = {make_code(SECRET, 1, i) for i in range(1, 2001)}
    assert len(codes) == 2000, "2,000 vouchers, 2,000 different codes"
    for code in codes:
        assert len(code) == 8 and set(code) <= set(ALPHABET)
        assert not set(code) & set("ILOU")


def test_code_depends_on_secret_station_and_voucher():
    code = make_code(SECRET, 1, 42)
    assert code == make_code(SECRET, 1, 42)
    assert code != make_code(SECRET, 1, 43)
    assert code != make_code(SECRET, 2, 42)
    assert code != make_code("another-station-secret", 1, 42)


def test_verify_accepts_the_code_as_people_type_it():
    code = make_code(SECRET, 1, 7)
    shown = display_code(code)
    assert shown[4] == "-"
    assert verify_code(SECRET, 1, 7, shown)
    assert verify_code(SECRET, 1, 7, shown.lower())
    assert verify_code(SECRET, 1, 7, " ".join(shown))
    # 0/O and 1/I/L are the same key to a tired attendant.
    sloppy = code.replace("0", "O").replace("1", "l")
    assert verify_code(SECRET, 1, 7, sloppy)


def test_forged_codes_do_not_verify():
    code = make_code(SECRET, 1, 7)
    assert not verify_code(SECRET, 1, 8, code)
    flipped = ("1" if code[0] != "1" else "2") + code[1:]
    assert not verify_code(SECRET, 1, 7, flipped)
    assert not verify_code(SECRET, 1, 7, code[:7])
    assert not verify_code(SECRET, 1, 7, "")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("K7QM-3XPA", "K7QM3XPA"),
        ("k7qm3xpa", "K7QM3XPA"),
        (QR_PREFIX + "K7QM3XPA", "K7QM3XPA"),
        ("parking:k7qm-3xpa", "K7QM3XPA"),
        ("https://station.example.cn/staff/parking/redeem?code=K7QM3XPA", "K7QM3XPA"),
        ("/staff/parking/redeem?lot=2&code=K7QM-3XPA", "K7QM3XPA"),
        ("K7QM3XP", None),
        ("K7QM3XPAA", None),
        ("K7QM3XP!", None),
        ("K7QM3XPU", None),
        ("https://example.cn/?nothing=1", None),
        ("", None),
    ],
)
def test_extract_code_from_scans_and_typing(text, expected):
    assert extract_code(text) == expected


def test_qr_payload_round_trips():
    code = make_code(SECRET, 3, 99)
    assert extract_code(qr_payload(code)) == code
    url = qr_payload(code, "https://station.example.cn/staff/parking/redeem")
    assert url.startswith("https://station.example.cn/staff/parking/redeem?code=")
    assert extract_code(url) == code
    assert normalize_code(code) == code


# --- station-signed codes (the district) -----------------------------------------------------------

SIG = "ABCDEFGH"  # as kiosk.sync.sign writes a signature: RFC 4648 base-32


def test_signed_code_carries_tag_serial_lot_and_day_and_reads_back():
    from datetime import date

    from kiosk_plugins.parking.codes import compose, split

    day = date(2026, 5, 21)
    code = compose("SB2K", 12345, 7, day, SIG)
    assert code.startswith("SB2K") and len(code) == 4 + 3 + 2 + 1 + 8
    assert set(code[4:]) <= set(ALPHABET)
    parts = split(code, "SB2K")
    assert (parts.serial, parts.lot_ref) == (12345, 7)
    assert parts.signature == SIG, "the signature goes back to the letters kiosk.sync.verify reads"
    assert parts.days(date(2026, 5, 20))[0] == day, "the nearest day that fits is tried first"
    assert all((d - day).days % 32 == 0 for d in parts.days(date(2026, 5, 20)))
    assert split(code, "SB2Q") is None, "another station's tag does not read it"


def test_signed_code_is_read_as_people_type_it():
    from datetime import date

    from kiosk_plugins.parking.codes import compose

    code = compose("HL3U", 9, 1, date(2026, 5, 21), SIG)  # a tag may hold L and U
    shown = display_code(code)
    assert shown.split("-")[0] == "HL3U" and all(len(g) <= 4 for g in shown.split("-"))
    normal = normalize_code(code)
    assert normalize_code(shown.lower()) == normal
    assert normalize_code(" ".join(shown)) == normal
    assert normalize_code(shown.replace("0", "O").replace("1", "I")) == normal
    assert extract_code(qr_payload(code, "https://hub.example.cn/staff/parking/redeem?station=shuibei")) == normal
    assert extract_code(QR_PREFIX + shown) == normal
    assert normalize_code(code + "A" * 20) is None and normalize_code(code[:12]) is None


def test_numbers_that_do_not_fit_are_refused_not_truncated():
    from datetime import date

    from kiosk_plugins.parking.codes import MAX_LOT_REF, compose

    with pytest.raises(ValueError):
        compose("SB2K", 1, MAX_LOT_REF + 1, date(2026, 5, 21), SIG)
    with pytest.raises(ValueError):
        compose("SB2K", 32**7, 1, date(2026, 5, 21), SIG)
