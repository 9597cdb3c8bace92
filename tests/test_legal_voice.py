"""Spoken calls made offline with espeak-ng: Mandarin, Cantonese and English, cached as WAV."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import threading
import wave
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_legal_support import call_next, legal_app, legal_staff, take_ticket  # noqa: F401

from kiosk.speech import SpeechCache
from kiosk_plugins.legal import voice

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng: apt-get install espeak-ng")


def _phonemes(espeak_voice: str, text: str) -> str:
    done = subprocess.run(["espeak-ng", "-v", espeak_voice, "-q", "-x", text], capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def test_announcement_texts():
    assert voice.spoken_text("cmn", "A012", 3) == "请 A零一二号，到 三号窗口。"
    assert voice.spoken_text("yue", "F105", 12) == "請 F一零五號，到 十二號窗口。"
    assert voice.spoken_text("en", "B007", 4) == "Number B, 0 0 7. Please go to counter 4."
    assert voice.hanzi_number(20) == "二十" and voice.hanzi_number(99) == "九十九" and voice.hanzi_number(10) == "十"
    with pytest.raises(ValueError):
        voice.spoken_text("cmn", "A012; rm -rf /", 3)


def test_mandarin_is_read_as_mandarin_not_as_english_pinyin():
    text = voice.spoken_text("cmn", "A012", 3)
    used = _phonemes(voice.ESPEAK_VOICES["cmn"][0], text)
    # Tone-numbered Mandarin syllables only: qing3 … ling2 yi1 er4 hao4 … san1 hao4 chuang1 kou3.
    assert "(en)" not in used
    for syllable in ("tS;h'i21N", "l'i35N", "j'i55", "'@r51", "s'a55n", "ts.hw'A55N"):
        assert syllable in used, syllable
    cantonese = _phonemes("yue", voice.spoken_text("yue", "A012", 3))
    assert "c'ing2" in cantonese and "h'ou6" in cantonese and "saa1m" in cantonese


@pytest.mark.parametrize("language", ["cmn", "yue", "en"])
def test_audio_is_a_real_wav_and_is_cached(tmp_path, language):
    path = voice.audio_file(str(tmp_path), language, "A012", 3)
    with wave.open(path) as wav:
        seconds = wav.getnframes() / wav.getframerate()
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
    assert 1.0 < seconds < 10.0
    made = os.stat(path).st_ino
    assert voice.audio_file(str(tmp_path), language, "A012", 3) == path
    assert os.stat(path).st_ino == made  # served from the cache, not made again (a new file is a new inode)
    assert voice.audio_file(str(tmp_path), language, "A013", 3) != path


def _wavs(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".wav")) if os.path.isdir(folder) else []


def test_display_speaks_only_calls_made_today_here(legal_app, legal_staff, monkeypatch):
    """The anonymous voice URL makes nothing for a ticket, counter or voice that is not a real call."""
    made = []
    real = SpeechCache._synthesise
    monkeypatch.setattr(SpeechCache, "_synthesise", lambda *a: (made.append(a[2]), real(*a)))
    folder = os.path.join(legal_app.instance_path, "legal-voice")
    kiosk = legal_app.test_client()
    ticket = take_ticket(kiosk)["ticket"]
    # Taken but not called yet, a code never issued, another counter, a voice the station does not speak.
    for path in (
        f"/k/legal/voice/cmn/{ticket}/1.wav",
        "/k/legal/voice/cmn/Z999/1.wav",
        "/k/legal/voice/cmn/DROP/1.wav",
        "/k/legal/voice/fr/A012/1.wav",
        "/k/legal/voice/cmn/A012/100.wav",
    ):
        assert kiosk.get(path).status_code == 404, path
    assert made == [] and _wavs(folder) == []

    assert call_next(legal_staff, 1) == ticket
    assert kiosk.get(f"/k/legal/voice/cmn/{ticket}/2.wav").status_code == 404, "called to counter 1, not 2"
    assert kiosk.get(f"/k/legal/voice/en/{ticket}/1.wav").status_code == 404, "English is not configured"
    assert made == []
    response = kiosk.get(f"/k/legal/voice/cmn/{ticket}/1.wav")
    assert response.status_code == 200 and response.mimetype == "audio/wav"
    assert "max-age=86400" in response.headers["Cache-Control"]
    with wave.open(io.BytesIO(response.data)) as wav:
        assert wav.getnframes() > wav.getframerate()  # more than a second of speech
    response.close()
    kiosk.get(f"/k/legal/voice/cmn/{ticket}/1.wav").close()  # a second display: served from the file
    assert len(made) == 1 and len(_wavs(folder)) == 1 and _wavs(folder)[0].startswith("cmn-")

    legal_app.legal_clock.advance(days=1)
    assert kiosk.get(f"/k/legal/voice/cmn/{ticket}/1.wav").status_code == 404, "yesterday's call is not spoken"


def test_voice_folder_stays_under_its_bound(tmp_path):
    folder = str(tmp_path)
    first = voice.audio_file(folder, "en", "A001", 1)
    size = os.path.getsize(first)
    bound = int(size * 2.5)  # room for two calls
    os.utime(first, (1, 1))  # played long ago
    second = voice.audio_file(folder, "en", "A002", 1, max_bytes=bound)
    voice.audio_file(folder, "en", "A001", 1, max_bytes=bound)  # a recall: A001 is now the most recent
    assert os.path.exists(first)
    third = voice.audio_file(folder, "en", "A003", 1, max_bytes=bound)
    files, total = voice.cache_size(folder)
    assert files == 2 and total <= bound
    assert not os.path.exists(second), "the least recently played goes first"
    assert os.path.exists(first) and os.path.exists(third)
    # A bound smaller than one file still keeps the file just made (the display is about to play it).
    only = voice.audio_file(folder, "en", "A004", 1, max_bytes=1)
    assert voice.cache_size(folder)[0] == 1 and os.path.exists(only)


def test_the_same_call_asked_at_once_is_made_once(tmp_path, monkeypatch):
    made = []
    real = SpeechCache._synthesise
    monkeypatch.setattr(SpeechCache, "_synthesise", lambda *a: (made.append(a[2]), real(*a)))
    go = threading.Barrier(6)

    def ask():
        go.wait()
        return voice.audio_file(str(tmp_path), "cmn", "B042", 7)

    with ThreadPoolExecutor(6) as pool:
        paths = list(pool.map(lambda _i: ask(), range(6)))
    assert len(set(paths)) == 1 and len(made) == 1
    assert _wavs(str(tmp_path)) == [os.path.basename(paths[0])]
