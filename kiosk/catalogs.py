"""Keeping translation catalogs complete and current: extract message ids, check and update ``.po`` files.

``python -m kiosk.catalogs check [NAME…]`` lists every message a package uses
but does not translate, and every catalog entry its code no longer uses
(obsolete: a stale entry would translate some other text with words meant for
a sentence that is gone), and every Chinese translation that puts half-width
punctuation (``,:?!;()``) against a Chinese character (``歇脚:座位`` for
``歇脚：座位``); placeholders such as ``%(name)s``, times (12:30) and URLs are
left alone. ``python -m kiosk.catalogs update [NAME…]`` adds the
missing ids to ``translations/<locale>/LC_MESSAGES/messages.po`` (keeping
existing translations) and drops the obsolete ones, reporting both.

A NAME is ``kiosk`` (the core), an installed plugin's name (``venue``), its
package (``kiosk_venue``) or a package folder. Plugins are found by their entry
point, so the commands work from any folder; with no NAME they cover the core
and every installed plugin. An unknown name, or a run that finds nothing to
check, exits 2. The test suite runs the same check on the core and every plugin.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import sys
from importlib import metadata

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

TRANSLATED_LOCALES = ("zh_Hans", "zh_Hant")  # message ids are English already
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "N_": None}
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
CORE = "kiosk"
#: The entry point group plugins are installed under (the same as kiosk.plugins reads).
ENTRY_POINT_GROUP = "kiosk.plugins"
USAGE = "usage: python -m kiosk.catalogs check|update [NAME…]  (NAME: kiosk, a plugin, its package or folder)"


#: Chinese characters and full-width punctuation: half-width punctuation touching one of these is a typo.
_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_HALF_WIDTH = ",:?!;()"
_FULL_WIDTH = dict(zip(_HALF_WIDTH, "，：？！；（）", strict=True))
_TOUCHING_CJK = re.compile(rf"(?<=[{_CJK}])[{re.escape(_HALF_WIDTH)}]|[{re.escape(_HALF_WIDTH)}](?=[{_CJK}])")
#: Python and format placeholders, whose brackets are code, not punctuation.
_PLACEHOLDER = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)[a-z]|%[a-z%]|\{[^{}]*\}")
CHINESE_LOCALES = ("zh_Hans", "zh_Hant")


class CatalogError(Exception):
    """A name that is no package, or a package with nothing to check; the message says which."""


def extract(package_dir: str) -> dict[str, list[str]]:
    """Message id → places it is used, for one package folder."""
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        package_dir,
        method_map=METHOD_MAP,
        options_map=OPTIONS,
        keywords=KEYWORDS,
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
    """The package's catalog for ``locale`` (empty when it has none)."""
    path = _po_path(package_dir, locale)
    if not os.path.exists(path):
        return Catalog(locale=None)
    with open(path, "rb") as fh:
        return read_po(fh)


def _key(msgid) -> str:
    """A catalog entry's id; a plural entry is known by its singular."""
    return msgid[0] if isinstance(msgid, (tuple, list)) else msgid


def _ids(msgid) -> tuple[str, ...]:
    """Every id a catalog entry translates: a plural entry, its singular and its plural."""
    return tuple(msgid) if isinstance(msgid, (tuple, list)) else (msgid,)


def missing(package_dir: str, used: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Locale → message ids used in the package but not translated there."""
    used = extract(package_dir) if used is None else used
    out = {}
    for locale in TRANSLATED_LOCALES:
        catalog = load(package_dir, locale)
        have: set[str] = set()
        for m in catalog:
            if m.id and m.string and not m.fuzzy:
                have.update(_ids(m.id))
        gaps = sorted(set(used) - have)
        if gaps:
            out[locale] = gaps
    return out


def obsolete(package_dir: str, used: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Locale → ids in the package's catalog that its code and templates no longer use."""
    used = extract(package_dir) if used is None else used
    out = {}
    for locale in TRANSLATED_LOCALES:
        catalog = load(package_dir, locale)
        stale = sorted(_key(m.id) for m in catalog if m.id and _key(m.id) not in used)
        stale += sorted(_key(msgid) for msgid in catalog.obsolete)  # "#~" entries Babel kept
        if stale:
            out[locale] = stale
    return out


def _masked(text: str) -> tuple[str, list[str]]:
    """``text`` with each placeholder replaced by one private-use character (its brackets are not punctuation)."""
    kept: list[str] = []

    def hide(match: re.Match) -> str:
        kept.append(match.group(0))
        return chr(0xE000 + len(kept) - 1)

    return _PLACEHOLDER.sub(hide, text), kept


def _unmasked(text: str, kept: list[str]) -> str:
    for index, placeholder in enumerate(kept):
        text = text.replace(chr(0xE000 + index), placeholder)
    return text


def full_width(text: str) -> str:
    """``text`` with each half-width ``,:?!;()`` that touches a Chinese character made full-width.

    A bracket is changed with its partner, so ``名称(英文)`` becomes ``名称（英文）`` and
    ``数据(JSON)`` becomes ``数据（JSON）``; placeholders (``%(n)s``), times (``12:30``), URLs
    and punctuation between Latin letters or digits stay as they are.
    """
    masked, kept = _masked(text)
    chars = list(masked)
    change = {m.start() for m in _TOUCHING_CJK.finditer(masked)}
    # Pair the brackets, so that a bracket changes with its partner.
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for index, char in enumerate(chars):
        if char == "(":
            stack.append(index)
        elif char == ")" and stack:
            opening = stack.pop()
            pairs[opening], pairs[index] = index, opening
    for index in list(change):
        if index in pairs:
            change.add(pairs[index])
    for index in sorted(change, reverse=True):
        chars[index] = _FULL_WIDTH[chars[index]]
        if chars[index] in "，：；？！" and chars[index + 1 : index + 2] == [" "]:
            del chars[index + 1]  # a full-width mark carries its own space
    return _unmasked("".join(chars), kept)


def half_width_punctuation(package_dir: str) -> dict[str, list[tuple[str, str]]]:
    """Locale → ``(message id, translation)`` for each Chinese translation with half-width punctuation.

    Half-width ``,:?!;()`` next to a Chinese character reads as a typo on a Chinese
    screen (``第一次来?登记一下``); ``full_width`` gives the corrected text.
    """
    out = {}
    for locale in CHINESE_LOCALES:
        found = []
        for m in load(package_dir, locale):
            if not m.id:
                continue
            strings = m.string if isinstance(m.string, (tuple, list)) else (m.string,)
            for text in strings:
                if text and full_width(text) != text:
                    found.append((_key(m.id), text))
        if found:
            out[locale] = found
    return out


def update(package_dir: str) -> dict[str, dict[str, list[str]]]:
    """Add every used message id to each catalog and drop the unused ones, keeping translations.

    :returns: locale → ``{"added": [...], "dropped": [...]}``.
    """
    used = extract(package_dir)
    report = {}
    for locale in TRANSLATED_LOCALES:
        catalog = load(package_dir, locale)
        catalog.locale = None
        dropped = sorted(_key(m.id) for m in catalog if m.id and _key(m.id) not in used)
        for msgid in dropped:
            del catalog[msgid]
        dropped += sorted(_key(msgid) for msgid in catalog.obsolete)
        existing: set[str] = set()
        for m in catalog:
            if m.id:
                existing.update(_ids(m.id))
        added = []
        for msgid, places in sorted(used.items()):
            if msgid not in existing:
                catalog.add(msgid, "", locations=[(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in places])
                added.append(msgid)
        path = _po_path(package_dir, locale)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            write_po(
                fh, catalog, width=0, omit_header=False, sort_output=True, include_lineno=False, ignore_obsolete=True
            )
        report[locale] = {"added": added, "dropped": dropped}
    return report


def _package_folder(module: str) -> str | None:
    """The folder of an importable package, found without importing it (a broken plugin can still be checked)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    return os.path.dirname(spec.origin) if spec.origin else None


def installed_packages() -> dict[str, tuple[str, str]]:
    """Name → (package, folder) for the core and every installed plugin, found by entry point."""
    found = {CORE: (CORE, os.path.dirname(os.path.abspath(__file__)))}
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in found:
            continue  # the same distribution seen twice on sys.path
        folder = _package_folder(ep.module)
        if folder:
            found[ep.name] = (ep.module, folder)
    return found


def resolve(names: list[str]) -> list[tuple[str, str]]:
    """``(name, folder)`` of each package named; no names: the core and every installed plugin.

    :raises CatalogError: a name that is neither an installed plugin, its
        package, nor a folder; the message names the nearest valid one.
    """
    known = installed_packages()
    if not names:
        return [(name, folder) for name, (_package, folder) in known.items()]
    by_package = {package: name for name, (package, _folder) in known.items()}
    out = []
    for name in names:
        if name in known:
            out.append((name, known[name][1]))
        elif name in by_package:
            out.append((by_package[name], known[by_package[name]][1]))
        elif os.path.isdir(name) and _looks_like_package(name):
            out.append((os.path.basename(os.path.abspath(name)), os.path.abspath(name)))
        else:
            raise CatalogError(_unknown(name, sorted(known), sorted(set(by_package) - set(known))))
    return list(dict.fromkeys(out))  # a plugin named by name and by package is checked once


def _looks_like_package(folder: str) -> bool:
    return any(os.path.exists(os.path.join(folder, entry)) for entry in ("__init__.py", "translations", "templates"))


def _unknown(name: str, names: list[str], packages: list[str]) -> str:
    nearest = difflib.get_close_matches(name, names + packages, n=1, cutoff=0.5)
    hint = f" Did you mean {nearest[0]!r}?" if nearest else ""
    return (
        f"no installed plugin, package or package folder named {name!r}.{hint} "
        f"Valid names: {', '.join(names)} (the core and the installed plugins)."
    )


def _has_catalogs(folder: str) -> bool:
    return any(os.path.exists(_po_path(folder, locale)) for locale in TRANSLATED_LOCALES)


def _check(packages: list[tuple[str, str]], named: bool) -> int:
    problems = 0
    checked = []
    for name, folder in packages:
        used = extract(folder)
        if not used and not _has_catalogs(folder):
            if named:
                raise CatalogError(f"{name} ({folder}) uses no messages and has no catalogs: nothing to check.")
            continue  # an installed plugin without any text
        for locale, ids in missing(folder, used).items():
            for msgid in ids:
                print(f"{name} {locale}: untranslated: {msgid!r}")
                problems += 1
        for locale, ids in obsolete(folder, used).items():
            for msgid in ids:
                print(f"{name} {locale}: obsolete (no longer used; run update): {msgid!r}")
                problems += 1
        for locale, entries in half_width_punctuation(folder).items():
            for msgid, text in entries:
                print(
                    f"{name} {locale}: half-width punctuation in {msgid!r}: {text!r} should read {full_width(text)!r}"
                )
                problems += 1
        checked.append(f"{name} ({len(used)})")
    if not checked:
        raise CatalogError("found no messages to check.")
    print(f"checked {', '.join(checked)} messages: {problems} problem(s)", file=sys.stderr)
    return 1 if problems else 0


def _update(packages: list[tuple[str, str]], named: bool) -> int:
    for name, folder in packages:
        if not _has_catalogs(folder) and not extract(folder):
            if named:
                raise CatalogError(f"{name} ({folder}) uses no messages and has no catalogs: nothing to update.")
            continue  # never give a plugin without any text empty catalogs
        for locale, changes in update(folder).items():
            for msgid in changes["added"]:
                print(f"{name} {locale}: added, translate it: {msgid!r}")
            for msgid in changes["dropped"]:
                print(f"{name} {locale}: dropped, no longer used: {msgid!r}")
    return 0


def main(argv: list[str]) -> int:
    """The command line; returns the exit status (0 fine, 1 problems found, 2 bad usage)."""
    if not argv or argv[0] not in ("update", "check"):
        print(USAGE, file=sys.stderr)
        return 2
    command, names = argv[0], argv[1:]
    try:
        packages = resolve(names)
        return _update(packages, named=bool(names)) if command == "update" else _check(packages, named=bool(names))
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
