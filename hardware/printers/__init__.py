"""Printer backends (network, USB, serial, device file, PNG preview) behind one interface.

``printer_from_config(dict)`` builds one from a station's config; see
:mod:`kiosk_hardware.printers.factory`.
"""

from kiosk_hardware.printers.base import Connection, Printer, PrintResult
from kiosk_hardware.printers.factory import backend_class, printer_from_config

_LAZY = {
    "FilePrinter": "file",
    "NetworkPrinter": "network",
    "PreviewPrinter": "preview",
    "SerialPrinter": "serial",
    "UsbPrinter": "usb",
}


def __getattr__(name):
    # The backends import python-escpos; load them only when asked for.
    if name in _LAZY:
        return backend_class(_LAZY[name])
    raise AttributeError(name)


__all__ = [
    "Connection",
    "FilePrinter",
    "NetworkPrinter",
    "PreviewPrinter",
    "PrintResult",
    "Printer",
    "SerialPrinter",
    "UsbPrinter",
    "printer_from_config",
]
