"""``kiosk plugins new``: the package it makes installs, shows its tile, and passes its own tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from markupsafe import escape
from sqlalchemy import create_engine, inspect

from kiosk import catalogs
from kiosk.cli import cli
from kiosk.db import Base
from kiosk.testing import PG_SKIP, PG_URL, install_into

NAME = "venue_demo"
PACKAGE = f"kiosk_{NAME}"
LABELS = {"zh_Hans": "场地预约演示", "zh_Hant": "場地預約示範", "en": "Venue demo"}


@dataclass
class Scaffolded:
    folder: Path
    site: Path
    output: str

    @property
    def package_dir(self) -> Path:
        return self.folder / PACKAGE


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_", "PYTEST_ADDOPTS"))}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def scaffolded(tmp_path_factory) -> Scaffolded:
    """Runs the real command in its own process, then pip-installs what it made into a private folder."""
    base = tmp_path_factory.mktemp("scaffold")
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "kiosk.cli",
            "plugins",
            "new",
            NAME,
            "--dir",
            str(base),
            "--label-zh-hans",
            LABELS["zh_Hans"],
            "--label-zh-hant",
            LABELS["zh_Hant"],
            "--label-en",
            LABELS["en"],
        ],
        check=False,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    folder = base / f"kiosk-{NAME}"
    site = tmp_path_factory.mktemp("site-scaffold")
    install_into(str(folder), str(site))
    return Scaffolded(folder=folder, site=site, output=made.stdout)


@pytest.fixture
def scaffold_installed(scaffolded):
    sys.path.insert(0, str(scaffolded.site))
    try:
        yield scaffolded
    finally:
        # Off the path, its entry point is gone for the next app; the module stays
        # imported because its table is defined on the shared metadata.
        sys.path.remove(str(scaffolded.site))


def _tiles(html: str) -> list[str]:
    return re.findall(r'data-tile="([^"]+)"', html)


def test_the_command_makes_a_package_with_one_hook_per_file(scaffolded):
    folder, package = scaffolded.folder, scaffolded.package_dir
    with open(folder / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)
    assert project["project"]["entry-points"]["kiosk.plugins"] == {NAME: PACKAGE}
    assert "-p kiosk.testing" in project["tool"]["pytest"]["ini_options"]["addopts"]
    hooks = {"tiles.py": "register_tiles", "routes.py": "register_blueprints", "panels.py": "register_staff_panels"}
    init = (package / "__init__.py").read_text(encoding="utf-8")
    # Its migrations/ folder is found by convention: no hook, no package.
    assert "register_migrations" not in init and not (package / "migrations" / "__init__.py").exists()
    for module, hook in hooks.items():
        assert f"@hookimpl\ndef {hook}(" in (package / module).read_text(encoding="utf-8"), module
        assert f"import {hook}" in init
    migration = (package / "migrations" / f"{NAME}_0001_initial.py").read_text(encoding="utf-8")
    assert f'branch_labels = ("{NAME}",)' in migration and 'depends_on = "kiosk_core_0001"' in migration
    page = (package / "templates" / NAME / "index.html").read_text(encoding="utf-8")
    assert page.startswith('{% extends "base.html" %}') and 'data-osk="text"' in page
    assert (package / "static" / f"{NAME}.svg").read_text(encoding="utf-8").startswith("<svg")
    assert (folder / "tests" / f"test_{NAME}.py").exists() and (folder / "README.md").exists()
    assert f"created {folder / 'pyproject.toml'}" in scaffolded.output


def test_the_catalogs_are_complete_and_carry_the_labels(scaffolded):
    assert catalogs.missing(str(scaffolded.package_dir)) == {}
    for locale in ("zh_Hans", "zh_Hant"):
        catalog = {m.id: m.string for m in catalogs.load(str(scaffolded.package_dir), locale) if m.id}
        assert catalog[LABELS["en"]] == LABELS[locale]
        assert all(catalog.values()), locale


def test_installed_it_shows_its_tile_answers_and_has_its_table(scaffold_installed, make_app, fresh_database_url, csrf):
    app = make_app(fresh_database_url)
    info = app.extensions["kiosk_plugins"].infos[NAME]
    assert (info.state, info.version, info.requires_api) == ("enabled", "0.1.0", ">=1,<2")
    client = app.test_client()
    assert f"{NAME}.{NAME}" in _tiles(client.get("/").get_data(as_text=True))
    for lang in ("zh_Hans", "zh_Hant", "en"):
        client.post("/lang", data={"lang": lang, "next": "/", "csrf_token": csrf(client)})
        assert str(escape(LABELS[lang])) in client.get("/").get_data(as_text=True), lang
    icon = client.get(f"/static/p/{NAME}/{NAME}.svg")
    assert icon.status_code == 200 and icon.get_data(as_text=True).startswith("<svg")

    page = client.get(f"/k/{NAME}/")
    assert page.status_code == 200 and 'data-osk="text"' in page.get_data(as_text=True)
    sent = client.post(f"/k/{NAME}/", data={"text": "活动室周六借用", "csrf_token": csrf(client)})
    assert sent.status_code == 302
    assert client.get(sent.headers["Location"]).status_code == 200

    engine = create_engine(app.extensions["db"].url)
    try:
        assert f"{NAME}_entry" in inspect(engine).get_table_names()
        with engine.connect() as conn:
            # The generated migration and model agree, so an author who follows them
            # does not start with a schema that drifts.
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "include_object": lambda obj, name, type_, reflected, compare_to: (
                        type_ != "table" or name.startswith(f"{NAME}_")
                    ),
                    "compare_type": False,
                },
            )
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        engine.dispose()


def _run_its_tests(scaffolded, basetemp: Path, **env) -> subprocess.CompletedProcess:
    """Run the generated tests in their own folder, as the author would after ``pip install -e .``."""
    pythonpath = os.pathsep.join(p for p in (str(scaffolded.site), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        # A temporary folder of its own: another pytest run on the machine tidying
        # /tmp/pytest-of-<user> must not remove it mid-run.
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", f"--basetemp={basetemp}"],
        check=False,
        cwd=scaffolded.folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in _env(PYTHONPATH=pythonpath, **env).items() if not k.startswith("PYTEST_XDIST")},
    )


def test_its_own_tests_pass_with_the_kiosk_fixtures(scaffolded, tmp_path):
    run = _run_its_tests(scaffolded, tmp_path / "inner")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    # Every test climbs kiosk.testing's ladder once per backend; without a server
    # the PostgreSQL half is skipped and says what to set.
    assert re.search(r"\b4 passed, 4 skipped\b", run.stdout), run.stdout[-2000:]
    assert "KIOSK_TEST_DATABASE_URL" in run.stdout


@pytest.mark.skipif(not PG_URL, reason=PG_SKIP)
def test_its_own_tests_pass_on_postgresql_too(scaffolded, tmp_path):
    run = _run_its_tests(scaffolded, tmp_path / "inner", KIOSK_TEST_DATABASE_URL=PG_URL)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    # Four tests, each on both backends, none skipped: the PostgreSQL half ran.
    assert re.search(r"\b8 passed\b", run.stdout) and "skipped" not in run.stdout, run.stdout[-2000:]


@pytest.mark.parametrize(
    "name, message",
    [
        ("Venue", "is not valid"),
        ("venue-booking", "is not valid"),
        ("_venue", "is not valid"),
        ("venue__booking", "is not valid"),
        ("a" * 33, "at most 32"),
        ("class", "Python keyword"),
        ("staff", "used by the kiosk core"),
        ("legal", "already installed"),
    ],
)
def test_bad_or_taken_names_are_refused_with_a_clear_message(tmp_path, name, message):
    result = CliRunner().invoke(cli, ["plugins", "new", name, "--dir", str(tmp_path)])
    assert result.exit_code != 0
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_or_a_bad_label_is_refused(tmp_path):
    (tmp_path / "kiosk-food_test").mkdir()
    result = CliRunner().invoke(cli, ["plugins", "new", "food_test", "--dir", str(tmp_path)])
    assert result.exit_code != 0 and "already exists" in result.output
    result = CliRunner().invoke(
        cli, ["plugins", "new", "food_quick", "--dir", str(tmp_path), "--label-zh-hans", "食" * 41]
    )
    assert result.exit_code != 0 and "too long" in result.output
    assert not (tmp_path / "kiosk-food_quick").exists()


def test_default_labels_are_filled_and_flagged(tmp_path):
    result = CliRunner().invoke(cli, ["plugins", "new", "micro_wish", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "placeholders" in result.output
    package = tmp_path / "kiosk-micro_wish" / "kiosk_micro_wish"
    assert catalogs.missing(str(package)) == {}
    zh = {m.id: m.string for m in catalogs.load(str(package), "zh_Hans") if m.id}
    assert zh["Micro wish"] == "新服务"
