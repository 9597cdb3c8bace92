"""Turning the key events a keyboard-wedge device sends into scanned text.

Two steps, both independent of where the bytes come from: ``InputEventParser``
cuts raw ``struct input_event`` records (what ``read()`` on /dev/input/eventN
returns) out of a byte stream, and ``KeystrokeDecoder`` turns key presses into
characters until the terminator key ends a scan.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from evdev import ecodes as e

from kiosk_hardware.readers.keymap import SHIFT_KEYS, TERMINATORS, char_for_key

# struct input_event { struct timeval time; __u16 type; __u16 code; __s32 value; }
# in the native ABI: the kernel writes it with the machine's own long size.
INPUT_EVENT = struct.Struct("@llHHi")

KEY_UP = 0
KEY_DOWN = 1
KEY_REPEAT = 2


class InputEvent(NamedTuple):
    """One decoded ``input_event`` record."""

    sec: int
    usec: int
    type: int
    code: int
    value: int


class InputEventParser:
    """Splits a byte stream into ``InputEvent`` records.

    A character device hands out whole records per ``read()``, but a pipe may split
    one anywhere, so a partial record is kept until the rest arrives.
    """

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[InputEvent]:
        """Return every complete record in ``data`` (plus what was left over before)."""
        buf = self._pending + data
        size = INPUT_EVENT.size
        whole = len(buf) - len(buf) % size
        self._pending = buf[whole:]
        return [InputEvent(*fields) for fields in INPUT_EVENT.iter_unpack(buf[:whole])]


class KeystrokeDecoder:
    """Accumulates typed characters and returns the text when a scan ends.

    Only key-down events type; auto-repeat is ignored because a scanner never
    holds a key. Keys that type nothing (function keys, Ctrl) are skipped.
    """

    def __init__(self, terminator: str = "enter") -> None:
        try:
            self._terminators = TERMINATORS[terminator]
        except KeyError:
            raise ValueError(f"unknown terminator {terminator!r}; use one of {sorted(TERMINATORS)}") from None
        self._chars: list[str] = []
        self._shift_down: set[int] = set()
        self._caps_lock = False

    def feed(self, event_type: int, code: int, value: int) -> str | None:
        """Process one input event; return the scanned text when it completes a scan."""
        if event_type != e.EV_KEY:
            return None
        if code in SHIFT_KEYS:
            if value == KEY_UP:
                self._shift_down.discard(code)
            else:
                self._shift_down.add(code)
            return None
        if value != KEY_DOWN:
            return None
        if code == e.KEY_CAPSLOCK:
            self._caps_lock = not self._caps_lock
            return None
        if code in self._terminators:
            text, self._chars = "".join(self._chars), []
            return text or None
        char = char_for_key(code, bool(self._shift_down), self._caps_lock)
        if char is not None:
            self._chars.append(char)
        return None

    def reset(self) -> None:
        """Forget a half-typed scan and modifier state (after the device was reopened)."""
        self._chars = []
        self._shift_down.clear()
        self._caps_lock = False
