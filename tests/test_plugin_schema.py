"""A plugin's schema over its life: first revision, a change, downgrade, uninstall, forget.

The plugin (微心愿, a wish board) is a package made in tmp_path with an
installed-distribution record, so the ``kiosk`` command finds it through its
entry point like a pip-installed plugin; "uninstalling" takes its folder off
PYTHONPATH. Every command runs in its own process, as an operator would run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

import kiosk

#: The core's revisions in order, read from its folder (the newest is the head a plugin's work leaves alone).
CORE_FOLDER = Path(kiosk.__file__).parent / "migrations" / "versions"
CORE_REVISIONS = sorted(p.name[: len("kiosk_core_0000")] for p in CORE_FOLDER.glob("kiosk_core_*.py"))
CORE_HEAD = CORE_REVISIONS[-1]

MODEL = '''"""The wish board's table."""

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base


class Wish(Base):
    """One resident's micro-wish (微心愿)."""

    __tablename__ = "wishes_wish"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"), nullable=False)
    text: Mapped[str] = mapped_column(String(200), nullable=False)
{extra}'''

NOTE = "    note: Mapped[str | None] = mapped_column(String(100), nullable=True)\n"


def _make_plugin(site: Path) -> Path:
    """A ``wishes`` plugin package with a model and no migrations yet; returns its folder."""
    package = site / "kiosk_wishes"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        '"""微心愿 board."""\n\nfrom kiosk_wishes import models  # noqa: F401\n', encoding="utf-8"
    )
    (package / "models.py").write_text(MODEL.format(extra=""), encoding="utf-8")
    dist = site / "kiosk_wishes-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kiosk-wishes\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[kiosk.plugins]\nwishes = kiosk_wishes\n", encoding="utf-8")
    return package


class Kiosk:
    """Runs ``kiosk …`` in its own process against one database."""

    def __init__(self, tmp_path: Path, url: str):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_", "PYTEST"))}
        self.env.update(
            {
                "KIOSK_DATABASE_URL": url,
                "KIOSK_INSTANCE_PATH": str(tmp_path / "instance"),
                "KIOSK_SECRET_KEY": "a-real-secret-for-this-test-0123456789",
                "KIOSK_IME_PRELOAD": "false",
                "KIOSK_STATION_FILE": "",
            }
        )
        self.url = url

    def installed(self, site: Path | None) -> None:
        """Put the plugin's folder on the path (installed) or take it off (uninstalled)."""
        if site is None:
            self.env.pop("PYTHONPATH", None)
        else:
            self.env["PYTHONPATH"] = str(site)

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "kiosk.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if ok:
            assert result.returncode == 0, f"kiosk {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    def columns(self, table: str) -> set[str]:
        engine = create_engine(self.url)
        try:
            names = inspect(engine).get_table_names()
            return {c["name"] for c in inspect(engine).get_columns(table)} if table in names else set()
        finally:
            engine.dispose()

    def versions(self) -> set[str]:
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
        finally:
            engine.dispose()


@pytest.fixture
def kiosk(tmp_path, fresh_database_url):
    return Kiosk(tmp_path, fresh_database_url)


def test_revision_autogenerates_then_downgrade_and_upgrade_again(kiosk, tmp_path):
    site = tmp_path / "src"
    package = _make_plugin(site)
    kiosk.installed(site)
    first = kiosk("db", "revision", "wishes", "-m", "wish board")
    created = package / "migrations" / "wishes_0001_wish_board.py"
    assert f"wrote {created}" in first.stdout
    source = created.read_text(encoding="utf-8")
    assert "branch_labels = ('wishes',)" in source and "depends_on = 'kiosk_core_0001'" in source
    assert "create_table('wishes_wish'" in source or 'create_table("wishes_wish"' in source
    # Only its own table: the other plugins' and the core's tables are not compared.
    assert source.count("create_table(") == 1 and "legal_" not in source and "kiosk_user" not in source
    kiosk("db", "upgrade")
    assert kiosk.columns("wishes_wish") == {"id", "station_id", "text"}

    (package / "models.py").write_text(MODEL.format(extra=NOTE), encoding="utf-8")
    second = kiosk("db", "revision", "wishes", "-m", "add note")
    added = package / "migrations" / "wishes_0002_add_note.py"
    assert f"wrote {added}" in second.stdout
    source = added.read_text(encoding="utf-8")
    assert "down_revision = 'wishes_0001'" in source and "add_column" in source and "'note'" in source
    assert "drop_column('note')" in source
    kiosk("db", "upgrade")
    assert "note" in kiosk.columns("wishes_wish")
    assert "wishes_0002" in kiosk.versions()
    history = kiosk("db", "history", "wishes").stdout.split()
    assert [w for w in history if w.startswith(("wishes_", "kiosk_core_"))] == ["wishes_0002", "wishes_0001"]

    nothing = kiosk("db", "revision", "wishes", "-m", "again", ok=False)
    assert nothing.returncode != 0 and "no changes in the models of 'wishes'" in nothing.stderr
    assert sorted(p.name for p in (package / "migrations").glob("*.py")) == [
        "wishes_0001_wish_board.py",
        "wishes_0002_add_note.py",
    ]

    kiosk("db", "downgrade", "wishes", "--yes")
    assert kiosk.columns("wishes_wish") == {"id", "station_id", "text"}
    assert "wishes_0001" in kiosk.versions() and "wishes_0002" not in kiosk.versions()
    kiosk.env["KIOSK_AUTO_MIGRATE"] = "false"  # or the next start would upgrade again at once
    current = kiosk("db", "current")
    assert "wishes                   wishes_0001" in current.stdout and "pending: wishes_0002" in current.stdout
    stale = kiosk("db", "revision", "wishes", "-m", "later", ok=False)
    assert stale.returncode != 0 and "not current (pending wishes_0002)" in stale.stderr
    del kiosk.env["KIOSK_AUTO_MIGRATE"]
    kiosk("db", "upgrade")
    assert "note" in kiosk.columns("wishes_wish")
    kiosk("db", "downgrade", "wishes", "--to", "base", "--yes")
    assert kiosk.columns("wishes_wish") == set()
    assert not any(v.startswith("wishes_") for v in kiosk.versions())
    assert {CORE_HEAD} <= kiosk.versions()  # the core and the other plugins are untouched


def test_revision_refuses_what_it_cannot_do(kiosk, tmp_path):
    site = tmp_path / "lib" / "site-packages"
    package = _make_plugin(site)
    kiosk.installed(site)
    unknown = kiosk("db", "revision", "wishez", "-m", "x", ok=False)
    assert unknown.returncode != 0 and "unknown plugin 'wishez'" in unknown.stderr and "wishes" in unknown.stderr
    read_only = kiosk("db", "revision", "wishes", "-m", "x", ok=False)
    assert read_only.returncode != 0 and "installed read-only" in read_only.stderr and "--into" in read_only.stderr
    assert not (package / "migrations").exists()
    into = tmp_path / "checkout-migrations"
    kiosk("db", "revision", "wishes", "-m", "wish board", "--into", str(into))
    assert [p.name for p in into.glob("*.py")] == ["wishes_0001_wish_board.py"]
    core = kiosk("db", "downgrade", "core", "--to", "base", "--yes", ok=False)
    assert core.returncode != 0 and "cannot go below kiosk_core_0001" in core.stderr
    assert CORE_HEAD in kiosk.versions()


def test_uninstalled_plugin_keeps_its_tables_and_the_kiosk_works(kiosk, tmp_path):
    site = tmp_path / "src"
    _make_plugin(site)
    kiosk.installed(site)
    kiosk("db", "revision", "wishes", "-m", "wish board")
    kiosk("db", "upgrade")
    assert "wishes_0001" in kiosk.versions()

    # Installed but failing to import: its migrations/ folder still counts, nothing is "uninstalled".
    init = site / "kiosk_wishes" / "__init__.py"
    working = init.read_text(encoding="utf-8")
    init.write_text('raise ImportError("a broken release")\n', encoding="utf-8")
    broken = kiosk("plugins", "list")
    assert "failed" in broken.stdout and "a broken release" in broken.stdout
    assert "not installed" not in broken.stderr and "uninstalled" not in broken.stdout
    init.write_text(working, encoding="utf-8")

    kiosk.installed(None)  # pip uninstall kiosk-wishes
    hint = "kiosk plugins forget wishes"
    for args in (["--help"], ["db", "upgrade"], ["plugins", "list"], ["db", "current"]):
        result = kiosk(*args)
        assert "Can't locate revision" not in result.stderr
        assert "plugin wishes is not installed" in result.stderr and hint in result.stderr, args
    listed = kiosk("plugins", "list").stdout
    assert "wishes" in listed and "uninstalled" in listed and "legal" in listed
    doctor = kiosk("doctor", ok=False)
    assert "Can't locate revision" not in doctor.stderr
    assert "[!  ] plugin wishes: not installed" in doctor.stdout and hint in doctor.stdout
    assert "[ok ] migrations: up to date" in doctor.stdout
    assert kiosk.columns("wishes_wish") == {"id", "station_id", "text"}  # its data stays

    kiosk.installed(site)
    refused = kiosk("plugins", "forget", "wishes", ok=False)
    assert refused.returncode != 0 and "is installed" in refused.stderr and "wishes_0001" in kiosk.versions()
    kiosk.installed(None)
    forgot = kiosk("plugins", "forget", "wishes")
    assert "forgot plugin wishes (revision wishes_0001)" in forgot.stdout and "kept wishes_wish" in forgot.stdout
    assert "wishes_0001" not in kiosk.versions() and kiosk.columns("wishes_wish")
    after = kiosk("plugins", "list")
    assert "wishes" not in after.stdout and "wishes" not in after.stderr
    dropped = kiosk("plugins", "forget", "wishes", "--drop-tables", "--yes")
    assert "dropped wishes_wish" in dropped.stdout and kiosk.columns("wishes_wish") == set()
    assert "code" in kiosk.columns("station")  # the table it referred to stays
    again = kiosk("plugins", "forget", "wishes", ok=False)
    assert again.returncode != 0 and "nothing to forget" in again.stderr


def test_convention_found_migrations_build_a_fresh_database(make_app, fresh_database_url):
    """The four built-ins declare no register_migrations: their migrations/ folders are found by convention."""
    from kiosk import migrate

    app = make_app(fresh_database_url)
    folders = migrate.plugin_folders(app)
    assert set(folders) >= {"legal", "parking", "courier_rest", "petitions"}
    for name in ("legal", "parking", "courier_rest", "petitions"):
        assert folders[name].endswith(os.path.join(name, "migrations"))
        assert not hasattr(sys.modules[app.extensions["kiosk_plugins"].infos[name].module], "register_migrations")
    assert app.extensions["kiosk_plugins"].migration_paths == []
    tables = set(inspect(app.extensions["db"].engine).get_table_names())
    assert {"legal_ticket", "parking_lot", "courier_rest_rider", "petitions_request"} <= tables
    assert migrate.pending(app) == []


def test_every_built_in_branch_downgrades_to_base_and_back(make_app, fresh_database_url):
    """Each plugin's downgrade() drops exactly what its upgrade() made; upgrading again restores it."""
    from kiosk import migrate

    app = make_app(fresh_database_url)
    engine = app.extensions["db"].engine
    before = set(inspect(engine).get_table_names())
    standing = before
    for name in ("legal", "parking", "courier_rest", "petitions"):
        assert migrate.downgrade(app, name, "base") == []
        left = set(inspect(engine).get_table_names())
        assert standing - left == {t for t in before if t.startswith(name + "_")}, name
        standing = left
    assert migrate.downgrade(app, "core", None) == [CORE_REVISIONS[-2]]
    assert CORE_HEAD in migrate.pending(app)
    migrate.upgrade(app)
    assert set(inspect(engine).get_table_names()) == before
    assert migrate.pending(app) == []
