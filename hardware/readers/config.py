"""Building a reader from its entry in the station config.

Config errors are raised as ``ValueError`` naming the device, when the station
starts, rather than discovered at the first tap. Backend modules are imported only
when a device uses them, so a station without PC/SC needs no pyscard.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiosk_hardware.readers.base import Reader
from kiosk_hardware.readers.events import INPUT_KINDS

# Keys each backend accepts besides "type" and "kind".
BACKEND_KEYS: dict[str, frozenset[str]] = {
    "pcsc": frozenset({"reader", "report_removal"}),
    "wedge": frozenset({"device", "terminator", "grab"}),
    "serial": frozenset({"device", "baudrate", "framing", "encoding", "gap_ms", "bytesize", "parity", "stopbits"}),
    "test": frozenset(),
}

DEFAULT_KIND = {"pcsc": "card", "wedge": "code", "serial": "card", "test": "card"}


def reader_from_config(name: str, cfg: Mapping[str, Any]) -> Reader:
    """Create (not start) the reader described by ``cfg``.

    Examples::

        {"type": "pcsc", "reader": "ACS ACR122"}        # substring of the reader name, optional
        {"type": "wedge", "device": "/dev/input/by-id/usb-...-event-kbd", "kind": "code"}
        {"type": "serial", "device": "/dev/ttyACM0", "baudrate": 9600,
         "framing": "crlf" | {"start": "02", "end": "03"} | {"length": 10}, "kind": "card"}
        {"type": "test"}

    ``kind`` (``"card"``, ``"code"`` or ``"track"``) is what the device's reads
    are reported as. PC/SC readers also take ``"report_removal"`` (also send a
    ``"removed"`` event when the card leaves). Wedge devices also take ``"terminator"`` (``"enter"`` or
    ``"tab"``) and ``"grab"``; serial ones ``"encoding"``, ``"gap_ms"`` (idle time
    that discards a half frame), ``"bytesize"``, ``"parity"``, ``"stopbits"``.
    """
    if not isinstance(cfg, Mapping):
        raise ValueError(f"reader {name!r}: config must be a mapping")
    backend = cfg.get("type")
    if backend not in BACKEND_KEYS:
        raise ValueError(f"reader {name!r}: unknown type {backend!r}; use one of {sorted(BACKEND_KEYS)}")
    unknown = set(cfg) - BACKEND_KEYS[backend] - {"type", "kind"}
    if unknown:
        raise ValueError(f"reader {name!r}: unknown keys {sorted(unknown)} for type {backend!r}")
    kind = cfg.get("kind", DEFAULT_KIND[backend])
    if kind not in INPUT_KINDS:
        raise ValueError(f"reader {name!r}: kind must be one of {sorted(INPUT_KINDS)}, not {kind!r}")
    try:
        return _build(name, backend, kind, cfg)
    except (TypeError, ValueError, LookupError) as exc:
        raise ValueError(f"reader {name!r}: {exc}") from exc


def _require_device(cfg: Mapping[str, Any]) -> str:
    device = cfg.get("device")
    if not isinstance(device, str) or not device:
        raise ValueError("'device' (a path) is required")
    return device


def _build(name: str, backend: str, kind: str, cfg: Mapping[str, Any]) -> Reader:
    if backend == "test":
        from kiosk_hardware.readers.test_reader import TestReader

        return TestReader(name, event_kind=kind)
    if backend == "pcsc":
        from kiosk_hardware.readers.pcsc import PcscReader

        match = cfg.get("reader")
        if match is not None and not isinstance(match, str):
            raise ValueError("'reader' must be a string")
        return PcscReader(name, match or None, event_kind=kind, report_removal=bool(cfg.get("report_removal", False)))
    if backend == "wedge":
        from kiosk_hardware.readers.wedge import WedgeReader

        return WedgeReader(
            name,
            _require_device(cfg),
            event_kind=kind,
            terminator=cfg.get("terminator", "enter"),
            grab=bool(cfg.get("grab", True)),
        )
    from kiosk_hardware.readers.serial_reader import SerialReader

    optional: dict[str, Any] = {key: cfg[key] for key in ("encoding", "bytesize", "parity", "stopbits") if key in cfg}
    if "gap_ms" in cfg:
        optional["gap"] = float(cfg["gap_ms"]) / 1000.0
    baudrate = cfg.get("baudrate", 9600)
    if isinstance(baudrate, bool) or not isinstance(baudrate, int) or baudrate <= 0:
        raise ValueError("'baudrate' must be a positive integer")
    return SerialReader(
        name,
        _require_device(cfg),
        baudrate=baudrate,
        framing=cfg.get("framing", "crlf"),
        event_kind=kind,
        **optional,
    )
