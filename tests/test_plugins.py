"""Plugins: a real third-party package, enabling and disabling, fault isolation."""

import types

from sqlalchemy import inspect

from kiosk import hookimpl
from kiosk.plugins import api_compatible


def _tiles(client):
    html = client.get("/").get_data(as_text=True)
    import re

    return re.findall(r'data-tile="([^"]+)"', html)


def test_third_party_plugin_adds_tile_route_and_table(hello_installed, make_app, fresh_database_url, csrf):
    app = make_app(fresh_database_url)
    client = app.test_client()
    info = app.extensions["kiosk_plugins"].infos["hello"]
    assert info.state == "enabled" and info.version == "1.2.0"
    assert "hello.hello" in _tiles(client)
    # The tile's label comes from the plugin's own catalog.
    assert "打个招呼" in client.get("/").get_data(as_text=True)
    assert "hello_greeting" in inspect(app.extensions["db"].engine).get_table_names()
    response = client.post("/k/hello/", data={"text": "你好,水贝", "csrf_token": csrf(client)})
    assert response.status_code == 302
    assert "你好,水贝" in client.get("/k/hello/").get_data(as_text=True)
    # Plugin static files are served under the reserved prefix.
    assert client.get("/static/p/hello/hello.svg").status_code == 200


def test_disabling_a_plugin_removes_its_tile_and_routes(hello_installed, make_app, fresh_database_url):
    app = make_app(fresh_database_url, PLUGINS={"disabled": ["hello"]})
    client = app.test_client()
    assert app.extensions["kiosk_plugins"].infos["hello"].state == "disabled"
    assert "hello.hello" not in _tiles(client)
    assert client.get("/k/hello/").status_code == 404


def test_admin_can_switch_a_plugin_off_for_the_station(hello_installed, make_app, fresh_database_url, csrf):
    from kiosk.testing import Auth

    app = make_app(fresh_database_url)
    client = app.test_client()
    Auth(app, client).login("admin")
    response = client.post("/admin/plugins/hello/toggle", data={"csrf_token": csrf(client)})
    assert response.status_code == 302
    assert "hello.hello" not in _tiles(client)
    assert client.get("/k/hello/").status_code == 404
    assert app.test_client().get("/healthz").get_json()["plugins"]["hello"]["state"] == "off"
    client.post("/admin/plugins/hello/toggle", data={"csrf_token": csrf(client)})
    assert client.get("/k/hello/").status_code == 200


def test_plugin_whose_hook_raises_does_not_break_the_home_page(make_app, database_url):
    good = types.ModuleType("kiosk_good_test")

    def good_tiles(register):
        register(key="good", label={"zh_Hans": "好服务", "en": "Good"}, endpoint="shell.home")

    good.register_tiles = hookimpl(good_tiles)

    bad = types.ModuleType("kiosk_bad_test")

    def bad_tiles(register):
        raise RuntimeError("boom in tiles")

    bad.register_tiles = hookimpl(bad_tiles)
    app = make_app(database_url, EXTRA_PLUGINS={"good": good, "bad": bad})
    client = app.test_client()
    response = client.get("/")
    assert response.status_code == 200
    assert "好服务" in response.get_data(as_text=True)
    info = app.extensions["kiosk_plugins"].infos["bad"]
    assert info.faults == 1 and "boom in tiles" in info.last_fault
    health = client.get("/healthz").get_json()
    assert health["plugins"]["bad"]["ok"] is False and health["plugins"]["good"]["ok"] is True


def test_plugin_failing_at_start_is_disabled_and_the_kiosk_runs(make_app, database_url):
    bad = types.ModuleType("kiosk_badstart_test")

    def register_blueprints(register):
        raise ValueError("cannot build my pages")

    bad.register_blueprints = hookimpl(register_blueprints)
    app = make_app(database_url, EXTRA_PLUGINS={"badstart": bad})
    info = app.extensions["kiosk_plugins"].infos["badstart"]
    assert info.state == "failed" and "cannot build my pages" in info.error
    assert app.test_client().get("/").status_code == 200


def test_plugin_view_that_crashes_gets_a_friendly_page(make_app, database_url):
    from flask import Blueprint

    mod = types.ModuleType("kiosk_crashy_test")
    bp = Blueprint("crashy", "kiosk_crashy_test")

    def index():
        raise KeyError("oops")

    index.__module__ = "kiosk_crashy_test"
    bp.add_url_rule("/", "index", index)

    def register_blueprints(register):
        register(bp, "kiosk")

    mod.register_blueprints = hookimpl(register_blueprints)
    app = make_app(database_url, EXTRA_PLUGINS={"crashy": mod})
    response = app.test_client().get("/k/crashy/")
    assert response.status_code == 503
    assert "暂时无法使用" in response.get_data(as_text=True)
    assert app.extensions["kiosk_plugins"].infos["crashy"].faults == 1


def test_misspelled_hook_refuses_the_plugin_at_start(make_app, database_url):
    mod = types.ModuleType("kiosk_typo_test")

    def register_tile(register):  # should be register_tiles
        pass

    mod.register_tile = hookimpl(register_tile)
    app = make_app(database_url, EXTRA_PLUGINS={"typo": mod})
    info = app.extensions["kiosk_plugins"].infos["typo"]
    assert info.state == "failed" and "register_tile" in info.error


def test_incompatible_plugin_is_refused_by_name(make_app, database_url):
    mod = types.ModuleType("kiosk_future_test")
    mod.KIOSK_API = ">=2"
    app = make_app(database_url, EXTRA_PLUGINS={"future": mod})
    info = app.extensions["kiosk_plugins"].infos["future"]
    assert info.state == "incompatible"
    assert "future" in info.error and ">=2" in info.error
    assert app.test_client().get("/").status_code == 200


def test_api_version_specifiers():
    assert api_compatible(">=1,<2", 1)
    assert not api_compatible(">=1,<2", 2)
    assert api_compatible("1", 1) and not api_compatible("==2", 1)


def test_blueprint_names_must_carry_the_plugin_name(make_app, database_url):
    from flask import Blueprint

    mod = types.ModuleType("kiosk_naming_test")
    bp = Blueprint("other", "kiosk_naming_test")
    bp.add_url_rule("/", "index", lambda: "x")

    def register_blueprints(register):
        register(bp, "kiosk")

    mod.register_blueprints = hookimpl(register_blueprints)
    app = make_app(database_url, EXTRA_PLUGINS={"naming": mod})
    info = app.extensions["kiosk_plugins"].infos["naming"]
    assert info.state == "failed" and "naming_" in info.error


def test_disabling_a_plugin_keeps_its_tables_and_the_database_starts(hello_installed, make_app, fresh_database_url):
    from sqlalchemy import inspect as sa_inspect

    make_app(fresh_database_url)  # the hello plugin's table is created
    app = make_app(fresh_database_url, PLUGINS={"disabled": ["hello"]})  # then it is switched off
    assert "hello_greeting" in sa_inspect(app.extensions["db"].engine).get_table_names()
    from kiosk import migrate

    assert migrate.is_current(app)
    assert app.test_client().get("/").status_code == 200
