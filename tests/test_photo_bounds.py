"""Photo bombs cannot blow up a worker: pixel bounds before decoding, scaled JPEG decoding, a decode turn.

Issue 17 point 5: three 38 KB PNGs of 39.7 Mpx added ~200 MB to a worker's
peak per request. Now a photo is refused from its header, a JPEG is decoded
already scaled down, and at most ``photo_decode_concurrency`` decodes run
at once in a process.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest
from flask import g
from PIL import Image

from bench.photo_memory import bomb_png, memory_kib, send_bombs
from kiosk import photos
from kiosk.photos import PhotoRefused, clean_photo, open_photo

MIB = 1024  # memory_kib counts KiB
#: 2800 × 2800 = 7.8 Mpx: just under the default photo_decode_pixels (8 Mpx).
ACCEPTED_SIDE = 2800


def _encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def test_a_png_bomb_is_refused_from_its_header_without_decoding(monkeypatch):
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size))
    with pytest.raises(PhotoRefused) as refused:
        clean_photo(bomb_png())  # 39.7 Mpx: under the header bound, over the decode bound
    assert refused.value.reason == "too_many_pixels"
    assert decoded == []


@pytest.fixture
def app(make_app, tmp_path, kiosk_database_template):
    """A station app on SQLite only: no database is involved in decoding."""
    shutil.copy(kiosk_database_template, tmp_path / "photo.db")
    return make_app("sqlite:///" + str(tmp_path / "photo.db"))


def test_a_big_jpeg_is_decoded_scaled_down_while_the_same_png_is_refused(app):
    picture = Image.new("RGB", (2400, 1600), (200, 30, 30))
    app.config.update(PHOTO_DECODE_PIXELS=1_000_000)
    with app.app_context():
        kept = clean_photo(_encoded(picture, "JPEG"), max_side=1024)
        assert (kept.width, kept.height) == (1024, 683)
        # open_photo scales the same way: 1/4 of each side is the largest draft still ≥ 600.
        assert open_photo(_encoded(picture, "JPEG"), max_side=600).size == (600, 400)
        with pytest.raises(PhotoRefused) as refused:
            clean_photo(_encoded(picture, "PNG"), max_side=1024)  # 3.8 Mpx to decode: over the bound
        assert refused.value.reason == "too_many_pixels"
        # Scaled down further rather than refused when the kept size would be over the bound.
        app.config.update(PHOTO_DECODE_PIXELS=500_000)
        kept = clean_photo(_encoded(picture, "JPEG"), max_side=1024)
        assert (kept.width, kept.height) == (600, 400)
        # The station's header bound lowers a plugin's own.
        app.config.update(PHOTO_DECODE_PIXELS=16_000_000, PHOTO_MAX_PIXELS=3_000_000)
        with pytest.raises(PhotoRefused) as refused:
            clean_photo(_encoded(picture, "JPEG"), max_pixels=40_000_000)
        assert refused.value.reason == "too_many_pixels"


def test_decodes_wait_for_a_turn_and_then_say_busy(app):
    small = _encoded(Image.new("RGB", (40, 30), (10, 200, 10)), "PNG")
    app.config.update(PHOTO_DECODE_CONCURRENCY=1, PHOTO_DECODE_WAIT_SECONDS=0.2)
    held, release = threading.Event(), threading.Event()

    def hold(limits):
        with photos._turn(limits):
            held.set()
            release.wait(5)

    with app.test_request_context("/"):
        g.locale = "zh_Hans"
        limits = dataclasses.replace(photos._limits(photos.DEFAULT_MAX_PIXELS), wait=5)
        holder = threading.Thread(target=hold, args=(limits,))
        holder.start()
        try:
            assert held.wait(5)
            with pytest.raises(PhotoRefused) as refused:
                clean_photo(small)
            assert refused.value.reason == "busy"
            assert "请稍等" in refused.value.text
        finally:
            release.set()
            holder.join(5)
        assert clean_photo(small).width == 40  # the turn is free again


SERVER = """
import json, sys
from werkzeug.serving import make_server
from kiosk.app import create_app
from kiosk.server import limit_malloc_arenas
from kiosk.testing import app_config

limit_malloc_arenas()
app = create_app(app_config(sys.argv[1], sys.argv[2], **json.loads(sys.argv[3])))
server = make_server("127.0.0.1", 0, app, threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""
#: Memory here is the point, not the rate limits (they run before any decoding: tests/test_ratelimit*).
UNLIMITED = {
    "SECURITY": {"rate_limits": False},
    "PLUGINS": {"petitions": {"rate_limit": {"mobile": [1000, 600], "kiosk": [1000, 600]}}},
}


def test_parallel_photo_bombs_raise_the_worker_peak_by_less_than_100_mb(tmp_path, kiosk_database_template):
    instance = tmp_path / "instance"
    instance.mkdir()
    shutil.copy(kiosk_database_template, instance / "kiosk.db")
    env = dict(os.environ)
    env.pop("KIOSK_STATION_FILE", None)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(instance), "sqlite:///" + str(instance / "kiosk.db"), json.dumps(UNLIMITED)],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        port = int(server.stdout.readline())
        base = f"http://127.0.0.1:{port}"
        bomb_png(), bomb_png(ACCEPTED_SIDE)
        send_bombs(base, requests=1, photos=1, side=64)  # Pillow and the form's code loaded: the baseline
        before = memory_kib(server.pid)["VmHWM"]
        # The bombs: 20 requests at once, three 39.7 Mpx PNGs each.
        refused = send_bombs(base, requests=20, photos=3)
        after_refused = memory_kib(server.pid)["VmHWM"]
        # Just under the decode bound: taken, one decoded at a time (two would be over 96 MB).
        taken = send_bombs(base, requests=8, photos=1, side=ACCEPTED_SIDE)
        after_taken = memory_kib(server.pid)["VmHWM"]
    finally:
        server.terminate()
        server.wait(10)
    assert [status for status, _page in refused] == [400] * 20
    assert all("too large to process" in page or "照片太大" in page for _status, page in refused)
    assert after_refused - before < 100 * MIB, f"peak rose by {(after_refused - before) / MIB:.0f} MB"
    assert [status for status, _page in taken] == [200] * 8  # the status page after the redirect
    # Eight 31 MB decodes at once, each with its half-shrunk copy and re-encoding, would be some
    # 800 MB; one at a time within the 96 MB budget, plus what the requests hold besides.
    assert after_taken - before < 160 * MIB, f"peak rose by {(after_taken - before) / MIB:.0f} MB"
