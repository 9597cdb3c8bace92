"""docs/deploy.md's PostgreSQL backup and restore, run as written against the test server.

The guide's two blocks (``# backup of the hub's database and files`` and
``# restore of the hub's database and files``) run line by line in bash with
these stand-ins: ``kiosk`` is this checkout's CLI, ``sudo -u postgres`` runs
the command as the test server's superuser (``PGHOST``/``PGUSER``), ``install
-d`` makes the folder, ``systemctl`` is recorded; ``/var/backups/kiosk-hub``
is a scratch folder, the ``kiosk`` database a scratch database (the restore
goes into a second, empty one with a fresh instance folder: a new machine), and
the example file names are the files the backup made.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from test_backup import fill

from kiosk.testing import PG_SKIP, PG_URL, TEST_SECRET_KEY, close_app, create_pg_database, drop_pg_database

pytestmark = pytest.mark.skipif(not PG_URL, reason=PG_SKIP)

TABLES = ("legal_ticket", "petitions_request", "petitions_photo", "alembic_version")
GUIDE = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"
STAND_INS = """
kiosk() { "$KIOSK_PYTHON" -m kiosk.cli "$@"; }
sudo() { [ "$1" = -u ] && shift 2; "$@"; }
install() { mkdir -p "${@: -1}"; }
systemctl() { echo "systemctl $*" >> "$CALLS"; }
"""


def guide_block(title: str) -> list[str]:
    """The lines of the guide's sh block that starts with ``# title`` (continuations joined)."""
    for block in re.findall(r"^```sh\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL):
        lines = block.replace("\\\n", " ").splitlines()
        if lines and lines[0].strip() == f"# {title}":
            return [line for line in lines[1:] if line.strip()]
    raise AssertionError(f"docs/deploy.md has no sh block starting '# {title}'")


def run(lines: list[str], env: dict, stdin: str = "") -> str:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", STAND_INS + "\n".join(lines)],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{lines}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def table_rows(url: str, table: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]
    finally:
        engine.dispose()


def test_the_guides_pg_dump_and_pg_restore_steps_with_kiosk_backup_files_only(make_app, tmp_path):
    assert shutil.which("pg_dump") and shutil.which("pg_restore"), "tools/install-test-deps installs postgresql-client"
    name = f"kiosk_backup_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    url = create_pg_database(name)
    app = None
    try:
        app = fill(make_app(url))
        backups, fresh, calls = tmp_path / "backups", tmp_path / "new-machine", tmp_path / "calls"
        server = make_url(PG_URL)
        env = dict(
            os.environ,
            KIOSK_PYTHON=sys.executable,
            CALLS=str(calls),
            PGHOST=server.host or "127.0.0.1",
            PGPORT=str(server.port or 5432),
            PGUSER=server.username or "postgres",
            KIOSK_SECRET_KEY=TEST_SECRET_KEY,
            KIOSK_START_DEVICES="false",
            KIOSK_RUN_JOBS="false",
        )
        env.pop("KIOSK_STATION_FILE", None)

        backup = [
            re.sub(r" kiosk$", f" {name}", line.replace("/var/backups/kiosk-hub", str(backups)))
            for line in guide_block("backup of the hub's database and files")
        ]
        assert any(line.startswith("sudo -u postgres pg_dump --format=custom") for line in backup)
        said = run(backup, dict(env, KIOSK_INSTANCE_PATH=app.instance_path, KIOSK_DATABASE_URL=url))
        (dump,) = backups.glob("kiosk-*.dump")
        (archive,) = backups.glob("kiosk-*.tar.gz")
        assert "backed up the " in said and "database and" not in said, said
        backed_up = {table: table_rows(url, table) for table in TABLES}
        assert all(backed_up.values()), backed_up
        # The disaster: the petitions are gone, and the database moved on meanwhile.
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE petitions_request CASCADE"))
            conn.execute(text("UPDATE legal_ticket SET status = 'served'"))
        engine.dispose()

        restore = []
        for line in guide_block("restore of the hub's database and files"):
            line = line.replace("--dbname=kiosk ", f"--dbname={name} ")
            line = re.sub(r"/var/backups/kiosk-hub/kiosk-\d{4}-\d\d-\d\d\.dump", str(dump), line)
            line = re.sub(r"/var/backups/kiosk-hub/kiosk-[a-z0-9-]+-\d{8}T\d{6}Z\.tar\.gz", str(archive), line)
            restore.append(line)
        assert not any("/var/backups" in line for line in restore), restore
        # The files go to a fresh instance folder: a new machine.
        said = run(restore, dict(env, KIOSK_INSTANCE_PATH=str(fresh), KIOSK_DATABASE_URL=url), stdin="y\n")
        assert "restored 0" not in said and "database is up to date" in said, said
        assert calls.read_text().splitlines() == ["systemctl stop kiosk-hub", "systemctl start kiosk-hub"]

        assert {table: table_rows(url, table) for table in TABLES} == backed_up
        ((_, station_id, _, _, filename, *_),) = backed_up["petitions_photo"]
        relative = Path("uploads", "petitions", str(station_id), filename)
        assert (fresh / relative).read_bytes() == (Path(app.instance_path) / relative).read_bytes()
    finally:
        if app is not None:
            close_app(app)  # its threads must not reach for a dropped database
        drop_pg_database(name)
