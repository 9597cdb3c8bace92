"""Building a printer from a station's config dict.

``{"type": "network", "host": "192.168.1.50", "port": 9100, "profile": "80mm"}``,
``{"type": "preview", "folder": "instance/receipts"}``,
``{"type": "usb", "vendor": "0x0416", "product": "0x5011"}``,
``{"type": "serial", "device": "/dev/ttyUSB0", "baudrate": 19200}``,
``{"type": "file", "path": "/dev/usb/lp0"}``.

``timeout`` (network, usb, serial, file) is how long a job may go without a
byte moving, not a limit on the whole job: a slow line gets the time it needs
while it keeps moving. ``open_timeout`` (serial, file) limits opening the
device. USB endpoints (``in_ep``, ``out_ep``) are read from the device's
descriptors unless given.

Every type also takes ``profile`` (name or dict), ``model`` (a printer
python-escpos knows, e.g. ``"TM-T88V"``: width, dpi, cutter and code pages
from its capability data), ``chinese_font`` (``gb2312``, ``gbk``,
``gb18030`` or ``none``; see :mod:`kiosk_hardware.profiles`), ``status`` (ask DLE EOT,
default true) and ``status_timeout`` (seconds); ``name`` is ignored here (the
core uses it to label the printer). Unknown types or keys are refused so a
typo in the config fails at start, not at the first ticket.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from kiosk_hardware.errors import PrinterConfigError
from kiosk_hardware.printers.base import Printer
from kiosk_hardware.profiles import PROFILE_SETTINGS, printer_profile

COMMON_KEYS = frozenset({"type", "status", "status_timeout", "name", *PROFILE_SETTINGS})
#: type -> ("module:Class", required keys, optional keys). Backends are imported
#: only when used: python-escpos takes ~0.15 s to import (it parses its printer
#: capability data), which a kiosk printing to the preview printer never needs.
BACKENDS: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    "network": ("network:NetworkPrinter", frozenset({"host"}), frozenset({"port", "timeout"})),
    "preview": ("preview:PreviewPrinter", frozenset({"folder"}), frozenset()),
    "usb": ("usb:UsbPrinter", frozenset({"vendor", "product"}), frozenset({"in_ep", "out_ep", "timeout"})),
    "serial": (
        "serial_port:SerialPrinter",
        frozenset({"device"}),
        frozenset({"baudrate", "flow", "timeout", "open_timeout"}),
    ),
    "file": ("device_file:FilePrinter", frozenset({"path"}), frozenset({"timeout", "open_timeout"})),
}


def backend_class(kind: str) -> type[Printer]:
    """The printer class for a config ``type``, imported on first use."""
    module, _, name = BACKENDS[kind][0].partition(":")
    return getattr(importlib.import_module(f"kiosk_hardware.printers.{module}"), name)


def printer_from_config(config: Mapping[str, Any]) -> Printer:
    """A :class:`Printer` for one station's printer config; PrinterConfigError if it is wrong."""
    kind = config.get("type")
    if kind not in BACKENDS:
        raise PrinterConfigError(f"printer type must be one of {sorted(BACKENDS)}, not {kind!r}")
    _path, required, optional = BACKENDS[kind]
    cls = backend_class(kind)
    missing = required - set(config)
    if missing:
        raise PrinterConfigError(f"{kind} printer needs {sorted(missing)}")
    unknown = set(config) - required - optional - COMMON_KEYS
    if unknown:
        allowed = sorted(required | optional | COMMON_KEYS)
        raise PrinterConfigError(f"unknown keys for a {kind} printer: {sorted(unknown)}; allowed: {allowed}")
    kwargs = {k: v for k, v in config.items() if k not in ("type", "name", *PROFILE_SETTINGS)}
    try:
        kwargs["profile"] = printer_profile(config.get("profile"), config.get("model"), config.get("chinese_font"))
        return cls(**kwargs)
    except PrinterConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise PrinterConfigError(f"bad {kind} printer config: {exc}") from exc
