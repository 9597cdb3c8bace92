"""One declarative settings schema per plugin, checked once at start (kiosk.settings).

For each built-in plugin and the venue example, one bad value switches THAT
plugin off with the setting's full name and the reason on /healthz, the admin
page and ``kiosk doctor``, while the other plugins keep serving their tiles.
"""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from test_example_venue import venue_copy, venue_installed, venue_site  # noqa: F401

from kiosk.cli import cli
from kiosk.settings import (
    URL,
    Boolean,
    Choice,
    Duration,
    Integer,
    ListOf,
    MapOf,
    Schema,
    SettingError,
    Table,
    TableOf,
    Text,
    TimeOfDay,
    plugin_settings,
)
from kiosk.testing import Auth, csrf_of

TILES = {
    "legal": "legal.queue",
    "courier_rest": "courier_rest.checkin",
    "parking": "parking.parking",
    "petitions": "petitions.report",
}

#: plugin → (its bad table, the key that must be named, words of the Chinese reason)
BAD = {
    "legal": ({"voice": ["klingon"]}, "plugins.legal.voice[0]", "之一"),  # not a choice
    "courier_rest": ({"auto_close_at": "25:00"}, "plugins.courier_rest.auto_close_at", "时刻"),  # bad time
    "parking": ({"max_reprints": "two"}, "plugins.parking.max_reprints", "整数"),  # wrong type
    "petitions": ({"retention_day": 30}, "plugins.petitions.retention_day", "retention_days"),  # unknown key
    "venue": ({"booking_days": 0}, "plugins.venue.booking_days", "1 到 60"),  # out of range
}


def tiles(client) -> set[str]:
    return set(re.findall(r'data-tile="([^"]+)"', client.get("/").get_data(as_text=True)))


@pytest.mark.parametrize("plugin", sorted(BAD))
def test_a_bad_setting_switches_off_only_that_plugin_and_says_which(plugin, make_app, database_url, request):
    if plugin == "venue":
        request.getfixturevalue("venue_installed")
    table, key, chinese = BAD[plugin]
    app = make_app(database_url, PLUGINS={plugin: table})
    infos = app.extensions["kiosk_plugins"].infos
    assert infos[plugin].state == "failed" and key in infos[plugin].error and chinese in infos[plugin].error
    others = [name for name in TILES if name != plugin]
    assert all(infos[name].state == "enabled" for name in others)

    client = app.test_client()
    health = client.get("/healthz").get_json()["plugins"][plugin]
    assert health["state"] == "failed" and health["ok"] is False
    assert [s["key"] for s in health["settings"]] == [key] and key in health["error"]
    shown = tiles(client)
    assert {TILES[name] for name in others} <= shown
    assert not any(tile.startswith(plugin + ".") for tile in shown)
    # Its pages are gone; the others' pages answer.
    assert client.get(f"/k/{plugin}/").status_code == 404
    assert client.get(f"/k/{others[0]}/").status_code != 404

    admin = app.test_client()
    Auth(app, admin).login("admin")
    page = admin.get("/admin/").get_data(as_text=True)
    row = page.split(f'data-plugin="{plugin}"', 1)[1].split("</tr>", 1)[0]
    assert key in row and "请在站点配置文件中改正以下设置" in row and chinese in row

    result = app.test_cli_runner().invoke(cli, ["doctor"])
    line = next(li for li in result.output.splitlines() if li.startswith(f"[FIX] plugin {plugin}"))
    assert key in line and chinese in line
    assert result.exit_code != 0 and "Traceback" not in result.output


def test_every_mistake_is_reported_at_once_in_the_admins_language(make_app, database_url):
    app = make_app(
        database_url,
        PLUGINS={
            "parking": {"identify_minute": 5, "max_reprints": -1},
            "legal": {"services": [{"key": "a", "label": "甲", "prefix": "AB", "counters": [1]}]},
        },
    )
    health = app.test_client().get("/healthz").get_json()["plugins"]
    assert [s["key"] for s in health["parking"]["settings"]] == [
        "plugins.parking.identify_minute",
        "plugins.parking.max_reprints",
    ]
    assert "did you mean identify_minutes?" in health["parking"]["settings"][0]["error"]
    assert health["legal"]["settings"][0]["key"] == "plugins.legal.services[0].prefix"
    admin = app.test_client()
    Auth(app, admin).login("admin")
    admin.post("/lang", data={"lang": "en", "csrf_token": csrf_of(admin)})
    page = admin.get("/admin/").get_data(as_text=True)
    assert "plugins.legal.services[0].prefix: must be one capital letter (A-Z), not &#34;AB&#34;" in page
    admin.post("/lang", data={"lang": "zh_Hant", "csrf_token": csrf_of(admin)})
    page = admin.get("/admin/").get_data(as_text=True)
    assert "plugins.legal.services[0].prefix: 須為一個大寫字母（A-Z），而不是 &#34;AB&#34;" in page


def test_settings_are_checked_once_at_start_not_per_request(make_app, database_url):
    app = make_app(database_url, PLUGINS={"parking": {"max_reprints": 4}})
    first = plugin_settings("parking", app)
    app.config["PLUGINS"]["parking"]["max_reprints"] = "broken later"
    client = app.test_client()
    assert client.get("/k/parking/").status_code == 200
    assert plugin_settings("parking", app) is first and first.max_reprints == 4
    with pytest.raises(LookupError, match="registered no settings"):
        plugin_settings("no_such_plugin", app)


def test_good_values_parse_to_the_right_types(make_app, database_url, monkeypatch):
    monkeypatch.setenv("TEST_PETITIONS_SECRET", "s3cret")
    app = make_app(
        database_url,
        PLUGINS={
            "legal": {"voice": "yue", "max_skips": 1},
            "courier_rest": {"auto_close_at": "3:05", "seats": 12, "petition_categories": {"traffic": "other"}},
            "parking": {"identify_minutes": 7},
            "petitions": {
                "webhook": {
                    "url": "https://dispatch.example/api/",
                    "timeout": "90s",
                    "secret": {"env": "TEST_PETITIONS_SECRET"},
                },
                "open311": {"api_keys": [{"env": "TEST_UNSET_KEY"}, "k1"]},
                "rate_limit": {"kiosk": [2, 600]},
            },
        },
    )
    assert all(i.state == "enabled" for n, i in app.extensions["kiosk_plugins"].infos.items() if n in TILES)
    legal = plugin_settings("legal", app)
    assert legal.voices == ("yue",) and legal.max_skips == 1 and legal.service("legal_aid").counters == (6,)
    courier = plugin_settings("courier_rest", app)
    assert courier.auto_close_at == time(3, 5) and courier.seats == 12
    assert courier.petition_categories["traffic"] == "other" and courier.petition_categories["other"] == "other"
    assert plugin_settings("parking", app).identify_minutes == 7
    petitions = plugin_settings("petitions", app)
    assert petitions.webhook.url == "https://dispatch.example/api" and petitions.webhook.timeout == 90.0
    assert petitions.webhook.secret == "s3cret" and petitions.open311_keys == ("k1",)
    assert petitions.rate_limit("kiosk") == (2, 600) and petitions.rate_limit("open311") == (60, 600)


def test_the_venue_example_parses_its_rooms(venue_installed, make_app, database_url):  # noqa: F811
    app = make_app(
        database_url, PLUGINS={"venue": {"booking_days": 3, "rooms": [{"key": "crafts", "label": "手工室"}]}}
    )
    venue = plugin_settings("venue", app)
    assert venue.booking_days == 3 and venue.room("crafts").label == {"zh_Hans": "手工室"}
    assert venue.room("cinema") is None


# -- the field types themselves ----------------------------------------------------
def check(schema: Schema, raw: dict) -> list[str]:
    return [str(e) for e in schema.check(raw)[1]]


def test_each_field_type_refuses_what_it_cannot_use():
    schema = Schema(
        {
            "name": Text("x", pattern=r"[a-z]+", hint="lower-case letters"),
            "count": Integer(1, min=1, max=3),
            "ratio": Choice("a", ("a", "b")),
            "on": Boolean(False),
            "at": TimeOfDay("08:00"),
            "wait": Duration(5, unit="min", max=timedelta(hours=1)),
            "site": URL(""),
            "items": ListOf(Integer(min=0), (1,)),
            "rooms": TableOf({"key": Text()}, (), unique="key"),
            "map": MapOf(Integer()),
            "nested": Table({"deep": Boolean(True)}),
        }
    )
    assert check(
        schema,
        {
            "name": "Ab",
            "count": True,
            "ratio": "c",
            "on": 1,
            "at": "7.30",
            "wait": "2d",
            "site": "ftp://x",
            "items": "1",
            "rooms": [{"key": "a"}, {"key": "a"}],
            "map": {"x": "1"},
            "nested": {"deeper": True},
            "extra": 1,
        },
    ) == [
        "extra: is not a setting here; the settings are name, count, ratio, on, at, wait, site, items, rooms, map, "
        "nested",
        'name: must be lower-case letters, not "Ab"',
        "count: must be a whole number from 1 to 3, not true",
        'ratio: must be one of "a", "b", not "c"',
        "on: must be true or false, not 1",
        'at: must be a time of day like "23:30", not "7.30"',
        'wait: must be from 0:00:00 to 1:00:00, not "2d"',
        'site: must be an address like "https://kiosk.example.cn", not "ftp://x"',
        'items: must be a list like [1, 2], not "1"',
        'rooms[1].key: "a" is used twice: every item needs its own key',
        'map.x: must be a whole number from -∞ to ∞, not "1"',
        "nested.deeper: is not a setting here; did you mean deep?",
    ]
    good = schema.parse({"wait": "15min", "at": "7:30", "site": "https://a.example/", "map": {"x": 2}})
    assert good.wait == timedelta(minutes=15) and good.at == time(7, 30) and good.site == "https://a.example"
    assert good.items == (1,) and good.nested.deep is True and good.map == {"x": 2}
    assert Duration(5, unit="min").parse(None) == timedelta(minutes=5)
    with pytest.raises(SettingError, match="count: must be a whole number"):
        schema.parse({"count": 9})


def test_a_plugin_built_check_names_the_setting_inside_its_table():
    def build(values):
        if values["low"] > values["high"]:
            raise SettingError("low", "must not be above high")
        return values

    schema = Schema({"range": Table({"low": Integer(0), "high": Integer(10)}, build=build)})
    assert check(schema, {"range": {"low": 11}}) == ["range.low: must not be above high"]


def test_a_scaffolded_plugin_declares_its_settings_the_same_way(tmp_path):
    import importlib.util

    from kiosk.scaffold import create_plugin

    made = create_plugin("wishes", tmp_path, label_en="Wishes", label_zh_hans="微心愿", label_zh_hant="微心願")
    package = made.folder / made.package
    assert "register_settings" in (package / "__init__.py").read_text(encoding="utf-8")
    assert "settings().max_length" in (package / "routes.py").read_text(encoding="utf-8")
    spec = importlib.util.spec_from_file_location("scaffolded_wishes_settings", package / "settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.SCHEMA.parse({}).max_length == 200
    with pytest.raises(SettingError, match="max_lenght: is not a setting here; did you mean max_length"):
        module.SCHEMA.parse({"max_lenght": 300})


def test_a_misspelt_plugin_table_is_logged_with_the_nearest_name(make_app, database_url, caplog):
    app = make_app(database_url, PLUGINS={"parkng": {"max_reprints": 1}})
    assert "[plugins.parkng] is ignored" in caplog.text and "did you mean [plugins.parking]?" in caplog.text
    assert plugin_settings("parking", app).max_reprints == 2
