"""What people type or paste (codes, numbers, plates): the plain characters they meant.

A number copied from a chat app or a web page often carries marks nobody sees:
zero-width spaces, left-to-right marks, the direction isolates phones put
around a pasted word. A Chinese input method types full-width letters and
digits (``Ｐ２６１２０６``) and ideographic spaces. :func:`plain` folds the
latter to their plain forms (Unicode NFKC) and drops the former (format
characters, Unicode category Cf), so a right number pasted or typed either way
is found; what is left is then checked by each code's own rule.
"""

from __future__ import annotations

import unicodedata

__all__ = ["plain"]


def plain(text: str | None) -> str:
    """``text`` in NFKC without format characters (zero-width spaces, direction marks and isolates)."""
    folded = unicodedata.normalize("NFKC", text or "")
    if folded.isascii():
        return folded
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
