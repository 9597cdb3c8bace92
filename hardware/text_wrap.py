"""Line breaking for mixed Chinese and Latin text.

Shared by the raster renderer (widths in dots) and the native text path
(widths in printer columns). Chinese may break between any two characters,
Latin words only at spaces unless a word is longer than the line, and a line
never starts with closing punctuation such as ，。、 or ends with an opening
bracket (the usual 避头尾 rule).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

NO_LINE_START = frozenset("，。、；：？！）】》」』〉〕”’…‥·～％,.;:?!)]}%")
NO_LINE_END = frozenset("（【《「『〈〔“‘([{")


def is_wide(ch: str) -> bool:
    """True for full-width characters (Chinese, CJK punctuation)."""
    return unicodedata.east_asian_width(ch) in ("W", "F")


def clean_line(text: str) -> str:
    """Tabs to spaces, other control characters dropped: a stray control byte
    would otherwise reach the printer as a command in text mode."""
    text = text.replace("\t", "    ")
    return "".join(ch for ch in text if ch == " " or unicodedata.category(ch)[0] != "C")


def _can_break_before(line: str, i: int) -> bool:
    prev, ch = line[i - 1], line[i]
    if ch in NO_LINE_START or prev in NO_LINE_END:
        return False
    return prev == " " or ch == " " or is_wide(prev) or is_wide(ch)


def wrap_text(text: str, advance: Callable[[str], float], width: float) -> list[str]:
    """Split ``text`` into lines no wider than ``width``.

    ``advance(ch)`` gives one character's width. ``\\n`` forces a break; an
    empty paragraph yields an empty line. A single character wider than the
    line still gets a line of its own.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        para = clean_line(paragraph)
        start, x, i = 0, 0.0, 0
        while i < len(para):
            w = advance(para[i])
            if x + w <= width or i == start:
                x += w
                i += 1
                continue
            cut = i
            while cut > start + 1 and not _can_break_before(para, cut):
                cut -= 1
            if cut == start + 1 and not _can_break_before(para, cut):
                cut = i  # one unbreakable run longer than the line: hard break
            lines.append(para[start:cut].rstrip(" "))
            start = cut
            while start < len(para) and para[start] == " ":
                start += 1
            i, x = start, 0.0
        if start < len(para) or not para:
            lines.append(para[start:].rstrip(" "))
    return lines
