"""Printer backends (network, USB, serial, device file, PNG preview) behind one interface.

``printer_from_config(dict)`` builds one from a station's config; see
:mod:`kiosk_hardware.printers.factory`.
"""

from kiosk_hardware.printers.base import Connection, Printer, PrintResult
from kiosk_hardware.printers.device_file import FilePrinter
from kiosk_hardware.printers.factory import printer_from_config
from kiosk_hardware.printers.network import NetworkPrinter
from kiosk_hardware.printers.preview import PreviewPrinter
from kiosk_hardware.printers.serial_port import SerialPrinter
from kiosk_hardware.printers.usb import UsbPrinter

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
