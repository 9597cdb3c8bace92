"""Voucher codes: short enough to type, impossible to make up.

A code is the first 40 bits of HMAC-SHA256 over the station and voucher id,
keyed with the app's secret, written as 8 Crockford base-32 characters
(``K7QM-3XPA``). Without the secret nobody can compute the code of a voucher;
a made-up code matches a given voucher with odds of 1 in 2^40, and the only
place that checks codes is the attendant's logged-in page. The database keeps
the code for look-up, and redemption recomputes the HMAC, so a row slipped
into the table without the secret does not redeem either.

Crockford's alphabet leaves out I, L, O and U; when reading a typed code we map
O to 0 and I/L to 1, as people confuse them on paper.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import parse_qs, urlsplit

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
#: What the QR code says when the station has no public address for the staff page.
QR_PREFIX = "PARKING:"

_TYPO = str.maketrans({"O": "0", "I": "1", "L": "1"})


def _key(secret: str | bytes) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else secret
    # A key of its own, so a voucher MAC can never double as a session signature.
    return hmac.new(raw, b"kiosk.parking.voucher-code", hashlib.sha256).digest()


def _base32(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    bits = len(data) * 8
    out = []
    for i in range(length):
        shift = bits - 5 * (i + 1)
        out.append(ALPHABET[(number >> shift) & 31])
    return "".join(out)


def make_code(secret: str | bytes, station_id: int, voucher_id: int) -> str:
    """The voucher's code (8 characters, no dash)."""
    mac = hmac.new(_key(secret), f"{station_id}|{voucher_id}".encode(), hashlib.sha256).digest()
    return _base32(mac[:5], CODE_LENGTH)


def verify_code(secret: str | bytes, station_id: int, voucher_id: int, code: str) -> bool:
    """True when ``code`` is this voucher's code (constant-time comparison)."""
    return hmac.compare_digest(make_code(secret, station_id, voucher_id), normalize_code(code) or "")


def normalize_code(text: str | None) -> str | None:
    """The 8-character code in ``text`` (dashes, spaces and case ignored), else None."""
    value = re.sub(r"[\s\-]", "", (text or "").upper()).translate(_TYPO)
    if len(value) != CODE_LENGTH or any(c not in ALPHABET for c in value):
        return None
    return value


def display_code(code: str) -> str:
    """``K7QM3XPA`` → ``K7QM-3XPA`` (two groups are easier to read out and type)."""
    return f"{code[:4]}-{code[4:]}"


def qr_payload(code: str, redeem_url: str = "") -> str:
    """What the voucher's QR code holds.

    With the station's public address configured it is the attendant page's
    URL, so a phone's camera app opens the page with the code filled in;
    otherwise ``PARKING:<code>``.
    """
    if redeem_url:
        sep = "&" if "?" in redeem_url else "?"
        return f"{redeem_url}{sep}code={code}"
    return QR_PREFIX + code


def extract_code(text: str | None) -> str | None:
    """The code inside a scan or typed text: a bare code, ``PARKING:…`` or a redeem URL."""
    value = (text or "").strip()
    if not value:
        return None
    if value.upper().startswith(QR_PREFIX):
        return normalize_code(value[len(QR_PREFIX) :])
    if "://" in value or value.startswith("/"):
        codes = parse_qs(urlsplit(value).query).get("code")
        return normalize_code(codes[0]) if codes else None
    return normalize_code(value)
