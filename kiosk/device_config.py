"""The station file's ``[terminals.<name>]`` tables: each terminal's own printer and readers, checked at start.

Read by the station node (:mod:`kiosk.devices`, :mod:`kiosk.printing`) and by
``kiosk agent`` on a terminal PC (:mod:`kiosk.agent`) from its copy of the
station file, so both check them the same way. Checking opens nothing and
imports no device backend: an agent terminal's USB printer is not on the
station node's PC. See :mod:`kiosk.devices` for the tables' shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kiosk.config import ConfigError
from kiosk_hardware.profiles import PROFILE_SETTINGS

#: Keys a ``[terminals.<name>]`` table may hold.
TERMINAL_KEYS = ("kind", "label", "agent", "printer", "readers")
#: What a terminal is (as :data:`kiosk.terminals.KINDS`; repeated so the agent needs no database models).
TERMINAL_KINDS = ("kiosk", "display", "counter")
#: Keys of a printer table that set its print queue, not the device.
QUEUE_KEYS = ("max_attempts", "retry_delay", "poll_status")


@dataclass
class TerminalDevices:
    """One ``[terminals.<name>]`` table of the station file, checked."""

    name: str
    kind: str = "kiosk"
    label: str = ""
    agent: bool = False
    printer: dict | None = None
    readers: dict[str, dict] = field(default_factory=dict)


def _valid_name(name: object) -> bool:
    return isinstance(name, str) and re.fullmatch(r"[a-z0-9-]{1,32}", name) is not None


def check_printer_table(where: str, cfg: object) -> dict:
    """A printer table's keys checked without opening anything (an agent's printer hangs off another PC)."""
    from kiosk_hardware.printers.factory import BACKENDS, COMMON_KEYS

    if not isinstance(cfg, Mapping):
        raise ConfigError(f"[{where}] must be a table (type = ..., host = ...), not {cfg!r}")
    kind = cfg.get("type")
    if kind not in BACKENDS:
        raise ConfigError(f"[{where}] type must be one of {', '.join(sorted(BACKENDS))}, not {kind!r}")
    _path, required, optional = BACKENDS[kind]
    missing = sorted(required - set(cfg))
    if missing:
        raise ConfigError(f"[{where}] a {kind} printer needs {', '.join(missing)}")
    allowed = required | optional | COMMON_KEYS | set(QUEUE_KEYS) | set(PROFILE_SETTINGS)
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        raise ConfigError(f"[{where}] unknown keys {unknown} for a {kind} printer; allowed: {sorted(allowed)}")
    check_printer_profile(where, cfg)
    return dict(cfg)


def check_printer_profile(where: str, cfg: Mapping[str, Any]):
    """The :class:`~kiosk_hardware.profiles.PrinterProfile` a printer table's settings give; ConfigError if wrong.

    ``model = "TM-T88V"`` (python-escpos's capability database: width, dpi,
    cutter, code pages), ``profile = "80mm"`` / ``"58mm"`` (an unknown
    Chinese printer: GB18030 text mode), ``"80mm-raster"`` or
    ``chinese_font = "none"`` (no Chinese font: everything raster),
    ``chinese_font = "gb2312" | "gbk" | "gb18030"`` (what the printer's own
    font holds; a line with other characters prints as raster).
    """
    from kiosk_hardware.profiles import printer_profile

    try:
        return printer_profile(cfg.get("profile"), cfg.get("model"), cfg.get("chinese_font"))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{where}] {exc}") from exc


def check_reader_table(where: str, name: str, cfg: object) -> dict:
    """A reader table's keys checked without opening (or importing) its backend."""
    from kiosk_hardware.readers.config import BACKEND_KEYS, DEFAULT_KIND
    from kiosk_hardware.readers.events import INPUT_KINDS

    if not isinstance(cfg, Mapping):
        raise ConfigError(f"[{where}] must be a table (type = ...), not {cfg!r}")
    backend = cfg.get("type")
    if backend not in BACKEND_KEYS:
        raise ConfigError(f"[{where}] type must be one of {', '.join(sorted(BACKEND_KEYS))}, not {backend!r}")
    unknown = sorted(set(cfg) - BACKEND_KEYS[backend] - {"type", "kind"})
    if unknown:
        allowed = sorted(BACKEND_KEYS[backend] | {"type", "kind"})
        raise ConfigError(f"[{where}] unknown keys {unknown} for a {backend} reader; allowed: {allowed}")
    kind = cfg.get("kind", DEFAULT_KIND[backend])
    if kind not in INPUT_KINDS:
        raise ConfigError(f"[{where}] kind must be one of {', '.join(sorted(INPUT_KINDS))}, not {kind!r}")
    return dict(cfg)


def terminal_tables(config: Mapping[str, Any]) -> dict[str, TerminalDevices]:
    """The station file's ``[terminals.*]`` tables, checked; ConfigError naming the table otherwise.

    A terminal named here need not be enrolled yet: its devices start anyway
    (a receipt for it waits, or prints, until its screen is enrolled).
    """
    tables = config.get("TERMINALS") or {}
    if not isinstance(tables, Mapping):
        raise ConfigError(f"[terminals] must hold one table per terminal ([terminals.hall-1]), not {tables!r}")
    out: dict[str, TerminalDevices] = {}
    for name, table in tables.items():
        if not _valid_name(name):
            raise ConfigError(f"[terminals.{name}]: a terminal name is 1 to 32 of a-z, 0-9 and '-', like hall-1")
        where = f"terminals.{name}"
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{where}] must be a table (kind = ..., [{where}.printer], ...), not {table!r}")
        unknown = sorted(set(table) - set(TERMINAL_KEYS))
        if unknown:
            raise ConfigError(f"[{where}] unknown keys {unknown}; allowed: {list(TERMINAL_KEYS)}")
        kind = table.get("kind", "kiosk")
        if kind not in TERMINAL_KINDS:
            raise ConfigError(f"[{where}] kind must be one of {', '.join(TERMINAL_KINDS)}, not {kind!r}")
        agent = table.get("agent", False)
        if not isinstance(agent, bool):
            raise ConfigError(f"[{where}] agent must be true or false, not {agent!r}")
        label = table.get("label", "")
        if not isinstance(label, str):
            raise ConfigError(f"[{where}] label must be text, not {label!r}")
        printer = table.get("printer")
        if printer is not None:
            printer = check_printer_table(f"{where}.printer", printer)
        readers = table.get("readers") or {}
        if not isinstance(readers, Mapping):
            raise ConfigError(f"[{where}.readers] must hold one table per reader ([{where}.readers.card])")
        checked = {rname: check_reader_table(f"{where}.readers.{rname}", rname, r) for rname, r in readers.items()}
        out[name] = TerminalDevices(name, kind, label, agent, printer, checked)
    return out


def device_key(terminal: str | None, device: str) -> str:
    """How a device is named in statuses and reports: bare for the local ``[devices]``, else ``terminal/device``."""
    return device if terminal is None else f"{terminal}/{device}"
