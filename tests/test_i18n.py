"""Every string translated: catalogs complete, and every page renders in all three languages."""

import os
import re

import pytest

from kiosk import catalogs
from kiosk.i18n import LOCALES

ROOT = os.path.dirname(os.path.dirname(__file__))
PACKAGES = [os.path.join(ROOT, "kiosk")] + [
    os.path.join(ROOT, "plugins", name)
    for name in sorted(os.listdir(os.path.join(ROOT, "plugins")))
    if os.path.isdir(os.path.join(ROOT, "plugins", name)) and not name.startswith("__")
]


@pytest.mark.parametrize("package", PACKAGES, ids=os.path.basename)
def test_catalogs_translate_every_message(package):
    gaps = catalogs.missing(package)
    assert gaps == {}, f"untranslated in {package}: {gaps}"


def _get_pages(app):
    """Every kiosk, mobile, staff and admin page without URL arguments."""
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or "<" in rule.rule:
            continue
        if rule.rule.startswith(("/static", "/events", "/api", "/healthz", "/ime")):
            continue
        if rule.endpoint.endswith((".csv", "_csv", ".export", "_export")) or rule.rule.endswith((".csv", ".json", ".wav", ".png")):
            continue
        yield rule.rule


def _visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_page_renders_in_every_language(app, client, auth, csrf, locale):
    auth.login("district")
    client.post("/lang", data={"lang": locale, "csrf_token": csrf(client)})
    english = {}
    for loc in ("zh_Hans",):
        english = set(app.extensions["i18n"].messages[loc])
    rendered = 0
    for path in _get_pages(app):
        response = client.get(path)
        if response.status_code in (301, 302, 303):
            continue
        assert response.status_code == 200, (path, response.status_code)
        text = _visible_text(response.get_data(as_text=True))
        if locale != "en":
            # No English message id may show through untranslated.
            leaked = [m for m in english if len(m) > 12 and " " in m and m in text]
            assert not leaked, (path, leaked[:3])
        rendered += 1
    assert rendered >= 3


def test_each_plugin_page_uses_its_own_catalog_first(make_app, database_url, tmp_path, csrf):
    """Two plugins may translate one English id differently."""
    import types

    from flask import Blueprint, render_template_string

    from kiosk import hookimpl

    def plugin_with(name, word):
        folder = tmp_path / name / "zh_Hans" / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "messages.po").write_text(
            f'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\nmsgid "Name"\nmsgstr "{word}"\n',
            encoding="utf-8")
        bp = Blueprint(name, f"kiosk_{name}_test")
        bp.add_url_rule("/", "index", lambda: render_template_string("{{ _('Name') }}"))
        mod = types.ModuleType(f"kiosk_{name}_test")
        mod.register_blueprints = hookimpl(lambda register: register(bp, "kiosk"))
        mod.register_translations = hookimpl(lambda register: register(str(tmp_path / name)))
        mod.register_blueprints.__name__ = "register_blueprints"
        return mod

    app = make_app(database_url, EXTRA_PLUGINS={"riders": plugin_with("riders", "姓名"),
                                                "lots": plugin_with("lots", "名称")})
    client = app.test_client()
    assert client.get("/k/riders/").get_data(as_text=True) == "姓名"
    assert client.get("/k/lots/").get_data(as_text=True) == "名称"


def _write_po(folder, locale, pairs):
    path = folder / locale / "LC_MESSAGES"
    path.mkdir(parents=True, exist_ok=True)
    body = "".join(f'msgid "{key}"\nmsgstr "{value}"\n\n' for key, value in pairs)
    (path / "messages.po").write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n' + body,
                                      encoding="utf-8")
    return path / "messages.po"


def test_parsed_catalogs_are_kept_and_a_changed_catalog_is_read_again(tmp_path, monkeypatch):
    from kiosk import i18n

    folder, cache = tmp_path / "translations", tmp_path / "cache"
    po = _write_po(folder, "zh_Hans", [("Take a ticket", "取号"), ("Back", "返回")])
    first = i18n.Catalogs(str(cache))
    first.add_folder(str(folder))
    assert first.gettext("zh_Hans", "Take a ticket") == "取号"
    assert len(list(cache.iterdir())) == 1

    # A second start reads the cache, not the .po file.
    parsed = []
    real_parse = i18n.parse_po
    monkeypatch.setattr(i18n, "parse_po", lambda path: parsed.append(path) or real_parse(path))
    second = i18n.Catalogs(str(cache))
    second.add_folder(str(folder))
    assert second.gettext("zh_Hans", "Back") == "返回"
    assert parsed == []

    # An edited catalog (new size and time) is parsed again and its new wording used.
    _write_po(folder, "zh_Hans", [("Take a ticket", "取号码"), ("Back", "返回")])
    os.utime(po, ns=(po.stat().st_atime_ns, po.stat().st_mtime_ns + 1_000_000_000))
    third = i18n.Catalogs(str(cache))
    third.add_folder(str(folder))
    assert third.gettext("zh_Hans", "Take a ticket") == "取号码"
    assert parsed == [str(po)]


def test_a_damaged_catalog_cache_is_ignored_and_rewritten(tmp_path):
    from kiosk import i18n

    folder, cache = tmp_path / "translations", tmp_path / "cache"
    _write_po(folder, "zh_Hant", [("Take a ticket", "取號")])
    first = i18n.Catalogs(str(cache))
    first.add_folder(str(folder))
    assert first.gettext("zh_Hant", "Take a ticket") == "取號"  # read (and cached) when first asked for
    (cached,) = cache.iterdir()
    cached.write_bytes(b"\x00not marshal")
    catalogs = i18n.Catalogs(str(cache))
    catalogs.add_folder(str(folder))
    assert catalogs.gettext("zh_Hant", "Take a ticket") == "取號"
    assert cached.read_bytes() != b"\x00not marshal"


def test_a_read_only_cache_folder_costs_nothing_but_the_parse(tmp_path):
    from kiosk import i18n

    folder = tmp_path / "translations"
    _write_po(folder, "zh_Hans", [("Back", "返回")])
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    catalogs = i18n.Catalogs(str(blocker / "cache"))
    catalogs.add_folder(str(folder))
    assert catalogs.gettext("zh_Hans", "Back") == "返回"


def test_compiled_templates_are_kept_in_the_instance_cache(app, client):
    assert client.get("/").status_code == 200
    cached = os.listdir(os.path.join(app.instance_path, "cache"))
    assert any(name.startswith("template-") for name in cached)
    assert any(name.startswith("catalog-") for name in cached)
