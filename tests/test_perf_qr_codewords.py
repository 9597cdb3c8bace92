"""A receipt's QR code: the codewords computed by the kiosk are python-qrcode's, bit for bit.

:func:`kiosk_hardware.barcodes.qr_codewords` replaces ``qrcode.util.create_data``
(the slow part of drawing a ticket's QR code) with a table-driven
Reed–Solomon division; whatever the data, mode, version and level, the
codewords and so the printed code must be the same.
"""

from __future__ import annotations

import random

import pytest
import qrcode
from qrcode import util
from qrcode.exceptions import DataOverflowError

from kiosk_hardware import barcodes

ALPHABETS = ("0123456789", "ABC123 $%*+-./:", "http://192.168.1.20:5000/k/legal/t/", "取号法律咨询abc0123:/")


@pytest.mark.parametrize("level", ["L", "M", "Q", "H"])
def test_the_codewords_are_qrcodes_for_every_mode_version_and_level(level):
    rng = random.Random(level)
    correction = barcodes._LEVELS[level]
    versions = set()
    for size in (1, 2, 7, 20, 21, 45, 62, 100, 250, 600, 1100):
        for alphabet in ALPHABETS:
            data = "".join(rng.choice(alphabet) for _ in range(size)).encode("utf-8")
            qr = qrcode.QRCode(error_correction=correction)
            qr.add_data(data)
            try:
                version = qr.best_fit()
            except (DataOverflowError, ValueError):  # larger than any QR code (qrcode raises either)
                continue
            versions.add(version)
            assert barcodes.qr_codewords(version, correction, qr.data_list) == util.create_data(
                version, correction, qr.data_list
            )
    assert len(versions) >= 8  # small and large codes, one block and several


def test_a_ticket_url_draws_the_same_modules_as_qrcode_alone():
    url = "http://192.168.1.20:5000/k/legal/t/AbCdEfGhIjKlMnOpQrStUv12345"
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=0, mask_pattern=2)
    qr.add_data(url.encode("utf-8"))
    qr.make(fit=True)
    expected = [bytes(row) for row in qr.get_matrix()]
    image = barcodes.qr_modules.__wrapped__(url, "M")
    assert image.size == (len(expected), len(expected))
    drawn = [bytes(1 if image.getpixel((x, y)) else 0 for x in range(image.width)) for y in range(image.height)]
    assert drawn == expected


def test_data_too_large_for_a_qr_code_is_refused():
    with pytest.raises(ValueError, match="too large"):
        barcodes.qr_modules.__wrapped__("x" * 3000, "H")
