"""Printer transports against lines that are slow, stop, or block (issue 18, points 3 and 4).

A job may take as long as bytes keep moving; a line that stops for the
progress timeout fails the job as a timeout, and nothing (open, write,
status) waits for ever. The fakes are real kernel objects: a pseudo-terminal
read at the line's baud rate, a TCP socket with a small window read at a set
rate, a FIFO whose reader stops or never comes.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from kiosk_hardware.errors import PrinterTimeout, PrinterUnreachable
from kiosk_hardware.printers import FilePrinter, printer_from_config
from kiosk_hardware.printers._transfer import Progress, drain, open_within, overall_limit
from kiosk_hardware.status import Online
from kiosk_hardware.testing.fake_devices import BlockingDeviceFile, ThrottledNetworkPrinter, ThrottledSerialLine

LINE = b"0123456789 kiosk ticket line ABCDEFGHIJKL\n"


def text_job(size: int) -> bytes:
    """A valid ESC/POS job of about ``size`` bytes: reset, lines of text, cut."""
    return b"\x1b@" + LINE * max(1, size // len(LINE)) + b"\x1dVA\x00"


# -- the clock ----------------------------------------------------------------------------


def test_progress_allows_a_slow_job_but_not_a_trickle():
    # The cap grows with the job, and with a slower line.
    assert overall_limit(60_000, 5) > overall_limit(6_000, 5) > 5
    assert overall_limit(6_000, 5, rate=960) > overall_limit(6_000, 5, rate=100_000)
    # A byte every 50 ms keeps clear of a 0.2 s progress timeout, but 100 bytes
    # at that pace overrun the cap (0.2 + 2 * 100 / 1024 s).
    progress = Progress(100, 0.2)
    started = time.monotonic()
    with pytest.raises(PrinterTimeout, match="too slow"):
        while True:
            time.sleep(0.05)
            progress.moved(1)
            progress.check()
    assert 0.35 < time.monotonic() - started < 1.0 and progress.sent < 100
    stuck = Progress(100, 0.05)
    stuck.check()  # not yet
    time.sleep(0.06)
    assert stuck.remaining() == 0
    with pytest.raises(PrinterTimeout, match="nothing moved for 0.05 s"):
        stuck.check()


def test_drain_waits_while_the_queue_falls_and_fails_when_it_stops():
    # What a real ttyUSB reports through TIOCOUTQ while the line carries a job.
    falling = iter([4000, 3000, 3000, 2000, 1000, 0])
    progress = Progress(4000, 0.2)
    drain(lambda: next(falling), progress)
    assert progress.queued == 0
    stuck = Progress(4000, 0.1)
    started = time.monotonic()
    with pytest.raises(PrinterTimeout, match="1500 of 4000 bytes still waiting"):
        drain(lambda: 1500, stuck)
    assert 0.1 <= time.monotonic() - started < 0.5


def test_an_open_that_never_returns_is_abandoned_once_and_closed_when_it_does():
    release = threading.Event()
    discarded: list[str] = []

    def hung_open() -> str:
        release.wait(5)
        return "fd"

    with pytest.raises(PrinterTimeout, match="did not finish within 0.1 s"):
        open_within("test-device", hung_open, 0.1, discard=discarded.append)
    # While that open is still blocked, another fails at once instead of piling up threads.
    started = time.monotonic()
    with pytest.raises(PrinterTimeout, match="still blocked"):
        open_within("test-device", hung_open, 1.0, discard=discarded.append)
    assert time.monotonic() - started < 0.05
    release.set()  # the driver comes back: what it opened late is closed
    deadline = time.monotonic() + 2
    while not discarded and time.monotonic() < deadline:
        time.sleep(0.01)
    assert discarded == ["fd"]
    assert open_within("test-device", hung_open, 1.0, discard=discarded.append) == "fd"


# -- serial -------------------------------------------------------------------------------


def test_a_9600_baud_line_prints_a_whole_job_while_bytes_keep_moving():
    job = text_job(2400)
    with ThrottledSerialLine(9600) as line:
        printer = printer_from_config(line.printer_config(timeout=1.0))
        started = time.monotonic()
        result = printer.print_bytes(job)
        took = time.monotonic() - started
        (received,) = line.wait_for_jobs(1)
    # The line carried it at 960 bytes a second, more than twice the progress
    # timeout, and the status reply was waited for behind the job's bytes.
    # (5% slack: the fake's reader may run a whisker ahead of the nominal rate.)
    assert took >= 0.95 * line.seconds_for(len(job)) > 2.0
    assert received.complete and received.data == job
    assert result.confirmed and result.after.online is Online.ONLINE
    assert not line.core.errors


def test_a_serial_job_larger_than_every_buffer_takes_the_time_the_line_needs():
    # 40 kB cannot sit in the kernel's ~14 kB: writes block on the line, and
    # the whole job takes three times the progress timeout.
    job = text_job(40_000)
    with ThrottledSerialLine(384_000) as line:
        printer = printer_from_config(line.printer_config(timeout=0.3))
        started = time.monotonic()
        result = printer.print_bytes(job)
        took = time.monotonic() - started
        (received,) = line.wait_for_jobs(1)
    assert took >= 0.95 * line.seconds_for(len(job)) > 3 * 0.3
    assert received.complete and received.data == job and result.confirmed


def test_a_serial_line_that_stops_fails_the_job_as_a_timeout():
    job = text_job(40_000)
    with ThrottledSerialLine(192_000, stall_after=2_000) as line:
        printer = printer_from_config(line.printer_config(timeout=0.3))
        started = time.monotonic()
        with pytest.raises(PrinterTimeout, match="nothing moved for 0.3 s"):
            printer.print_bytes(job)
        assert time.monotonic() - started < 2.0
        assert line.stalled and line.received == 2_000 and not line.completed_jobs
        # The line moves again: the next job goes through.
        line.resume()
        assert printer.print_bytes(text_job(500)).confirmed
        line.wait_for_jobs(1)
    assert line.completed_jobs


def test_jobs_and_status_over_a_stalled_serial_line_return_in_time():
    with ThrottledSerialLine(192_000) as line:
        line.stall()
        printer = printer_from_config(line.printer_config(timeout=0.3, status_timeout=0.1))
        started = time.monotonic()
        with pytest.raises(PrinterTimeout):
            printer.print_bytes(text_job(40_000))  # more than the buffers hold
        status = printer.status()
        took = time.monotonic() - started
    assert took < 2.0
    assert status.online is not Online.ONLINE and not line.jobs


def test_a_serial_port_in_use_by_another_program_is_refused_not_shared():
    import serial

    with ThrottledSerialLine(384_000) as line:
        printer = printer_from_config(line.printer_config())
        with serial.Serial(line.device, exclusive=True):  # e.g. a second server process
            status = printer.status()
            with pytest.raises(PrinterUnreachable, match="in use by another program"):
                printer.print_bytes(text_job(100))
        assert not status.reachable and printer.print_bytes(text_job(100)).confirmed


# -- network ------------------------------------------------------------------------------


def test_a_slow_network_printer_gets_a_60_kb_job_that_outlasts_the_timeout():
    # 60 kB at 60 kB/s through a 4 kB window: 1 s, three times the timeout,
    # which sendall() with that timeout would have failed.
    job = text_job(60_000)
    with ThrottledNetworkPrinter(60_000) as fake:
        printer = printer_from_config(fake.printer_config(timeout=0.3))
        started = time.monotonic()
        result = printer.print_bytes(job)
        took = time.monotonic() - started
        (received,) = fake.wait_for_jobs(1)
    assert took > 3 * 0.3
    assert received.complete and received.data == job and result.confirmed


def test_a_network_printer_that_stops_reading_fails_even_when_the_kernel_took_every_byte():
    job = text_job(60_000)
    with ThrottledNetworkPrinter(1_000_000, stall_after=10_000) as fake:
        printer = printer_from_config(fake.printer_config(timeout=0.3, status_timeout=0.05))
        started = time.monotonic()
        with pytest.raises(PrinterTimeout, match="still waiting to be taken|bytes sent"):
            printer.print_bytes(job)
        assert time.monotonic() - started < 2.0
    assert fake.received == 10_000 and not fake.completed_jobs


# -- device files -------------------------------------------------------------------------


def test_device_file_prints_through_a_fifo_reader():
    with BlockingDeviceFile() as lp0:
        printer = printer_from_config(lp0.printer_config())
        assert isinstance(printer, FilePrinter)
        printer.print_bytes(text_job(10_000))
        (received,) = lp0.wait_for_jobs(1)
    assert received.complete and received.data == text_job(10_000)


@pytest.mark.parametrize("size", [10_000, 1_000], ids=["fills-the-pipe", "fits-in-the-pipe"])
def test_a_device_file_that_stops_taking_data_fails_the_job_in_time(size):
    with BlockingDeviceFile("stalled") as lp0:
        printer = printer_from_config(lp0.printer_config(timeout=0.3))
        started = time.monotonic()
        with pytest.raises(PrinterTimeout, match="nothing moved for 0.3 s"):
            printer.print_bytes(text_job(size))
        assert time.monotonic() - started < 1.5
        # Bytes that did go in are still in the pipe, unread: not "printed".
        assert lp0.pending() > 0 and not lp0.jobs


def test_a_device_whose_open_blocks_neither_hangs_status_nor_the_job():
    with BlockingDeviceFile("absent") as lp0:
        printer = printer_from_config(lp0.printer_config(open_timeout=0.3))
        started = time.monotonic()
        status = printer.status()  # what `kiosk doctor` and /healthz ask
        assert time.monotonic() - started < 1.0
        assert not status.reachable and "did not finish within 0.3 s" in status.detail
        with pytest.raises(PrinterTimeout, match="did not finish"):
            printer.print_bytes(text_job(100))
        # The abandoned open was released, not left blocked in a thread.
        assert not [t for t in threading.enumerate() if t.name == f"open {lp0.path}"]
        lp0.resume()  # the reader is back: printing works again
        printer.print_bytes(text_job(100))
        (received,) = lp0.wait_for_jobs(1)
    assert received.complete


def test_a_missing_device_under_dev_is_reported_not_created():
    path = "/dev/kiosk-test-lp-missing"
    with pytest.raises(PrinterUnreachable, match="no such device"):
        FilePrinter(path).print_bytes(text_job(100))
    assert not os.path.exists(path)


def test_the_print_queue_worker_survives_a_jammed_device_file():
    from kiosk_hardware.job_store import JobState
    from kiosk_hardware.print_queue import PrintQueue
    from kiosk_hardware.receipt import Receipt

    # Enough lines that the encoded ticket overfills the one-page pipe.
    receipt = Receipt().title("法律咨询排队").kv("号码", "A001")
    for n in range(120):
        receipt = receipt.text(f"line {n:03d} of a long ticket")
    with BlockingDeviceFile("stalled") as lp0:
        printer = printer_from_config(lp0.printer_config(timeout=0.2))
        with PrintQueue(printer, max_attempts=1, retry_delay=0.01) as queue:
            jammed = queue.submit(receipt, label="A001").wait(10)
            assert jammed.state is JobState.FAILED and jammed.error_kind == "timeout"
            lp0.resume()  # cleared: the worker is free for the next ticket
            after = queue.submit(Receipt().title("法律咨询排队").kv("号码", "A002"), label="A002").wait(10)
            assert after.state in (JobState.DONE, JobState.SENT)
        assert lp0.wait_for_jobs(1)[-1].complete
