"""Personal data: validation and masking. Shown masked everywhere but staff pages.

Phone numbers, names, plates and ID numbers are collected for service only; a
kiosk in a public hall must not show one person's data to the next, and logs
never hold them.
"""

from __future__ import annotations

import re

__all__ = [
    "normalize_phone",
    "valid_mobile",
    "mask_phone",
    "mask_name",
    "mask_plate",
    "mask_id_number",
    "mask_in_text",
]

#: Mainland China mobile numbers: 11 digits, 1 then 3–9.
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")

# The same data inside free text, written the ways people write it: a mobile
# number grouped with spaces or dashes (139 1234 5678) or with +86 before it,
# an 18-digit ID number grouped 6-8-4 and ending in a digit or X, a plate with
# a space after the province letter (粤B 12345), in either letter case.
_GAP = r"[\s-]?"
MOBILE_IN_TEXT = re.compile(rf"(?<![\d+])(?:(?:\+|00)86{_GAP})?1[3-9]\d(?:{_GAP}\d){{8}}(?!\d)")
ID_NUMBER_IN_TEXT = re.compile(rf"(?<![0-9A-Za-z])\d{{6}}{_GAP}\d{{8}}{_GAP}\d{{3}}[\dXx](?![0-9A-Za-z])")
PLATE_IN_TEXT = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]\s?[A-Za-z][\s·]?"
    r"[A-Za-z0-9]{5,6}(?![A-Za-z0-9])"
)


def normalize_phone(value: str) -> str:
    """Strip spaces, dashes and a +86/0086 prefix."""
    digits = re.sub(r"[\s\-()]", "", value or "")
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
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


def mask_in_text(text: str | None, names: tuple[str, ...] = ()) -> str:
    """Free text with the mobile numbers, ID numbers and plates in it masked, and ``names`` too.

    For text a person typed that others will read (a request's description on its
    public status page) and for log lines: ``我叫王秀英，电话139 1234 5678`` becomes
    ``我叫王*英，电话139****5678``. Names are only found when given (the writer's own).
    """
    text = ID_NUMBER_IN_TEXT.sub(lambda m: mask_id_number(re.sub(r"[\s-]", "", m.group())), text or "")
    text = MOBILE_IN_TEXT.sub(lambda m: mask_phone(re.sub(r"[\s-]", "", m.group())[-11:]), text)
    text = PLATE_IN_TEXT.sub(lambda m: mask_plate(re.sub(r"[\s·]", "", m.group())), text)
    for name in sorted({n.strip() for n in names if n and len(n.strip()) > 1}, key=len, reverse=True):
        text = text.replace(name, mask_name(name))
    return text
