"""Spoken calls made offline with espeak-ng: Mandarin, Cantonese and English, cached as WAV."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import wave

import pytest
from test_legal_support import sqlite_legal_app  # noqa: F401

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
    made = os.stat(path).st_mtime_ns
    assert voice.audio_file(str(tmp_path), language, "A012", 3) == path
    assert os.stat(path).st_mtime_ns == made  # served from the cache, not made again
    assert voice.audio_file(str(tmp_path), language, "A013", 3) != path


def test_display_serves_the_call_audio(sqlite_legal_app):
    legal_app = sqlite_legal_app
    client = legal_app.test_client()
    response = client.get("/k/legal/voice/cmn/A012/3.wav")
    assert response.status_code == 200 and response.mimetype == "audio/wav"
    assert "max-age=86400" in response.headers["Cache-Control"]
    with wave.open(io.BytesIO(response.data)) as wav:
        assert wav.getnframes() > wav.getframerate()  # more than a second of speech
    response.close()
    assert client.get("/k/legal/voice/cmn/DROP/3.wav").status_code == 404
    assert client.get("/k/legal/voice/fr/A012/3.wav").status_code == 404
    assert client.get("/k/legal/voice/cmn/A012/100.wav").status_code == 404
    cached = os.listdir(os.path.join(legal_app.instance_path, "legal-voice"))
    assert len(cached) == 1 and cached[0].startswith("cmn-")
