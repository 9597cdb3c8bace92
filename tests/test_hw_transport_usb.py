"""USB printers: endpoints from the descriptors, and no reset on a job or a status poll (issue 18, point 8).

There is no USB bus here: :class:`FakeUsbPrinter` stands in for the pyusb
device (descriptors, bulk transfers that refuse endpoints the device lacks,
counted resets); everything above it (``UsbPrinter``, python-escpos's
``Usb`` class it builds on, ``usb.util``'s descriptor helpers, the job flow)
is the real code.
"""

from __future__ import annotations

import pytest

from kiosk_hardware.errors import PrinterConfigError, PrinterTimeout
from kiosk_hardware.printers import UsbPrinter, printer_from_config
from kiosk_hardware.printers._escpos import printer as escpos_printer
from kiosk_hardware.printers.usb import Endpoints, find_endpoints
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.status import Online, Paper
from kiosk_hardware.testing.fake_devices import FakeUsbPrinter

CONFIG = {"type": "usb", "vendor": "0x0416", "product": "0x5011", "status_timeout": 0.05}


def ticket(code: str) -> Receipt:
    return Receipt().title("法律咨询排队").kv("号码", code, bold=True).text("请稍候，谢谢。")


def test_python_escpos_defaults_miss_this_printer_and_reset_it():
    # The printer the issue describes: 0416:5011 with IN 0x81 / OUT 0x03.
    # python-escpos's own Usb resets it on open and writes to 0x01, which it lacks.
    device = FakeUsbPrinter(in_ep=0x81, out_ep=0x03)
    with device.plugged_in():
        plain = escpos_printer.Usb(0x0416, 0x5011)
        plain.open()
        with pytest.raises(ValueError, match="Invalid endpoint address 0x1"):
            plain._raw(b"\x1b@")
        plain.close()
    assert device.resets == 1 and device.configurations_set == 1


def test_endpoints_come_from_the_descriptors_and_nothing_resets_the_printer():
    device = FakeUsbPrinter(in_ep=0x81, out_ep=0x03)
    with device.plugged_in():
        printer = printer_from_config(CONFIG)
        status = printer.status()
        first = printer.print_receipt(ticket("U101"))
        second = printer.print_receipt(ticket("U102"))
        again = printer.status()
    assert printer.found == Endpoints(interface=0, out_ep=0x03, in_ep=0x81)
    assert printer.endpoints() == (0x03, 0x81)
    assert (status.online, status.paper) == (Online.ONLINE, Paper.OK) and again.ready
    assert first.confirmed and second.confirmed
    assert [job.parse().text.count("U10") for job in device.completed_jobs] == [1, 1]
    # Two status polls and two jobs: no bus reset, no configuration set again.
    assert device.resets == 0 and device.configurations_set == 0
    assert device._ctx.disposed == 4  # every open was released


def test_an_unconfigured_printer_is_configured_once_then_left_alone():
    device = FakeUsbPrinter(configured=False)
    with device.plugged_in():
        printer = UsbPrinter(0x0416, 0x5011, status_timeout=0.05)
        printer.status()
        printer.print_receipt(ticket("U201"))
        printer.status()
    assert device.configurations_set == 1 and device.resets == 0
    assert len(device.completed_jobs) == 1


def test_the_printer_interface_is_found_behind_another_one_and_taken_from_usblp():
    # A second function first (interface 0, vendor class), the printer on
    # interface 1 with endpoints 0x02 / 0x83, held by the kernel's usblp.
    device = FakeUsbPrinter(in_ep=0x83, out_ep=0x02, extra_interfaces=1, kernel_driver=True)
    with device.plugged_in():
        printer = UsbPrinter(0x0416, 0x5011, status_timeout=0.05)
        result = printer.print_receipt(ticket("U301"))
    assert printer.found == Endpoints(interface=1, out_ep=0x02, in_ep=0x83)
    assert device.detached == [1] and not device.kernel_driver
    assert result.confirmed and len(device.completed_jobs) == 1


def test_a_printer_without_a_bulk_in_endpoint_prints_without_being_asked_for_status():
    device = FakeUsbPrinter(in_ep=None, out_ep=0x01)
    with device.plugged_in():
        printer = UsbPrinter(0x0416, 0x5011, status_timeout=0.05)
        status = printer.status()
        result = printer.print_receipt(ticket("U401"))
    assert printer.endpoints() == (0x01, None)
    assert status.online is Online.UNKNOWN and device.status_queries == []
    assert not result.confirmed and len(device.completed_jobs) == 1


def test_configured_endpoints_override_and_a_wrong_one_is_a_config_error():
    device = FakeUsbPrinter(in_ep=0x81, out_ep=0x03)
    with device.plugged_in():
        wrong = printer_from_config({**CONFIG, "out_ep": "0x01", "status": False})
        with pytest.raises(PrinterConfigError, match="0x01"):
            wrong.print_receipt(ticket("U501"))
        right = printer_from_config({**CONFIG, "out_ep": 3, "in_ep": "0x81"})
        assert right.print_receipt(ticket("U502")).confirmed
    assert not PrinterConfigError.retryable
    assert [len(j.parse().text) > 0 for j in device.completed_jobs] == [True]


def test_find_endpoints_prefers_the_printer_class():
    device = FakeUsbPrinter(in_ep=0x84, out_ep=0x04, extra_interfaces=2)
    found = find_endpoints(device.get_active_configuration())
    # Interfaces 0 and 1 (vendor class) have bulk endpoints too; the printer is interface 2.
    assert found == Endpoints(interface=2, out_ep=0x04, in_ep=0x84)


def test_a_stalled_usb_printer_fails_as_a_timeout():
    device = FakeUsbPrinter("stall")
    with device.plugged_in():
        with pytest.raises(PrinterTimeout, match="stopped accepting"):
            UsbPrinter(0x0416, 0x5011, status_timeout=0.01, timeout=0.2).print_receipt(ticket("U601"))
    assert device.resets == 0
