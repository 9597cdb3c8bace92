"""Printer backends against fake printers that receive real bytes.

Network: a real TCP server on 127.0.0.1 (port 0). Serial: a pseudo-terminal
pair. File: a temp file. USB: there is no USB bus here, so python-escpos's
``Usb`` class drives :class:`FakeUsbDevice`, a pyusb device look-alike; only
libusb itself is not exercised.
"""

from __future__ import annotations

import os
import socket

import pytest
import zxingcpp
from PIL import Image

from kiosk_hardware.errors import (
    ConnectionDropped,
    PaperOut,
    PrinterConfigError,
    PrinterOffline,
    PrinterTimeout,
    PrinterUnreachable,
)
from kiosk_hardware.printers import (
    FilePrinter,
    NetworkPrinter,
    PreviewPrinter,
    SerialPrinter,
    UsbPrinter,
    printer_from_config,
)
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.status import (
    Online,
    Paper,
    PrinterStatus,
    parse_paper_status,
    parse_printer_status,
    status_from_replies,
)
from kiosk_hardware.testing.escpos_parser import parse
from kiosk_hardware.testing.fake_devices import FakeUsbPrinter
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter, FakeSerialPrinter, FakeUsbDevice


def ticket(code: str = "A012") -> Receipt:
    url = f"https://kiosk.example.cn/q/{code}"
    return Receipt().title("法律咨询排队").kv("号码", code, bold=True).text("请稍候，谢谢。").qr(url)


def qr_of(image: Image.Image) -> str:
    found = [r.text for r in zxingcpp.read_barcodes(image.convert("L")) if r.format.name == "QRCode"]
    assert found, "no QR code found in the raster"
    return found[0]


def closed_port() -> int:
    # Bind, read the port back, close: nothing listens there any more.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- status bytes ----------------------------------------------------------------


def test_empty_or_garbled_status_reply_is_unknown_never_ok():
    assert parse_paper_status(b"") is Paper.UNKNOWN
    assert parse_paper_status(None) is Paper.UNKNOWN
    assert parse_paper_status(b"\xff") is Paper.UNKNOWN  # fixed bits wrong
    assert parse_printer_status(b"") is Online.UNKNOWN
    assert parse_paper_status(b"\x12") is Paper.OK
    assert parse_paper_status(b"\x1e") is Paper.NEAR_END
    assert parse_paper_status(b"\x72") is Paper.OUT
    assert parse_printer_status(b"\x1a") is Online.OFFLINE
    status = status_from_replies(None, None)
    assert not status.known and status.ready and status.level == "unknown"


def test_status_levels_for_the_staff_console():
    assert PrinterStatus(Online.ONLINE, Paper.OK).level == "ok"
    assert PrinterStatus(Online.ONLINE, Paper.NEAR_END).level == "warning"
    assert PrinterStatus(Online.OFFLINE, Paper.OUT).level == "error"
    assert PrinterStatus(reachable=False).to_dict()["ready"] is False


# -- network printer, state by state ----------------------------------------------


@pytest.mark.parametrize(
    "state, online, paper, detail",
    [
        ("ok", Online.ONLINE, Paper.OK, ""),
        ("near_end", Online.ONLINE, Paper.NEAR_END, ""),
        ("paper_out", Online.OFFLINE, Paper.OUT, "stopped at paper end"),
        ("offline", Online.OFFLINE, Paper.OK, "cover open"),
        ("silent", Online.UNKNOWN, Paper.UNKNOWN, "no status reply"),
    ],
)
def test_network_status_for_each_printer_state(state, online, paper, detail):
    with FakeNetworkPrinter(state) as fake:
        status = printer_from_config(fake.printer_config(status_timeout=0.2)).status()
    assert (status.online, status.paper, status.reachable) == (online, paper, True)
    assert detail in status.detail
    assert fake.status_queries[:2] == [1, 4] or state == "silent"


def test_network_print_delivers_a_job_that_decodes():
    with FakeNetworkPrinter("ok") as fake:
        printer = printer_from_config(fake.printer_config(profile="58mm"))
        result = printer.print_receipt(ticket("A012"))
        (job,) = fake.wait_for_jobs(1)
    assert result.confirmed and result.note == "" and result.bytes_sent == len(job.data)
    assert job.complete
    parsed = job.parse()
    assert parsed.names[0] == "ESC @" and parsed.names[-1] == "GS V"
    # 58 mm text mode: native text lines, and only the QR code as raster within the 384 dots.
    assert parsed.lines and all(band.width_bytes * 8 <= 384 for band in parsed.bands)
    assert qr_of(parsed.raster(384)) == "https://kiosk.example.cn/q/A012"
    assert fake.status_queries == [1, 4, 1, 4]  # before and after the job


def test_network_print_warns_when_paper_is_near_end():
    with FakeNetworkPrinter("near_end") as fake:
        result = printer_from_config(fake.printer_config()).print_receipt(ticket())
        fake.wait_for_jobs(1)
    assert result.confirmed and result.note == "paper near end"


@pytest.mark.parametrize("state, error", [("paper_out", PaperOut), ("offline", PrinterOffline)])
def test_network_print_refuses_before_sending_when_printer_says_no(state, error):
    with FakeNetworkPrinter(state) as fake:
        with pytest.raises(error):
            printer_from_config(fake.printer_config()).print_receipt(ticket())
    assert fake.jobs == []  # not a single byte of the ticket went out


def test_network_print_to_silent_printer_is_delivered_but_unconfirmed():
    with FakeNetworkPrinter("silent") as fake:
        result = printer_from_config(fake.printer_config(status_timeout=0.1)).print_receipt(ticket())
        (job,) = fake.wait_for_jobs(1)
    assert job.complete and not result.confirmed
    assert "not confirmed" in result.note
    assert result.before.paper is Paper.UNKNOWN  # unknown, not "ok"


def test_connection_dropped_mid_job_is_an_error_even_if_the_kernel_took_every_byte():
    with FakeNetworkPrinter("drop", drop_after=200) as fake:
        with pytest.raises(ConnectionDropped):
            # A raster job: tens of kB, more than the socket buffers hold once the peer is gone.
            printer_from_config(fake.printer_config(profile="80mm-raster")).print_receipt(ticket())
        (job,) = fake.wait_for_jobs(1)
    assert not job.complete and 200 <= len(job.data) < 30000


def test_printer_that_stops_reading_times_out():
    # Loopback buffers take a few MB before send() blocks; 16 MB is sure to fill them.
    job = b"\x1b@" + bytes(16 << 20)
    with FakeNetworkPrinter("stall") as fake:
        printer = printer_from_config(fake.printer_config(timeout=0.3, status_timeout=0.05))
        with pytest.raises(PrinterTimeout, match="stopped accepting"):
            printer.print_bytes(job)
        fake.state = "ok"  # the jam cleared: the fake reads and drops the backlog at close
    assert not any(j.complete for j in fake.jobs)


def test_unreachable_printer():
    printer = NetworkPrinter("127.0.0.1", closed_port(), timeout=1)
    status = printer.status()
    assert not status.reachable and not status.ready and "refused" in status.detail
    with pytest.raises(PrinterUnreachable, match="cannot connect"):
        printer.print_receipt(ticket())


def test_status_checks_can_be_switched_off():
    with FakeNetworkPrinter("silent") as fake:
        result = printer_from_config(fake.printer_config(status=False)).print_receipt(ticket())
        fake.wait_for_jobs(1)
    assert fake.status_queries == [] and not result.confirmed


def test_text_mode_profile_over_the_network():
    with FakeNetworkPrinter() as fake:
        printer_from_config(fake.printer_config(profile="80mm-cn")).print_receipt(ticket("C301"))
        (job,) = fake.wait_for_jobs(1)
    parsed = job.parse()
    assert "FS &" in parsed.names and "号码" in parsed.text and "请稍候，谢谢。" in parsed.text
    assert qr_of(parsed.raster()) == "https://kiosk.example.cn/q/C301"


# -- serial, file, USB, preview ------------------------------------------------------


def test_serial_printer_over_a_pseudo_terminal():
    with FakeSerialPrinter() as fake:
        printer = printer_from_config(fake.printer_config())
        assert isinstance(printer, SerialPrinter)
        status = printer.status()
        result = printer.print_receipt(ticket("S001"))
        (job,) = fake.wait_for_jobs(1)
        fake.state = "paper_out"
        with pytest.raises(PaperOut):
            printer.print_receipt(ticket("S002"))
    assert (status.online, status.paper) == (Online.ONLINE, Paper.OK)
    assert result.confirmed and job.complete
    assert qr_of(job.parse().raster()) == "https://kiosk.example.cn/q/S001"
    assert len(fake.jobs) == 1  # the paper-out ticket was never sent


def test_serial_printer_that_stops_reading_times_out():
    with FakeSerialPrinter("stall") as fake:
        printer = printer_from_config(fake.printer_config(timeout=0.3, status_timeout=0.05))
        with pytest.raises(PrinterTimeout):
            printer.print_bytes(b"\x1b@" + bytes(1 << 20))  # far more than a pty buffers


def test_serial_port_that_does_not_exist_is_unreachable(tmp_path):
    printer = SerialPrinter(str(tmp_path / "ttyUSB9"))
    assert not printer.status().reachable
    with pytest.raises(PrinterUnreachable):
        printer.print_receipt(ticket())


def test_file_printer_appends_jobs_to_the_device_file(tmp_path):
    path = tmp_path / "lp0"
    printer = printer_from_config({"type": "file", "path": str(path), "profile": "58mm"})
    assert isinstance(printer, FilePrinter)
    first = printer.print_receipt(ticket("F001"))
    printer.print_receipt(ticket("F002"))
    data = path.read_bytes()
    parsed = parse(data)
    assert parsed.names.count("ESC @") == 2 and parsed.names.count("GS V") == 2
    assert len(data) > first.bytes_sent
    assert parse(data[: first.bytes_sent]).names[-1] == "GS V"
    assert qr_of(parse(data[: first.bytes_sent]).raster()) == "https://kiosk.example.cn/q/F001"
    assert "not confirmed" in first.note  # a device file gives no status
    assert printer.status().paper is Paper.UNKNOWN


def test_file_printer_in_a_missing_folder_is_unreachable(tmp_path):
    with pytest.raises(PrinterUnreachable):
        FilePrinter(str(tmp_path / "no" / "lp0")).print_receipt(ticket())


def test_usb_printer_through_python_escpos_usb_class():
    device = FakeUsbPrinter(in_ep=0x82, out_ep=0x01, idVendor=0x0416, idProduct=0x5011)
    config = {"type": "usb", "vendor": "0x0416", "product": "0x5011", "status_timeout": 0.05}
    with device.plugged_in():
        printer = printer_from_config(config)
        assert isinstance(printer, UsbPrinter)
        status = printer.status()
        result = printer.print_receipt(ticket("U001"))
        device.state = "near_end"
        near_end = printer.print_receipt(ticket("U002"))
    assert (status.online, status.paper) == (Online.ONLINE, Paper.OK)
    # Neither the status poll nor the jobs reset the printer or set its configuration again.
    assert (device.resets, device.configurations_set) == (0, 0) and device._ctx.disposed >= 3
    assert result.confirmed and near_end.note == "paper near end"
    assert [qr_of(job.parse().raster()) for job in device.completed_jobs] == [
        "https://kiosk.example.cn/q/U001",
        "https://kiosk.example.cn/q/U002",
    ]


def test_usb_printer_unplugged_mid_job_and_not_found():
    device = FakeUsbDevice("drop", drop_after=100)
    with device.plugged_in():
        printer = UsbPrinter(0x0416, 0x5011, status_timeout=0.05)
        with pytest.raises(ConnectionDropped):
            printer.print_receipt(ticket())
        other = UsbPrinter(0x1234, 0x5678)
        assert not other.status().reachable
        with pytest.raises(PrinterUnreachable, match="not found"):
            other.print_receipt(ticket())
    assert device.jobs and not device.jobs[0].complete


def test_usb_write_timeout():
    device = FakeUsbDevice("stall")
    with device.plugged_in():
        with pytest.raises(PrinterTimeout):
            UsbPrinter(0x0416, 0x5011, status_timeout=0.01).print_receipt(ticket())


def test_preview_printer_writes_a_png_that_decodes(tmp_path):
    printer = printer_from_config({"type": "preview", "folder": str(tmp_path / "receipts"), "profile": "58mm"})
    assert isinstance(printer, PreviewPrinter)
    result = printer.print_receipt(ticket("P042"), job_id="job/42")
    path = printer.last_path
    assert os.path.dirname(path) == str(tmp_path / "receipts") and path.endswith("-job_42.png")
    with Image.open(path) as image:
        assert image.width == 384
        assert qr_of(image) == "https://kiosk.example.cn/q/P042"
    assert result.confirmed and printer.status().ready
    assert not [n for n in os.listdir(tmp_path / "receipts") if n.endswith(".part")]


# -- the factory ------------------------------------------------------------------------


def test_factory_builds_each_backend_from_the_documented_dicts(tmp_path):
    configs = {
        NetworkPrinter: {"type": "network", "host": "192.0.2.10", "port": 9100, "profile": "80mm"},
        PreviewPrinter: {"type": "preview", "folder": str(tmp_path)},
        UsbPrinter: {"type": "usb", "vendor": "0x0416", "product": "0x5011"},
        SerialPrinter: {"type": "serial", "device": "/dev/ttyUSB0", "baudrate": 19200},
        FilePrinter: {"type": "file", "path": "/dev/usb/lp0"},
    }
    for cls, config in configs.items():
        printer = printer_from_config(config)
        assert type(printer) is cls and printer.describe()
    usb = printer_from_config(configs[UsbPrinter])
    assert (usb.vendor, usb.product) == (0x0416, 0x5011)
    assert printer_from_config({"type": "file", "path": "x", "profile": "58mm-cn"}).profile.text_mode


@pytest.mark.parametrize(
    "config, message",
    [
        ({"type": "bluetooth"}, "printer type"),
        ({"type": "network"}, "needs"),
        ({"type": "network", "host": "h", "prot": 9100}, "unknown keys"),
        ({"type": "usb", "vendor": "acme", "product": 1}, "vendor"),
        ({"type": "serial", "device": "/dev/ttyS0", "flow": "carrier pigeon"}, "flow"),
        ({"type": "file", "path": "x", "profile": "76mm"}, "profile"),
    ],
)
def test_factory_refuses_bad_configs(config, message):
    with pytest.raises(PrinterConfigError, match=message):
        printer_from_config(config)


def test_a_small_job_is_confirmed_by_the_status_reply_and_a_large_one_waits_for_its_acknowledgement(monkeypatch):
    """Waiting for the TCP acknowledgement of a text-mode ticket cost a delayed ACK and CPU; the reply confirms it."""
    from kiosk_hardware.printers import network

    waited: list[int] = []
    real_drain = network.drain

    def drain(pending, progress) -> None:
        waited.append(progress.size)
        real_drain(pending, progress)

    monkeypatch.setattr(network, "drain", drain)
    ticket = Receipt().text("A012", size=4).qr("https://kiosk.example.cn/q/A012")
    with FakeNetworkPrinter() as fake:
        small = NetworkPrinter("127.0.0.1", fake.port, profile="80mm", status_timeout=0.5).print_receipt(ticket)
        assert small.confirmed and small.bytes_sent <= network.SETTLE_ABOVE and waited == []
        raster = NetworkPrinter("127.0.0.1", fake.port, profile="80mm-raster", status_timeout=0.5)
        large = raster.print_receipt(ticket)
        assert large.confirmed and large.bytes_sent > network.SETTLE_ABOVE and waited == [large.bytes_sent]
        # Without status checks nothing confirms a job after it: even a small one waits.
        unchecked = NetworkPrinter("127.0.0.1", fake.port, profile="80mm", status=False).print_receipt(ticket)
        assert not unchecked.confirmed and waited[-1] == unchecked.bytes_sent
        assert len(fake.wait_for_jobs(3)) == 3 and all(job.complete for job in fake.jobs)
