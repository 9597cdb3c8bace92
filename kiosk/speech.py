"""Spoken guidance on kiosk screens, and the offline speech engine (espeak-ng) behind every voice.

Residents who cannot read well hear each kiosk screen: what the screen is and
what to do on it. Guidance is **on by default in large-text mode** and a
visible switch in every kiosk screen's header (语音引导) turns it on or off
for the current visitor; the idle reset forgets the choice with everything else.

What a screen says
    The text of the page's elements marked ``data-guide`` (in page order), or
    else its first ``<h1>``. Text inside an element marked ``data-speak="no"``
    is never spoken (a rider's name on their own menu), and whatever
    :func:`kiosk.privacy.mask_in_text` would mask (phones, ID and card numbers,
    plates, e-mail addresses) is left out: a public hall hears it. Plugin
    pages need nothing more than a good ``<h1>``; a longer instruction gets
    ``data-guide``::

        <h1 data-guide>{{ _("Rider rest station: check in") }}</h1>
        <p class="lead" data-guide>{{ _("Tap your card on the reader, or type your phone number.") }}</p>

Nothing is made for a caller's whim
    The clip's URL carries the text signed with the station's secret key
    (:func:`clip_url`), so the server only ever speaks what it rendered itself;
    clips are made once per (voice, text) and kept in a folder under a size
    bound (``[speech] cache_mb``), the least recently played going first; and
    making a new clip counts against the client's rate limit.

The engine (:class:`SpeechCache`) is the one the legal queue's calling
display uses too: one espeak-ng per folder at a time (an ``flock`` that holds
across worker processes), atomic renames so a player never reads half a file.

Why ``cmn-latn-pinyin`` for Mandarin: in espeak-ng 1.51 (Debian 12) the plain
``cmn`` voice turns 汉字 into pinyin and then reads that pinyin as English; the
pinyin variant reads the same characters correctly. Traditional Chinese is
spoken in Cantonese (``yue``), as most readers of it in Shenzhen speak it.
"""

from __future__ import annotations

import fcntl
import hashlib
import html
import os
import re
import shutil
import subprocess
import tempfile

from flask import Blueprint, abort, current_app, redirect, request, send_file, session, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from kiosk.auth import safe_next
from kiosk.ratelimit import limited as _limited

__all__ = [
    "ESPEAK_VOICES",
    "LANGUAGE_VOICES",
    "SpeechCache",
    "VoiceUnavailable",
    "clip_url",
    "espeak_binary",
    "guidance_enabled",
    "guidance_text",
    "speakable",
]

#: espeak-ng voice names for each spoken language; the first one that exists is used.
ESPEAK_VOICES = {"cmn": ("cmn-latn-pinyin", "cmn"), "yue": ("yue",), "en": ("en",)}
#: The voice each interface language is spoken in.
LANGUAGE_VOICES = {"zh_Hans": "cmn", "zh_Hant": "yue", "en": "en"}
#: Words per minute: a little slower than espeak's 175 for a hall full of elders.
SPEED = 150
#: Longest text one clip speaks (characters); longer guidance is cut at a sentence.
MAX_CHARS = 240
LOCK_NAME = ".lock"
_SALT = "kiosk-speech-guidance"

bp = Blueprint("speech", __name__, url_prefix="/speech")


class VoiceUnavailable(RuntimeError):
    """espeak-ng is missing or failed; the screen still shows everything it would have said."""


def espeak_binary() -> str | None:
    """Path of espeak-ng, or None (Debian package espeak-ng)."""
    return shutil.which("espeak-ng")


class SpeechCache:
    """WAV files made by espeak-ng on first use, kept in ``folder`` under ``max_bytes``.

    :meth:`audio` makes whatever it is asked for: callers decide what may be
    spoken (a real call, a text the server rendered).
    """

    def __init__(self, folder: str, max_bytes: int, speed: int = SPEED):
        self.folder = folder
        self.max_bytes = max_bytes
        self.speed = speed

    def path_for(self, voice: str, text: str) -> str:
        """Where the clip of ``text`` in ``voice`` lives (made or not)."""
        digest = hashlib.sha1(f"{voice}|{self.speed}|{text}".encode()).hexdigest()[:20]
        return os.path.join(self.folder, f"{voice}-{digest}.wav")

    def cached(self, voice: str, text: str) -> str | None:
        """The clip's path if it is made already (marked as just played), else None."""
        path = self.path_for(voice, text)
        return path if _touch(path) else None

    def audio(self, voice: str, text: str) -> str:
        """The clip of ``text`` in ``voice``, made on first use; the folder is pruned after each new one."""
        if voice not in ESPEAK_VOICES:
            raise ValueError(f"unknown voice {voice!r}")
        path = self.path_for(voice, text)
        if _touch(path):
            return path
        os.makedirs(self.folder, exist_ok=True)
        with open(os.path.join(self.folder, LOCK_NAME), "a") as lock:
            # One synthesis at a time per folder: the second asker of the same clip
            # finds it made when the lock is its turn.
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not _touch(path):
                    self._synthesise(voice, text, path)
                    self.prune(keep=path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return path

    def _synthesise(self, voice: str, text: str, target: str) -> None:
        binary = espeak_binary()
        if binary is None:
            raise VoiceUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")
        last = ""
        for name in ESPEAK_VOICES[voice]:
            fd, temp = tempfile.mkstemp(suffix=".wav", dir=self.folder)
            os.close(fd)
            try:
                done = subprocess.run(
                    [binary, "-v", name, "-s", str(self.speed), "-w", temp, text], capture_output=True, timeout=20
                )
                if done.returncode == 0 and os.path.getsize(temp) > 44:
                    os.replace(temp, target)  # atomic: a player never reads a half-written file
                    return
                last = done.stderr.decode("utf-8", "replace").strip()
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
        raise VoiceUnavailable(f"espeak-ng could not speak {voice}: {last}")

    def _files(self) -> list[tuple[float, int, str]]:
        """(last played, size, path) of every finished clip, oldest first."""
        found = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                # Temporary files of a synthesis under way start with "tmp" and are not ours to remove.
                if entry.name.endswith(".wav") and not entry.name.startswith("tmp"):
                    try:
                        stat = entry.stat()
                    except FileNotFoundError:
                        continue
                    found.append((stat.st_mtime, stat.st_size, entry.path))
        return sorted(found)

    def prune(self, keep: str | None = None) -> int:
        """Remove the least recently played clips until the folder holds at most ``max_bytes``.

        ``keep`` (the clip just made) is never removed, even if it alone is over
        the bound. Returns how many files were removed.
        """
        if not os.path.isdir(self.folder):
            return 0
        files = self._files()
        total = sum(size for _at, size, _path in files)
        removed = 0
        for _at, size, path in files:
            if total <= self.max_bytes:
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

    def size(self) -> tuple[int, int]:
        """(files, bytes) the folder holds now."""
        if not os.path.isdir(self.folder):
            return 0, 0
        files = self._files()
        return len(files), sum(size for _at, size, _path in files)


def _touch(path: str) -> bool:
    """Mark ``path`` as just played (the bound removes the least recently played); False if it is not there."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


# -- what a screen says ----------------------------------------------------------------------------------
_SILENT = re.compile(r"<(?P<tag>[a-zA-Z][a-zA-Z0-9]*)\b[^>]*\bdata-speak=[\"']no[\"'][^>]*>.*?</(?P=tag)>", re.S)
_GUIDE = re.compile(r"<(?P<tag>[a-zA-Z][a-zA-Z0-9]*)\b[^>]*\bdata-guide\b[^>]*>(?P<body>.*?)</(?P=tag)>", re.S)
_H1 = re.compile(r"<h1\b[^>]*>(?P<body>.*?)</h1>", re.S)
_HIDDEN = re.compile(r"<(?P<tag>[a-zA-Z][a-zA-Z0-9]*)\b[^>]*\baria-hidden=[\"']true[\"'][^>]*>.*?</(?P=tag)>", re.S)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"[。！？.!?]")


def speakable(text: str) -> str:
    """``text`` as it may be said aloud in a public hall: personal data left out, at most :data:`MAX_CHARS`."""
    from kiosk.privacy import mask_in_text

    masked = mask_in_text(text)
    # A masked item is left out altogether: "139****5678" read aloud still tells half a number.
    words = [word for word in masked.split(" ") if "*" not in word]
    spoken = _SPACE.sub(" ", " ".join(words)).strip(" ·:：,，")
    if len(spoken) > MAX_CHARS:
        cut = spoken[:MAX_CHARS]
        ends = [m.end() for m in _SENTENCE_END.finditer(cut)]
        spoken = cut[: ends[-1]] if ends else cut
    return spoken


def guidance_text(page: str) -> str:
    """What the kiosk page ``page`` (its HTML) says: its ``data-guide`` elements, or its first ``<h1>``."""
    body = _HIDDEN.sub(" ", _SILENT.sub(" ", page))
    parts = [m.group("body") for m in _GUIDE.finditer(body)]
    if not parts:
        first = _H1.search(body)
        parts = [first.group("body")] if first else []
    sentences = []
    for part in parts:
        text = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", part))).strip()
        if text:
            sentences.append(text if _SENTENCE_END.search(text[-1]) else text + ("." if text.isascii() else "。"))
    return speakable(" ".join(sentences))


def guidance_enabled() -> bool:
    """Whether this visitor hears the screens: their own choice, else on in large-text mode."""
    if not current_app.config["SPEECH"]["guidance"]:
        return False
    chosen = session.get("speech")
    return bool(session.get("large_text", False)) if chosen is None else bool(chosen)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key or "", salt=_SALT)


def clip_url(lang: str, text: str) -> str:
    """A URL that plays ``text`` in ``lang``'s voice; signed, so only texts the server chose are spoken."""
    return url_for("speech.clip", token=_serializer().dumps([lang, text]))


def _cache() -> SpeechCache:
    return SpeechCache(
        os.path.join(current_app.instance_path, "speech"), current_app.config["SPEECH"]["cache_mb"] * 1024 * 1024
    )


@bp.route("/clip/<token>.wav")
def clip(token: str):
    """One spoken clip (public: kiosk screens have no login); a 404 for any text the server did not sign."""
    from kiosk.ratelimit import Limit, enforce

    try:
        lang, text = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        abort(404)
    voice = LANGUAGE_VOICES.get(lang) if isinstance(lang, str) else None
    if voice is None or not isinstance(text, str) or not text or len(text) > MAX_CHARS:
        abort(404)
    cache = _cache()
    path = cache.cached(voice, text)
    if path is None:
        # Only a new clip costs espeak-ng's time: that is what the limit counts.
        enforce("kiosk.speech.clip", Limit(60, 600, 600))
        try:
            path = cache.audio(voice, text)
        except VoiceUnavailable as exc:
            current_app.logger.warning("spoken guidance unavailable: %s", exc)
            abort(404)
    response = send_file(path, mimetype="audio/wav", max_age=86400)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.route("/toggle", methods=["POST"])
@_limited(60, 600)
def toggle():
    """The header's 语音引导 switch: on or off for this visitor (forgotten at the idle reset)."""
    session["speech"] = not guidance_enabled()
    return redirect(safe_next(request.form.get("next")) or url_for("shell.home"))


#: Where the clip goes: just before the end of the kiosk page's <main>.
_MARK = b'data-speech-switch="'


def add_guidance(response):
    """``after_request``: give a kiosk screen its spoken guidance when this visitor hears the screens.

    Only pages that show the switch (kiosk screens, not phones, displays, staff
    or admin pages) and only a full 200 HTML page.
    """
    if (
        response.status_code != 200
        or response.mimetype != "text/html"
        or response.is_streamed
        or response.direct_passthrough
        or not guidance_enabled()
    ):
        return response
    page = response.get_data()
    if _MARK not in page:
        return response
    text_page = page.decode("utf-8", "replace")
    text = guidance_text(text_page)
    if not text:
        return response
    from kiosk.i18n import current_locale

    lang = current_locale()
    if lang not in LANGUAGE_VOICES:
        return response
    tag = (
        f'<audio id="speech-guide" class="speech-guide" preload="auto" '
        f'src="{html.escape(clip_url(lang, text))}" data-text="{html.escape(text)}"></audio>'
    ).encode()
    at = page.rfind(b"</main>")
    if at < 0:
        at = page.rfind(b"</body>")
    if at < 0:
        return response
    response.set_data(page[:at] + tag + page[at:])
    return response


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.after_request(add_guidance)

    @app.context_processor
    def speech_context():
        try:
            return {"speech_on": guidance_enabled(), "speech_available": app.config["SPEECH"]["guidance"]}
        except RuntimeError:  # outside a request (a receipt rendered by a job)
            return {"speech_on": False, "speech_available": False}
