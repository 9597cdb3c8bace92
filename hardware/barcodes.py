"""QR codes and linear barcodes as 1-bit ink masks for the receipt raster, and native QR commands.

Codes are drawn by us into the raster (masks use 255 for ink, like glyph
masks): a raster prints the same everywhere. Only a text-mode profile with
``native_qr`` (most Chinese 58/80 mm printers) sends a QR code as the
printer's own ``GS ( k`` command instead (:func:`qr_native`): the code's text
goes out and the printer draws it, so nothing is computed here per receipt.
Linear barcodes are always raster: native ``GS k`` support varies too much.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

# qrcode, python-barcode and Pillow are imported where a code is drawn: a station whose printers draw
# their own QR codes (text-mode profiles with native_qr) never loads them (issue 22: worker memory).

#: qrcode's error correction constants (``qrcode.constants.ERROR_CORRECT_*``), kept here so the
#: native path needs no qrcode import.
_LEVELS = {"L": 1, "M": 0, "Q": 3, "H": 2}


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(word) for word in text.split())


#: Data codewords of a QR code (model 2) per version 1..40 at each error correction level (ISO/IEC 18004).
_DATA_CODEWORDS = {
    "L": _numbers(
        "19 34 55 80 108 136 156 194 232 274 324 370 428 461 523 589 647 721 795 861 932 1006 1094 1174 "
        "1276 1370 1468 1531 1631 1735 1843 1955 2071 2191 2306 2434 2566 2702 2812 2956"
    ),
    "M": _numbers(
        "16 28 44 64 86 108 124 154 182 216 254 290 334 365 415 453 507 563 627 669 714 782 860 914 1000 "
        "1062 1128 1193 1267 1373 1455 1541 1631 1725 1812 1914 1992 2102 2216 2334"
    ),
    "Q": _numbers(
        "13 22 34 48 62 76 88 110 132 154 180 206 244 261 295 325 367 397 445 485 512 568 614 664 718 754 "
        "808 871 911 985 1033 1115 1171 1231 1286 1354 1426 1502 1582 1666"
    ),
    "H": _numbers(
        "9 16 26 36 46 60 66 86 100 122 140 158 180 197 223 253 283 313 341 385 406 442 464 514 538 596 "
        "628 661 701 745 793 845 901 961 986 1054 1096 1142 1222 1276"
    ),
}
#: A fixed mask pattern: scoring all eight masks costs ~3.5 ms per code in
#: pure Python (most of a receipt's budget), and any mask decodes correctly;
#: the scoring only avoids rare look-alike finder patterns.
QR_MASK = 2
#: Quiet zone around a QR code, in modules (the standard asks for 4).
QR_QUIET = 4
#: Quiet zone each side of a linear barcode, in modules.
BAR_QUIET = 10


def _ink_from_rows(rows: list[bytes], width: int) -> Image.Image:
    from PIL import Image

    # Rows hold one byte per module, non-zero = dark; raw "1;8" reads exactly that.
    return Image.frombytes("1", (width, len(rows)), b"".join(rows), "raw", "1;8")


@lru_cache(maxsize=256)
def qr_modules(data: str, level: str = "M") -> Image.Image:
    """The QR code at one dot per module, ink = 255, without quiet zone.

    Cached, so a preview and the print of the same ticket share one code; the
    image is shared, so callers copy it before drawing on it.
    """
    import qrcode
    from qrcode.exceptions import DataOverflowError

    qr = qrcode.QRCode(error_correction=_LEVELS[level], box_size=1, border=0, mask_pattern=QR_MASK)
    qr.add_data(data.encode("utf-8"))
    try:
        qr.best_fit()
        # The codewords computed here (see qr_codewords); qrcode lays them out and masks them.
        qr.data_cache = qr_codewords(qr.version, qr.error_correction, qr.data_list)
        qr.make(fit=False)
    except (ValueError, DataOverflowError) as exc:
        # qrcode reports "version 41" when the data exceeds the largest code.
        raise ValueError(f"QR code data too large ({len(data)} characters): {exc}") from exc
    matrix = qr.get_matrix()
    return _ink_from_rows([bytes(row) for row in matrix], len(matrix))


# GF(256) with the QR code's polynomial x^8 + x^4 + x^3 + x^2 + 1: antilogarithms (doubled, so
# a sum of two logarithms needs no modulo) and logarithms.
_EXP = [0] * 510
_LOG = [0] * 256
_x = 1
for _i in range(255):
    _EXP[_i] = _EXP[_i + 255] = _x
    _LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D
del _x, _i


@lru_cache(maxsize=64)
def _generator_logs(count: int) -> tuple[int, ...]:
    """Logarithms of the Reed–Solomon generator's coefficients for ``count`` error correction codewords
    (the leading 1 left out): the product of (x - a^i) for i below ``count``."""
    poly = [1]
    for i in range(count):
        # poly * (x + a^i): each coefficient plus the one before it times a^i.
        poly = [
            (poly[j] if j < len(poly) else 0) ^ (_EXP[_LOG[poly[j - 1]] + i] if j and poly[j - 1] else 0)
            for j in range(len(poly) + 1)
        ]
    return tuple(_LOG[c] for c in poly[1:])


def _error_correction(data: list[int], count: int) -> list[int]:
    """The ``count`` Reed–Solomon codewords of ``data``: the remainder of data * x^count by the generator."""
    generator = _generator_logs(count)
    remainder = [0] * count
    for codeword in data:
        factor = codeword ^ remainder[0]
        remainder = remainder[1:]
        remainder.append(0)
        if factor:
            log = _LOG[factor]
            remainder = [r ^ _EXP[log + g] for r, g in zip(remainder, generator, strict=True)]
    return remainder


class _Bits:
    """Bits laid down as qrcode's ``BitBuffer`` lays them (its ``put``), in one integer rather than bit by bit."""

    def __init__(self) -> None:
        self.value = 0
        self.length = 0

    def put(self, num: int, length: int) -> None:
        self.value = (self.value << length) | (num & ((1 << length) - 1))
        self.length += length

    def __len__(self) -> int:
        return self.length


def qr_codewords(version: int, error_correction: int, data_list) -> list[int]:
    """What ``qrcode.util.create_data`` returns (data and error correction codewords, interleaved).

    qrcode lays the bits down one at a time and divides polynomials one object
    at a time, in pure Python: 0.4 ms of CPU of a ticket's 0.83 ms QR code
    here, 0.15 ms this way. The layout is qrcode's (mode, length, data,
    terminator, padding; its blocks); the division is table-driven.
    """
    from qrcode import base, util
    from qrcode.exceptions import DataOverflowError

    bits = _Bits()
    for chunk in data_list:
        bits.put(chunk.mode, 4)
        bits.put(len(chunk), util.length_in_bits(chunk.mode, version))
        chunk.write(bits)
    blocks = base.rs_blocks(version, error_correction)
    bit_limit = sum(block.data_count * 8 for block in blocks)
    if bits.length > bit_limit:
        raise DataOverflowError(f"Code length overflow. Data size ({bits.length}) > size available ({bit_limit})")
    bits.put(0, min(bit_limit - bits.length, 4))  # the terminator
    bits.put(0, -bits.length % 8)  # to a whole byte
    codewords = list(bits.value.to_bytes(bits.length // 8, "big"))
    pads = (util.PAD0, util.PAD1)
    codewords += [pads[i % 2] for i in range(bit_limit // 8 - len(codewords))]
    data_blocks, ecc_blocks = [], []
    offset = 0
    for block in blocks:
        part = codewords[offset : offset + block.data_count]
        offset += block.data_count
        data_blocks.append(part)
        ecc_blocks.append(_error_correction(part, block.total_count - block.data_count))
    out: list[int] = []
    for group in (data_blocks, ecc_blocks):
        for i in range(max(len(b) for b in group)):
            out.extend(b[i] for b in group if i < len(b))
    return out


def qr_mask(data: str, level: str, module: int, max_width: int) -> Image.Image:
    """The QR code scaled to ``module`` dots, shrunk if needed to fit ``max_width``
    with its quiet zone; ValueError if it cannot fit at one dot per module."""
    from PIL import Image

    base = qr_modules(data, level)
    n = base.width
    while module > 1 and (n + 2 * QR_QUIET) * module > max_width:
        module -= 1
    if (n + 2 * QR_QUIET) * module > max_width:
        raise ValueError(f"QR code for {len(data)} characters is too large for the paper")
    return base.resize((n * module, n * module), Image.Resampling.NEAREST)


@lru_cache(maxsize=512)
def qr_byte_mode_size(length: int, level: str = "M") -> int:
    """Modules per side of the smallest QR code holding ``length`` bytes in byte mode at ``level``.

    A printer drawing the code itself picks its version; byte mode is the
    largest it can need, so a code sized by this fits the paper.
    """
    for version, codewords in enumerate(_DATA_CODEWORDS[level], start=1):
        needed = 4 + (8 if version < 10 else 16) + 8 * length
        if needed <= codewords * 8:
            return 17 + 4 * version
    raise ValueError(f"QR code data too large ({length} bytes)")


#: ``GS ( k`` error correction levels (function 169).
_NATIVE_LEVELS = {"L": 48, "M": 49, "Q": 50, "H": 51}


def _qr_function(code: bytes, params: bytes) -> bytes:
    body = b"1" + code + params  # cn 49: QR code
    return b"\x1d(k" + len(body).to_bytes(2, "little") + body


def qr_native(data: str, level: str, module: int, max_width: int) -> bytes:
    """``GS ( k`` commands that make the printer draw ``data`` as a QR code (model 2) and print it.

    ``module`` dots a module, shrunk as :func:`qr_mask` would so the code and
    its quiet zone fit ``max_width``; ValueError if it cannot fit at one dot.
    The data goes as UTF-8 bytes.
    """
    payload = data.encode("utf-8")
    n = qr_byte_mode_size(len(payload), level)
    while module > 1 and (n + 2 * QR_QUIET) * module > max_width:
        module -= 1
    if (n + 2 * QR_QUIET) * module > max_width:
        raise ValueError(f"QR code for {len(data)} characters is too large for the paper")
    return (
        _qr_function(b"A", b"2\x00")  # model 2
        + _qr_function(b"C", bytes([min(module, 16)]))  # dots per module
        + _qr_function(b"E", bytes([_NATIVE_LEVELS[level]]))
        + _qr_function(b"P", b"0" + payload)  # store the data
        + _qr_function(b"Q", b"0")  # print it
    )


@lru_cache(maxsize=256)
def _bar_pattern(data: str, symbology: str) -> tuple[str, str]:
    import barcode as linear
    from barcode.errors import BarcodeError

    cls = linear.get_barcode_class(symbology)
    try:
        code = cls(data, add_checksum=False) if symbology == "code39" else cls(data)
        pattern = code.build()[0]
    except BarcodeError as exc:
        raise ValueError(f"cannot encode {data!r} as {symbology}: {exc}") from exc
    return pattern, code.get_fullcode()


def barcode_mask(data: str, symbology: str, module: int, height: int, max_width: int) -> tuple[Image.Image, str]:
    """A linear barcode as an ink mask, plus the human-readable text to print under it.

    The module width shrinks to fit the paper with its quiet zones; ValueError
    when the data is invalid for the symbology or too long for the paper.
    """
    from PIL import Image

    pattern, text = _bar_pattern(data, symbology)
    while module > 1 and (len(pattern) + 2 * BAR_QUIET) * module > max_width:
        module -= 1
    if (len(pattern) + 2 * BAR_QUIET) * module > max_width:
        raise ValueError(f"{symbology} barcode for {data!r} is too wide for the paper")
    row = _ink_from_rows([pattern.encode("ascii").translate(_BAR_BYTES)], len(pattern))
    return row.resize((len(pattern) * module, height), Image.Resampling.NEAREST), text


_BAR_BYTES = bytes.maketrans(b"01", b"\x00\x01")
