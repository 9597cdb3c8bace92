"""Spoken calls for the display ("请 A012 号到 3 号窗口"), made offline with espeak-ng.

The WAV for a (voice, ticket, counter) is made once and kept under the
instance folder, so a recall or a second display costs a file read.

Why ``cmn-latn-pinyin`` for Mandarin: in espeak-ng 1.51 (Debian 12) the plain
``cmn`` voice turns 汉字 into pinyin and then reads that pinyin as English
("qing3" comes out as "king three"); the pinyin variant reads the same
characters correctly. Digits are spelled one by one (A 零一二) because that
is how halls announce numbers, and "012" read as a number is "十二".
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile

CODE_RE = re.compile(r"^[A-Z][0-9]{3,6}$")
DIGITS_ZH = "零一二三四五六七八九"
#: espeak-ng voice names; the first one that exists is used.
ESPEAK_VOICES = {"cmn": ("cmn-latn-pinyin", "cmn"), "yue": ("yue",), "en": ("en",)}
#: Words per minute: a little slower than espeak's 175 for a hall full of elders.
SPEED = 150


class VoiceUnavailable(RuntimeError):
    """espeak-ng is missing or failed; the display still shows the call."""


def hanzi_number(n: int) -> str:
    """1 → 一, 10 → 十, 23 → 二十三 (counters are numbered 1–99)."""
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    text = ("" if tens < 2 else DIGITS_ZH[tens]) + ("十" if tens else "")
    return text + (DIGITS_ZH[ones] if ones or not tens else "")


def spoken_text(voice: str, code: str, counter: int, repeat: int = 1) -> str:
    """What the display says for a call, in ``voice`` ("cmn", "yue" or "en")."""
    if not CODE_RE.match(code) or not 0 < counter < 100:
        raise ValueError("not a ticket code and counter")
    letter, digits = code[0], code[1:]
    if voice == "en":
        sentence = f"Number {letter}, {' '.join(digits)}. Please go to counter {counter}."
    else:
        spelled = "".join(DIGITS_ZH[int(d)] for d in digits)
        # Traditional characters for Cantonese: espeak's yue dictionary knows them.
        sentence = (
            f"請 {letter}{spelled}號，到 {hanzi_number(counter)}號窗口。"
            if voice == "yue"
            else f"请 {letter}{spelled}号，到 {hanzi_number(counter)}号窗口。"
        )
    return " ".join([sentence] * repeat)


def espeak_binary() -> str | None:
    """Path of espeak-ng, or None (Debian package espeak-ng)."""
    return shutil.which("espeak-ng")


def _synthesise(voice: str, text: str, target: str) -> None:
    binary = espeak_binary()
    if binary is None:
        raise VoiceUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")
    last = ""
    for name in ESPEAK_VOICES[voice]:
        folder = os.path.dirname(target)
        fd, temp = tempfile.mkstemp(suffix=".wav", dir=folder)
        os.close(fd)
        try:
            done = subprocess.run(
                [binary, "-v", name, "-s", str(SPEED), "-w", temp, text], capture_output=True, timeout=20
            )
            if done.returncode == 0 and os.path.getsize(temp) > 44:
                # Rename is atomic: a display never reads a half-written file.
                os.replace(temp, target)
                return
            last = done.stderr.decode("utf-8", "replace").strip()
        finally:
            if os.path.exists(temp):
                os.unlink(temp)
    raise VoiceUnavailable(f"espeak-ng could not speak {voice}: {last}")


def audio_file(folder: str, voice: str, code: str, counter: int, repeat: int = 1) -> str:
    """The WAV announcing ``code`` to ``counter`` in ``voice``, made on first use and cached."""
    if voice not in ESPEAK_VOICES:
        raise ValueError(f"unknown voice {voice!r}")
    text = spoken_text(voice, code, counter, repeat)
    digest = hashlib.sha1(f"{voice}|{SPEED}|{text}".encode()).hexdigest()[:20]
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{voice}-{digest}.wav")
    if not os.path.exists(path):
        _synthesise(voice, text, path)
    return path
