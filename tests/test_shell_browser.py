"""The touch shell in a real browser: tiles, large text, language, and the idle reset."""

from kiosk.testing import LiveServer, save_screenshot


def _hello_server(make_app, tmp_path, **config):
    app = make_app("sqlite:///" + str(tmp_path / "hello.db"), IDLE_SECONDS=3, IDLE_COUNTDOWN_SECONDS=2, **config)
    return LiveServer(app)


def test_idle_reset_returns_home_and_forgets_the_last_user(hello_installed, make_app, tmp_path, page):
    server = _hello_server(make_app, tmp_path)
    try:
        page.goto(server.url + "/")
        # The user switches to English and large text, then opens a service and types.
        with page.expect_navigation():
            page.locator('button[name="lang"][value="en"]').tap()
        with page.expect_navigation():
            page.locator('[data-testid="large-text"]').tap()
        assert "large-text" in page.locator("body").get_attribute("class")
        with page.expect_navigation():
            page.locator('[data-tile="hello.hello"]').tap()
        page.locator("#text").tap()
        page.locator('#osk button[data-key="h"]').tap()
        page.locator('#osk button[data-key="i"]').tap()
        assert page.locator("#text").input_value() == "hi"
        # Then walks away: the countdown shows, runs out, and the screen resets.
        page.locator("#idle-overlay").wait_for(state="visible", timeout=8000)
        assert page.locator("#idle-count").inner_text() in ("2", "1")
        save_screenshot(page, "shell-idle-countdown-en")
        page.wait_for_url(server.url + "/", timeout=10000)
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert "large-text" not in page.locator("body").get_attribute("class")
        # The next user opens the same service: nothing of the last user is left.
        with page.expect_navigation():
            page.locator('[data-tile="hello.hello"]').tap()
        assert page.locator("#text").input_value() == ""
        page.go_back()
        page.go_forward()
        assert page.locator("#text").input_value() == ""
    finally:
        server.stop()


def test_im_still_here_keeps_the_users_input(hello_installed, make_app, tmp_path, page):
    server = _hello_server(make_app, tmp_path)
    try:
        page.goto(server.url + "/k/hello/")
        page.locator("#text").tap()
        page.locator('#osk button[data-key="mode"]').tap()
        page.locator('#osk button[data-key="o"]').tap()
        page.locator('#osk button[data-key="k"]').tap()
        page.locator("#idle-overlay").wait_for(state="visible", timeout=8000)
        page.locator("#idle-stay").tap()
        assert page.locator("#idle-overlay").is_hidden()
        assert page.url.endswith("/k/hello/")
        assert page.locator("#text").input_value().endswith("ok")
    finally:
        server.stop()


def test_home_screen_targets_are_big_enough(hello_installed, make_app, tmp_path, page):
    server = _hello_server(make_app, tmp_path)
    try:
        for lang in ("zh_Hans", "zh_Hant", "en"):
            page.goto(server.url + "/")
            with page.expect_navigation():
                page.locator(f'button[name="lang"][value="{lang}"]').tap()
            for locator in (page.locator(".tile"), page.locator(".topbar .btn")):
                for i in range(locator.count()):
                    box = locator.nth(i).bounding_box()
                    assert box["width"] >= 64 and box["height"] >= 64, (lang, box)
            save_screenshot(page, f"shell-home-{lang}")
    finally:
        server.stop()
