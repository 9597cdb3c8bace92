"""USB printers through libusb (python-escpos's ``Usb`` over pyusb).

Needs pyusb (the ``devices`` extra) and, on Linux, permission on the device
node (a udev rule for the vendor:product). A printer claimed by the kernel's
``usblp`` driver can instead be used as a device file (``/dev/usb/lp0``).
"""

from __future__ import annotations

from typing import Any

from kiosk_hardware.errors import ConnectionDropped, PrinterConfigError, PrinterTimeout, PrinterUnreachable
from kiosk_hardware.printers._escpos import DeviceNotFoundError, printer  # prepares the capability cache
from kiosk_hardware.printers.base import Connection, Printer
from kiosk_hardware.status import status_query


def _usb_errors() -> tuple[type[Exception], type[Exception]]:
    import usb.core  # imported late: pyusb is an optional dependency

    return usb.core.USBTimeoutError, usb.core.USBError


def _usb_id(value: Any, what: str) -> int:
    try:
        number = int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise PrinterConfigError(f"USB {what} must be a number like 0x0416, not {value!r}") from None
    if not 0 <= number <= 0xFFFF:
        raise PrinterConfigError(f"USB {what} out of range: {value!r}")
    return number


class _UsbConnection(Connection):
    def __init__(self, device: printer.Usb, timeout_ms: int) -> None:
        self._device = device
        self._timeout_ms = timeout_ms
        self._timeout_error, self._usb_error = _usb_errors()

    def write(self, data: bytes) -> None:
        try:
            self._device._raw(data)
        except self._timeout_error as exc:
            raise PrinterTimeout(f"printer stopped accepting data ({exc})") from exc
        except self._usb_error as exc:
            raise ConnectionDropped(f"USB transfer failed: {exc}") from exc

    def query(self, n: int, timeout: float) -> bytes:
        self.write(status_query(n))
        device = self._device.device
        try:
            reply = device.read(self._device.in_ep, 16, max(1, int(timeout * 1000)))  # type: ignore[union-attr]
        except self._timeout_error:
            return b""
        except self._usb_error as exc:
            raise ConnectionDropped(f"USB read failed: {exc}") from exc
        return bytes(reply)

    def close(self) -> None:
        self._device.close()


class UsbPrinter(Printer):
    """A printer found on the USB bus by vendor and product id (``0x0416``, ``0x5011``).

    :param in_ep: bulk IN endpoint (status replies); :param out_ep: bulk OUT endpoint.
    :param timeout: seconds a write may take before the job fails.
    """

    kind = "usb"

    def __init__(
        self,
        vendor: Any,
        product: Any,
        *,
        in_ep: Any = 0x82,
        out_ep: Any = 0x01,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vendor = _usb_id(vendor, "vendor")
        self.product = _usb_id(product, "product")
        self.in_ep = _usb_id(in_ep, "in_ep")
        self.out_ep = _usb_id(out_ep, "out_ep")
        self.timeout = float(timeout)

    def describe(self) -> str:
        """Where the printer is, for logs."""
        return f"usb {self.vendor:04x}:{self.product:04x} ({self.profile.name})"

    def _open(self) -> Connection:
        timeout_ms = max(1, int(self.timeout * 1000))
        device = printer.Usb(self.vendor, self.product, timeout=timeout_ms, in_ep=self.in_ep, out_ep=self.out_ep)
        try:
            device.open()
        except DeviceNotFoundError as exc:
            raise PrinterUnreachable(f"USB printer {self.vendor:04x}:{self.product:04x} not found: {exc}") from exc
        except Exception as exc:
            # pyusb raises NoBackendError when libusb itself is missing.
            raise PrinterUnreachable(f"cannot use USB ({exc}); is libusb-1.0-0 installed?") from exc
        return _UsbConnection(device, timeout_ms)
