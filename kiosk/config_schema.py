"""One schema for the whole station file and every ``KIOSK_*`` variable, checked before anything runs.

:mod:`kiosk.config` merges defaults, the station file and the environment into
``app.config``; this module reads the same two sources on their own, so that a
mistake is reported where the operator made it: the station file's key with
its file and line, or the environment variable, each with the nearest valid
name when the name is unknown (``[station] cod``: did you mean ``code``?;
``KIOSK_DATABSE_URL``: did you mean ``KIOSK_DATABASE_URL``?).

- :func:`read_sources` reads the station file (its text too, for line
  numbers) and the ``KIOSK_*`` variables;
- :func:`check` gives every :class:`Problem` with them: unknown keys and
  variables, wrong types, ranges, time zones (:mod:`zoneinfo`), database URLs
  (SQLAlchemy's own parser), the public address; with ``server=True`` also a
  secret key no server may sign sessions with;
- :func:`enforce` is what the app factory calls: errors stop the app with one
  line per problem;
- :func:`effective` lists every setting's value and where it came from, for
  ``kiosk config show``, secrets masked.

A bad value is refused at start instead of at the first request that reads
it: a time zone name the machine does not know was once looked up per request
(every ticket and petition then failed), ``max_content_length = -1`` turned
every form into 413.

The plugins' own tables (``[plugins.<name>]``) are checked by their schemas
when the app starts (:mod:`kiosk.settings`); the device tables by
:mod:`kiosk.device_config`. :func:`check` with ``deep=True`` (``kiosk serve``,
``kiosk doctor``, ``kiosk config show``) runs the device checks too and names
``[plugins.<name>]`` tables no installed plugin reads.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field

from kiosk.config import (
    DEFAULTS,
    LANGUAGES,
    ROLES,
    STATION_KINDS,
    ConfigError,
    check_public_url,
    instance_path_default,
    secret_problem,
    toml_line,
)
from kiosk.settings import (
    Boolean,
    Choice,
    Integer,
    ListOf,
    Number,
    Setting,
    SettingError,
    Table,
    Text,
)

__all__ = [
    "ENV_PREFIX",
    "ENV_ONLY",
    "IGNORED_PREFIXES",
    "Problem",
    "Sources",
    "check",
    "check_secret",
    "known_variable",
    "effective",
    "enforce",
    "read_sources",
    "toml_line",
]

ENV_PREFIX = "KIOSK_"

#: ``KIOSK_*`` variables that are not settings of the app: what each is for.
ENV_ONLY = {
    "KIOSK_STATION_FILE": "the station file (default: station.toml in the instance folder)",
    "KIOSK_INSTANCE_PATH": "the instance folder: SQLite database, receipts, uploads, cache",
    "KIOSK_LOG_LEVEL": "the log level (DEBUG, INFO, WARNING, ERROR)",
    "KIOSK_CJK_FONT": "the CJK font file for receipts (kiosk_hardware.fonts)",
    "KIOSK_URL": "the page kiosk-display.service opens",
    "KIOSK_SERVER": "the host/port kiosk-display.service waits for",
    "KIOSK_ORIGIN": "kiosk-display.service: the origin Chromium treats as secure (for the offline page)",
    "KIOSK_HOST": "tools/run-demo: the address `kiosk run` listens on",
    "KIOSK_PORT": "tools/run-demo: the port `kiosk run` listens on",
    "KIOSK_CHROMIUM": "tests: the Chromium binary",
    "KIOSK_SCREENSHOT_DIR": "tests: where browser tests keep screenshots",
    "KIOSK_PYTHON": "tests: the Python a guide's shell block runs kiosk with",
}
#: Prefixes of variables for tests and benchmarks; never read by a server.
IGNORED_PREFIXES = ("KIOSK_TEST_", "KIOSK_BENCH_")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: The smallest upload limit that still takes a petition photo (1 MiB).
MIN_CONTENT_LENGTH = 1024 * 1024


# -- setting types the core needs beyond kiosk.settings ---------------------------------------------------
class TimeZone(Setting):
    """A time zone name this machine's zoneinfo knows (``"Asia/Shanghai"``)."""

    def convert(self, value):
        if not isinstance(value, str) or not value:
            raise SettingError("", 'must be a time zone name like "Asia/Shanghai", not %(value)s', value=repr(value))
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            near = difflib.get_close_matches(value, sorted(zoneinfo.available_timezones()), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]}?" if near else ' (China: "Asia/Shanghai")'
            raise SettingError(
                "", "%(value)s is not a time zone this machine knows%(hint)s", value=f'"{value}"', hint=hint
            ) from None
        return value


class DatabaseURL(Setting):
    """A SQLAlchemy database URL of SQLite or PostgreSQL (``None``: SQLite in the instance folder)."""

    def convert(self, value):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        example = '"postgresql+psycopg://user:password@host:5432/kiosk"'
        if not isinstance(value, str) or not value.strip():
            raise SettingError("", "must be a database URL like %(example)s", example=example)
        try:
            url = make_url(value)
        except ArgumentError:
            raise SettingError("", "is not a database URL; write it like %(example)s", example=example) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise SettingError(
                "",
                "must be a SQLite or PostgreSQL URL (postgresql+psycopg://…), not %(backend)s://…",
                backend=url.drivername,
            )
        return value


class PublicURL(Setting):
    """The address phones open (:func:`kiosk.config.check_public_url`); ``""``: none."""

    def convert(self, value):
        if value == "":
            return ""
        try:
            return check_public_url(value)
        except ValueError as exc:
            raise SettingError("", "%(reason)s", reason=str(exc)) from None


class Secret(Text):
    """Text shown masked (``kiosk config show``)."""


class SecondsOrPerLayout(Setting):
    """Seconds (0 or less: never), or a table ``{ layout = seconds, "*" = seconds }`` (``print_expire_after``)."""

    def convert(self, value):
        values = value.values() if isinstance(value, dict) else [value]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise SettingError(
                "",
                'must be a number of seconds or a table like { ticket = 300, "*" = 600 }, not %(value)s',
                value=repr(value),
            )
        return value


class PrepareThreshold(Setting):
    """``"none"`` (behind PgBouncer in transaction mode) or a whole number (kiosk.db.parse_prepare_threshold)."""

    def convert(self, value):
        from kiosk.db import parse_prepare_threshold

        try:
            parse_prepare_threshold(value)
        except ConfigError:
            raise SettingError(
                "", 'must be "none" or a whole number of at least 0, not %(value)s', value=repr(value)
            ) from None
        return value


class RetentionTable(Table):
    """``[retention]``: the core's periods by key, and a ``[retention.<plugin>]`` table of ``<kind> = days`` each.

    Which kinds a plugin keeps is known only once it is loaded: a kind no
    running plugin declares is named at start and by ``kiosk purge`` (kiosk.retention).
    """

    DAYS = Integer(0, min=0, max=10 * 366)

    def check(self, value):
        if not isinstance(value, dict):
            return super().check(value)
        tables = {k: v for k, v in value.items() if k not in self.fields and isinstance(v, dict)}
        values, errors = super().check({k: v for k, v in value.items() if k not in tables})
        for plugin, table in tables.items():
            for kind, days in table.items():
                try:
                    self.DAYS.parse(days, f"{plugin}.{kind}")
                except SettingError as exc:
                    errors.append(exc)
        return (None if errors else values), errors


class Legacy(Setting):
    """A setting of older versions, taken out by :mod:`kiosk.config` with its own message."""

    def convert(self, value):
        return value


STATION = Table(
    {
        # Opening hours the home screen shows (kiosk.notices.hours_on); a later item wins for its days.
        "hours": ListOf(
            Text(
                "",
                pattern=r"(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))? +(closed|"
                r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d(,([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d)*)",
                hint='like "mon-fri 09:00-12:00,14:00-18:00" or "sun closed"',
            ),
            (),
        ),
        "code": Text(
            "default",
            pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
            hint='letters, digits and "-", like "shuibei-001"',
        ),
        "name": Text("党群服务中心", pattern=r"(?s).*\S.*", hint="a name", max_length=200),
        "kind": Choice("party_service", STATION_KINDS),
        "languages": ListOf(Choice("zh_Hans", LANGUAGES), list(LANGUAGES), min_length=1),
        "timezone": TimeZone("Asia/Shanghai"),
        "public_url": PublicURL(""),
        "tag": Text("", pattern=r"|[A-Za-z0-9]{2,6}", hint='2 to 6 letters A-Z or digits, like "SB01"'),
        # Place names the on-screen keyboard offers first (kiosk.ime_words), with the name's own.
        "address": Text("", max_length=200),
        "places": ListOf(Text("", max_length=40), [], max_length=200),
    }
)
HUB = Table({"stale_after_minutes": Integer(15, min=1, max=7 * 24 * 60)})

#: Every top-level setting of the station file; ``KIOSK_<NAME>`` sets the same.
TOP: dict[str, Setting] = {
    "role": Choice("station", ROLES),
    "secret_key": Secret(DEFAULTS["SECRET_KEY"]),
    "database_url": DatabaseURL(None),
    "database_listen_url": DatabaseURL(None),
    "database_connections": Integer(20, min=2, max=1000),
    "database_prepare_threshold": PrepareThreshold(None),
    "database_connect_timeout": Number(3.0, min=0.5, max=300),
    "database_lock_timeout": Number(3.0, min=0.1, max=3600),
    "database_statement_timeout": Number(None, min=0.5, max=24 * 3600),
    "photo_max_pixels": Integer(50_000_000, min=10_000, max=500_000_000),
    "photo_decode_pixels": Integer(8_000_000, min=10_000, max=200_000_000),
    "photo_decode_concurrency": Integer(2, min=1, max=64),
    "photo_decode_memory_mb": Integer(96, min=8, max=64 * 1024),
    "photo_decode_wait_seconds": Number(10.0, min=0, max=600),
    "demo": Boolean(False),
    "debug": Boolean(False),
    "idle_seconds": Integer(60, min=5, max=3600),
    "idle_countdown_seconds": Integer(15, min=1, max=600),
    "login_max_failures": Integer(5, min=1, max=1000),
    "login_lock_minutes": Integer(10, min=1, max=7 * 24 * 60),
    "max_content_length": Integer(8 * 1024 * 1024, min=MIN_CONTENT_LENGTH, max=1024 * 1024 * 1024),
    "public_url": PublicURL(None),
    "session_cookie_httponly": Boolean(True),
    "session_cookie_samesite": Choice("Lax", ("Lax", "Strict", "None")),
    "session_cookie_secure": Boolean(False),
    "auto_migrate": Boolean(True),
    "run_jobs": Boolean(False),
    "start_devices": Boolean(False),
    "sse_max_seconds": Integer(300, min=1, max=24 * 3600),
    "streams_per_client": Integer(8, min=1, max=1000),
    "streams_per_process": Integer(5000, min=1, max=1_000_000),
    "ime_preload": Boolean(True),
    "ime_preload_delay": Number(2.0, min=0, max=3600),
    "ime_min_word_freq": Integer(3, min=0),
    "ime_cache_dir": Text(""),
    "cache_dir": Text(""),
    "handwriting_model": Text("/usr/share/tegaki/models/zinnia/handwriting-zh_CN.model"),
    "print_lease_seconds": Number(15.0, min=1, max=3600),
    "print_expire_after": SecondsOrPerLayout(300),
    "metrics_token": Secret(""),
    "fleet": Legacy(None),
    "station": STATION,
    "hub": HUB,
    "retention": RetentionTable(
        {
            "audit_days": Integer(365, min=1, max=10 * 366),
            "login_attempt_days": Integer(30, min=1, max=10 * 366),
            "rate_hit_days": Integer(1, min=1, max=10 * 366),
            "receipt_days": Integer(7, min=0, max=10 * 366),
            "visitor_days": Integer(0, min=0, max=366),
            "revoked_session_days": Integer(0, min=0, max=366),
        }
    ),
    "metrics": Table({"token": Secret("")}),
    "trusted_proxy_hops": Integer(0, min=0, max=10),
    "speech": Table({"guidance": Boolean(True), "cache_mb": Integer(32, min=1, max=4096)}),
    "security": Table(
        {"trusted_proxy_hops": Integer(0, min=0, max=10), "rate_limits": Boolean(True)},
    ),
    # Checked below ([plugins]: disabled plus each plugin's table, read by its schema at start),
    # and by kiosk.device_config ([devices], [terminals.*]).
    "plugins": Legacy({}),
    "devices": Legacy({}),
    "terminals": Legacy({}),
}
#: Keys whose values never show in full.
SECRET_WORDS = ("secret", "token", "password", "api_key")


# -- problems ------------------------------------------------------------------------------------------
@dataclass
class Problem:
    """One mistake: the setting (dotted) or variable, what is wrong, and where it was written."""

    key: str
    message: str
    where: str = ""  # "path:line", "path" or "environment"
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.where}: {self.key}: {self.message}" if self.where else f"{self.key}: {self.message}"


@dataclass
class Sources:
    """What the operator wrote: the station file (parsed and as text) and the ``KIOSK_*`` variables."""

    station_file: str | None = None  # the file read, None when there is none
    station_file_default: bool = True  # not named by KIOSK_STATION_FILE
    text: str = ""
    data: dict = field(default_factory=dict)
    error: Problem | None = None  # not valid TOML
    env: dict[str, str] = field(default_factory=dict)  # every KIOSK_* variable
    instance_path: str = ""

    def where(self, path: list[str]) -> str:
        """``file:line`` of the key at ``path`` in the station file (the file alone if not found)."""
        line = toml_line(self.text, path) if self.text else None
        return f"{self.station_file}:{line}" if line else str(self.station_file)


def read_sources(
    instance_path: str | None = None, environ: Mapping[str, str] | None = None, station_file: str | None = None
) -> Sources:
    """The station file and the ``KIOSK_*`` variables as the app would read them.

    ``station_file`` overrides ``KIOSK_STATION_FILE`` (``""``: none, as tests give it).
    """
    environ = os.environ if environ is None else environ
    instance = instance_path or instance_path_default(environ)
    named = environ.get("KIOSK_STATION_FILE") if station_file is None else station_file
    path = named or (os.path.join(instance, "station.toml") if station_file is None else "")
    sources = Sources(
        env={k: v for k, v in environ.items() if k.startswith(ENV_PREFIX)},
        instance_path=instance,
        station_file_default=not named,
    )
    if path and os.path.exists(path):
        sources.station_file = path
        with open(path, encoding="utf-8", errors="replace") as fh:
            sources.text = fh.read()
        try:
            sources.data = tomllib.loads(sources.text)
        except tomllib.TOMLDecodeError as exc:
            line = re.search(r"line (\d+)", str(exc))
            sources.error = Problem(
                "station file", f"not valid TOML: {exc}", f"{path}:{line.group(1)}" if line else path
            )
    elif named:
        # A warning, not an error: "no station file" is a valid set-up (every setting from the
        # environment), and tests name a missing file to say so.
        sources.error = Problem(
            "KIOSK_STATION_FILE",
            f"names {named}, which does not exist: every setting is its default or a variable",
            "environment",
            warning=True,
        )
    return sources


def env_value(text: str):
    """A variable's value as the app reads it (Flask's ``from_prefixed_env``: JSON if it parses, else text)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _env_name(path: list[str]) -> str:
    return ENV_PREFIX + path[0].upper() + "".join("__" + part for part in path[1:])


def _suggest(name: str, known: list[str]) -> str:
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if not near:
        near = difflib.get_close_matches(name.upper(), [k.upper() for k in known], n=1, cutoff=0.6)
        near = [k for k in known if k.upper() == near[0]] if near else []
    return f"; did you mean {near[0]}?" if near else ""


def _known_env_names() -> list[str]:
    names = [_env_name([key]) for key in TOP]
    names += [_env_name(["station", key]) for key in STATION.fields]
    names += [_env_name(["hub", key]) for key in HUB.fields]
    return names + list(ENV_ONLY)


def known_variable(name: str) -> bool:
    """Whether ``KIOSK_<name>`` means something to the kiosk (a setting, a path, or a test's own)."""
    if name.startswith(IGNORED_PREFIXES) or name in ENV_ONLY:
        return True
    parts = name[len(ENV_PREFIX) :].split("__")
    setting = TOP.get(parts[0].lower()) if parts[0] == parts[0].upper() else None
    if setting is None or len(parts) == 1:
        return setting is not None
    if isinstance(setting, Table):
        return len(parts) == 2 and parts[1] in setting.fields
    return parts[0] in ("PLUGINS", "DEVICES", "TERMINALS")


def check(sources: Sources, *, server: bool = False, debug: bool = False, deep: bool = False) -> list[Problem]:
    """Every problem with what the operator wrote; ``server``: also a secret no server may use."""
    problems: list[Problem] = []
    if sources.error is not None:
        problems.append(sources.error)
    problems += _check_file(sources, deep)
    problems += _check_env(sources)
    if server:
        secret = check_secret(sources, debug=debug)
        problems += [secret] if secret else []
    return problems


def check_secret(sources: Sources, *, debug: bool = False) -> Problem | None:
    """The secret key a server would sign sessions with, if no server may (default, placeholder, short)."""
    values = _merged(sources)
    reason = secret_problem(values["SECRET_KEY"], demo=values["DEMO"] is True, debug=debug)
    if not reason:
        return None
    origin = _origin(sources, ["secret_key"])
    return Problem("secret_key", reason, "" if origin == "default" else origin)


def _check_file(sources: Sources, deep: bool) -> list[Problem]:
    problems: list[Problem] = []
    data = sources.data
    for key, value in data.items():
        setting = TOP.get(key)
        if setting is None:
            problems.append(Problem(key, f"is not a setting{_suggest(key, list(TOP))}", sources.where([key])))
            continue
        problems += [Problem(e.key, e.reason(), sources.where(_path(e.key))) for e in _errors(key, setting, value)]
    plugins = data.get("plugins")
    if plugins is not None:
        problems += _check_plugins(sources, plugins, deep)
    if deep:
        problems += _check_devices(sources, data)
    return problems


def _errors(key: str, setting: Setting, value) -> list[SettingError]:
    """Every error of ``value`` for ``setting`` (all of a table's, not only the first)."""
    if isinstance(setting, Table):
        _values, errors = setting.check(value)
        return [e.within(key) for e in errors]
    try:
        setting.parse(value, key)
    except SettingError as exc:
        return [exc]
    return []


def _path(key: str) -> list[str]:
    """``plugins.legal.services[0].prefix`` → ``["plugins", "legal", "services[0]", "prefix"]`` (see toml_line)."""
    return [part for part in key.split(".") if part]


def _check_plugins(sources: Sources, plugins, deep: bool) -> list[Problem]:
    if not isinstance(plugins, dict):
        return [Problem("plugins", "must be a table ([plugins])", sources.where(["plugins"]))]
    problems = [
        Problem(e.key, e.reason(), sources.where(["plugins", "disabled"]))
        for e in _errors("plugins.disabled", ListOf(Text()), plugins.get("disabled", []))
    ]
    installed = _installed_plugins() if deep else None
    for name, table in plugins.items():
        if name == "disabled":
            continue
        where = sources.where(["plugins", name])
        if not isinstance(table, dict):
            problems.append(Problem(f"plugins.{name}", "must be a table ([plugins.NAME])", where))
        elif installed is not None and name not in installed:
            problems.append(
                Problem(
                    f"plugins.{name}",
                    f"no installed plugin is called {name}, so this table is ignored{_suggest(name, installed)}",
                    where,
                )
            )
    return problems


def _installed_plugins() -> list[str]:
    from importlib import metadata

    from kiosk.plugins import ENTRY_POINT_GROUP

    return sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)})


def _check_devices(sources: Sources, data: dict) -> list[Problem]:
    """``[devices]`` and ``[terminals.*]`` through :mod:`kiosk.device_config` (nothing is opened)."""
    from kiosk.device_config import check_printer_table, check_reader_table, terminal_tables

    problems: list[Problem] = []

    def run(path: list[str], check_one) -> None:
        try:
            check_one()
        except ConfigError as exc:
            # kiosk.device_config names the table it means: "[terminals.hall-2] kind must be ...".
            named = re.match(r"\[([^\]]+)\]", str(exc))
            where = sources.where(named.group(1).split(".") if named else path)
            problems.append(Problem(".".join(path), str(exc), where))

    devices = data.get("devices", {})
    if not isinstance(devices, dict):
        return [
            Problem(
                "devices", "must be a table ([devices.printer], [devices.readers.NAME])", sources.where(["devices"])
            )
        ]
    for key in devices:
        if key not in ("printer", "readers"):
            problems.append(
                Problem(
                    f"devices.{key}",
                    f"is not a device table{_suggest(key, ['printer', 'readers'])}",
                    sources.where(["devices", key]),
                )
            )
    receipts = os.path.join(sources.instance_path, "receipts")
    if "printer" in devices:
        printer = _with_folder(devices["printer"], receipts)
        run(["devices", "printer"], lambda: check_printer_table("devices.printer", printer))
    readers = devices.get("readers", {})
    if isinstance(readers, dict):
        for name, table in readers.items():
            run(
                ["devices", "readers", name],
                lambda name=name, table=table: check_reader_table(f"devices.readers.{name}", name, table),
            )
    if "terminals" in data:
        terminals = data["terminals"]
        if isinstance(terminals, dict):
            terminals = {
                name: dict(table, printer=_with_folder(table["printer"], os.path.join(receipts, name)))
                if isinstance(table, dict) and "printer" in table
                else table
                for name, table in terminals.items()
            }
        run(["terminals"], lambda: terminal_tables({"TERMINALS": terminals}))
    return problems


def _with_folder(printer, folder: str):
    """A preview printer's table with the folder kiosk.printing gives it when none is written."""
    if isinstance(printer, dict) and printer.get("type") == "preview" and "folder" not in printer:
        return dict(printer, folder=folder)
    return printer


def _check_env(sources: Sources) -> list[Problem]:
    problems: list[Problem] = []
    known = _known_env_names()
    for name, text in sorted(sources.env.items()):
        if name.startswith(IGNORED_PREFIXES) or name in ENV_ONLY:
            if name == "KIOSK_LOG_LEVEL" and text.upper() not in LOG_LEVELS:
                problems.append(Problem(name, f"must be one of {', '.join(LOG_LEVELS)}, not {text!r}", "environment"))
            continue
        parts = name[len(ENV_PREFIX) :].split("__")
        head = parts[0].lower()
        setting = TOP.get(head) if parts[0] == head.upper() else None
        if setting is None:
            problems.append(Problem(name, f"is not a kiosk setting{_suggest(name, known)}", "environment"))
            continue
        value = env_value(text)
        if len(parts) == 1:
            errors = _errors(head, setting, value) if not isinstance(setting, Table) else []
            if isinstance(setting, Table):
                problems.append(Problem(name, f"set one key of [{head}] with {name}__KEY", "environment"))
        elif isinstance(setting, Table):
            sub = parts[1]
            if len(parts) > 2 or sub not in setting.fields:
                problems.append(Problem(name, f"is not a setting of [{head}]{_suggest(name, known)}", "environment"))
                continue
            errors = _errors(f"{head}.{sub}", setting.fields[sub], value)
        else:
            continue  # [plugins] / [devices] / [terminals]: checked by their own schemas at start
        problems += [Problem(name, e.reason(), "environment") for e in errors]
    return problems


# -- the effective configuration ------------------------------------------------------------------------
def _merged(sources: Sources) -> dict:
    """The top-level values the app will use (defaults, file, environment), upper-case keys."""
    values = {k: v for k, v in DEFAULTS.items()}
    for key, value in sources.data.items():
        values[key.upper()] = value
    for name, text in sources.env.items():
        rest = name[len(ENV_PREFIX) :]
        if "__" not in rest:
            values[rest] = env_value(text)
    return values


def _origin(sources: Sources, path: list[str]) -> str:
    """Where the value at ``path`` comes from: an environment variable, the station file's line, or default."""
    name = _env_name(path)
    if name in sources.env:
        return f"environment {name}"
    node = sources.data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return "default"
        node = node[part]
    return sources.where(path)


def _lookup(sources: Sources, path: list[str]):
    name = _env_name(path)
    if name in sources.env:
        return env_value(sources.env[name])
    node = sources.data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _default(path)
        node = node[part]
    return node


def _default(path: list[str]):
    setting: Setting | None = TOP.get(path[0])
    for part in path[1:]:
        setting = setting.fields.get(part) if isinstance(setting, Table) else None
    if setting is None or isinstance(setting, Legacy):
        return None
    default = setting.default
    return list(default) if isinstance(default, tuple) else default


def mask(path: list[str], value):
    """``value`` fit to print: secrets as ``****`` and their length, database passwords hidden."""
    last = re.sub(r"\[\d+\]$", "", path[-1]).lower()
    if value in (None, "") or value == [] or value == {}:
        return value
    if "url" in last and isinstance(value, str) and "database" in last:
        from sqlalchemy.engine import make_url

        try:
            return make_url(value).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - an unparsable URL is reported by check(); show nothing of it
            return "****"
    if any(word in last for word in SECRET_WORDS):
        if isinstance(value, dict) and set(value) == {"env"}:
            return value  # { env = "NAME" }: the variable's name, not its value
        return f"**** ({len(str(value))} characters)"
    return value


def effective(sources: Sources) -> list[tuple[str, object, str]]:
    """(dotted name, value fit to print, where it came from) of every setting the operator can set."""
    rows: list[tuple[str, object, str]] = []
    env_instance = sources.env.get("KIOSK_INSTANCE_PATH")
    rows.append(
        (
            "instance_path",
            sources.instance_path,
            "environment KIOSK_INSTANCE_PATH" if env_instance else "default: instance/ in the current folder",
        )
    )
    if sources.station_file:
        origin = (
            "default: station.toml in the instance folder"
            if sources.station_file_default
            else "environment KIOSK_STATION_FILE"
        )
        rows.append(("station_file", sources.station_file, origin))
    else:
        rows.append(("station_file", None, "none found"))
    for key, setting in TOP.items():
        if isinstance(setting, Table):
            for sub in setting.fields:
                path = [key, sub]
                rows.append((f"{key}.{sub}", mask(path, _lookup(sources, path)), _origin(sources, path)))
            for sub in sources.data.get(key, {}) if isinstance(sources.data.get(key), dict) else ():
                if (
                    sub not in setting.fields
                    and isinstance(setting, RetentionTable)
                    and isinstance(sources.data[key][sub], dict)
                ):
                    # [retention.<plugin>]: each kind's days (which kinds exist is checked at start)
                    for kind, days in sources.data[key][sub].items():
                        rows.append((f"{key}.{sub}.{kind}", days, sources.where([key, sub, kind])))
                elif sub not in setting.fields:
                    rows.append(
                        (
                            f"{key}.{sub}",
                            mask([key, sub], sources.data[key][sub]),
                            sources.where([key, sub]) + " (unknown)",
                        )
                    )
        elif key in ("plugins", "devices", "terminals"):
            for dotted, value in _flatten(key, sources.data.get(key, {})):
                path = _path(dotted)
                rows.append((dotted, mask(path, value), sources.where(path)))
            if key == "plugins" and "disabled" not in sources.data.get("plugins", {}):
                rows.append(("plugins.disabled", [], "default"))
        elif key == "fleet" and key not in sources.data:
            continue
        else:
            rows.append((key, mask([key], _lookup(sources, [key])), _origin(sources, [key])))
    for key in sources.data:
        if key not in TOP:
            rows.append((key, mask([key], sources.data[key]), sources.where([key]) + " (unknown)"))
    return rows


def _flatten(prefix: str, value) -> list[tuple[str, object]]:
    if isinstance(value, dict) and not (set(value) == {"env"}):
        out: list[tuple[str, object]] = []
        for key, inner in value.items():
            out += _flatten(f"{prefix}.{key}", inner)
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = []
        for index, inner in enumerate(value):
            out += _flatten(f"{prefix}[{index}]", inner)
        return out
    return [(prefix, value)]


def show_value(value) -> str:
    """A value as TOML-ish text for ``kiosk config show``."""
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value.startswith("****") else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=str)


# -- the app factory's check -----------------------------------------------------------------------------
def enforce(app, test_config: dict | None = None) -> None:
    """Refuse to build an app on a station file or environment with mistakes: one line per problem."""
    station_file = (test_config or {}).get("STATION_FILE")
    sources = read_sources(app.instance_path, station_file=station_file)
    errors = [p for p in check(sources) if not p.warning]
    if errors:
        raise ConfigError("the configuration has mistakes:\n  " + "\n  ".join(str(p) for p in errors))
