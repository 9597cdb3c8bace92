"""Every page that watches a receipt has words for each way it can end.

kiosk.js's watchPrint() ends a watch on "done", "sent" (the printer took the job but never
confirmed it), "failed" or "unknown". A page without data-text-sent fell back to its "did not
print" words for a ticket that may well be in the tray (courier_rest's notes did).
"""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
WATCHED = re.compile(r"<[^>]*\bdata-print-(?:job|state)\b[^>]*>", re.S)


def _watched_elements():
    for folder in (ROOT / "plugins", ROOT / "kiosk" / "templates", ROOT / "examples"):
        for path in sorted(folder.rglob("*.html")):
            for element in WATCHED.findall(path.read_text(encoding="utf-8")):
                yield path.relative_to(ROOT), element


def test_every_watched_receipt_has_words_for_printed_sent_and_failed():
    found = list(_watched_elements())
    assert len(found) >= 7  # legal x2, parking, petitions, courier_rest x3
    missing = [
        f"{path}: {word}"
        for path, element in found
        for word in ("data-text-done", "data-text-sent", "data-text-failed", "data-text-printing")
        if word not in element and not (word == "data-text-printing" and "data-print-job" in element)
    ]
    assert missing == []


def test_sent_has_a_look_of_its_own_where_printed_and_failed_do():
    for css in sorted((ROOT / "plugins").glob("*/static/*.css")):
        text = css.read_text(encoding="utf-8")
        for name in re.findall(r"\.([\w-]+)\.done\b", text):
            assert f".{name}.sent" in text, f"{css.relative_to(ROOT)}: .{name}.sent"
