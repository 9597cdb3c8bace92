"""Personal data: validation and masking. Shown masked everywhere but staff pages.

Phone numbers, names, plates and ID numbers are collected for service only; a
kiosk in a public hall must not show one person's data to the next, and logs
never hold them.
"""

from __future__ import annotations

import re

#: Mainland China mobile numbers: 11 digits, 1 then 3–9.
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def normalize_phone(value: str) -> str:
    """Strip spaces, dashes and a +86/0086 prefix."""
    digits = re.sub(r"[\s\-()]", "", value or "")
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix):]
    return digits


def valid_mobile(value: str) -> bool:
    """True for a mainland mobile number such as 13812345678."""
    return bool(MOBILE_RE.match(normalize_phone(value)))


def mask_phone(value: str | None) -> str:
    """138****5678: the first three and last four digits only."""
    digits = normalize_phone(value or "")
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(value: str | None) -> str:
    """张*明 / 王* / J*** S***: keep the first character of a name (and the last of 3+ CJK)."""
    name = (value or "").strip()
    if not name:
        return ""
    if re.match(r"^[\u3400-\u9fff·]+$", name):
        if len(name) <= 2:
            return name[0] + "*"
        return name[0] + "*" * (len(name) - 2) + name[-1]
    return " ".join(part[0] + "*" * (len(part) - 1) for part in name.split())


def mask_plate(value: str | None) -> str:
    """粤B***45: province, letter and the last two characters."""
    plate = (value or "").strip().upper()
    if len(plate) <= 4:
        return plate[:1] + "*" * (len(plate) - 1)
    return plate[:2] + "*" * (len(plate) - 4) + plate[-2:]


def mask_id_number(value: str | None) -> str:
    """4403**********1234."""
    number = (value or "").strip()
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]
