"""Voucher codes: short enough to type, impossible to make up, checkable at the district hub.

A voucher is issued at a station, often while the station cannot reach the
hub, and the car park attendant checks it on the hub's page. So the code must
carry everything the hub needs before the voucher's record arrives, and be
signed with a key the hub has: the station's sync signing key
(:func:`kiosk.sync.sign`, verified at the hub with :func:`kiosk.sync.verify`).

A code reads, in Crockford base-32 (no I, L, O or U)::

    TAG  SERIAL  LOT(2)  DAY(1)  SIGNATURE(8)
    SB2K 3       01      A       7QM3XPA9      → shown as SB2K-301A-7QM3-XPA9

- ``TAG``: the station's tag (:func:`kiosk.stations.station_tag`), so the hub
  knows whose key signed it;
- ``SERIAL``: the voucher's number at that station (its row id there), the
  key redemptions are unique on;
- ``LOT``: the car park's number at that station (two characters, up to 1023);
- ``DAY``: the last day the voucher is valid, modulo 32 (the hub tries the few
  days near today that fit, and the signature tells which one is meant);
- ``SIGNATURE``: 40 bits of the station's HMAC over all of the above with the
  full date, so one changed character, another station's key or another
  day or lot makes it fail (a guess matches with odds of 1 in 2^40).

Codes made before the district (8 characters, an HMAC keyed with the app's
secret) still verify at their station, and at the hub once their record has
arrived (the record came over the station's authenticated sync).

When reading a typed code we map O to 0 and I/L to 1, as people confuse them
on paper, and ignore dashes, spaces and case.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

from kiosk import sync
from kiosk.typed import plain

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Length of a code made before the district (HMAC with the app's secret).
CODE_LENGTH = 8
LEGACY_LENGTH = CODE_LENGTH
#: Characters of the station signature at the end of a code (40 bits; the sync core's minimum).
SIGNATURE_LENGTH = 8
#: Characters for the car park's number and the valid-until day.
LOT_LENGTH, DAY_LENGTH = 2, 1
MAX_LOT_REF = 32**LOT_LENGTH - 1
#: A serial fits in 7 characters (35 bits).
MAX_SERIAL_LENGTH = 7
#: Tags are 2–6 characters (kiosk.stations).
MIN_TAG, MAX_TAG = 2, 6
_TAIL = LOT_LENGTH + DAY_LENGTH + SIGNATURE_LENGTH
MIN_LENGTH = MIN_TAG + 1 + _TAIL
MAX_LENGTH = MAX_TAG + MAX_SERIAL_LENGTH + _TAIL
#: How far from today the hub looks for the valid-until day a code's DAY character stands for.
DAY_WINDOW = 64
#: What the QR code says when the station has no public address for the staff page.
QR_PREFIX = "PARKING:"

_TYPO = str.maketrans({"O": "0", "I": "1", "L": "1"})
#: RFC 4648 base-32 (what kiosk.sync.sign writes) ↔ Crockford, one character for one 5-bit value.
_RFC = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD = str.maketrans(_RFC, ALPHABET)
_TO_RFC = str.maketrans(ALPHABET, _RFC)


# --- the shape of a code ------------------------------------------------------------------------


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
    """A code as made before the district (8 characters): kept so those vouchers still verify."""
    mac = hmac.new(_key(secret), f"{station_id}|{voucher_id}".encode(), hashlib.sha256).digest()
    return _base32(mac[:5], CODE_LENGTH)


def verify_code(secret: str | bytes, station_id: int, voucher_id: int, code: str) -> bool:
    """True when ``code`` is this voucher's code of the earlier kind (constant-time comparison)."""
    return hmac.compare_digest(make_code(secret, station_id, voucher_id), normalize_code(code) or "")


def number(value: int, length: int | None = None) -> str:
    """``value`` in Crockford base-32, at least ``length`` characters (or as few as it takes)."""
    out = ""
    while True:
        out = ALPHABET[value % 32] + out
        value //= 32
        if not value and (length is None or len(out) >= length):
            return out


def _value(text: str) -> int:
    result = 0
    for char in text:
        result = result * 32 + ALPHABET.index(char)
    return result


def normalize_tag(tag: str) -> str:
    """A station tag as it reads inside a typed code (O → 0, I/L → 1, upper case)."""
    return (tag or "").upper().translate(_TYPO)


def message(tag: str, serial: int, lot_ref: int, valid_until: date) -> str:
    """What the station signs: every fact the code carries, the day in full."""
    return f"kiosk.parking.voucher|{tag.upper()}|{serial}|{lot_ref}|{valid_until.isoformat()}"


def compose(tag: str, serial: int, lot_ref: int, valid_until: date, signature: str) -> str:
    """The code (no dashes) from its parts; ``signature`` as :func:`kiosk.sync.sign` wrote it."""
    if not 0 <= lot_ref <= MAX_LOT_REF:
        raise ValueError(f"car park number {lot_ref} does not fit in a voucher code")
    serial_text = number(serial)
    if len(serial_text) > MAX_SERIAL_LENGTH:
        raise ValueError(f"voucher number {serial} does not fit in a voucher code")
    return (
        tag.upper()
        + serial_text
        + number(lot_ref, LOT_LENGTH)
        + ALPHABET[valid_until.toordinal() % 32]
        + signature[:SIGNATURE_LENGTH].upper().translate(_TO_CROCKFORD)
    )


@dataclass(frozen=True)
class Parts:
    """A code read against a station's tag: what it claims, before the signature is checked."""

    tag: str
    serial: int
    lot_ref: int
    day_mod: int
    signature: str  # as kiosk.sync.verify reads it (RFC 4648 letters)

    def days(self, today: date, window: int = DAY_WINDOW) -> list[date]:
        """The days near ``today`` the code's DAY character can stand for, nearest first."""
        offsets = [d for d in range(-window, window + 1) if (today.toordinal() + d) % 32 == self.day_mod]
        found = [today + timedelta(days=d) for d in offsets]
        return sorted(found, key=lambda day: abs((day - today).days))


def split(code: str, tag: str) -> Parts | None:
    """The parts of ``code`` (normalized) if it starts with ``tag``; else None."""
    prefix = normalize_tag(tag)
    if not prefix or not code.startswith(prefix):
        return None
    body = code[len(prefix) :]
    serial_text = body[:-_TAIL]
    if not 1 <= len(serial_text) <= MAX_SERIAL_LENGTH or any(c not in ALPHABET for c in body):
        return None
    tail = body[-_TAIL:]
    return Parts(
        tag=tag.upper(),
        serial=_value(serial_text),
        lot_ref=_value(tail[:LOT_LENGTH]),
        day_mod=ALPHABET.index(tail[LOT_LENGTH]),
        signature=tail[LOT_LENGTH + DAY_LENGTH :].translate(_TO_RFC),
    )


def is_legacy(code: str) -> bool:
    """A code made before the district (8 characters, no station tag)."""
    return len(code) == LEGACY_LENGTH


# --- signing and checking (need the database: the keys live there) -----------------------------


def sign_voucher(session, *, station_id: int, tag: str, serial: int, lot_ref: int, valid_until: date) -> str:
    """The code of a voucher issued at this station, signed with the station's sync signing key."""
    signature = sync.sign(
        session, message(tag, serial, lot_ref, valid_until), station_id=station_id, length=SIGNATURE_LENGTH
    )
    return compose(tag, serial, lot_ref, valid_until, signature)


@dataclass(frozen=True)
class Verified:
    """A code whose signature holds: the voucher it names, for certain."""

    station_id: int
    serial: int
    lot_ref: int
    valid_until: date


def check(session, code: str, *, station_id: int, tag: str, today: date) -> Verified | None:
    """The voucher ``code`` names if ``station_id``'s key signed it (tag ``tag``); else None.

    ``station_id`` is the station's id in this database (at the hub: its hub row).
    """
    parts = split(code, tag)
    if parts is None:
        return None
    for day in parts.days(today):
        text = message(parts.tag, parts.serial, parts.lot_ref, day)
        if sync.verify(session, text, parts.signature, station_id=station_id):
            return Verified(station_id=station_id, serial=parts.serial, lot_ref=parts.lot_ref, valid_until=day)
    return None


# --- reading and showing ------------------------------------------------------------------------


def normalize_code(text: str | None) -> str | None:
    """The code in ``text`` (dashes, spaces and case ignored, O/I/L read as 0/1), else None.

    An 8-character code must be all base-32 (the earlier kind); a longer one may
    hold a U in its station tag.
    """
    value = re.sub(r"[\s\-]", "", plain(text).upper()).translate(_TYPO)
    if len(value) == LEGACY_LENGTH:
        return value if all(c in ALPHABET for c in value) else None
    if not MIN_LENGTH <= len(value) <= MAX_LENGTH or any(c not in ALPHABET + "U" for c in value):
        return None
    return value


def display_code(code: str) -> str:
    """``SB2K301A7QM3XPA9`` → ``SB2K-301A-7QM3-XPA9`` (groups of four are easier to read out and type)."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def qr_payload(code: str, redeem_url: str = "") -> str:
    """What the voucher's QR code holds.

    With a public address for the attendant's page (the hub's, once the station
    is enrolled) it is that page's URL, so a phone's camera app opens the page
    with the code filled in; otherwise ``PARKING:<code>``.
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
