"""Which character a key produces on a US keyboard layout, with and without Shift.

Keyboard-wedge scanners and card readers "type" their reads as a US keyboard
would, whatever the station's desktop layout: they send key codes, not characters.
"""

from __future__ import annotations

from evdev import ecodes as e

# key code -> (unshifted, shifted)
US_LAYOUT: dict[int, tuple[str, str]] = {
    **{getattr(e, f"KEY_{c}"): (c.lower(), c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
    e.KEY_1: ("1", "!"),
    e.KEY_2: ("2", "@"),
    e.KEY_3: ("3", "#"),
    e.KEY_4: ("4", "$"),
    e.KEY_5: ("5", "%"),
    e.KEY_6: ("6", "^"),
    e.KEY_7: ("7", "&"),
    e.KEY_8: ("8", "*"),
    e.KEY_9: ("9", "("),
    e.KEY_0: ("0", ")"),
    e.KEY_MINUS: ("-", "_"),
    e.KEY_EQUAL: ("=", "+"),
    e.KEY_LEFTBRACE: ("[", "{"),
    e.KEY_RIGHTBRACE: ("]", "}"),
    e.KEY_BACKSLASH: ("\\", "|"),
    e.KEY_SEMICOLON: (";", ":"),
    e.KEY_APOSTROPHE: ("'", '"'),
    e.KEY_GRAVE: ("`", "~"),
    e.KEY_COMMA: (",", "<"),
    e.KEY_DOT: (".", ">"),
    e.KEY_SLASH: ("/", "?"),
    e.KEY_SPACE: (" ", " "),
}

# The numeric keypad ignores Shift for our purposes (NumLock is assumed on, which
# is how scanners that use it are configured).
KEYPAD: dict[int, str] = {
    **{getattr(e, f"KEY_KP{d}"): str(d) for d in range(10)},
    e.KEY_KPMINUS: "-",
    e.KEY_KPPLUS: "+",
    e.KEY_KPASTERISK: "*",
    e.KEY_KPSLASH: "/",
    e.KEY_KPDOT: ".",
}

SHIFT_KEYS = frozenset({e.KEY_LEFTSHIFT, e.KEY_RIGHTSHIFT})
LETTER_KEYS = frozenset(getattr(e, f"KEY_{c}") for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

# Suffix keys a scanner can be set to send after each read.
TERMINATORS: dict[str, frozenset[int]] = {
    "enter": frozenset({e.KEY_ENTER, e.KEY_KPENTER}),
    "tab": frozenset({e.KEY_TAB}),
}


def char_for_key(code: int, shifted: bool, caps_lock: bool = False) -> str | None:
    """The character key ``code`` types, or None for keys that type nothing."""
    if code in KEYPAD:
        return KEYPAD[code]
    pair = US_LAYOUT.get(code)
    if pair is None:
        return None
    # Caps Lock inverts Shift for letters only, as on a PC keyboard.
    if caps_lock and code in LETTER_KEYS:
        shifted = not shifted
    return pair[1] if shifted else pair[0]


def keys_for_char(char: str) -> tuple[int, bool]:
    """The (key code, needs Shift) that types ``char``; the inverse of ``char_for_key``."""
    for code, (plain, shifted) in US_LAYOUT.items():
        if char == plain:
            return code, False
        if char == shifted:
            return code, True
    raise ValueError(f"{char!r} cannot be typed on a US keyboard")
