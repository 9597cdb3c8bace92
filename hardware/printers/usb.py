"""USB printers through libusb (python-escpos's ``Usb`` over pyusb).

Needs pyusb (the ``devices`` extra) and, on Linux, permission on the device
node (a udev rule for the vendor:product). A printer claimed by the kernel's
``usblp`` driver can instead be used as a device file (``/dev/usb/lp0``).

Two things differ from python-escpos's own ``Usb.open``:

* the bulk endpoints are read from the device's descriptors (the printer
  interface, class 7, or else the first interface with a bulk OUT endpoint)
  instead of assumed to be IN 0x82 / OUT 0x01: many 0416:5011 printers use
  others. ``in_ep``/``out_ep`` in the config override what is found; a
  printer without a bulk IN endpoint gives no status (it is not asked);
* opening neither resets the device nor sets its configuration again when it
  is already configured. python-escpos does both on every open, that is on
  every job and every status poll: a bus reset makes the printer drop what
  it had buffered and re-enumerate, and setting the configuration again is
  a (lighter) reset of its endpoints too.

Jobs go out in pieces of at most 4 kB, each with the progress timeout, so a
printer that is printing slowly but taking data never fails a long job.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from kiosk_hardware.errors import ConnectionDropped, PrinterConfigError, PrinterUnreachable
from kiosk_hardware.printers._escpos import DeviceNotFoundError, printer  # prepares the capability cache
from kiosk_hardware.printers._transfer import MAX_CHUNK, Answers, Progress
from kiosk_hardware.printers.base import Connection, Printer
from kiosk_hardware.status import status_query

log = logging.getLogger(__name__)

#: python-escpos's endpoints, used when the descriptors cannot be read.
DEFAULT_IN_EP = 0x82
DEFAULT_OUT_EP = 0x01
PRINTER_CLASS = 7


def _usb_errors() -> tuple[type[Exception], type[Exception]]:
    import usb.core  # imported late: pyusb is an optional dependency

    return usb.core.USBTimeoutError, usb.core.USBError


def _usb_id(value: Any, what: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    try:
        number = int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise PrinterConfigError(f"USB {what} must be a number like 0x0416, not {value!r}") from None
    if not 0 <= number <= 0xFFFF:
        raise PrinterConfigError(f"USB {what} out of range: {value!r}")
    return number


@dataclass(frozen=True)
class Endpoints:
    """Where a printer takes jobs and gives status, as found in its descriptors."""

    interface: int
    out_ep: int
    in_ep: int | None  # None: the printer has no bulk IN endpoint, so no status


def _is_bulk(endpoint: Any, direction: int) -> bool:
    import usb.util

    return (
        usb.util.endpoint_type(endpoint.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
        and usb.util.endpoint_direction(endpoint.bEndpointAddress) == direction
    )


def find_endpoints(configuration: Any) -> Endpoints | None:
    """The printer interface's bulk endpoints in a pyusb configuration descriptor, or None.

    The printer-class interface (7) wins; otherwise the first interface with a
    bulk OUT endpoint (vendor-class printers).
    """
    import usb.util

    interfaces = list(configuration)
    ordered = [i for i in interfaces if i.bInterfaceClass == PRINTER_CLASS]
    ordered += [i for i in interfaces if i.bInterfaceClass != PRINTER_CLASS]
    for interface in ordered:
        out_ep = next((e for e in interface if _is_bulk(e, usb.util.ENDPOINT_OUT)), None)
        if out_ep is None:
            continue
        in_ep = next((e for e in interface if _is_bulk(e, usb.util.ENDPOINT_IN)), None)
        return Endpoints(
            interface.bInterfaceNumber,
            out_ep.bEndpointAddress,
            in_ep.bEndpointAddress if in_ep is not None else None,
        )
    return None


class _Usb(printer.Usb):
    """python-escpos's ``Usb`` opened without a reset, on the endpoints its descriptors name."""

    found: Endpoints | None = None

    def open(self, raise_not_found: bool = True) -> None:
        """Find the device, take it from ``usblp``, configure it only if it is not, read its endpoints."""
        import usb.core

        if self._device:
            self.close()
        device = usb.core.find(**self.usb_args)
        if device is None:
            self.device = None
            raise DeviceNotFoundError(f"no device {tuple(self.usb_args.values())} on the bus (unplugged?)")
        try:
            self.found = self._prepare(device)
        except usb.core.USBError as exc:
            self.device = None
            raise DeviceNotFoundError(f"cannot use USB device {tuple(self.usb_args.values())}: {exc}") from exc
        self.device = device

    def _prepare(self, device: Any) -> Endpoints | None:
        """Configure ``device`` if it is not, find its endpoints, free its printer interface."""
        import usb.core

        try:
            try:
                configuration = device.get_active_configuration()
            except usb.core.USBError:
                # Not configured yet (first use after plugging in): the one
                # time setting the configuration is needed.
                device.set_configuration()
                configuration = device.get_active_configuration()
        except (NotImplementedError, AttributeError):
            # A backend or device object that cannot show its descriptors:
            # the configured or default endpoints are all there is to go on.
            return None
        found = find_endpoints(configuration)
        self._detach(device, found.interface if found else 0)
        return found

    @staticmethod
    def _detach(device: Any, interface: int) -> None:
        """Take the printer interface from the kernel's ``usblp`` driver, if it holds it."""
        try:
            if device.is_kernel_driver_active(interface):
                device.detach_kernel_driver(interface)
        except (NotImplementedError, AttributeError):
            pass  # backends other than libusb1 (Windows) have no kernel drivers to detach


class _UsbConnection(Connection):
    def __init__(self, device: _Usb, timeout: float, out_ep: int, in_ep: int | None) -> None:
        self._device = device
        self._timeout = timeout
        self._out_ep = out_ep
        self._in_ep = in_ep
        self.can_query = in_ep is not None
        self._timeout_error, self._usb_error = _usb_errors()
        #: Late answers still to come (see :class:`Answers`).
        self._answers = Answers()

    def write(self, data: bytes) -> None:
        progress = Progress(len(data), self._timeout)
        device = self._device.device
        # Each piece gets the whole progress timeout: a bulk transfer that
        # times out may have sent part of it, so it is never tried again.
        timeout_ms = max(1, int(self._timeout * 1000))
        try:
            while progress.sent < len(data):
                piece = data[progress.sent : progress.sent + MAX_CHUNK]
                progress.moved(device.write(self._out_ep, piece, timeout_ms))  # type: ignore[union-attr]
                if progress.sent < len(data):
                    progress.check()  # past the cap for a job this size
        except self._timeout_error as exc:
            raise progress.stalled() from exc
        except self._usb_error as exc:
            raise ConnectionDropped(f"USB transfer failed: {exc}") from exc
        except ValueError as exc:  # pyusb: no such endpoint on this device
            raise PrinterConfigError(f"USB endpoint 0x{self._out_ep:02x}: {exc}") from exc

    def query(self, n: int, timeout: float) -> bytes:
        """Ask ``DLE EOT n``; ``b""`` if its answer (after any owed, see :class:`Answers`) is not in by ``timeout``."""
        if self._in_ep is None:
            return b""
        self.write(status_query(n))
        device = self._device.device
        reply = b""
        deadline = time.monotonic() + timeout
        try:
            while not self._answers.complete(reply):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    reply += bytes(device.read(self._in_ep, 16, max(1, int(left * 1000))))  # type: ignore[union-attr]
                except self._timeout_error:
                    break
        except self._usb_error as exc:
            raise ConnectionDropped(f"USB read failed: {exc}") from exc
        except ValueError as exc:
            raise PrinterConfigError(f"USB endpoint 0x{self._in_ep:02x}: {exc}") from exc
        return self._answers.answer(reply)

    def close(self) -> None:
        self._device.close()


class UsbPrinter(Printer):
    """A printer found on the USB bus by vendor and product id (``0x0416``, ``0x5011``).

    :param in_ep: bulk IN endpoint (status replies), :param out_ep: bulk OUT
        endpoint: read from the device's descriptors unless given here.
    :param timeout: seconds a job may go without the printer taking data.
    """

    kind = "usb"

    def __init__(
        self,
        vendor: Any,
        product: Any,
        *,
        in_ep: Any = None,
        out_ep: Any = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vendor: int = _usb_id(vendor, "vendor")  # type: ignore[assignment]
        self.product: int = _usb_id(product, "product")  # type: ignore[assignment]
        self.in_ep = _usb_id(in_ep, "in_ep", optional=True)
        self.out_ep = _usb_id(out_ep, "out_ep", optional=True)
        self.timeout = float(timeout)
        #: The endpoints the last open found in the descriptors (None before, or if none were found).
        self.found: Endpoints | None = None

    def describe(self) -> str:
        """Where the printer is, for logs."""
        return f"usb {self.vendor:04x}:{self.product:04x} ({self.profile.name})"

    def endpoints(self) -> tuple[int, int | None]:
        """(OUT, IN) as used: the config's, else the descriptors', else python-escpos's defaults."""
        found = self.found
        if self.out_ep is not None:
            out_ep = self.out_ep
        else:
            out_ep = found.out_ep if found is not None else DEFAULT_OUT_EP
        if self.in_ep is not None:
            in_ep: int | None = self.in_ep
        elif found is not None:
            in_ep = found.in_ep
        else:
            in_ep = DEFAULT_IN_EP
        return out_ep, in_ep

    def _open(self) -> Connection:
        device = _Usb(self.vendor, self.product)
        try:
            device.open()
        except DeviceNotFoundError as exc:
            raise PrinterUnreachable(f"USB printer {self.vendor:04x}:{self.product:04x} not found: {exc}") from exc
        except Exception as exc:
            # pyusb raises NoBackendError when libusb itself is missing.
            raise PrinterUnreachable(f"cannot use USB ({exc}); is libusb-1.0-0 installed?") from exc
        if device.found is None and self.out_ep is None:
            log.warning("%s: no bulk OUT endpoint in its descriptors; trying 0x%02x", self.describe(), DEFAULT_OUT_EP)
        self.found = device.found
        out_ep, in_ep = self.endpoints()
        return _UsbConnection(device, self.timeout, out_ep, in_ep)
