"""Card readers and scanners: one interface, events to a callback, status for /healthz.

Typical use by the kiosk::

    manager = ReaderManager(station_config["readers"], on_event=push_to_open_screen)
    manager.start()
    ...
    manager.statuses()   # [DeviceStatus(name="front-desk-card", state="ok", ...), ...]
    manager.stop()

Backends: ``PcscReader`` (pyscard), ``WedgeReader`` (python-evdev),
``SerialReader`` (pyserial) and ``TestReader``. The first two are imported on
first use, so this package imports without the optional device libraries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiosk_hardware.readers.base import DeviceUnavailable, EventCallback, Reader
from kiosk_hardware.readers.config import reader_from_config
from kiosk_hardware.readers.events import EVENT_KINDS, INPUT_KINDS, ReaderEvent
from kiosk_hardware.readers.manager import ReaderManager, RetryPolicy
from kiosk_hardware.readers.status import STATES, DeviceStatus
from kiosk_hardware.readers.test_reader import TestReader

if TYPE_CHECKING:
    from kiosk_hardware.readers.pcsc import PcscReader
    from kiosk_hardware.readers.serial_reader import SerialReader
    from kiosk_hardware.readers.wedge import WedgeReader

_LAZY = {
    "PcscReader": ".pcsc",
    "SerialReader": ".serial_reader",
    "WedgeReader": ".wedge",
}

__all__ = [
    "DeviceStatus",
    "DeviceUnavailable",
    "EVENT_KINDS",
    "EventCallback",
    "INPUT_KINDS",
    "PcscReader",
    "Reader",
    "ReaderEvent",
    "ReaderManager",
    "RetryPolicy",
    "STATES",
    "SerialReader",
    "TestReader",
    "WedgeReader",
    "reader_from_config",
]


def __getattr__(name: str) -> Any:
    """Import a backend class on first access (PEP 562)."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
