"""Raw ``input_event`` records as a keyboard-wedge scanner produces them."""

from __future__ import annotations

from evdev import ecodes as e

from kiosk_hardware.readers.keymap import TERMINATORS, keys_for_char
from kiosk_hardware.readers.keystrokes import INPUT_EVENT, KEY_DOWN, KEY_UP, InputEvent

TERMINATOR_KEY = {name: min(codes) for name, codes in TERMINATORS.items()}


def scan_events(text: str, terminator: str = "enter", *, start_sec: int = 1_700_000_000) -> list[InputEvent]:
    """The events a US-layout scanner sends to type ``text`` and its terminator key.

    Each key press and release is followed by a SYN_REPORT, and Shift is pressed
    around shifted characters, as a USB HID keyboard does.
    """
    events: list[InputEvent] = []
    usec = 0

    def emit(event_type: int, code: int, value: int) -> None:
        nonlocal usec
        usec += 150  # scanners type a key every few hundred microseconds
        events.append(InputEvent(start_sec + usec // 1_000_000, usec % 1_000_000, event_type, code, value))

    def tap(code: int) -> None:
        for value in (KEY_DOWN, KEY_UP):
            emit(e.EV_KEY, code, value)
            emit(e.EV_SYN, e.SYN_REPORT, 0)

    for char in text:
        code, shifted = keys_for_char(char)
        if shifted:
            emit(e.EV_KEY, e.KEY_LEFTSHIFT, KEY_DOWN)
            emit(e.EV_SYN, e.SYN_REPORT, 0)
        tap(code)
        if shifted:
            emit(e.EV_KEY, e.KEY_LEFTSHIFT, KEY_UP)
            emit(e.EV_SYN, e.SYN_REPORT, 0)
    tap(TERMINATOR_KEY[terminator])
    return events


def encode(events: list[InputEvent]) -> bytes:
    """Pack events into the bytes ``read()`` returns from /dev/input/eventN."""
    return b"".join(INPUT_EVENT.pack(*event) for event in events)


def scan_bytes(text: str, terminator: str = "enter") -> bytes:
    """The raw bytes of one scan of ``text``."""
    return encode(scan_events(text, terminator))
