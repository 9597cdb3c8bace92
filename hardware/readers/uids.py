"""Which card UIDs can stand for a person, and which change at every tap or mean "no card".

A contactless card's UID identifies a card only when it is fixed. Two kinds are not:

* **Random UIDs.** ISO/IEC 14443-3 lets a Type A card answer with a random
  single-size (4-byte) UID, marked by its first byte ``0x08``; a new one is
  drawn at every power-up, i.e. at every tap. Phones emulating a card (Android
  HCE, wallet passes) and privacy-minded cards answer this way.
* **Blank UIDs.** All-zero (and all-``FF``) UIDs are what some readers and
  cheap clones report when they could not read the real one: every such card
  would be "the same person".

Readers still report them (a plugin may want to say "this card cannot be
used"), but nothing may link one to a person. The check works on the UID as
hex text, the way the PC/SC reader and most serial readers report it.
"""

from __future__ import annotations

import re

__all__ = ["BLANK", "RANDOM", "describe_unusable", "unusable_uid"]

#: ISO 14443-3 Type A, UID0 of a single-size UID: 0x08 means "random ID (RID)".
RANDOM_UID_FIRST_BYTE = "08"
SINGLE_SIZE_HEX = 8

RANDOM = "random"
BLANK = "blank"

_NOT_HEX = re.compile(r"[^0-9A-Fa-f]")


def unusable_uid(value: str) -> str | None:
    """``"random"`` or ``"blank"`` when the UID cannot identify a card holder, else None.

    Separators (``04:A2:1B``, spaces) are ignored. A value that is not hex (a
    decimal card number from a serial reader) is judged only on being blank.
    """
    text = (value or "").strip()
    if not text:
        return BLANK
    digits = _NOT_HEX.sub("", text) if re.fullmatch(r"[0-9A-Fa-f:\-\s]+", text) else None
    if digits is None:
        return BLANK if set(re.sub(r"\W", "", text)) <= {"0"} else None
    if not digits or set(digits) <= {"0"} or set(digits.upper()) <= {"F"}:
        return BLANK
    if len(digits) == SINGLE_SIZE_HEX and digits[:2] == RANDOM_UID_FIRST_BYTE:
        return RANDOM
    return None


def describe_unusable(kind: str) -> str:
    """Why a UID of that kind is refused, for logs and ``kiosk doctor``."""
    if kind == RANDOM:
        return (
            "a random UID (ISO 14443-3, first byte 08: a phone's NFC card emulation or a privacy card; "
            "it changes at every tap)"
        )
    return "a blank UID (all zeros: the reader could not read the card's real number)"
