"""Plugin settings: one declarative schema per plugin, checked once at start.

A plugin describes its ``[plugins.<name>]`` table of the station file with
small field types and hands the schema to the core through the
``register_settings`` hook::

    from kiosk.i18n import N_
    from kiosk.settings import Boolean, Integer, Schema

    SCHEMA = Schema({
        "booking_days": Integer(7, min=1, max=60, description=N_("Days ahead residents may book")),
        "print_slips": Boolean(True, description=N_("Print a booking slip")),
    })

    @hookimpl
    def register_settings(register):
        register(SCHEMA)

When the app starts, the core checks every plugin's table against its schema.
A wrong type, a value out of range, a bad time or an unknown key (with the
nearest valid name) switches THAT plugin off with the setting's full name, its
line in the station file (``station.toml:12``) and the reason, in English and
Chinese, on ``/healthz``, the admin page and ``kiosk doctor``; the rest of the
kiosk runs. (The core's own settings are checked by :mod:`kiosk.config_schema`.) The parsed, typed values reach
the plugin through :func:`plugin_settings` (``plugin_settings("venue").booking_days``);
no request ever parses settings.

Secrets stay out of the station file: any single value may be written as
``{ env = "NAME" }`` and is then read from the environment variable ``NAME``
when the app starts (an unset variable counts as the setting left out, so its
default applies).
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import time, timedelta
from types import SimpleNamespace

from flask import current_app

from kiosk.config import ConfigError, toml_line
from kiosk.i18n import DEFAULT_LOCALE, N_

__all__ = [
    "Setting",
    "Text",
    "Integer",
    "Number",
    "Boolean",
    "Choice",
    "TimeOfDay",
    "Duration",
    "URL",
    "Label",
    "ListOf",
    "MapOf",
    "Table",
    "TableOf",
    "Schema",
    "SettingError",
    "REQUIRED",
    "plugin_settings",
]

log = logging.getLogger("kiosk.settings")

#: Marks a setting without a default: leaving it out is an error.
REQUIRED = object()

#: How a value written as ``{ env = "NAME" }`` is recognised.
ENV_KEY = "env"


class SettingError(ConfigError):
    """One setting is wrong: its dotted name, and what is expected (an English message id).

    ``key`` is relative while the error travels up through nested tables, and
    ``plugins.<name>.…`` once the core has it. ``params`` fill the message's
    ``%(name)s`` places; those listed in ``translate`` are message ids too.
    """

    def __init__(self, key: str, message: str, translate: tuple[str, ...] = (), **params):
        self.key = key
        self.message = message
        self.params = params
        self.translate = translate
        self.domain: str | None = None  # the plugin whose catalog translates plugin-given words
        self.where = ""  # "station.toml:12": where the operator wrote it, once the core knows
        super().__init__(self._line(message, params))

    def _line(self, message: str, params: dict) -> str:
        return f"{self.key}: {message % params}" if self.key else message % params

    def within(self, prefix: str) -> SettingError:
        """The same error, its key put under ``prefix`` (a table's own name)."""
        if prefix:
            self.key = join(prefix, self.key)
            self.args = (self._line(self.message, self.params),)
        return self

    def reason(self, gettext=None) -> str:
        """What is wrong, without the key; translated with ``gettext(message_id) -> text`` when given."""
        gettext = gettext or (lambda message: message)
        params = {k: (gettext(v) if k in self.translate else v) for k, v in self.params.items()}
        return gettext(self.message) % params

    def text(self, gettext=None) -> str:
        """The error as one line, ``key: reason``, translated with ``gettext`` when given."""
        reason = self.reason(gettext)
        return f"{self.key}: {reason}" if self.key else reason


def join(prefix: str, key: str) -> str:
    """``services`` + ``[0].prefix`` → ``services[0].prefix``; ``webhook`` + ``url`` → ``webhook.url``."""
    if not prefix:
        return key
    if not key:
        return prefix
    return prefix + key if key.startswith("[") else f"{prefix}.{key}"


def _shown(value) -> str:
    """A bad value as the operator wrote it (TOML-like), cut short."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = f'"{value}"'
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Setting:
    """One setting: its default, a translatable description and how a value is checked.

    Subclasses implement :meth:`convert`, which returns the typed value or
    raises :class:`SettingError` with an empty key (the caller names it).
    """

    def __init__(self, default=REQUIRED, *, description: str = ""):
        self.default = default
        self.description = description

    def parse(self, value, key: str = ""):
        """The typed value of ``value`` (``None``: left out, so the default)."""
        if isinstance(value, dict) and set(value) == {ENV_KEY} and not isinstance(self, (Table, MapOf)):
            value = os.environ.get(str(value[ENV_KEY]))
            if value is not None:
                value = self.from_environment(value)
        if value is None:
            if self.default is REQUIRED:
                raise SettingError(key, N_("is required"))
            return self.default_value()
        try:
            return self.convert(value)
        except SettingError as exc:
            raise exc.within(key) from None

    def default_value(self):
        """The default, converted like a written value would be."""
        return self.convert(self.default) if self.default is not None else None

    def from_environment(self, text: str):
        """A value read from the environment is text; types other than text read it here."""
        return text

    def convert(self, value):
        """The typed value of a value written in the station file; :class:`SettingError` if it is wrong."""
        raise NotImplementedError


class Text(Setting):
    """A piece of text, optionally matching ``pattern`` (described to the operator by ``hint``)."""

    def __init__(
        self,
        default="",
        *,
        pattern: str | None = None,
        hint: str = "",
        max_length: int | None = None,
        description: str = "",
    ):
        super().__init__(default, description=description)
        self.pattern = re.compile(pattern) if pattern else None
        self.hint = hint or (f"text matching {pattern}" if pattern else "")
        self.max_length = max_length

    def convert(self, value):
        if not isinstance(value, str):
            raise SettingError("", N_("must be text in quotes, not %(value)s"), value=_shown(value))
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise SettingError(
                "", N_("must be %(hint)s, not %(value)s"), ("hint",), hint=self.hint, value=_shown(value)
            )
        if self.max_length is not None and len(value) > self.max_length:
            raise SettingError("", N_("must be at most %(max)s characters long"), max=self.max_length)
        return value


def _range_error(kind_message: str, low, high, value) -> SettingError:
    return SettingError(
        "",
        kind_message,
        low=low if low is not None else "-∞",
        high=high if high is not None else "∞",
        value=_shown(value),
    )


class Integer(Setting):
    """A whole number, from ``min`` to ``max`` when given."""

    def __init__(self, default=0, *, min: int | None = None, max: int | None = None, description: str = ""):
        super().__init__(default, description=description)
        self.min, self.max = min, max

    def from_environment(self, text: str):
        return int(text) if re.fullmatch(r"-?\d+", text.strip()) else text

    def convert(self, value):
        bad = isinstance(value, bool) or not isinstance(value, int)
        if bad or (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise _range_error(
                N_("must be a whole number from %(low)s to %(high)s, not %(value)s"), self.min, self.max, value
            )
        return value


class Number(Setting):
    """A number (whole or with a decimal point), from ``min`` to ``max`` when given; a float."""

    def __init__(self, default=0.0, *, min: float | None = None, max: float | None = None, description: str = ""):
        super().__init__(default, description=description)
        self.min, self.max = min, max

    def from_environment(self, text: str):
        try:
            return float(text)
        except ValueError:
            return text

    def convert(self, value):
        bad = isinstance(value, bool) or not isinstance(value, (int, float))
        if bad or (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise _range_error(
                N_("must be a number from %(low)s to %(high)s, not %(value)s"), self.min, self.max, value
            )
        return float(value)


class Boolean(Setting):
    """``true`` or ``false``."""

    def from_environment(self, text: str):
        return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(
            text.strip().lower(), text
        )

    def convert(self, value):
        if not isinstance(value, bool):
            raise SettingError("", N_("must be true or false, not %(value)s"), value=_shown(value))
        return value


class Choice(Setting):
    """One of a few fixed words."""

    def __init__(self, default, choices, *, description: str = ""):
        super().__init__(default, description=description)
        self.choices = tuple(choices)

    def convert(self, value):
        if value not in self.choices or not isinstance(value, str):
            raise SettingError(
                "",
                N_("must be one of %(choices)s, not %(value)s"),
                choices=", ".join(f'"{c}"' for c in self.choices),
                value=_shown(value),
            )
        return value


class TimeOfDay(Setting):
    """A local time written ``"HH:MM"`` (``"7:30"`` too); a :class:`datetime.time`."""

    def convert(self, value):
        if isinstance(value, time):
            return value.replace(second=0, microsecond=0)
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", value) if isinstance(value, str) else None
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise SettingError("", N_('must be a time of day like "23:30", not %(value)s'), value=_shown(value))
        return time(int(match.group(1)), int(match.group(2)))


_UNITS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "d": 86400}


class Duration(Setting):
    """A length of time: a number in ``unit`` or text like ``"90s"``, ``"15min"``, ``"2h"``; a timedelta."""

    def __init__(
        self,
        default,
        *,
        unit: str = "s",
        min: timedelta | None = None,
        max: timedelta | None = None,
        description: str = "",
    ):
        super().__init__(default, description=description)
        self.unit, self.min, self.max = unit, min, max

    def convert(self, value):
        if isinstance(value, timedelta):
            found = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found = timedelta(seconds=value * _UNITS[self.unit])
        else:
            match = (
                re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d)\s*", value) if isinstance(value, str) else None
            )
            if match is None:
                raise SettingError(
                    "",
                    N_('must be a length of time like 90, "90s", "15min" or "2h", not %(value)s'),
                    value=_shown(value),
                )
            found = timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
        if (self.min is not None and found < self.min) or (self.max is not None and found > self.max):
            raise SettingError(
                "",
                N_("must be from %(low)s to %(high)s, not %(value)s"),
                low=str(self.min or timedelta(0)),
                high=str(self.max or "∞"),
                value=_shown(value),
            )
        return found


class URL(Setting):
    """An ``http://`` or ``https://`` address (``""`` allowed when it is the default); no trailing slash."""

    def __init__(self, default="", *, description: str = ""):
        super().__init__(default, description=description)

    def convert(self, value):
        if value == "" and self.default == "":
            return ""
        if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+[^\s]*$", value):
            raise SettingError(
                "", N_('must be an address like "https://kiosk.example.cn", not %(value)s'), value=_shown(value)
            )
        return value.rstrip("/")


class Label(Setting):
    """A name shown to residents: a table ``{ zh_Hans = "…", zh_Hant = "…", en = "…" }`` or plain text.

    Plain text is kept as it is (a message id translated through the plugin's
    catalog) unless ``plain_as`` names the language it is written in.
    """

    def __init__(self, default=REQUIRED, *, plain_as: str | None = None, description: str = ""):
        super().__init__(default, description=description)
        self.plain_as = plain_as

    def convert(self, value):
        if isinstance(value, str) and value:
            return {self.plain_as: value} if self.plain_as else value
        if (
            isinstance(value, dict)
            and value.get(DEFAULT_LOCALE)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            return dict(value)
        raise SettingError(
            "",
            N_('needs at least a Simplified Chinese name, e.g. { zh_Hans = "手工室" }, not %(value)s'),
            value=_shown(value),
        )


class ListOf(Setting):
    """A list of values of one kind; a tuple.

    ``single=True`` also accepts one bare value as a list of one.
    ``unique="key"`` refuses two table items with the same ``key``.
    """

    def __init__(
        self,
        item: Setting,
        default=(),
        *,
        min_length: int = 0,
        max_length: int | None = None,
        unique: str | None = None,
        single: bool = False,
        description: str = "",
    ):
        super().__init__(default, description=description)
        self.item = item
        self.min_length, self.max_length = min_length, max_length
        self.unique, self.single = unique, single

    def convert(self, value):
        if self.single and not isinstance(value, (list, tuple)):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise SettingError("", N_("must be a list like [1, 2], not %(value)s"), value=_shown(value))
        if len(value) < self.min_length:
            raise SettingError("", N_("must list at least %(count)s item(s)"), count=self.min_length)
        if self.max_length is not None and len(value) > self.max_length:
            raise SettingError("", N_("must list at most %(count)s item(s)"), count=self.max_length)
        items = tuple(self.item.parse(v, f"[{i}]") for i, v in enumerate(value))
        if self.unique:
            seen = [_field(v, self.unique) for v in items]
            for index, found in enumerate(seen):
                if found in seen[:index]:
                    raise SettingError(
                        f"[{index}].{self.unique}",
                        N_("%(value)s is used twice: every item needs its own %(field)s"),
                        value=_shown(found),
                        field=self.unique,
                    )
        return items


def _field(value, name: str):
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


class MapOf(Setting):
    """A table whose keys the operator chooses (``category = "department"``), each value of one kind; a dict.

    ``merge=True`` lays the operator's entries over the default ones instead of replacing them.
    """

    def __init__(self, value: Setting, default=None, *, merge: bool = False, description: str = ""):
        super().__init__(dict(default or {}), description=description)
        self.value, self.merge = value, merge

    def convert(self, value):
        if not isinstance(value, dict):
            raise SettingError("", N_("must be a table like { name = value }, not %(value)s"), value=_shown(value))
        parsed = {str(k): self.value.parse(v, str(k)) for k, v in value.items()}
        return {**self.default, **parsed} if self.merge else parsed


class Table(Setting):
    """A table with named settings of its own (``[plugins.petitions.webhook]``).

    Its value is an object with one attribute per setting, or what
    ``build(values: dict)`` makes of them; ``build`` may raise
    :class:`SettingError` naming a setting of the table for checks that
    involve several settings.
    """

    def __init__(self, fields: dict[str, Setting], default=None, *, build=None, description: str = ""):
        super().__init__({} if default is None else default, description=description)
        self.fields = dict(fields)
        self.build = build

    def convert(self, value):
        values, errors = self.check(value)
        if errors:
            raise errors[0]
        return values

    def check(self, value) -> tuple[object, list[SettingError]]:
        """Every error in ``value``, not only the first: the operator fixes them in one go."""
        if not isinstance(value, dict):
            return None, [
                SettingError("", N_("must be a table like { name = value }, not %(value)s"), value=_shown(value))
            ]
        errors = [self._unknown(key) for key in value if key not in self.fields]
        values = {}
        for name, setting in self.fields.items():
            try:
                values[name] = setting.parse(value.get(name), name)
            except SettingError as exc:
                errors.append(exc)
        if errors:
            return None, errors
        try:
            return (self.build(values) if self.build else SimpleNamespace(**values)), []
        except SettingError as exc:
            return None, [exc]

    def _unknown(self, key) -> SettingError:
        near = difflib.get_close_matches(str(key), list(self.fields), n=1)
        if near:
            return SettingError(str(key), N_("is not a setting here; did you mean %(suggestion)s?"), suggestion=near[0])
        return SettingError(
            str(key), N_("is not a setting here; the settings are %(names)s"), names=", ".join(self.fields) or "-"
        )


class TableOf(ListOf):
    """A list of tables (``[[plugins.legal.services]]``), each with the given settings."""

    def __init__(
        self,
        fields: dict[str, Setting],
        default=(),
        *,
        build=None,
        unique: str | None = None,
        min_length: int = 0,
        description: str = "",
    ):
        super().__init__(
            Table(fields, default=REQUIRED, build=build),
            default,
            unique=unique,
            min_length=min_length,
            description=description,
        )


class Schema(Table):
    """A plugin's whole ``[plugins.<name>]`` table: hand it to ``register`` in ``register_settings``."""

    def parse(self, value, key: str = ""):
        """The built settings of ``value`` (``None``: all defaults); raises the first error.

        For tests and tools that need the settings without an app; the core
        uses :meth:`check` so that every mistake is reported at once.
        """
        values, errors = self.check({} if value is None else value)
        if errors:
            raise errors[0].within(key)
        return values

    def documented(self) -> list[tuple[str, Setting]]:
        """(dotted name, setting) of every setting, nested ones included, for docs and checks."""
        out: list[tuple[str, Setting]] = []

        def walk(prefix: str, table: Table):
            for name, setting in table.fields.items():
                out.append((join(prefix, name), setting))
                inner = setting.item if isinstance(setting, ListOf) else setting
                if isinstance(inner, Table):
                    walk(join(prefix, name), inner)

        walk("", self)
        return out


# -- the core's side: collected at start, read by plugins ---------------------------------------------
@dataclass
class PluginSettings:
    """Every plugin's schema, parsed values and errors (``app.extensions["kiosk_settings"]``)."""

    schemas: dict[str, Schema] = field(default_factory=dict)
    values: dict[str, object] = field(default_factory=dict)
    errors: dict[str, list[SettingError]] = field(default_factory=dict)
    #: The catalogs that translate a switched-off plugin's errors (the app's no longer load its own).
    catalogs: dict[str, object] = field(default_factory=dict)


def init_app(app, plugins) -> PluginSettings:
    """Ask each plugin for its schema and check its table once; switch off those with mistakes.

    Called by the app factory in an app context, after the plugins' migrations
    are known (a switched-off plugin's tables stay in the database's history)
    and before anything else of theirs is collected.
    """
    from kiosk.plugins import PluginError

    state = PluginSettings()
    app.extensions["kiosk_settings"] = state

    def per_plugin(name):
        def register(schema):
            if not isinstance(schema, Schema):
                raise PluginError("register_settings needs a kiosk.settings.Schema")
            state.schemas[name] = schema

        return {"register": register}

    plugins.call_startup("register_settings", per_plugin=per_plugin)
    section = app.config.get("PLUGINS", {})
    _warn_unknown_sections(section, plugins)
    for name, schema in state.schemas.items():
        if plugins.infos[name].state != "enabled":
            continue
        raw = section.get(name)
        values, errors = schema.check({} if raw is None else raw)
        if errors:
            for error in errors:
                error.within(f"plugins.{name}")
                error.domain = name
                error.where = _where(app.config.get("STATION_FILE"), error.key)
            state.errors[name] = errors
            plugins.disable(name, "; ".join(bilingual(e, plugins.infos[name].path) for e in errors))
            continue
        state.values[name] = values
    return state


def _where(station_file: str | None, key: str) -> str:
    """``station.toml:LINE`` of the dotted ``key`` ("" when it is not written there).

    The file's name only: these lines also reach ``/healthz`` and the admin page.
    """
    if not station_file:
        return ""
    try:
        with open(station_file, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return ""
    line = toml_line(text, [p for p in key.split(".") if p])
    return f"{os.path.basename(station_file)}:{line}" if line else ""


def _warn_unknown_sections(section: dict, plugins) -> None:
    """A ``[plugins.<name>]`` table no installed plugin reads is most likely a misspelt name."""
    for name, value in section.items():
        if name == "disabled" or name in plugins.infos or not isinstance(value, dict):
            continue
        near = difflib.get_close_matches(name, list(plugins.infos), n=1)
        log.warning(
            "[plugins.%s] is ignored: no installed plugin is called %s%s",
            name,
            name,
            f"; did you mean [plugins.{near[0]}]?" if near else "",
        )


def _catalogs(domain: str | None, plugin_path: str = ""):
    """The core's catalogs and the plugin's own: a switched-off plugin's are not among the app's.

    A mistake is rare, so these are read only when there is one.
    """
    from kiosk.i18n import CORE_TRANSLATIONS, Catalogs

    catalogs = Catalogs()
    catalogs.add_folder(CORE_TRANSLATIONS)
    folder = os.path.join(plugin_path, "translations") if plugin_path else ""
    if folder and os.path.isdir(folder):
        catalogs.add_folder(folder, domain=domain)
    return catalogs


def bilingual(error: SettingError, plugin_path: str = "") -> str:
    """The error in English and Simplified Chinese, for logs, ``/healthz`` and ``kiosk doctor``."""
    catalogs = _catalogs(error.domain, plugin_path)
    chinese = error.text(lambda m: catalogs.gettext(DEFAULT_LOCALE, m, error.domain))
    english = error.text()
    where = f" ({error.where})" if error.where else ""
    return f"{english}{where}" if chinese == english else f"{english}{where} / {chinese}"


def localized_errors(name: str, app=None) -> list[str]:
    """A switched-off plugin's setting errors in the request's language (the admin page)."""
    from kiosk.i18n import current_locale

    app = app or current_app
    state = app.extensions.get("kiosk_settings")
    errors = state.errors.get(name, []) if state is not None else []
    if not errors:
        return []
    catalogs = state.catalogs.get(name)
    if catalogs is None:
        catalogs = _catalogs(name, app.extensions["kiosk_plugins"].infos[name].path)
        state.catalogs[name] = catalogs
    locale = current_locale()
    return [e.text(lambda m: catalogs.gettext(locale, m, name)) for e in errors]


def plugin_settings(name: str, app=None):
    """The parsed settings of plugin ``name`` in ``app`` (default: the current app).

    What the plugin's schema built at start: an object with one attribute per
    setting, or the plugin's own ``build`` result. Raises ``LookupError`` for a
    plugin that registered no schema or was switched off by a mistake in it.
    """
    app = app or current_app
    state = app.extensions.get("kiosk_settings")
    if state is None or name not in state.values:
        errors = state.errors.get(name) if state is not None else None
        if errors:
            raise LookupError(f"plugin {name} is off: {errors[0]}")
        raise LookupError(f"plugin {name} registered no settings (implement register_settings)")
    return state.values[name]
