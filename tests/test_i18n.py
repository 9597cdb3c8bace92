"""Every string translated: catalogs complete, and every page renders in all three languages."""

import os
import re

import pytest

from kiosk import catalogs
from kiosk.i18n import LOCALES

ROOT = os.path.dirname(os.path.dirname(__file__))
#: What ``python -m kiosk.catalogs check`` covers: the core and every installed plugin, and the example.
PACKAGES = [folder for _name, (_package, folder) in catalogs.installed_packages().items()] + [
    os.path.join(ROOT, "examples", "venue", "kiosk_venue")
]


@pytest.mark.parametrize("package", PACKAGES, ids=os.path.basename)
def test_catalogs_translate_every_message(package):
    used = catalogs.extract(package)
    gaps = catalogs.missing(package, used)
    assert gaps == {}, f"untranslated in {package}: {gaps}"
    # An id the code no longer uses would translate somebody else's text with stale words.
    stale = catalogs.obsolete(package, used)
    assert stale == {}, f"obsolete in {package} (run python -m kiosk.catalogs update): {stale}"


def _get_pages(app):
    """Every kiosk, mobile, staff and admin page without URL arguments."""
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or "<" in rule.rule:
            continue
        if rule.rule.startswith(("/static", "/events", "/api", "/healthz", "/ime", "/agent/", "/sync/")):
            continue
        if rule.endpoint.endswith((".csv", "_csv", ".export", "_export")):
            continue
        if rule.rule.endswith((".csv", ".json", ".wav", ".png")):
            continue
        yield rule.rule


def _visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    # A block marked lang="en" is English on purpose: a page for whoever comes (the offline page)
    # says its message in every language of the station.
    html = re.sub(r'<(div|span|p)\b[^>]*\blang="en"[^>]*>.*?</\1>', " ", html, flags=re.S)
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
            encoding="utf-8",
        )
        bp = Blueprint(name, f"kiosk_{name}_test")
        bp.add_url_rule("/", "index", lambda: render_template_string("{{ _('Name') }}"))
        mod = types.ModuleType(f"kiosk_{name}_test")
        mod.register_blueprints = hookimpl(lambda register: register(bp, "kiosk"))
        mod.register_translations = hookimpl(lambda register: register(str(tmp_path / name)))
        mod.register_blueprints.__name__ = "register_blueprints"
        return mod

    app = make_app(
        database_url, EXTRA_PLUGINS={"riders": plugin_with("riders", "姓名"), "lots": plugin_with("lots", "名称")}
    )
    client = app.test_client()
    assert client.get("/k/riders/").get_data(as_text=True) == "姓名"
    assert client.get("/k/lots/").get_data(as_text=True) == "名称"


def _write_po(folder, locale, pairs):
    path = folder / locale / "LC_MESSAGES"
    path.mkdir(parents=True, exist_ok=True)
    body = "".join(f'msgid "{key}"\nmsgstr "{value}"\n\n' for key, value in pairs)
    (path / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n' + body, encoding="utf-8"
    )
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


def test_compiled_templates_are_kept_in_the_instance_cache(make_app, database_url):
    # The tests' apps share one cache folder (CACHE_DIR); an installed station has none set.
    app = make_app(database_url, CACHE_DIR="")
    client = app.test_client()
    assert client.get("/").status_code == 200
    cached = os.listdir(os.path.join(app.instance_path, "cache"))
    assert any(name.startswith("template-") for name in cached)
    assert any(name.startswith("catalog-") for name in cached)


# -- whose catalog: the plugin that wrote the text, wherever it is rendered ----------------------------

WISHES_CODE = """
from flask import Blueprint, render_template

from kiosk import hookimpl
from kiosk.i18n import _, lazy_gettext, localized
from kiosk.printing import build_receipt
from kiosk_hardware.receipt import Receipt

MOBILE = lazy_gettext("Mobile")
seen = {}
bp = Blueprint("wishes", __name__)


@bp.route("/")
def index():
    return _("Mobile") + "|" + render_template("wishes/slip.html")


def slip(context):
    return Receipt().kv(_("Mobile"), context["phone"])


def nightly(app):
    seen["gettext"] = _("Mobile")
    seen["lazy"] = str(MOBILE)
    seen["localized"] = localized("Mobile")
    seen["template"] = app.jinja_env.get_template("wishes/slip.html").render()
    seen["receipt"] = build_receipt("wishes_slip", {"phone": "138"}).plain_text()


@hookimpl
def register_blueprints(register):
    register(bp, "kiosk")


@hookimpl
def register_receipt_layouts(register):
    register("wishes_slip", slip)


@hookimpl
def register_jobs(register):
    register("nightly", nightly, every=3600)
"""

LOTS_CODE = """
from flask import Blueprint, render_template

from kiosk import hookimpl
from kiosk.i18n import _
from kiosk.printing import build_receipt

bp = Blueprint("lots", __name__)


@bp.route("/")
def index():
    # Another plugin's receipt and template, built in this plugin's request.
    slip = build_receipt("wishes_slip", {"phone": "139"}).plain_text()
    return render_template("lots/page.html", slip=slip, mine=_("Mobile"))


@hookimpl
def register_blueprints(register):
    register(bp, "kiosk")
"""


def _plugin_package(root, name, word, code, templates, monkeypatch):
    """A plugin package on disk (code, templates/<name>/, zh_Hans catalog), imported under a unique name."""
    import importlib.util
    import sys
    import uuid

    module_name = f"kiosk_{name}_{uuid.uuid4().hex[:8]}"
    folder = root / module_name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(code, encoding="utf-8")
    for filename, body in templates.items():
        path = folder / "templates" / name / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    _write_po(folder / "translations", "zh_Hans", [("Mobile", word)])
    spec = importlib.util.spec_from_file_location(
        module_name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)
    spec.loader.exec_module(module)
    return module


def test_a_plugins_message_reads_the_same_in_its_page_a_job_a_receipt_and_another_plugins_page(
    make_app, database_url, tmp_path, monkeypatch
):
    """ "Mobile" is 手机 for the wishes plugin everywhere: neither the core's stale 手机号 nor lots' 手机号码."""
    from kiosk.jobs import run_due

    wishes = _plugin_package(tmp_path, "wishes", "手机", WISHES_CODE, {"slip.html": '{{ _("Mobile") }}'}, monkeypatch)
    lots = _plugin_package(
        tmp_path,
        "lots",
        "手机号码",
        LOTS_CODE,
        {"page.html": '{{ _("Mobile") }}|{{ mine }}|{% include "wishes/slip.html" %}|{{ slip }}'},
        monkeypatch,
    )
    app = make_app(database_url, EXTRA_PLUGINS={"lots": lots, "wishes": wishes})
    # A common id the core's catalog still holds (as a stale entry would) and the plugins translate otherwise.
    _write_po(tmp_path / "core", "zh_Hans", [("Mobile", "手机号")])
    app.extensions["i18n"].add_folder(str(tmp_path / "core"))
    assert app.extensions["i18n"].gettext("zh_Hans", "Mobile") == "手机号"  # the core's own wording is kept

    client = app.test_client()
    assert client.get("/k/wishes/").get_data(as_text=True) == "手机|手机"
    assert client.get("/k/lots/").get_data(as_text=True) == "手机号码|手机号码|手机|手机: 139"

    assert "wishes.nightly" in run_due(app)  # no request: the job, its template and its receipt
    assert wishes.seen == {
        "gettext": "手机",
        "lazy": "手机",
        "localized": "手机",
        "template": "手机",
        "receipt": "手机: 138",
    }
