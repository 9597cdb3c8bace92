"""Line breaking for mixed Chinese and Latin text.

Shared by the raster renderer (widths in dots) and the native text path
(widths in printer columns). Chinese may break between any two characters,
Latin words only at spaces unless a word is longer than the line, and the
usual Chinese rules (避头尾, GB/T 15834 and the W3C's Chinese layout
requirements) hold:

- a line never starts with closing punctuation (，。、！？）》」 …),
- a line never ends with opening punctuation (（《「 …),
- a paragraph's last line is never one Chinese character alone (with at
  most its punctuation, like "号。"): a character moves down from the line
  above to keep it company. On 58 mm paper a lone last character reads as
  if something was cut off.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

NO_LINE_START = frozenset(
    "，。、；：？！）］｝】》」』〉〕〗〙〛”’…‥·～％‰℃°ー々〃゛゜ゝゞヽヾ―—–‐"
    "︰︱︲︳︴︵︶︸︺︼︾﹀﹂﹄﹐﹑﹒﹔﹕﹖﹗﹚﹜﹞"
    ",.;:?!)]}%"
)
NO_LINE_END = frozenset("（［｛【《「『〈〔〖〘〚“‘￥＄([{$£¥")

Span = tuple[int, int]


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


def _spans(para: str, advance: Callable[[str], float], width: float) -> list[Span]:
    """Greedy breaking: (start, end) of each line, trailing spaces still inside."""
    spans: list[Span] = []
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
        spans.append((start, cut))
        start = cut
        while start < len(para) and para[start] == " ":
            start += 1
        i, x = start, 0.0
    if start < len(para) or not para:
        spans.append((start, len(para)))
    return spans


def _no_lone_last(para: str, spans: list[Span], advance: Callable[[str], float], width: float) -> list[Span]:
    """Move characters down so the last line is not one Chinese character alone."""
    if len(spans) < 2:
        return spans
    (prev_start, prev_end), (last_start, last_end) = spans[-2], spans[-1]
    body = [ch for ch in para[last_start:last_end].rstrip(" ") if ch not in NO_LINE_START]
    if len(body) != 1 or not is_wide(body[0]):
        return spans
    # The line above keeps at least two characters; the moved ones must fit.
    for cut in range(min(prev_end, last_start) - 1, prev_start + 1, -1):
        if para[cut] == " " or not _can_break_before(para, cut):
            continue
        if sum(advance(ch) for ch in para[cut:last_end].rstrip(" ")) > width:
            break
        return [*spans[:-2], (prev_start, cut), (cut, last_end)]
    return spans


def wrap_text(
    text: str, advance: Callable[[str], float], width: float, measure: Callable[[str], float] | None = None
) -> list[str]:
    """Split ``text`` into lines no wider than ``width``.

    ``advance(ch)`` gives one character's width. ``\\n`` forces a break; an
    empty paragraph yields an empty line. A single character wider than the
    line still gets a line of its own. ``measure(text)``, if given, is the
    width of a whole string (the sum of ``advance`` over its characters,
    worked out at once): a one-line text of printable characters that fits
    is then its own line without being looked at character by character
    (most of a receipt's lines: the print thread wraps several per receipt).
    """
    if measure is not None and "\n" not in text and text.isprintable() and measure(text) <= width:
        # What the loop below gives such a text: clean_line() leaves it as it is, one span.
        return [text.rstrip(" ")]
    lines: list[str] = []
    for paragraph in text.split("\n"):
        para = clean_line(paragraph)
        spans = _no_lone_last(para, _spans(para, advance, width), advance, width)
        lines.extend(para[start:end].rstrip(" ") for start, end in spans)
    return lines
