"""Mainland licence plates: normalising what was typed and checking the real formats.

Ordinary plates (GA 36): a province character, the issuing authority's letter,
then five letters or digits. New-energy plates carry six after the letter:
small cars start them with D (battery) or F (other new energy), followed by a
letter or digit and four digits; large vehicles have five digits then D or F.
I and O never appear: they would read as 1 and 0.
"""

from __future__ import annotations

import re

from kiosk.typed import plain

#: The 31 province abbreviations, in the order of the plate keypad.
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

_LETTER = "A-HJ-NP-Z"
_ALNUM = "A-HJ-NP-Z0-9"
ORDINARY_RE = re.compile(rf"^[{PROVINCES}][{_LETTER}][{_ALNUM}]{{5}}$")
NEW_ENERGY_SMALL_RE = re.compile(rf"^[{PROVINCES}][{_LETTER}][DF][{_ALNUM}][0-9]{{4}}$")
NEW_ENERGY_LARGE_RE = re.compile(rf"^[{PROVINCES}][{_LETTER}][0-9]{{5}}[DF]$")

ORDINARY = "ordinary"
NEW_ENERGY = "new_energy"


class InvalidPlate(ValueError):
    """The text is not a plate; ``reason`` says which part is wrong (for the message)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def normalize_plate(text: str | None) -> str:
    """Upper-case, half-width, without the separators people type (粤B·12345 → 粤B12345)."""
    value = plain(text)
    value = re.sub(r"[\s·•.\-_]", "", value)
    return value.upper()


def classify_plate(text: str | None) -> tuple[str, str]:
    """Return ``(plate, kind)`` for a valid plate, else raise :class:`InvalidPlate`.

    ``kind`` is ``"ordinary"`` or ``"new_energy"``. The reasons are ``empty``,
    ``province``, ``letter``, ``length``, ``characters`` and ``new_energy``, so
    the kiosk can say exactly what to fix.
    """
    plate = normalize_plate(text)
    if not plate:
        raise InvalidPlate("empty")
    if plate[0] not in PROVINCES:
        raise InvalidPlate("province")
    if len(plate) < 2 or not re.match(rf"[{_LETTER}]", plate[1]):
        raise InvalidPlate("letter")
    if len(plate) not in (7, 8):
        raise InvalidPlate("length")
    if not re.fullmatch(rf"[{_ALNUM}]+", plate[2:]):
        raise InvalidPlate("characters")
    if len(plate) == 7:
        if ORDINARY_RE.match(plate):
            return plate, ORDINARY
        raise InvalidPlate("characters")
    if NEW_ENERGY_SMALL_RE.match(plate) or NEW_ENERGY_LARGE_RE.match(plate):
        return plate, NEW_ENERGY
    raise InvalidPlate("new_energy")


def is_valid_plate(text: str | None) -> bool:
    """True when ``text`` is an ordinary or new-energy plate."""
    try:
        classify_plate(text)
    except InvalidPlate:
        return False
    return True
