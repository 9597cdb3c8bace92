"""Spoken guidance on kiosk screens (issue 19 point 8): what is said, when, and that nobody else chooses it."""

from __future__ import annotations

import re

import pytest

from kiosk.speech import MAX_CHARS, SpeechCache, guidance_text, speakable
from kiosk.testing import LiveServer, csrf_of

AUDIO = re.compile(r'<audio id="speech-guide"[^>]*src="([^"]+)"[^>]*data-text="([^"]*)"')


def test_a_screen_says_its_guide_elements_else_its_heading():
    page = (
        "<header>站</header><main><h1>法律咨询</h1><p data-guide>请选择<b>服务</b></p><p data-guide>然后取号</p></main>"
    )
    assert guidance_text(page) == "请选择 服务。 然后取号。"
    assert guidance_text("<main><h1 class='t'>暖蜂驿站</h1><h1>second</h1></main>") == "暖蜂驿站。"
    assert guidance_text("<main><p>no heading</p></main>") == ""
    assert guidance_text("<h1>Rider &amp; rest station</h1>") == "Rider & rest station."


def test_personal_data_is_never_said_aloud():
    page = '<h1><span data-speak="no">王秀英</span> · 13912345678 · 我的菜单</h1>'
    said = guidance_text(page)
    assert "王秀英" not in said and "139" not in said and "5678" not in said
    assert said == "我的菜单。"
    assert "粤B" not in speakable("车牌 粤B 12345 请确认")
    assert "@" not in speakable("邮箱 wang.xy@example.com 已登记")
    assert guidance_text('<h1><span aria-hidden="true">‹</span>返回首页</h1>') == "返回首页。"


def test_long_guidance_is_cut_at_a_sentence():
    said = speakable("请按提示操作。" * 60)
    assert len(said) <= MAX_CHARS and said.endswith("。")


def test_the_clip_folder_stays_under_its_bound(tmp_path):
    cache = SpeechCache(str(tmp_path / "speech"), max_bytes=1)
    first = cache.audio("cmn", "第一句")
    with open(first, "rb") as fh:
        assert fh.read(4) == b"RIFF"
    second = cache.audio("cmn", "第二句")
    # The bound (1 byte) keeps only the clip just made.
    assert cache.size()[0] == 1 and cache.cached("cmn", "第二句") == second
    assert cache.cached("cmn", "第一句") is None
    with pytest.raises(ValueError):
        cache.audio("klingon", "x")


def _audio(client, path="/"):
    page = client.get(path).get_data(as_text=True)
    return AUDIO.search(page), page


def _post(client, url, next_="/"):
    return client.post(url, data={"csrf_token": csrf_of(client), "next": next_})


def test_guidance_is_on_in_large_text_off_by_choice_and_forgotten_at_reset(app, client):
    found, page = _audio(client)
    assert found is None and 'data-speech-switch="off"' in page  # off for a standard visitor, switch shown
    _post(client, "/large-text")
    found, page = _audio(client)
    assert found is not None and 'data-speech-switch="on"' in page
    url, text = found.groups()
    assert text  # the home screen's heading
    clip = client.get(url.replace("&amp;", "&"))
    assert clip.status_code == 200 and clip.mimetype == "audio/wav" and clip.data[:4] == b"RIFF"
    # The switch turns it off in large text too, and on again.
    _post(client, "/speech/toggle")
    assert _audio(client)[0] is None
    _post(client, "/speech/toggle")
    assert _audio(client)[0] is not None
    # The idle reset forgets the choice with everything else.
    client.post("/reset", data={"csrf_token": csrf_of(client)})
    assert _audio(client)[0] is None
    # Staff pages never speak, whatever the visitor chose.
    _post(client, "/speech/toggle")
    assert 'id="speech-guide"' not in client.get("/staff/login").get_data(as_text=True)


def test_only_texts_the_server_signed_are_spoken(app, client):
    _post(client, "/speech/toggle")
    url = _audio(client)[0].group(1).replace("&amp;", "&")
    token = url.rsplit("/", 1)[1][: -len(".wav")]
    for bad in (token[:-2] + "xx", "WyJ6aF9IYW5zIiwiXHU0ZjYwXHU1OTdkIl0", "x" * 300):
        assert client.get(f"/speech/clip/{bad}.wav").status_code == 404
    # A switch posted from elsewhere goes nowhere off-site, and needs the CSRF token.
    assert client.post("/speech/toggle", data={"next": "/"}).status_code == 400
    response = _post(client, "/speech/toggle", next_="//evil.example/")
    assert response.headers["Location"] == "/"


def test_a_station_without_speakers_shows_no_switch(make_app, tmp_path, request):
    import shutil

    shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "quiet.db")
    app = make_app("sqlite:///" + str(tmp_path / "quiet.db"), SPEECH={"guidance": False, "cache_mb": 8})
    client = app.test_client()
    _post(client, "/large-text")
    page = client.get("/").get_data(as_text=True)
    assert "data-speech-switch" not in page and 'id="speech-guide"' not in page


def test_a_large_text_screen_speaks_by_itself_in_the_browser(browser_app, page):
    server = LiveServer(browser_app)
    try:
        page.goto(server.url + "/")
        assert page.locator('[data-testid="speech"]').get_attribute("aria-pressed") == "false"
        with page.expect_navigation():
            page.locator('[data-testid="large-text"]').tap()
        assert page.locator('[data-testid="speech"]').get_attribute("aria-pressed") == "true"
        # It plays without a tap (the kiosk's Chromium allows it), and again on "Hear it again".
        page.wait_for_function("() => (document.getElementById('speech-guide') || {}).currentTime > 0")
        page.evaluate("() => document.getElementById('speech-guide').pause()")
        page.locator('[data-testid="speech-again"]').tap()
        page.wait_for_function("() => !document.getElementById('speech-guide').paused")
        box = page.locator('[data-testid="speech"]').bounding_box()
        assert box is not None and box["height"] >= 72
    finally:
        server.stop()


def test_doctor_says_when_the_station_cannot_speak(sqlite_app, monkeypatch, tmp_path):
    from kiosk.doctor import run_checks

    def spoken(checks):
        return next(c for c in checks if c["name"] == "spoken guidance")

    assert spoken(run_checks(sqlite_app))["ok"]
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without espeak-ng
    found = spoken(run_checks(sqlite_app))
    assert not found["ok"] and "apt-get install espeak-ng" in found["detail"]
