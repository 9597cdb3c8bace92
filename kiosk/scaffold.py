"""``kiosk plugins new NAME``: a plugin package that installs and shows its tile with no edits.

The files come from ``kiosk/scaffold_templates/``: every ``*.tmpl`` file there
is copied with ``string.Template`` placeholders (``${name}``, ``${package}``...)
filled in; in its path, a leading ``package/`` becomes the plugin's package and
``NAME`` becomes the plugin name. Jinja page templates use ``{{ }}``, so the
``$`` placeholders never collide with them.

The two message catalogs are not templates: they are built from the messages
really used in the generated package (``kiosk.catalogs.extract``), translated
from ``translations.toml`` plus the labels the author gave, so a new plugin
starts with complete catalogs and a scaffold template that adds an untranslated
string fails here rather than in the author's hands.
"""

from __future__ import annotations

import importlib.util
import keyword
import os
import re
import string
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from kiosk import API_VERSION
from kiosk.catalogs import TRANSLATED_LOCALES, extract
from kiosk.plugins import ENTRY_POINT_GROUP

TEMPLATES = Path(__file__).with_name("scaffold_templates")
TEMPLATE_SUFFIX = ".tmpl"
TRANSLATIONS_FILE = "translations.toml"

NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
MAX_NAME_LENGTH = 32
MAX_LABEL_LENGTH = 40
#: Names the core already uses for its blueprints, URL areas and packages: a
#: plugin named like one would have its blueprint refused at start.
RESERVED_NAMES = frozenset(
    {
        "admin",
        "api",
        "auth",
        "core",
        "events",
        "hardware",
        "health",
        "ime",
        "kiosk",
        "mobile",
        "p",
        "plugin_static",
        "plugins",
        "printing",
        "scaffold",
        "shell",
        "staff",
        "static",
        "testing",
    }
)

DEFAULT_ZH_HANS = "新服务"
DEFAULT_ZH_HANT = "新服務"


class ScaffoldError(ValueError):
    """The plugin cannot be created as asked; the message says what to change."""


@dataclass(frozen=True)
class Labels:
    """The plugin's name on its tile, in each language the kiosk speaks."""

    en: str
    zh_Hans: str
    zh_Hant: str

    def by_locale(self) -> dict[str, str]:
        """``{"zh_Hans": ..., "zh_Hant": ..., "en": ...}``."""
        return {"zh_Hans": self.zh_Hans, "zh_Hant": self.zh_Hant, "en": self.en}


@dataclass(frozen=True)
class Created:
    """What :func:`create_plugin` made."""

    name: str
    package: str
    folder: Path
    files: tuple[Path, ...]
    labels: Labels


def installed_plugins() -> set[str]:
    """Names of the plugins installed in this environment (``kiosk.plugins`` entry points)."""
    return {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def validate_name(name: str, installed: set[str] | None = None) -> str:
    """Return ``name`` if it can name a new plugin; raise :class:`ScaffoldError` saying why not."""
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(
            f"plugin name {name!r} is not valid: use lower-case letters, digits and single underscores, "
            f"starting with a letter, at most {MAX_NAME_LENGTH} characters (e.g. venue_booking)"
        )
    if keyword.iskeyword(name):
        raise ScaffoldError(f"plugin name {name!r} is a Python keyword; choose another")
    if name in RESERVED_NAMES:
        raise ScaffoldError(f"plugin name {name!r} is used by the kiosk core; choose another")
    if name in (installed_plugins() if installed is None else installed):
        raise ScaffoldError(
            f"a plugin named {name!r} is already installed (see `kiosk plugins list`); choose another name"
        )
    package = f"kiosk_{name}"
    if importlib.util.find_spec(package) is not None:
        raise ScaffoldError(f"a Python package named {package} is already installed; choose another name")
    return name


def _clean_label(value: str, option: str) -> str:
    text = " ".join(str(value).split())
    if not text:
        raise ScaffoldError(f"{option} must not be empty")
    if len(text) > MAX_LABEL_LENGTH:
        raise ScaffoldError(f"{option} is too long for a tile ({len(text)} characters; at most {MAX_LABEL_LENGTH})")
    return text


def make_labels(name: str, en: str | None = None, zh_hans: str | None = None, zh_hant: str | None = None) -> Labels:
    """The tile labels: the author's, else "Venue booking"-style English and a placeholder in Chinese."""
    return Labels(
        en=_clean_label(en if en is not None else name.replace("_", " ").capitalize(), "--label-en"),
        zh_Hans=_clean_label(zh_hans if zh_hans is not None else DEFAULT_ZH_HANS, "--label-zh-hans"),
        zh_Hant=_clean_label(zh_hant if zh_hant is not None else DEFAULT_ZH_HANT, "--label-zh-hant"),
    )


def _placeholders(name: str, labels: Labels) -> dict[str, str]:
    camel = "".join(part.capitalize() for part in name.split("_"))
    return {
        "name": name,
        "package": f"kiosk_{name}",
        "dist": f"kiosk-{name.replace('_', '-')}",
        "folder": f"kiosk-{name}",
        "model": f"{camel}Entry",
        "api_spec": f">={API_VERSION},<{API_VERSION + 1}",
        # Python literals, so any quote or backslash in a label stays a valid string.
        "title_py": repr(labels.en),
        "labels_py": repr(labels.by_locale()),
        "label_en": labels.en,
        "label_zh_hans": labels.zh_Hans,
        "label_zh_hant": labels.zh_Hant,
    }


def template_files() -> list[Path]:
    """Every template file, relative to the templates folder, in a stable order."""
    return sorted(p.relative_to(TEMPLATES) for p in TEMPLATES.rglob(f"*{TEMPLATE_SUFFIX}"))


def output_path(template: Path, name: str) -> Path:
    """Where a template file lands inside the new ``kiosk-<name>/`` folder."""
    parts = list(template.parts)
    if parts[0] == "package":
        parts[0] = f"kiosk_{name}"
    parts = [p.replace("NAME", name) for p in parts]
    parts[-1] = parts[-1][: -len(TEMPLATE_SUFFIX)]
    return Path(*parts)


def _translations() -> dict[str, dict[str, str]]:
    with open(TEMPLATES / TRANSLATIONS_FILE, "rb") as fh:
        return tomllib.load(fh)


def write_catalogs(package_dir: Path, labels: Labels, dist: str) -> list[Path]:
    """Write complete zh_Hans and zh_Hant catalogs for the messages ``package_dir`` uses."""
    known = _translations()
    known[labels.en] = {"zh_Hans": labels.zh_Hans, "zh_Hant": labels.zh_Hant}
    used = extract(str(package_dir))
    untranslated = sorted(set(used) - set(known))
    if untranslated:
        raise ScaffoldError(
            f"scaffold templates use messages with no translation in {TRANSLATIONS_FILE}: {untranslated}"
        )
    written = []
    for locale in TRANSLATED_LOCALES:
        catalog = Catalog(
            locale=locale,
            project=dist,
            version="0.1.0",
            charset="utf-8",
            fuzzy=False,
            header_comment=f"# {locale} catalog of {dist}. Message ids are English; after changing\n"
            f"# the text, run python -m kiosk.catalogs update {package_dir.name}.",
        )
        for msgid, places in sorted(used.items()):
            catalog.add(
                msgid, known[msgid][locale], locations=[(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in places]
            )
        path = package_dir / "translations" / locale / "LC_MESSAGES" / "messages.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            write_po(fh, catalog, width=0, sort_output=True, include_lineno=False)
        written.append(path)
    return written


def create_plugin(
    name: str,
    directory: str | os.PathLike = ".",
    *,
    label_en: str | None = None,
    label_zh_hans: str | None = None,
    label_zh_hant: str | None = None,
    installed: set[str] | None = None,
) -> Created:
    """Create ``<directory>/kiosk-<name>/``: a plugin package ready for ``pip install``.

    :param installed: plugin names to refuse as taken (default: the installed ones).
    :raises ScaffoldError: bad name or labels, or the folder already exists.
    """
    validate_name(name, installed)
    labels = make_labels(name, label_en, label_zh_hans, label_zh_hant)
    values = _placeholders(name, labels)
    folder = Path(directory) / values["folder"]
    if folder.exists():
        raise ScaffoldError(f"{folder} already exists; remove it or choose another --dir")
    files = []
    for template in template_files():
        target = folder / output_path(template, name)
        text = string.Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(values)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        files.append(target)
    files += write_catalogs(folder / values["package"], labels, values["dist"])
    return Created(name=name, package=values["package"], folder=folder, files=tuple(files), labels=labels)
