"""Spoken calls for the display ("请 A012 号到 3 号窗口"), made offline with espeak-ng.

The WAV for a (voice, ticket, counter) is made once and kept under the
instance folder, so a recall or a second display costs a file read. The URL
is public (the wall display has no login), so nothing is made for a caller's
whim: the display route asks :func:`is_real_call` first (a ticket called
today at this station to that counter, in a voice the station speaks), and
the folder is kept under a size bound (:data:`CACHE_MAX_BYTES`), the least
recently played files going first. Making a file takes the folder's lock
(``.lock``, an ``flock`` that holds across threads and worker processes), so
two displays asking for the same new call run espeak-ng once.

Why ``cmn-latn-pinyin`` for Mandarin: in espeak-ng 1.51 (Debian 12) the plain
``cmn`` voice turns 汉字 into pinyin and then reads that pinyin as English
("qing3" comes out as "king three"); the pinyin variant reads the same
characters correctly. Digits are spelled one by one (A 零一二) because that
is how halls announce numbers, and "012" read as a number is "十二".
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

from sqlalchemy import select

from kiosk import clock
from kiosk_plugins.legal.models import Ticket
from kiosk_plugins.legal.runtime import settings

CODE_RE = re.compile(r"^[A-Z][0-9]{3,6}$")
DIGITS_ZH = "零一二三四五六七八九"
#: espeak-ng voice names; the first one that exists is used.
ESPEAK_VOICES = {"cmn": ("cmn-latn-pinyin", "cmn"), "yue": ("yue",), "en": ("en",)}
#: Words per minute: a little slower than espeak's 175 for a hall full of elders.
SPEED = 150
#: The voice folder's bound: about 350 calls of ~190 KB, a busy day's calls in three voices.
CACHE_MAX_BYTES = 64 * 1024 * 1024
LOCK_NAME = ".lock"


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


def _cached(folder: str) -> list[tuple[float, int, str]]:
    """(last played, size, path) of every finished WAV in ``folder``, oldest first."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            # Temporary files of a synthesis under way start with "tmp" and are not ours to remove.
            if entry.name.endswith(".wav") and not entry.name.startswith("tmp"):
                try:
                    stat = entry.stat()
                except FileNotFoundError:
                    continue
                found.append((stat.st_mtime, stat.st_size, entry.path))
    return sorted(found)


def prune(folder: str, max_bytes: int = CACHE_MAX_BYTES, keep: str | None = None) -> int:
    """Remove the least recently played WAVs until ``folder`` holds at most ``max_bytes``.

    ``keep`` (the file just made) is never removed, even if it alone is over
    the bound. Returns how many files were removed.
    """
    if not os.path.isdir(folder):
        return 0
    files = _cached(folder)
    total = sum(size for _at, size, _path in files)
    removed = 0
    for _at, size, path in files:
        if total <= max_bytes:
            break
        if path == keep:
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        total -= size
        removed += 1
    return removed


def cache_size(folder: str) -> tuple[int, int]:
    """(files, bytes) the voice folder holds now."""
    if not os.path.isdir(folder):
        return 0, 0
    files = _cached(folder)
    return len(files), sum(size for _at, size, _path in files)


def audio_file(
    folder: str, voice: str, code: str, counter: int, repeat: int = 1, max_bytes: int = CACHE_MAX_BYTES
) -> str:
    """The WAV announcing ``code`` to ``counter`` in ``voice``, made on first use and cached.

    The caller decides whether the call is real (:func:`is_real_call`): this
    function makes whatever it is asked for. The folder stays under
    ``max_bytes`` (checked each time a file is made).
    """
    if voice not in ESPEAK_VOICES:
        raise ValueError(f"unknown voice {voice!r}")
    text = spoken_text(voice, code, counter, repeat)
    digest = hashlib.sha1(f"{voice}|{SPEED}|{text}".encode()).hexdigest()[:20]
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{voice}-{digest}.wav")
    if _touch(path):
        return path
    with open(os.path.join(folder, LOCK_NAME), "a") as lock:
        # One synthesis at a time per folder: the second asker of the same call
        # finds the file made when the lock is its turn; calls are seconds apart.
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not _touch(path):
                _synthesise(voice, text, path)
                prune(folder, max_bytes, keep=path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path


def _touch(path: str) -> bool:
    """Mark ``path`` as just played (the bound removes the least recently played); False if it is not there."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


def is_real_call(session, station, voice: str, code: str, counter: int) -> bool:
    """Whether the display may announce ``code`` to ``counter`` in ``voice``.

    True only for a voice the station speaks and a ticket called to that
    counter today at this station: anything else is a 404 before espeak-ng
    runs or a byte is written.
    """
    if voice not in ESPEAK_VOICES or voice not in settings().voices:
        return False
    if not CODE_RE.match(code) or not 0 < counter < 100:
        return False
    found = session.scalar(
        select(Ticket.id)
        .where(
            Ticket.station_id == station.id,
            Ticket.day == clock.today(station),
            Ticket.code == code,
            Ticket.counter == counter,
            Ticket.called_at.is_not(None),
        )
        .limit(1)
    )
    return found is not None


def cache_limit() -> int:
    """The voice folder's bound in bytes: the legal setting ``voice_cache_mb`` if the station has one."""
    megabytes = getattr(settings(), "voice_cache_mb", None)
    return int(megabytes * 1024 * 1024) if megabytes else CACHE_MAX_BYTES
