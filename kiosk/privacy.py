"""Personal data: validation and masking. Shown masked everywhere but staff pages.

Phone numbers, names, plates and ID numbers are collected for service only; a
kiosk in a public hall must not show one person's data to the next, and logs
never hold them. Free text is masked by :func:`mask_in_text`, which knows the
ways people write them (tests/data/pii_corpus.txt lists over a hundred).
"""

from __future__ import annotations

import re
import unicodedata

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

# Plates inside free text: a space after the province letter (粤B 12345), either letter case.
PLATE_IN_TEXT = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]\s?[A-Za-z][\s·]?"
    r"[A-Za-z0-9]{5,6}(?![A-Za-z0-9])"
)
EMAIL_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63})\s?@\s?([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
)
# A run of digit groups as people write numbers: joined by a space, dash or dot, an
# area code in brackets, an ID number's final X, a + before a country code.
# Atomic, so a long run is read once (no backtracking). Letters around it do not
# matter (tel13912345678, ID440301199001011234): a code such as P261206-K7QM-0001
# has no run of digits long enough to be a personal number.
NUMBER_RUN = re.compile(
    r"(?<![0-9])(?>(?:\+|\()?[0-9]+(?:(?:[ \t]{1,2}|[ \t]?[-.][ \t]?|\)[ \t]?|[ \t]?\()[0-9]+)*"
    r"(?:[ \t-]?[Xx])?)"
)
#: The most digits a personal number has with its country code (0086 and a 19-digit card is more than any).
MAX_DIGITS = 23
_GROUP = re.compile(r"\+?[0-9]+|[Xx]")
MOBILE_DIGITS = re.compile(r"(?:\+?86|0086)?(1[3-9][0-9]{9})")
LANDLINE_DIGITS = re.compile(r"(?:\+?86|0086)?0?((?:10|2[0-9]|[3-9][0-9]{2})[0-9]{7,8})")
ID_DIGITS = re.compile(r"[0-9]{17}[0-9Xx]|[0-9]{15,19}")
#: A bare 7–8 digit local number is someone's telephone only after words like these.
PHONE_WORDS = re.compile(
    r"(?:电话|電話|座机|座機|固话|固話|手机|手機|联系|聯繫|致电|致電|拨打|撥打|号码|號碼|tel|phone|call)[^0-9]{0,5}$",
    re.I,
)
QQ_WORDS = re.compile(r"(?:QQ|扣扣)[^0-9A-Za-z]{0,4}$", re.I)
WECHAT_ID = re.compile(
    r"(?:微信号?|微信號?|(?<![A-Za-z])(?:wechat|weixin|vx|wx))(?:\s?id)?[\s:：]{0,3}"
    r"([A-Za-z][-_A-Za-z0-9]{5,19})(?![-_A-Za-z0-9])",
    re.I,
)
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"), "-")


def _fold(text: str) -> str:
    """``text`` with full-width letters, digits and signs as ASCII and dashes as ``-``, character for character.

    Each character is folded on its own (NFKC where that gives one character), so
    a position in the folded text is the same position in the original.
    """
    if text.isascii():
        return text  # log lines, mostly: nothing to fold
    out = []
    for ch in text.translate(_DASHES):
        if ord(ch) < 128:
            out.append(ch)
            continue
        folded = unicodedata.normalize("NFKC", ch)
        out.append(folded if len(folded) == 1 else ch)
    return "".join(out)


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


def _mask_landline(digits: str) -> str:
    area = 3 if digits[1] in "12" else 4
    return digits[:area] + "-" + "*" * (len(digits) - area - 4) + digits[-4:]


def _number_mask(digits: str, folded: str, start: int) -> str | None:
    """How a run of digits (joined from its groups) is masked, or None when it is no personal number."""
    plain = digits.lstrip("+")
    if not 5 <= len(plain) <= 19:
        return None
    found = MOBILE_DIGITS.fullmatch(digits)
    if found:
        return mask_phone(found.group(1))
    if ID_DIGITS.fullmatch(plain):
        return mask_id_number(plain)
    if digits.startswith(("0", "+86", "86")) and not plain.startswith(("400", "800")):
        found = LANDLINE_DIGITS.fullmatch(digits)
        if found:
            return _mask_landline("0" + found.group(1))
    if not plain.isdigit() or plain[0] == "0":
        return None
    before = folded[max(0, start - 16) : start]
    if 7 <= len(plain) <= 8 and plain[0] != "1" and PHONE_WORDS.search(before):
        return "*" * (len(plain) - 4) + plain[-4:]
    if len(plain) <= 11 and QQ_WORDS.search(before):
        return "*" * (len(plain) - 4) + plain[-4:]
    return None


def _number_spans(folded: str, taken: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Personal numbers in ``folded``: for each run, the longest run of whole groups that is one, left to right."""
    spans = []
    for run in NUMBER_RUN.finditer(folded):
        if run.end() - run.start() < 5 or any(a < run.end() and run.start() < b for a, b in taken):
            continue  # no personal number is shorter than five digits
        groups = [(m.start() + run.start(), m.end() + run.start()) for m in _GROUP.finditer(run.group())]
        i = 0
        while i < len(groups):
            last, count = i, 0
            while last < len(groups) and count + groups[last][1] - groups[last][0] <= MAX_DIGITS:
                count += groups[last][1] - groups[last][0]
                last += 1
            for j in range(last - 1, i - 1, -1):
                digits = "".join(folded[a:b] for a, b in groups[i : j + 1])
                masked = _number_mask(digits, folded, groups[i][0])
                if masked is not None:
                    begin = groups[i][0]
                    if i == 0 and run.group().startswith("("):
                        begin = run.start()  # "(0755)1234 5678" goes whole
                    spans.append((begin, groups[j][1], masked))
                    i = j
                    break
            i += 1
    return spans


def mask_in_text(text: str | None, names: tuple[str, ...] = ()) -> str:
    """Free text with the personal data in it masked, and ``names`` too.

    For text a person typed that others will read (a request's description on its
    public status page) and for log lines: ``我叫王秀英，电话139 1234 5678`` becomes
    ``我叫王*英，电话139****5678``. Found however they are written, in full-width
    characters too (matched on a folded copy, masked in the original):

    - mobile numbers (+86/0086/86 before them, grouped by spaces, dashes or dots);
    - landlines with their area code (0755-12345678, (0755)12345678, 010 8765 4321),
      and 7–8 digit local numbers after a word such as 电话 or 座机;
    - ID numbers (18 digits or 17 and an X, 15-digit old ones, grouped 6-8-4 or 4-4-4-4-2)
      and bank-card numbers (16–19 digits, grouped in fours or not): every run of 15–19 digits;
    - e-mail addresses, QQ numbers after "QQ" and WeChat ids after "微信";
    - plates (粤B 12345).

    Kept: dates and times (2026-12-06, 12月6日 14:30), amounts (¥1,200.50, 3000元),
    ticket and tracking numbers (A012, P261206-K7QM-0001), house numbers (3栋1202),
    postal codes (518000: a district, not a person) and hotlines (400-/800-, 12345).
    Names are only found when given (the writer's own).
    """
    original = text or ""
    folded = _fold(original)
    spans: list[tuple[int, int, str]] = []
    for m in EMAIL_IN_TEXT.finditer(folded):
        spans.append((m.start(), m.end(), m.group(1)[0] + "***@" + m.group(2)))
    for m in WECHAT_ID.finditer(folded):
        if not any(a < m.end(1) and m.start(1) < b for a, b, _ in spans):
            spans.append((m.start(1), m.end(1), m.group(1)[0] + "*" * (len(m.group(1)) - 2) + m.group(1)[-1]))
    spans += _number_spans(folded, [(a, b) for a, b, _ in spans])
    for m in PLATE_IN_TEXT.finditer(folded):
        if not any(a < m.end() and m.start() < b for a, b, _ in spans):
            spans.append((m.start(), m.end(), mask_plate(re.sub(r"[\s·]", "", m.group()))))
    out, at = [], 0
    for begin, end, masked in sorted(spans):
        if begin < at:
            continue
        out += [original[at:begin], masked]
        at = end
    out.append(original[at:])
    result = "".join(out)
    for name in sorted({n.strip() for n in names if n and len(n.strip()) > 1}, key=len, reverse=True):
        result = result.replace(name, mask_name(name))
    return result
