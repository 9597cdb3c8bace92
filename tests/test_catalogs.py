"""``python -m kiosk.catalogs``: finds plugins by entry point from any folder, never checks nothing quietly,
and ``update`` drops the ids the code no longer uses."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kiosk import catalogs

PO_HEADER = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'


def _write_po(package, locale, pairs):
    path = package / "translations" / locale / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f'msgid "{key}"\nmsgstr "{value}"\n\n' for key, value in pairs)
    path.write_text(PO_HEADER + body, encoding="utf-8")
    return path


def _package(root, name, code):
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(code, encoding="utf-8")
    return package


WISH_CODE = 'from kiosk.i18n import _\n\n\ndef claim():\n    return _("Claim a wish")\n'


@pytest.fixture
def site(tmp_path):
    """A folder on PYTHONPATH holding an installed plugin ``wish`` (package ``kiosk_wish``) and a textless one."""
    root = tmp_path / "site"
    wish = _package(root, "kiosk_wish", WISH_CODE)
    _write_po(wish, "zh_Hans", [("Claim a wish", "认领心愿")])
    _write_po(wish, "zh_Hant", [])  # Traditional Chinese not done yet
    _package(root, "kiosk_quiet", "VALUE = 1\n")
    info = root / "kiosk_wish-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kiosk-wish\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[kiosk.plugins]\nwish = kiosk_wish\nquiet = kiosk_quiet\n", encoding="utf-8"
    )
    return root


def _run(site, *args, cwd):
    """The command as a developer types it, from ``cwd`` (not the plugin's folder)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "kiosk.catalogs", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_finds_a_plugin_by_name_or_package_from_another_folder(site, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("wish", "kiosk_wish"):
        result = _run(site, "check", name, cwd=elsewhere)
        assert result.returncode == 1, result.stderr
        assert result.stdout == "wish zh_Hant: untranslated: 'Claim a wish'\n"
        assert "checked wish (1) messages: 1 problem(s)" in result.stderr

    _write_po(site / "kiosk_wish", "zh_Hant", [("Claim a wish", "認領心願")])
    result = _run(site, "check", "wish", cwd=elsewhere)
    assert (result.returncode, result.stdout) == (0, "")


def test_check_without_names_covers_the_core_and_every_installed_plugin(site, tmp_path):
    result = _run(site, "check", cwd=tmp_path)
    checked = result.stderr.strip().splitlines()[-1]
    for name in ("kiosk", "legal", "courier_rest", "parking", "petitions", "wish"):
        assert f"{name} (" in checked, checked
    assert "quiet" not in checked  # installed, but has no text to check
    # The installed plugin's gap is reported, so the run cannot pass.
    assert result.returncode == 1
    assert "wish zh_Hant: untranslated: 'Claim a wish'" in result.stdout.splitlines()


def test_a_misspelled_name_exits_2_and_names_the_nearest_plugin(site, tmp_path):
    result = _run(site, "check", "wsh", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "'wsh'" in result.stderr and "Did you mean 'wish'?" in result.stderr
    assert "Valid names: " in result.stderr and "legal" in result.stderr


def test_checking_nothing_is_an_error(site, tmp_path):
    # An installed plugin without any text, named on purpose.
    result = _run(site, "check", "quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert "nothing to check" in result.stderr
    # A folder that is no package at all (the old command checked it and exited 0).
    empty = tmp_path / "empty"
    empty.mkdir()
    assert catalogs.main(["check", str(empty)]) == 2
    assert catalogs.main(["update", str(site / "kiosk_quiet")]) == 2
    assert not (site / "kiosk_quiet" / "translations").exists()  # refused: no empty catalogs written
    assert catalogs.main(["check"]) in (0, 1)  # the core alone is always something
    assert catalogs.main([]) == 2


def test_update_drops_ids_no_longer_used_and_reports_them(tmp_path, capsys):
    """A stale common id ("Mobile") left in a catalog goes, so it cannot translate anybody's text."""
    package = _package(tmp_path, "kiosk_wish", WISH_CODE)
    stale = [("Claim a wish", "认领心愿"), ("Mobile", "手机号")]
    po = _write_po(package, "zh_Hans", stale)
    _write_po(package, "zh_Hant", [("Mobile", "手機號碼")])

    assert catalogs.main(["check", str(package)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "kiosk_wish zh_Hans: obsolete (no longer used; run update): 'Mobile'" in out
    assert "kiosk_wish zh_Hant: untranslated: 'Claim a wish'" in out

    assert catalogs.main(["update", str(package)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sorted(out) == [
        "kiosk_wish zh_Hans: dropped, no longer used: 'Mobile'",
        "kiosk_wish zh_Hant: added, translate it: 'Claim a wish'",
        "kiosk_wish zh_Hant: dropped, no longer used: 'Mobile'",
    ]
    zh_hans = {m.id: m.string for m in catalogs.load(str(package), "zh_Hans") if m.id}
    assert zh_hans == {"Claim a wish": "认领心愿"}  # the translation kept, the stale id gone
    assert "Mobile" not in po.read_text(encoding="utf-8")  # not even as a "#~" obsolete entry
    assert catalogs.obsolete(str(package)) == {}
    assert catalogs.missing(str(package)) == {"zh_Hant": ["Claim a wish"]}


def test_check_flags_half_width_punctuation_in_chinese_and_full_width_fixes_it(tmp_path, capsys):
    """Issue 19 point 11: ``歇脚:座位`` and ``第一次来?登记一下`` on a Chinese screen read as typos."""
    code = WISH_CODE + '\n\ndef more():\n    return _("Rest: seats"), _("Photos: %(n)s"), _("Opens 12:30")\n'
    package = _package(tmp_path, "kiosk_wish", code)
    _write_po(
        package,
        "zh_Hans",
        [
            ("Claim a wish", "认领心愿(先到)"),
            ("Rest: seats", "歇脚:座位"),
            ("Photos: %(n)s", "照片：%(n)s 张"),
            ("Opens 12:30", "12:30 开门，见 https://a.cn/x?y=1"),
        ],
    )
    _write_po(
        package,
        "zh_Hant",
        [
            ("Claim a wish", "認領心願"),
            ("Rest: seats", "歇腳：座位"),
            ("Photos: %(n)s", "照片:%(n)s 張"),
            ("Opens 12:30", "12:30 開門"),
        ],
    )
    assert catalogs.main(["check", str(package)]) == 1
    out = sorted(capsys.readouterr().out.splitlines())
    assert out == [
        "kiosk_wish zh_Hans: half-width punctuation in 'Claim a wish': '认领心愿(先到)' should read '认领心愿（先到）'",
        "kiosk_wish zh_Hans: half-width punctuation in 'Rest: seats': '歇脚:座位' should read '歇脚：座位'",
        "kiosk_wish zh_Hant: half-width punctuation in 'Photos: %(n)s': '照片:%(n)s 張' should read '照片：%(n)s 張'",
    ]
    # Placeholders, times, URLs, Latin text and a literal separator between spaces stay as they are.
    for kept in ("%(n)s 个", "12:30", "https://a.cn/x?y=1", "A (B), C: D!", "多个用 ; 分隔", "{name}"):
        assert catalogs.full_width(kept) == kept
    assert catalogs.full_width("数据(JSON)。") == "数据（JSON）。"  # a bracket changes with its partner
    assert catalogs.full_width("的(%(n)s)") == "的（%(n)s）"
    assert catalogs.full_width("[请求数, 秒数]") == "[请求数，秒数]"


def test_no_catalog_of_the_core_or_a_plugin_has_half_width_punctuation_in_chinese():
    for name, folder in catalogs.resolve([]):
        assert catalogs.half_width_punctuation(folder) == {}, name
