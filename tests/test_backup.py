"""``kiosk backup`` / ``kiosk restore`` on SQLite: a round trip taken while the kiosk keeps writing.

The PostgreSQL half (pg_dump / pg_restore as docs/deploy.md says, plus
``kiosk backup --files-only``) is in ``test_backup_postgres.py``.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading

import pytest
from click.testing import CliRunner
from test_legal_support import install_clock, take_ticket
from test_petitions_intake import jpeg_with_gps, mobile_post

from kiosk.cli import cli
from kiosk.testing import (
    TEST_PASSWORD,
    TEST_SECRET_KEY,
    TEST_STATION,
    app_config,
    close_app,
    create_account,
    csrf_of,
    wait_for,
)

STATION_TOML = f"""[station]
code = "{TEST_STATION["code"]}"
name = "{TEST_STATION["name"]}"
kind = "{TEST_STATION["kind"]}"
"""


def kiosk(instance, *args, database_url=None, input=None):
    """Run ``kiosk ARGS`` in-process for the station whose instance folder is ``instance``."""
    env = {
        "KIOSK_INSTANCE_PATH": str(instance),
        "KIOSK_SECRET_KEY": TEST_SECRET_KEY,
        "KIOSK_STATION_FILE": None,
        "KIOSK_DATABASE_URL": database_url,
        "KIOSK_START_DEVICES": "false",
        "KIOSK_RUN_JOBS": "false",
    }
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def rows(path, query):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


@pytest.fixture
def station(make_app, tmp_path, sqlite_template):
    """A SQLite station with a legal ticket (and its receipt) and a petition with a photo."""
    import shutil

    db = tmp_path / "station.db"
    shutil.copy(sqlite_template, db)
    app = fill(make_app("sqlite:///" + str(db)))
    app.db_path = str(db)
    return app


def fill(app):
    """Give ``app`` a station file, a legal ticket with its receipt on disk and a petition with a photo."""
    install_clock(app)
    with open(os.path.join(app.instance_path, "station.toml"), "w", encoding="utf-8") as fh:
        fh.write(STATION_TOML)
    take_ticket(app.test_client(), "consultation")
    phone = app.test_client()
    phone.get("/m/petitions/")
    assert mobile_post(phone, csrf_of, files=[("lamp.jpg", jpeg_with_gps())]).status_code == 302
    receipts = os.path.join(app.instance_path, "receipts")
    wait_for(lambda: os.listdir(receipts), 10, "the ticket's receipt in the preview folder")
    return app


def test_backup_while_writing_then_restore_into_a_fresh_instance(station, tmp_path):
    stop, written, errors = threading.Event(), [], []

    def writer():
        # Residents keep taking tickets while the backup runs.
        while not stop.is_set():
            try:
                written.append(take_ticket(station.test_client(), "consultation")["ticket"])
            except Exception as exc:  # reported below: the thread must not die silently
                errors.append(exc)
                return

    before = rows(station.db_path, "SELECT count(*) FROM legal_ticket")[0][0]
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_for(lambda: len(written) >= 3, 20, "the writer's first tickets")
        archive = tmp_path / "backup.tar.gz"
        result = kiosk(station.instance_path, "backup", str(archive), database_url="sqlite:///" + station.db_path)
        during = len(written)
        wait_for(lambda: len(written) >= during + 2, 20, "tickets after the backup")
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    assert result.exit_code == 0, result.output
    assert "backed up the database and" in result.output

    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
    assert {"database/kiosk.db", "instance/station.toml", "manifest.json"} <= names
    photos = [n for n in names if n.startswith("instance/uploads/petitions/") and n.endswith(".jpg")]
    assert len(photos) == 1, names
    assert any(n.startswith("instance/receipts/") for n in names)
    assert not any(n.startswith("instance/cache/") for n in names), "caches are rebuilt, not backed up"
    assert manifest["format"] == "kiosk-backup" and manifest["station"] == "shuibei"
    assert manifest["database"]["revisions"] == [
        r for (r,) in rows(station.db_path, "SELECT * FROM alembic_version ORDER BY 1")
    ]
    assert {f["path"] for f in manifest["files"]} == names - {"manifest.json"}
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])
    assert oct(os.stat(archive).st_mode & 0o777) == "0o600"

    fresh = tmp_path / "fresh-instance"
    refused = kiosk(fresh, "restore", str(archive), input="n\n")
    assert refused.exit_code != 0 and "Continue?" in refused.output
    assert not os.path.exists(fresh / "kiosk.db"), "nothing restored without a yes"
    restored = kiosk(fresh, "restore", str(archive), "--yes")
    assert restored.exit_code == 0, restored.output
    assert "restored the database and" in restored.output

    # One consistent moment: the file is sound, every reference resolves, and the writer's
    # tickets are a prefix of what the station has now.
    db = str(fresh / "kiosk.db")
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert rows(db, "PRAGMA foreign_key_check") == []
    # Marked restored, so its next sync numbers new entries after the hub's (kiosk.sync.pusher.mark_restored).
    marks = "SELECT name FROM job_run WHERE name LIKE 'kiosk.sync.restored@%'"
    assert rows(db, marks) == [("kiosk.sync.restored@shuibei",)] and rows(station.db_path, marks) == []
    copied = rows(db, "SELECT id, number, token FROM legal_ticket ORDER BY id")
    now = rows(station.db_path, "SELECT id, number, token FROM legal_ticket ORDER BY id")
    assert before + 3 <= len(copied) < len(now)
    assert copied == now[: len(copied)]
    for table in ("petitions_request", "petitions_photo", "alembic_version"):
        query = f"SELECT * FROM {table} ORDER BY 1"
        assert rows(db, query) == rows(station.db_path, query) != []
    (filename, station_id, token) = rows(db, "SELECT filename, station_id, token FROM petitions_photo")[0]
    relative = os.path.join("uploads", "petitions", str(station_id), filename)
    with open(fresh / relative, "rb") as a, open(os.path.join(station.instance_path, relative), "rb") as b:
        assert a.read() == b.read()
    assert (fresh / "station.toml").read_text(encoding="utf-8") == STATION_TOML
    receipts = os.listdir(fresh / "receipts")
    assert receipts and set(receipts) <= set(os.listdir(os.path.join(station.instance_path, "receipts")))

    # The restored station serves the petition's photo.
    from kiosk.app import create_app

    config = app_config(str(fresh), "sqlite:///" + db, STATION_FILE=str(fresh / "station.toml"))
    config.pop("STATION")
    app = create_app(config)
    try:
        staff = app.test_client()  # photos are for staff
        create_account(app, "backup-staff", "staff")
        staff.get("/staff/login")
        staff.post(
            "/staff/login", data={"username": "backup-staff", "password": TEST_PASSWORD, "csrf_token": csrf_of(staff)}
        )
        photo = staff.get(f"/m/petitions/media/{token}.jpg")
        assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    finally:
        close_app(app)

    # Restoring again over the restored station keeps what it replaces.
    again = kiosk(fresh, "restore", str(archive), "--yes")
    assert again.exit_code == 0, again.output
    (aside,) = [n for n in os.listdir(fresh) if n.startswith("before-restore-")]
    assert os.path.isfile(fresh / aside / "kiosk.db") and os.path.isfile(fresh / aside / relative)


def _rewrite(archive, out, change):
    """A copy of ``archive`` with ``change(name, data) -> data`` applied to each member."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = change(member.name, src.extractfile(member).read())
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    return out


@pytest.fixture
def archive(station, tmp_path):
    result = kiosk(station.instance_path, "backup", str(tmp_path), database_url="sqlite:///" + station.db_path)
    assert result.exit_code == 0, result.output
    (name,) = [n for n in os.listdir(tmp_path) if n.endswith(".tar.gz")]
    assert name.startswith("kiosk-shuibei-")
    return tmp_path / name


def test_restore_refuses_a_damaged_archive_a_newer_schema_and_a_running_kiosk(archive, tmp_path):
    def flip_photo(name, data):
        return data[:-10] + bytes(10) if name.endswith(".jpg") else data

    damaged = kiosk(tmp_path / "a", "restore", str(_rewrite(archive, tmp_path / "damaged.tar.gz", flip_photo)), "--yes")
    assert damaged.exit_code != 0 and "is damaged" in damaged.output and ".jpg" in damaged.output
    assert not os.path.exists(tmp_path / "a" / "kiosk.db")

    (tmp_path / "notes.tar.gz").write_text("not an archive", encoding="utf-8")
    for path, said in ((tmp_path / "notes.tar.gz", "not a readable kiosk backup"), (tmp_path / "none", "no such file")):
        result = kiosk(tmp_path / "a", "restore", str(path), "--yes")
        assert result.exit_code != 0 and said in result.output and "Traceback" not in result.output

    def newer(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["database"]["revisions"].append("kiosk_core_9999")
        return json.dumps(manifest).encode()

    result = kiosk(tmp_path / "b", "restore", str(_rewrite(archive, tmp_path / "newer.tar.gz", newer)), "--yes")
    assert result.exit_code != 0 and "newer kiosk" in result.output and "kiosk_core_9999" in result.output
    assert not os.path.exists(tmp_path / "b" / "kiosk.db")

    # A kiosk of that instance holds its database open: restore refuses until it is stopped.
    busy = tmp_path / "c"
    busy.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print('open', flush=True); sys.stdin.read()",
            str(busy / "kiosk.db"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"open\n"
        result = kiosk(busy, "restore", str(archive), "--yes")
        assert result.exit_code != 0 and f"pid {holder.pid}" in result.output and "stop the kiosk" in result.output
    finally:
        holder.communicate(b"")
    assert kiosk(busy, "restore", str(archive), "--yes").exit_code == 0


def test_backup_refuses_to_overwrite_and_names_pg_dump_for_postgresql(archive, tmp_path):
    again = kiosk(tmp_path / "x", "backup", str(archive))
    assert again.exit_code != 0 and "already exists" in again.output
    pg = kiosk(tmp_path / "x", "backup", str(tmp_path / "pg.tar.gz"), database_url="postgresql+psycopg://u@h/db")
    assert pg.exit_code != 0 and "pg_dump" in pg.output and "--files-only" in pg.output


def test_restore_migrates_a_database_older_than_this_kiosk(make_app, tmp_path, sqlite_template):
    import shutil

    from kiosk import migrate

    db = tmp_path / "old.db"
    shutil.copy(sqlite_template, db)
    app = make_app("sqlite:///" + str(db))
    # A backup from before petitions_0002: the petitions branch one revision back.
    assert migrate.downgrade(app, "petitions", "petitions_0001") == ["petitions_0001"]
    made = kiosk(app.instance_path, "backup", str(tmp_path / "old.tar.gz"), database_url="sqlite:///" + str(db))
    assert made.exit_code == 0, made.output

    fresh = tmp_path / "fresh"
    restored = kiosk(fresh, "restore", str(tmp_path / "old.tar.gz"), "--yes")
    assert restored.exit_code == 0, restored.output
    assert "older than this kiosk: migrating it" in restored.output and "database is up to date" in restored.output
    revisions = {r for (r,) in rows(str(fresh / "kiosk.db"), "SELECT version_num FROM alembic_version")}
    assert "petitions_0002" in revisions and "petitions_0001" not in revisions


def test_backup_and_the_server_look_for_the_instance_folder_where_the_kiosk_keeps_it(tmp_path, monkeypatch):
    # Without KIOSK_INSTANCE_PATH the kiosk keeps its folder in ./instance (kiosk.config.instance_path_default),
    # not Flask's default inside the virtual environment: backup and serve must look in the same place.
    from kiosk import server
    from kiosk.backup import station_config

    monkeypatch.delenv("KIOSK_INSTANCE_PATH", raising=False)
    monkeypatch.delenv("KIOSK_STATION_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert station_config().instance == str(tmp_path / "instance")
    assert server._config()["INSTANCE_PATH"] == str(tmp_path / "instance")


def test_a_files_only_restore_says_to_mark_the_database_that_pg_restore_put_back(archive, tmp_path):
    fresh = tmp_path / "files-only"
    result = kiosk(fresh, "restore", str(archive), "--files-only", "--yes")
    assert result.exit_code == 0, result.output
    assert "--files-only: the database is left as it is" in result.output
    assert "run `kiosk sync restored`" in result.output
    assert not os.path.exists(fresh / "kiosk.db"), "the database is not touched"


def test_a_file_still_being_written_is_not_taken(tmp_path):
    # The preview printer writes each receipt as tmpXXXX.part, then renames it: a backup taken in
    # between archived the .part file, which no restored folder should hold (seen in a CI run).
    # The pinyin dictionary is rebuilt the same way beside its index, as pinyin-ime.idx.XXXX.tmp.
    from kiosk.backup import Station, _instance_files

    receipts = tmp_path / "receipts"
    receipts.mkdir()
    (receipts / "20261206-221102-a.png").write_bytes(b"png")
    (receipts / "tmp393jp6w_.part").write_bytes(b"half")
    (tmp_path / "pinyin-ime.idx.k2j9x1ab.tmp").write_bytes(b"half")
    station = Station(instance=str(tmp_path), database_url="", station_file="", code="shuibei")
    names = [name for name, _path in _instance_files(station, set())]
    assert names == ["instance/receipts/20261206-221102-a.png"]
