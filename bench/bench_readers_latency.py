"""How long a read takes from the device to the ``on_event`` callback, per backend.

The kiosk must show a tap or scan within 0.5 s; this measures the readers layer's
share of that budget with the real backends: a pseudo-terminal for serial, a FIFO
of raw input_event records for keyboard wedges, and pcscd + vpcd + a virtual card
for PC/SC. Also measures how soon a re-plugged device is back with the default
retry policy.

    python bench/bench_readers_latency.py [--reads N] [--no-pcsc]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from kiosk_hardware.readers import ReaderManager
from kiosk_hardware.readers.testing.collect import wait_until
from kiosk_hardware.readers.testing.input_events import scan_bytes


class Stopwatch:
    """An on_event callback that reports when the next event arrived."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.at = 0.0

    def __call__(self, event) -> None:
        """Record the arrival time (called on the reader's thread)."""
        self.at = time.perf_counter()
        self.arrived.set()

    def time(self, action) -> float:
        """Seconds from the start of ``action()`` to the next event's arrival."""
        self.arrived.clear()
        start = time.perf_counter()
        action()
        if not self.arrived.wait(5.0):
            raise TimeoutError("no event within 5 s")
        return self.at - start


def report(label: str, samples: list[float]) -> None:
    """Print one figure: median, 95th percentile and maximum in milliseconds."""
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(
        f"{label:<48} n={len(ms):<4} median {statistics.median(ms):8.2f} ms   p95 {p95:8.2f} ms   max {ms[-1]:8.2f} ms"
    )


def bench_serial(reads: int, workdir: Path) -> None:
    """Frame written to a pty -> callback, and re-plug -> ok with the default policy."""
    master, slave = os.openpty()
    link = workdir / "ttyBENCH"
    link.symlink_to(os.ttyname(slave))
    watch = Stopwatch()
    cfg = {"type": "serial", "device": str(link), "framing": {"start": "02", "end": "03"}}
    mgr = ReaderManager({"rfid": cfg}, watch)
    mgr.start()
    try:
        wait_until(lambda: mgr.status("rfid").ok)
        samples = [watch.time(lambda i=i: os.write(master, b"\x02%010d\x03" % i)) for i in range(reads)]
        report("serial (pty, STX/ETX) write -> callback", samples)

        outages = []
        for _ in range(3):
            os.close(master)
            link.unlink()
            wait_until(lambda: mgr.status("rfid").state == "disconnected")
            time.sleep(2.0)
            os.close(slave)
            master, slave = os.openpty()
            plugged = time.perf_counter()
            link.symlink_to(os.ttyname(slave))
            wait_until(lambda: mgr.status("rfid").ok, timeout=60)
            outages.append(time.perf_counter() - plugged)
        report("serial re-plug after 2 s -> ok (default retry)", outages)
    finally:
        mgr.stop()
        os.close(master)
        os.close(slave)


def bench_wedge(reads: int, workdir: Path) -> None:
    """Raw key records of a whole QR scan written to a FIFO -> callback."""
    path = workdir / "scanner"
    os.mkfifo(path)
    writer = os.open(path, os.O_RDWR)
    watch = Stopwatch()
    mgr = ReaderManager({"qr": {"type": "wedge", "device": str(path)}}, watch)
    mgr.start()
    try:
        wait_until(lambda: mgr.status("qr").ok)
        payload = scan_bytes("https://szft.gov.cn/minyi?station=SG-042&ticket=A017")
        samples = [watch.time(lambda: os.write(writer, payload)) for _ in range(reads)]
        report("wedge (FIFO, 52-char QR) last key -> callback", samples)
    finally:
        mgr.stop()
        os.close(writer)


def bench_test_reader(reads: int) -> None:
    """TestReader.inject -> callback: the manager's own overhead."""
    watch = Stopwatch()
    mgr = ReaderManager({"t": {"type": "test"}}, watch)
    mgr.start()
    try:
        wait_until(lambda: mgr.status("t").ok)
        reader = mgr.reader("t")
        samples = [watch.time(lambda: reader.inject("card", "04A1B2C3")) for _ in range(reads)]
        report("test reader inject -> callback", samples)
    finally:
        mgr.stop()


def bench_pcsc(reads: int, workdir: Path) -> None:
    """Virtual card on/off the vpcd reader -> card/removed callback through pcscd."""
    from kiosk_hardware.readers.testing.pcscd import PcscdService, missing_requirement
    from kiosk_hardware.readers.testing.vicc import VirtualCard

    missing = missing_requirement()
    if missing:
        print(f"PC/SC skipped: {missing}")
        return
    service = PcscdService(workdir)
    service.start()
    watch = Stopwatch()
    mgr = ReaderManager({"nfc": {"type": "pcsc", "report_removal": True}}, watch)
    mgr.start()
    try:
        wait_until(lambda: mgr.status("nfc").ok)
        card = VirtualCard(bytes.fromhex("04A1B2C3D4E5F6"), port=service.port)
        taps, lifts = [], []
        for _ in range(reads):
            taps.append(watch.time(card.insert))
            lifts.append(watch.time(card.remove))
        report("PC/SC (pcscd+vpcd) card on -> UID callback", taps)
        report("PC/SC (pcscd+vpcd) card off -> removed", lifts)
    finally:
        mgr.stop()
        service.stop()


def main() -> None:
    """Run every measurement and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--no-pcsc", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bench_test_reader(args.reads)
        bench_serial(args.reads, workdir)
        bench_wedge(args.reads, workdir)
        if not args.no_pcsc:
            bench_pcsc(min(args.reads, 15), workdir)


if __name__ == "__main__":
    main()
