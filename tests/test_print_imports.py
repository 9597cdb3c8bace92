"""A station whose printer is a text-mode network printer loads none of the raster print stack (issue 22).

python-escpos's printer classes pull in usb, serial, yaml, qrcode, python-barcode and Pillow; a
text-mode receipt with a native QR code needs none of them, and each worker kept them all (some
25 MiB and 50 ms of imports). One subprocess builds the app, warms the printers as a server does
after its first page, prints a queue ticket to the fake TCP printer (running here, in the test's
process, since its parser uses Pillow) and lists what it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

HEAVY = ("escpos.printer", "usb", "serial", "yaml", "barcode", "qrcode", "PIL")

CHILD = r"""
import json, os, sys, tempfile, time
from kiosk.app import close_app, create_app
from kiosk import printing
from kiosk_plugins.legal.receipts import sample_ticket_context

host, port, heavy = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
with tempfile.TemporaryDirectory() as tmp:
    app = create_app({
        "TESTING": True, "SECRET_KEY": "x" * 32, "INSTANCE_PATH": tmp, "STATION_FILE": "",
        "DATABASE_URL": "sqlite:///" + os.path.join(tmp, "k.db"),
        "START_DEVICES": True, "RUN_JOBS": False, "IME_PRELOAD": False,
        "DEVICES": {"printer": {"type": "network", "host": host, "port": port, "profile": "80mm",
                                "timeout": 2.0, "status_timeout": 0.3}, "readers": {}},
    })
    try:
        app.extensions["kiosk_printing"].warm()
        with app.test_request_context("/"):
            job = printing.print_receipt("legal.ticket", sample_ticket_context())["job_id"]
        client, deadline = app.test_client(), time.monotonic() + 10
        while client.get(f"/print-jobs/{job}").get_json()["state"] not in ("done", "sent", "failed"):
            assert time.monotonic() < deadline, "the ticket did not print"
            time.sleep(0.01)
        loaded = [name for name in heavy if name in sys.modules]
    finally:
        close_app(app)
print(json.dumps(loaded))
"""


def test_a_text_mode_network_station_prints_without_pillow_escpos_or_the_barcode_libraries():
    with FakeNetworkPrinter() as fake:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, fake.host, str(fake.port), ",".join(HEAVY)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 5
        while not fake.completed_jobs and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(fake.completed_jobs) == 1  # the ticket did print, as text with the printer's own QR code
        assert "法律咨询" in fake.completed_jobs[0].parse().text
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_native_qr_sizes_come_from_a_table_that_matches_qrcode():
    from qrcode import base, constants

    from kiosk_hardware import barcodes

    assert barcodes._LEVELS == {
        "L": constants.ERROR_CORRECT_L,
        "M": constants.ERROR_CORRECT_M,
        "Q": constants.ERROR_CORRECT_Q,
        "H": constants.ERROR_CORRECT_H,
    }
    for level, correction in barcodes._LEVELS.items():
        expected = tuple(sum(block.data_count for block in base.rs_blocks(v, correction)) for v in range(1, 41))
        assert barcodes._DATA_CODEWORDS[level] == expected
