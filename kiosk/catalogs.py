"""Keeping translation catalogs complete: extract message ids, update ``.po`` files.

``python -m kiosk.catalogs update PACKAGE_DIR`` extracts every message from the
package's Python files and templates and adds the missing ones to
``translations/<locale>/LC_MESSAGES/messages.po`` (keeping existing
translations). ``python -m kiosk.catalogs check PACKAGE_DIR`` lists what is
untranslated; the test suite runs the same check on the core and every plugin.
"""

from __future__ import annotations

import os
import sys

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

TRANSLATED_LOCALES = ("zh_Hans", "zh_Hant")  # message ids are English already
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "N_": None}
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extract(package_dir: str) -> dict[str, list[str]]:
    """Message id → places it is used, for one package folder."""
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        package_dir, method_map=METHOD_MAP, options_map=OPTIONS, keywords=KEYWORDS,
    ):
        if "/tests/" in filename or filename.startswith("tests/"):
            continue
        ids = message if isinstance(message, (tuple, list)) else (message,)
        for msgid in ids:
            if msgid:
                found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def _po_path(package_dir: str, locale: str) -> str:
    return os.path.join(package_dir, "translations", locale, "LC_MESSAGES", "messages.po")


def load(package_dir: str, locale: str) -> Catalog:
    path = _po_path(package_dir, locale)
    if not os.path.exists(path):
        return Catalog(locale=None)
    with open(path, "rb") as fh:
        return read_po(fh)


def missing(package_dir: str) -> dict[str, list[str]]:
    """Locale → message ids used in the package but not translated there."""
    used = extract(package_dir)
    out = {}
    for locale in TRANSLATED_LOCALES:
        catalog = load(package_dir, locale)
        have = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
        gaps = sorted(set(used) - have)
        if gaps:
            out[locale] = gaps
    return out


def update(package_dir: str) -> None:
    """Add every used message id to each catalog, keeping translations."""
    used = extract(package_dir)
    for locale in TRANSLATED_LOCALES:
        catalog = load(package_dir, locale)
        catalog.locale = None
        existing = {m.id for m in catalog if m.id}
        for msgid, places in sorted(used.items()):
            if msgid not in existing:
                catalog.add(msgid, "", locations=[(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in places])
        path = _po_path(package_dir, locale)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            write_po(fh, catalog, width=0, omit_header=False, sort_output=True, include_lineno=False)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("update", "check"):
        print("usage: python -m kiosk.catalogs update|check PACKAGE_DIR", file=sys.stderr)
        return 2
    command, folder = argv
    if command == "update":
        update(folder)
        return 0
    gaps = missing(folder)
    for locale, ids in gaps.items():
        for msgid in ids:
            print(f"{locale}: {msgid}")
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
