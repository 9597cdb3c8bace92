"""Spoken calls for the display ("请 A012 号到 3 号窗口"), made offline with espeak-ng.

The WAV for a (voice, ticket, counter) is made once and kept under the
instance folder, so a recall or a second display costs a file read. The URL
is public (the wall display has no login), so nothing is made for a caller's
whim: the display route asks :func:`is_real_call` first (a ticket called
today at this station to that counter, in a voice the station speaks), and
the folder is kept under a size bound (:data:`CACHE_MAX_BYTES`), the least
recently played files going first. The making, the bound and the folder's
lock (so two displays asking for the same new call run espeak-ng once) are
the core's :class:`kiosk.speech.SpeechCache`, which the kiosk screens' spoken
guidance uses too.

Why ``cmn-latn-pinyin`` for Mandarin: in espeak-ng 1.51 (Debian 12) the plain
``cmn`` voice turns 汉字 into pinyin and then reads that pinyin as English
("qing3" comes out as "king three"); the pinyin variant reads the same
characters correctly. Digits are spelled one by one (A 零一二) because that
is how halls announce numbers, and "012" read as a number is "十二".
"""

from __future__ import annotations

import re

from sqlalchemy import select

from kiosk import clock, speech
from kiosk_plugins.legal.models import Ticket
from kiosk_plugins.legal.runtime import settings

CODE_RE = re.compile(r"^[A-Z][0-9]{3,6}$")
DIGITS_ZH = "零一二三四五六七八九"
#: espeak-ng voice names; the first one that exists is used.
ESPEAK_VOICES = speech.ESPEAK_VOICES
#: Words per minute: a little slower than espeak's 175 for a hall full of elders.
SPEED = 150
#: The voice folder's bound: about 350 calls of ~190 KB, a busy day's calls in three voices.
CACHE_MAX_BYTES = 64 * 1024 * 1024
#: espeak-ng is missing or failed; the display still shows the call.
VoiceUnavailable = speech.VoiceUnavailable


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
    return speech.espeak_binary()


def cache(folder: str, max_bytes: int = CACHE_MAX_BYTES) -> speech.SpeechCache:
    """The voice folder: the core's bounded espeak-ng cache (:class:`kiosk.speech.SpeechCache`)."""
    return speech.SpeechCache(folder, max_bytes, speed=SPEED)


def cache_size(folder: str) -> tuple[int, int]:
    """(files, bytes) the voice folder holds now."""
    return cache(folder).size()


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
    return cache(folder, max_bytes).audio(voice, spoken_text(voice, code, counter, repeat))


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
