"""Who may read more of a request than the public answer: Open311 read keys and opaque public ids.

Anonymous callers of the Open311 API get the category, a coarse place, the
status and the dates of a request, under an opaque ``service_request_id``
(:func:`public_id`) that says nothing about how many requests there are and
cannot be guessed from a neighbour's. A read key (``[[plugins.petitions.open311.read_keys]]``)
unlocks more, scope by scope:

- ``read:details``: the description and the latest staff note, masked
  (:func:`kiosk_plugins.petitions.present.public_text`), and the tracking number;
- ``read:location``: the exact position and the address as given;
- ``read:photos``: the photo link, which itself needs the key (or staff login).

Only the key's SHA-256 is kept in the station file; a key is 32 random bytes,
so an unsalted hash is as strong as the key. Keys are compared as hashes in
constant time. Make one with ``python -m kiosk_plugins.petitions.apikeys
[--name NAME] [--scope read:details ...]``: it prints the key (give it to the
client, it is not stored) and the lines for the station file.

The opaque id is a keyed permutation of the row id (:func:`public_id`), so
nothing is stored for it; it is derived from the station's secret key, and a
new secret key gives every request a new public id (a client re-reads the list).

A key travels in the ``X-Api-Key`` header or as the ``api_key`` query
parameter the Open311 specification names (the header keeps it out of logs).

Wrong keys are guesses: after a few from one client, each further key that
client sends waits twice as long as the one before (:mod:`kiosk.ratelimit`'s
back-off, bucket :data:`KEY_GUESSES`), whether it reads or files. Without
that, a read answering 200 for a filing key and 403 for anything else let
anyone try an operator's filing key at full speed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sys

from flask import current_app, g, request

from kiosk import ratelimit, sync

__all__ = [
    "KEY_GUESSES",
    "InvalidKey",
    "check_guess",
    "given_key",
    "hash_key",
    "id_from_public",
    "new_key",
    "public_id",
    "scopes",
    "staff_may_see",
]

#: What an opaque public id looks like: 16 lower-case hex digits (a 64-bit block).
PUBLIC_ID_RE = re.compile(r"^[0-9a-f]{16}$")
#: Largest database id a public id may decode to (a 32-bit integer column on PostgreSQL).
MAX_ROW_ID = 2**31 - 1
_ROUNDS = 4
#: The back-off bucket of wrong Open311 keys, read and filing keys alike.
KEY_GUESSES = "petitions.open311.key"


class InvalidKey(Exception):
    """A key was given but matches none of the station's read keys."""


def hash_key(key: str) -> str:
    """The SHA-256 of ``key`` as 64 lower-case hex digits (what the station file keeps)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh key and its SHA-256."""
    key = secrets.token_urlsafe(32)
    return key, hash_key(key)


def given_key() -> str:
    """The key the caller sent (``X-Api-Key`` header or ``api_key`` query parameter), or ``""``.

    Not ``Authorization``: other parts of the station use bearer tokens of their own.
    """
    key = request.headers.get("X-Api-Key", "")
    if not key:
        key = request.args.get("api_key", "")
    return key.strip()


def check_guess() -> None:
    """Raise :class:`kiosk.ratelimit.RateLimited` while this client must wait after wrong keys."""
    # A program, not a resident mistyping at a kiosk: the same few free tries from a terminal.
    wait = ratelimit.wait_before_guess(KEY_GUESSES, free=5, terminal_free=5, cap=600)
    if wait:
        raise ratelimit.RateLimited(wait)


def scopes(settings) -> frozenset[str]:
    """The scopes the caller's key grants: none without a key or with a filing key; :class:`InvalidKey` else.

    :class:`kiosk.ratelimit.RateLimited` while the client waits after wrong keys (a wrong one counts).
    """
    key = given_key()
    if not key:
        return frozenset()
    check_guess()
    digest = hash_key(key)
    granted: frozenset[str] = frozenset()
    found = False
    for read_key in settings.open311_read_keys:
        # Every key is compared, so the time taken does not tell which one matched.
        if hmac.compare_digest(digest, read_key.sha256):
            found, granted = True, granted | read_key.scopes
    if not found:
        # A filing key (Open311 clients send theirs with every call) reads what anyone reads.
        if any(hmac.compare_digest(key.encode(), k.encode()) for k in settings.open311_keys):
            return frozenset()
        ratelimit.guess_failed(KEY_GUESSES)
        raise InvalidKey()
    return granted


def staff_may_see(station_id: int) -> bool:
    """Whether the logged-in user is staff who may see a request of ``station_id``.

    At the hub, district staff see every station's; community staff their own.
    """
    user = g.get("user")
    if user is None or not user.can("staff"):
        return False
    if sync.is_hub() and not user.can("district"):
        return user.station_id == station_id
    return True


def _round_key() -> bytes:
    secret = current_app.secret_key or ""
    secret_bytes = secret if isinstance(secret, bytes) else str(secret).encode()
    return hmac.new(secret_bytes, b"petitions.open311.public-id", hashlib.sha256).digest()


def _f(key: bytes, round_no: int, half: int) -> int:
    mac = hmac.new(key, bytes([round_no]) + half.to_bytes(4, "big"), hashlib.sha256).digest()
    return int.from_bytes(mac[:4], "big")


def public_id(row_id: int) -> str:
    """The opaque id of the request with database id ``row_id``: a keyed 64-bit permutation (Feistel, 4 rounds)."""
    key = _round_key()
    left, right = (row_id >> 32) & 0xFFFFFFFF, row_id & 0xFFFFFFFF
    for round_no in range(_ROUNDS):
        left, right = right, left ^ _f(key, round_no, right)
    return f"{(left << 32) | right:016x}"


def id_from_public(value: str) -> int | None:
    """The database id behind an opaque id, or None when ``value`` is not one this station gave out."""
    if not PUBLIC_ID_RE.match(value or ""):
        return None
    key = _round_key()
    number = int(value, 16)
    left, right = number >> 32, number & 0xFFFFFFFF
    for round_no in reversed(range(_ROUNDS)):
        left, right = right ^ _f(key, round_no, left), left
    row_id = (left << 32) | right
    return row_id if 0 < row_id <= MAX_ROW_ID else None


def main(argv: list[str]) -> int:
    """``python -m kiosk_plugins.petitions.apikeys [--name NAME] [--scope SCOPE ...]``: print a new key."""
    from kiosk_plugins.petitions.settings import READ_SCOPES

    name, wanted = "client", []
    args = list(argv)
    while args:
        flag = args.pop(0)
        if flag in ("--name", "--scope") and args:
            value = args.pop(0)
            if flag == "--name":
                name = value
            else:
                wanted.append(value)
        else:
            print(
                f"usage: python -m kiosk_plugins.petitions.apikeys [--name NAME] [--scope {'|'.join(READ_SCOPES)}]..."
            )
            return 2
    unknown = [s for s in wanted if s not in READ_SCOPES]
    if unknown or not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name):
        print(f"scopes are {', '.join(READ_SCOPES)}; a name is 1-40 letters, digits, _ . -", file=sys.stderr)
        return 2
    key, digest = new_key()
    print(f"key (give it to the client; it is not stored): {key}")
    print("\n[[plugins.petitions.open311.read_keys]]")
    print(f'name = "{name}"')
    print(f'sha256 = "{digest}"')
    print("scopes = [" + ", ".join(f'"{s}"' for s in (wanted or ["read:details"])) + "]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
