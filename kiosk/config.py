"""Where the kiosk's settings come from: defaults, then the station file, then ``KIOSK_*``.

The station file is TOML (``instance/station.toml`` unless ``KIOSK_STATION_FILE``
names another). ``role`` at the top says what the process is: ``"station"``
(the default), a station node serving one station's kiosks, counters and
devices; or ``"hub"``, the district hub stations sync to and phones reach
(its ``[station]`` names the district itself, its ``[hub]`` table holds its own
settings; see deploy/hub.toml.example)::

    role = "station"

    [station]
    code = "huangbei-001"
    name = "黄贝街道党群服务中心"
    kind = "party_service"            # or "courier_station"
    languages = ["zh_Hans", "zh_Hant", "en"]
    timezone = "Asia/Shanghai"
    public_url = "https://shuibei.example.gov.cn"   # what phones open from QR codes (no hub)

    [plugins]
    disabled = ["parking"]            # every installed plugin is on unless named here

    [plugins.legal]                   # each plugin's own settings
    max_skips = 3

    [devices.printer]
    type = "preview"

    [devices.readers.card]
    type = "pcsc"

Every key of the file and every ``KIOSK_*`` variable is checked against one schema
(:mod:`kiosk.config_schema`): a mistake stops the app with its file and line.
The instance folder is ``KIOSK_INSTANCE_PATH``, else ``instance/`` in the current
folder (:func:`instance_path_default`).
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

#: The secret key a fresh checkout has: fine for commands, refused by a server outside debug or demo mode.
DEFAULT_SECRET_KEY = "dev-only-change-me"
#: Secret keys copied from an example and never changed; refused by a server like the default.
PLACEHOLDER_SECRETS = frozenset({DEFAULT_SECRET_KEY, "replace-with-64-hex-characters", "change-me", "changeme", "..."})
#: The shortest secret key a server signs sessions with (bytes; ``secrets.token_hex(32)`` gives 64).
MIN_SECRET_BYTES = 32
#: Where the packaged service keeps its instance folder (deploy/systemd/kiosk.service sets it).
SERVICE_INSTANCE_PATH = "/var/lib/kiosk"

log = logging.getLogger("kiosk.config")

STATION_KINDS = ("party_service", "courier_station")
ROLES = ("station", "hub")
LANGUAGES = ("zh_Hans", "zh_Hant", "en")

DEFAULTS: dict = {
    "SECRET_KEY": DEFAULT_SECRET_KEY,
    "DATABASE_URL": None,  # None: SQLite file in the instance folder
    # Connections one process may hold on PostgreSQL: every request thread one,
    # plus the print queue, the scheduler and push streams' short reads.
    "DATABASE_CONNECTIONS": 20,
    # Seconds before a stalled database is given up on (kiosk.db): opening a connection, waiting
    # for a lock, one statement (None: 4 on a station, whose pages are quick; 10 on the hub).
    "DATABASE_CONNECT_TIMEOUT": 3.0,
    "DATABASE_LOCK_TIMEOUT": 3.0,
    "DATABASE_STATEMENT_TIMEOUT": None,
    # Uploaded photos (kiosk.photos): the most pixels a photo's header may say, the most pixels
    # decoded at once (a JPEG is decoded scaled down first), how many decodes run at once in a
    # process and how much memory they take together, how long an upload waits for its turn
    # before "busy, try again".
    "PHOTO_MAX_PIXELS": 50_000_000,
    "PHOTO_DECODE_PIXELS": 8_000_000,
    "PHOTO_DECODE_CONCURRENCY": 2,
    "PHOTO_DECODE_MEMORY_MB": 96,
    "PHOTO_DECODE_WAIT_SECONDS": 10.0,
    "DEMO": False,
    # "station": a station node, the source of truth for its station (the default);
    # "hub": the district hub that stations sync to and phones reach.
    "ROLE": "station",
    "STATION": {
        "code": "default",
        "name": "党群服务中心",
        "kind": "party_service",
        "languages": list(LANGUAGES),
        "timezone": "Asia/Shanghai",
    },
    # The district hub's own settings (read on a hub only).
    "HUB": {
        # Minutes without a sync after which the district dashboard flags a station.
        "stale_after_minutes": 15,
    },
    "PLUGINS": {"disabled": []},
    "DEVICES": {"printer": {"type": "preview"}, "readers": {}},
    # Seconds without a touch before the "are you still there?" countdown shows,
    # and how long the countdown lasts before the screen resets.
    "IDLE_SECONDS": 60,
    "IDLE_COUNTDOWN_SECONDS": 15,
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_LOCK_MINUTES": 10,
    # [retention]: days the audit trail and failed logins are kept (kiosk.accounts' daily job).
    "RETENTION": {"audit_days": 365, "login_attempt_days": 30},
    "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
    # Where phones reach this server (QR codes): KIOSK_PUBLIC_URL, else
    # [station] public_url; None: the request's own host (see kiosk.urls).
    "PUBLIC_URL": None,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Only server processes (`kiosk run`, `kiosk serve`) open devices and run
    # scheduled jobs; other commands must not grab a reader the server holds.
    "RUN_JOBS": False,
    "START_DEVICES": False,
    "AUTO_MIGRATE": True,
    # GET /metrics (Prometheus) answers loopback callers, and others that send
    # "Authorization: Bearer <token>" with this token ([metrics] token or KIOSK_METRICS_TOKEN).
    "METRICS": {"token": None},
    "METRICS_TOKEN": None,
    # [security]: trusted_proxy_hops, the reverse proxies in front of the kiosk whose X-Forwarded-For
    # is believed (0: never; KIOSK_TRUSTED_PROXY_HOPS); rate_limits = false only for a load bench.
    "SECURITY": {"trusted_proxy_hops": 0, "rate_limits": True},
    # [speech]: spoken guidance on kiosk screens (kiosk.speech): offered at all, and the clips' folder bound.
    "SPEECH": {"guidance": True, "cache_mb": 32},
    "TRUSTED_PROXY_HOPS": None,
}


class ConfigError(Exception):
    """The station's configuration is wrong in a way the operator must fix."""


def load_station_file(path: Path) -> dict:
    """Read a station TOML file and map its tables onto config keys."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    mapped: dict = {}
    for key, value in data.items():
        mapped[key.upper()] = value
    return mapped


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def configure(app, test_config: dict | None = None) -> None:
    """Fill ``app.config``: defaults, station file, ``KIOSK_*`` environment, test config."""
    app.config.from_mapping({k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()})
    station_file = os.environ.get("KIOSK_STATION_FILE") or os.path.join(app.instance_path, "station.toml")
    if test_config and "STATION_FILE" in test_config:
        station_file = test_config["STATION_FILE"]
    if station_file and os.path.exists(station_file):
        for key, value in load_station_file(Path(station_file)).items():
            current = app.config.get(key)
            app.config[key] = _merge(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
        app.config["STATION_FILE"] = station_file
    app.config.from_prefixed_env("KIOSK")
    # Flask nests on a double underscore, so a station node can be given its code
    # with KIOSK_STATION__code=futian-002 (the nested key keeps its case).
    if test_config:
        for key, value in test_config.items():
            current = app.config.get(key)
            app.config[key] = _merge(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
    validate(app.config)
    if app.config["ROLE"] == "hub":
        # The hub serves phones, staff and stations over the network: it never opens a
        # printer or a reader (a station's devices belong to that station's node).
        app.config["START_DEVICES"] = False


def validate(config) -> None:
    """Refuse settings the kiosk cannot run with, saying what to change."""
    station = config["STATION"]
    if station.get("kind") not in STATION_KINDS:
        raise ConfigError(f"station.kind must be one of {', '.join(STATION_KINDS)}, not {station.get('kind')!r}")
    langs = station.get("languages") or []
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if not langs or unknown:
        raise ConfigError(f"station.languages must be a non-empty list drawn from {', '.join(LANGUAGES)}")
    tag = station.get("tag")
    if tag not in (None, ""):
        if not isinstance(tag, str) or not re.fullmatch(r"[A-Z0-9]{2,6}", tag.upper()):
            raise ConfigError(f'station.tag must be 2 to 6 letters A-Z or digits, like "SB01", not {tag!r}')
        station["tag"] = tag.upper()
    if config.get("ROLE") not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, not {config.get('ROLE')!r}")
    _check_removed_modes(config)
    _check_hub(config)
    connections = config.get("DATABASE_CONNECTIONS")
    if not isinstance(connections, int) or isinstance(connections, bool) or connections < 2:
        raise ConfigError(f"database_connections must be a whole number of at least 2, not {connections!r}")
    _settle_public_url(config)
    # The secret key is checked where a server starts (`kiosk serve`, `kiosk run`: secret_problem),
    # so that every other command works on a fresh machine before one is set.


def instance_path_default(environ=None) -> str:
    """The instance folder: ``KIOSK_INSTANCE_PATH``, else ``instance/`` in the current folder.

    Never inside the virtual environment (Flask's own default for an installed
    package): a ``pip install --upgrade`` or a new venv must not lose the
    database. The packaged service sets ``KIOSK_INSTANCE_PATH=/var/lib/kiosk``.
    """
    environ = os.environ if environ is None else environ
    return os.path.abspath(environ.get("KIOSK_INSTANCE_PATH") or "instance")


def secret_problem(secret, *, demo: bool = False, debug: bool = False) -> str | None:
    """Why a server must not sign sessions with ``secret`` (None: it may).

    Demo mode (``kiosk demo`` writes a generated key) and the debug server are
    let through with the default key, as before.
    """
    if demo or debug:
        return None
    fix = (
        "set KIOSK_SECRET_KEY to a long random value (python3 -c 'import secrets; print(secrets.token_hex(32))'), "
        'or secret_key = "..." at the top of the station file'
    )
    if secret in (DEFAULT_SECRET_KEY, "", None):
        return f"Refusing to start with the default secret key: {fix}"
    if not isinstance(secret, str):
        return f"the secret key must be text: {fix}"
    if secret.strip() in PLACEHOLDER_SECRETS:
        return f"Refusing to start with the placeholder secret key {secret.strip()!r} from an example file: {fix}"
    if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
        return f"the secret key is {len(secret.encode('utf-8'))} bytes, at least {MIN_SECRET_BYTES} are needed: {fix}"
    return None


def _check_removed_modes(config) -> None:
    """A station file from before the district hub: say what replaces the server for many stations."""
    legacy = config.pop("FLEET", None)
    if legacy in (None, False, "", "false", "0"):
        if legacy is not None:
            log.warning("the fleet setting is no longer read: remove it from the station file")
        return
    raise ConfigError(
        "fleet mode (one server for many stations) was removed: run one station node per station "
        '(the default role) and one district hub (role = "hub" at the top of the station file, or '
        "KIOSK_ROLE=hub) that the stations enrol at; see docs/deploy.md"
    )


def _check_hub(config) -> None:
    """The ``[hub]`` table: a table whose ``stale_after_minutes`` is a whole number of minutes."""
    hub = config.get("HUB")
    if not isinstance(hub, dict):
        raise ConfigError(f"[hub] must be a table, not {hub!r}")
    for key in sorted(set(hub) - set(DEFAULTS["HUB"])):
        log.warning("hub.%s is not a core setting of [hub] (known: %s)", key, ", ".join(sorted(DEFAULTS["HUB"])))
    stale = hub.get("stale_after_minutes")
    if isinstance(stale, str) and stale.strip().isdigit():  # KIOSK_HUB__stale_after_minutes=30
        stale = hub["stale_after_minutes"] = int(stale)
    if not isinstance(stale, int) or isinstance(stale, bool) or not 1 <= stale <= 7 * 24 * 60:
        raise ConfigError(
            f"hub.stale_after_minutes must be a whole number of minutes from 1 to {7 * 24 * 60}, not {stale!r}"
        )


def check_public_url(value) -> str:
    """``value`` as a public address without trailing slash; ValueError saying why not."""
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not text:
        raise ValueError(f'must be an address like "https://kiosk.example.gov.cn", not {value!r}')
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in text):
        raise ValueError(
            f'must start with http:// or https:// and name a host, like "https://kiosk.example.gov.cn", not {value!r}'
        )
    if parts.query or parts.fragment:
        raise ValueError(f"must not hold a query or fragment (? or #), not {value!r}")
    return text.rstrip("/")


def _settle_public_url(config) -> None:
    """One public address for QR codes: ``KIOSK_PUBLIC_URL``, else ``[station] public_url``.

    Plugins once had their own ``plugins.<name>.public_url``; such a leftover is
    still accepted (and used when the station sets none) with a warning.
    """
    station = config["STATION"]
    value, where = config.get("PUBLIC_URL"), "public_url (KIOSK_PUBLIC_URL)"
    if value in (None, ""):
        value, where = station.get("public_url"), "station.public_url"
    if value in (None, ""):
        value = None
    else:
        try:
            value = check_public_url(value)
        except ValueError as exc:
            raise ConfigError(f"{where} {exc}") from exc
    plugins = config.get("PLUGINS") or {}
    for name, section in list(plugins.items()):
        if not isinstance(section, dict) or "public_url" not in section:
            continue
        # The core takes the key out, so the plugin's own settings never see it.
        plugins[name] = {k: v for k, v in section.items() if k != "public_url"}
        leftover = section["public_url"]
        if leftover in (None, ""):
            continue
        try:
            leftover = check_public_url(leftover)
        except ValueError:
            log.warning(
                "plugins.%s.public_url is no longer read and is not a valid address: set "
                "public_url under [station] instead",
                name,
            )
            continue
        if value is None:
            value = leftover
            log.warning(
                "plugins.%s.public_url is deprecated: move it to public_url under [station] "
                "(one address for every plugin); using %s for now",
                name,
                leftover,
            )
        else:
            log.warning(
                "plugins.%s.public_url is deprecated and ignored: public_url under [station] "
                "(%s) is the one address for every plugin",
                name,
                value,
            )
    config["PUBLIC_URL"] = value
    station["public_url"] = value or ""


# -- TOML positions (tomllib gives none) -----------------------------------------------------------------
_TOML_BARE = r'[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\''
_TOML_DOTTED = rf"(?:{_TOML_BARE})(?:\s*\.\s*(?:{_TOML_BARE}))*"
_TOML_HEADER = re.compile(rf"^\s*\[\[?\s*({_TOML_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_TOML_KEY = re.compile(rf"^\s*({_TOML_DOTTED})\s*=")


def _toml_split(dotted: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(rf"{_TOML_BARE}", dotted)]


def toml_line(text: str, path: list[str]) -> int | None:
    """The line (1-based) of the key at ``path`` in TOML ``text``: its ``key =`` line or its table's header.

    A part of ``path`` may carry an index: ``services[1]`` is the second ``[[...services]]``
    table, ``languages[1]`` the second item of a list (found as the list's line). Falls back to
    the nearest enclosing key or table (a key inside an inline table, an item of an array),
    else to the first table inside ``path`` (``[terminals.hall-2]`` for ``terminals``).
    """
    table: list[str] = []
    seen: dict[tuple[str, ...], int] = {}  # [[array of tables]] headers met so far
    best: tuple[int, int] | None = None  # (matched length, line)
    inner: int | None = None
    multiline: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if multiline:
            if line.count(multiline) % 2 == 1:
                multiline = None
            continue
        header = _TOML_HEADER.match(line)
        if header:
            table = _toml_split(header.group(1))
            if line.lstrip().startswith("[["):
                index = seen[tuple(table)] = seen.get(tuple(table), -1) + 1
                table = [*table[:-1], f"{table[-1]}[{index}]"]
            full = table
        else:
            key = _TOML_KEY.match(line)
            if not key:
                continue
            full = table + _toml_split(key.group(1))
            rest = line[key.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    multiline = quote
        if full == path:
            return number
        if _toml_within(full, path) and (best is None or len(full) > best[0]):
            best = (len(full), number)
        if inner is None and _toml_within(path, full):
            inner = number
    return best[1] if best else inner


def _toml_within(outer: list[str], path: list[str]) -> bool:
    """Whether ``outer`` encloses ``path``: ``languages`` holds ``languages[1]``, and a part
    without an index stands for every item (``services`` holds ``services[1]``)."""
    if len(outer) > len(path):
        return False
    for have, want in zip(outer, path, strict=False):
        if have == want or want.startswith(have + "[") or have.startswith(want + "["):
            continue
        return False
    return True
