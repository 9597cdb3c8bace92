"""``kiosk backup PATH`` and ``kiosk restore PATH``: a station in one archive and back.

A backup is one ``.tar.gz`` file holding

- ``database/kiosk.db``: the SQLite database, copied with SQLite's online
  backup API in one step, so it is one consistent moment of the database even
  while the kiosk serves and writes (under WAL the copy's read does not stop
  the writers). The copy is checked (``integrity_check``, ``foreign_key_check``)
  before it goes into the archive;
- ``instance/…``: the instance folder's files: petition and hazard photos
  (``uploads/``), receipts the preview printer kept (``receipts/``), the
  station file and any other settings kept there. Caches the kiosk rebuilds by
  itself (``cache/``, spoken calls, the keyboard's dictionary) are left out;
- ``settings/station.toml``: the station file, when it lives outside the
  instance folder (``KIOSK_STATION_FILE``);
- ``manifest.json``: what the archive holds, each file's SHA-256 and size, and
  the schema revisions (Alembic) of the database, so that ``kiosk restore``
  can refuse a damaged archive or one from a newer kiosk.

The database is copied first and the files after it: a photo written in
between is in the archive without a row (harmless), never a row without its
photo unless the photo was deleted in those seconds.

On PostgreSQL the database is backed up with ``pg_dump`` (docs/deploy.md,
"Backup and restore") and ``kiosk backup --files-only`` takes the files.

``kiosk restore`` checks the archive, refuses while a process (a running
kiosk) holds files of the instance folder open, refuses an archive from a
newer schema, asks before it replaces anything (``--yes`` does not), moves
what it replaces into ``before-restore-<time>/`` in the instance folder, puts
the database and the files back and then migrates a database older than this
code, as ``kiosk db upgrade`` would, and marks it restored for the sync (as
``kiosk sync restored`` does after a ``pg_restore``): the station's next sync
numbers what it records after the hub's numbers, which the backup's outbox
would repeat.

The secret key is not in the archive unless the station file holds it: keep
``/etc/kiosk/kiosk.env`` with the station's other secrets.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace

import click

__all__ = [
    "FORMAT",
    "BackupError",
    "make_backup",
    "read_archive",
    "restore_backup",
    "servers_using",
]

#: What ``manifest.json`` says the archive is, and the layout's version.
FORMAT = "kiosk-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_MEMBER = "database/kiosk.db"
INSTANCE_PREFIX = "instance/"
STATION_FILE_MEMBER = "settings/station.toml"
#: The backup's station file, in the instance folder, when its own place cannot be written.
STATION_FILE_COPY = "station.toml.from-backup"
#: Where restore moves what it replaces, inside the instance folder (with the time after it).
REPLACED_PREFIX = "before-restore-"
#: Instance-folder entries a backup leaves out: the database (copied by the backup API)
#: and what the kiosk rebuilds by itself.
SKIPPED_NAMES = frozenset({"cache", "legal-voice", "pinyin-ime.idx", "__pycache__"})
#: Files being written under a temporary name and renamed once whole are not taken: the preview
#: printer's receipts (``tmpXXXX.part``) and the pinyin dictionary rebuilt beside its index
#: (``pinyin-ime.idx.XXXX.tmp``, in the instance folder unless ``ime_cache_dir`` says otherwise).
TEMPORARY_SUFFIXES = (".part", ".tmp")
DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")
#: The work folder of a backup or restore under way.
WORK_PREFIX = ".kiosk-backup-"


class BackupError(click.ClickException):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass
class Station:
    """What backup and restore need of the station's configuration (no database connection)."""

    instance: str
    database_url: str
    station_file: str
    code: str
    disabled_plugins: list = field(default_factory=list)
    #: The district hub (``role = "hub"``): it has no outbox to mark after a restore.
    hub: bool = False

    @property
    def sqlite_path(self) -> str | None:
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        if url.get_backend_name() != "sqlite":
            return None
        return os.path.abspath(url.database or "")

    @property
    def dialect(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).get_backend_name()


def station_config() -> Station:
    """The station's settings as the kiosk would read them (defaults, station file, ``KIOSK_*``)."""
    from flask import Flask

    from kiosk.config import ConfigError, configure, instance_path_default
    from kiosk.db import default_url

    app = Flask("kiosk", instance_path=instance_path_default())
    try:
        configure(app)
    except ConfigError as exc:
        raise BackupError(str(exc)) from None
    config = app.config
    return Station(
        instance=os.path.abspath(app.instance_path),
        database_url=config.get("DATABASE_URL") or default_url(app.instance_path),
        station_file=os.path.abspath(config.get("STATION_FILE") or os.path.join(app.instance_path, "station.toml")),
        code=(config.get("STATION") or {}).get("code") or "default",
        disabled_plugins=list((config.get("PLUGINS") or {}).get("disabled", [])),
        hub=config.get("ROLE") == "hub",
    )


# -- backup ----------------------------------------------------------------------------------
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot_sqlite(source: str, target: str) -> list[str]:
    """Copy the database ``source`` to ``target`` in one step; returns its Alembic revisions.

    One step of the backup API reads one snapshot (WAL: writers carry on). The
    copy is made a plain rollback-journal file and checked before it is used.
    """
    if not os.path.isfile(source):
        raise BackupError(f"no database at {source}: nothing to back up (run `kiosk db upgrade` first?)")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=15)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # pages=-1: everything in one step, one consistent read
        dst.execute("PRAGMA journal_mode=DELETE")
        problems = [row[0] for row in dst.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"the copy of {source} is damaged ({'; '.join(problems[:3])}): run `kiosk doctor`")
        orphans = dst.execute("PRAGMA foreign_key_check").fetchall()
        if orphans:
            table, rowid, parent, _ = orphans[0]
            raise BackupError(
                f"the database has {len(orphans)} row(s) pointing at missing rows "
                f"(first: {table} row {rowid} → {parent}): run `kiosk doctor`"
            )
        return _revisions_of(dst)
    finally:
        src.close()
        dst.close()


def _revisions_of(conn: sqlite3.Connection) -> list[str]:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'").fetchone():
        return []
    return sorted(row[0] for row in conn.execute("SELECT version_num FROM alembic_version"))


def _database_revisions(url: str) -> list[str] | None:
    """The revisions a server database has, or None when it cannot be reached."""
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return []
            return sorted(row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version")))
    except Exception:  # the files are still worth saving; the manifest says the revisions are unknown
        return None
    finally:
        engine.dispose()


def _skipped(relative: str, station: Station, leave_out: set[str]) -> bool:
    parts = relative.split(os.sep)
    if parts[0] in SKIPPED_NAMES or parts[0].startswith(REPLACED_PREFIX):
        return True
    if parts[-1].endswith(TEMPORARY_SUFFIXES):
        return True  # a file still being written: it is renamed once whole
    # A backup or restore under way (its work folder may sit anywhere below the instance folder).
    return any(part.startswith(WORK_PREFIX) for part in parts) or relative in leave_out


def _instance_files(station: Station, leave_out: set[str]) -> list[tuple[str, str]]:
    """(archive name, path) of every file of the instance folder a backup takes, sorted."""
    found = []
    for folder, dirs, files in os.walk(station.instance):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, station.instance)
            if _skipped(relative, station, leave_out) or not os.path.isfile(path) or os.path.islink(path):
                continue
            found.append((INSTANCE_PREFIX + relative.replace(os.sep, "/"), path))
    return found


def _default_name(station: Station) -> str:
    return f"kiosk-{station.code}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.tar.gz"


def make_backup(station: Station, path: str, files_only: bool = False) -> tuple[str, dict]:
    """Write the archive at ``path`` (a folder: a new file named after the station and time in it).

    Returns the archive's path and its manifest.
    """
    target = os.path.abspath(path)
    if os.path.isdir(target):
        target = os.path.join(target, _default_name(station))
    if os.path.exists(target):
        raise BackupError(f"{target} already exists: give a new file name or a folder")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise BackupError(f"folder {folder} does not exist")
    sqlite_path = station.sqlite_path
    if not files_only and sqlite_path is None:
        raise BackupError(
            f"the database is {station.dialect}: back it up with pg_dump (docs/deploy.md, "
            "'Backup and restore') and the files with `kiosk backup --files-only PATH`"
        )
    leave_out = {os.path.relpath(target, station.instance)}
    if sqlite_path is not None and os.path.dirname(sqlite_path) == station.instance:
        base = os.path.basename(sqlite_path)
        leave_out |= {base + suffix for suffix in DATABASE_SUFFIXES}
    manifest: dict = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "station": station.code,
        "kiosk": _kiosk_version(),
        "database": {"dialect": station.dialect, "member": None, "revisions": None},
        "station_file": None,
        "files": [],
    }
    with tempfile.TemporaryDirectory(prefix=WORK_PREFIX, dir=folder) as work:
        partial = os.path.join(work, "archive.tar.gz")
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            if files_only:
                manifest["database"]["revisions"] = (
                    _revisions_of_file(sqlite_path) if sqlite_path else _database_revisions(station.database_url)
                )
            else:
                assert sqlite_path is not None
                copy = os.path.join(work, "kiosk.db")
                manifest["database"]["revisions"] = snapshot_sqlite(sqlite_path, copy)
                manifest["database"]["member"] = DATABASE_MEMBER
                _add_file(tar, manifest, DATABASE_MEMBER, copy)
            # After the database: see the module's docstring.
            for name, file_path in _instance_files(station, leave_out):
                _add_file(tar, manifest, name, file_path)
            if not station.station_file.startswith(station.instance + os.sep) and os.path.isfile(station.station_file):
                _add_file(tar, manifest, STATION_FILE_MEMBER, station.station_file)
                manifest["station_file"] = STATION_FILE_MEMBER
            elif os.path.isfile(station.station_file):
                manifest["station_file"] = INSTANCE_PREFIX + os.path.relpath(
                    station.station_file, station.instance
                ).replace(os.sep, "/")
            data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(datetime.now(UTC).timestamp()), 0o600
            tar.addfile(info, io.BytesIO(data))
        os.chmod(partial, 0o600)  # residents' petitions and photos: readable by the owner only
        os.replace(partial, target)
    return target, manifest


def _revisions_of_file(path: str) -> list[str] | None:
    if not os.path.isfile(path):
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=15)
    try:
        return _revisions_of(conn)
    finally:
        conn.close()


def _add_file(tar: tarfile.TarFile, manifest: dict, name: str, path: str) -> None:
    try:
        with open(path, "rb") as fh:
            data = fh.read()  # photos and receipts are small; read once for the hash and the archive
        stat = os.stat(path)
    except FileNotFoundError:  # deleted since the folder was listed (a retention job)
        return
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(stat.st_mtime), stat.st_mode & 0o777
    tar.addfile(info, io.BytesIO(data))
    manifest["files"].append({"path": name, "sha256": _sha256(data), "size": len(data)})


def _kiosk_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("station-kiosk")
    except PackageNotFoundError:
        return "unknown"


# -- restore ---------------------------------------------------------------------------------
def read_archive(path: str, into: str) -> dict:
    """Unpack the archive ``path`` into the folder ``into`` and check it; its manifest.

    Refuses anything that is not a kiosk backup, a file whose hash differs from
    the manifest's, and members the manifest does not list.
    """
    if not os.path.isfile(path):
        raise BackupError(f"{path}: no such file")
    try:
        with tarfile.open(path, "r:gz") as tar:
            # "data": no absolute paths, no "..", no links out, no devices.
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{path} is not a readable kiosk backup ({exc})") from None
    try:
        with open(os.path.join(into, MANIFEST), encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError):
        raise BackupError(f"{path} has no manifest: it was not made by `kiosk backup`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} was not made by `kiosk backup`")
    if manifest.get("version") != FORMAT_VERSION:
        raise BackupError(f"{path} is a backup of layout {manifest.get('version')}: this kiosk reads {FORMAT_VERSION}")
    listed = set()
    for entry in manifest.get("files", []):
        name = entry["path"]
        listed.add(name)
        try:
            with open(os.path.join(into, name), "rb") as fh:
                data = fh.read()
        except OSError:
            raise BackupError(f"{path} is damaged: {name} is missing") from None
        if _sha256(data) != entry["sha256"] or len(data) != entry["size"]:
            raise BackupError(f"{path} is damaged: {name} differs from what the manifest recorded")
    for folder, _dirs, files in os.walk(into):
        for name in files:
            relative = os.path.relpath(os.path.join(folder, name), into).replace(os.sep, "/")
            if relative != MANIFEST and relative not in listed:
                raise BackupError(f"{path} holds {relative}, which its manifest does not list")
    return manifest


def servers_using(*paths: str) -> list[tuple[int, str]]:
    """(pid, command) of other processes with a file in a folder of ``paths`` open or mapped (Linux /proc).

    A file's path counts with its companions (``kiosk.db`` with ``kiosk.db-wal``).
    A running kiosk holds its SQLite database and its WAL index open. Processes
    of other users cannot be seen (and then are not listed).
    """
    prefixes = tuple(os.path.realpath(p) + (os.sep if os.path.isdir(p) else "") for p in paths)
    found = []
    me = os.getpid()
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    for pid in pids:
        if pid == me:
            continue
        if _holds(pid, prefixes):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    command = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                command = "?"
            found.append((pid, command))
    return found


def _holds(pid: int, prefixes: tuple[str, ...]) -> bool:
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefixes):
                    return True
            except OSError:
                continue
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as fh:
            return any(prefix in line for line in fh for prefix in prefixes)
    except OSError:  # gone, or another user's
        return False


def schema_check(manifest: dict, station: Station) -> tuple[list[str], list[str], bool]:
    """(newer revisions, revisions of plugins not installed here, older than this code?) of the backup."""
    from kiosk import migrate
    from kiosk.plugins import KioskPlugins

    revisions = set(manifest.get("database", {}).get("revisions") or [])
    plugins = KioskPlugins(disabled=station.disabled_plugins)
    holder = SimpleNamespace(extensions={"kiosk_plugins": plugins})
    graph = migrate.revision_graph(holder)
    known = set(migrate._known_graph(holder, graph))
    branches = {migrate.plugin_of_revision(r) for r in known}
    unknown = sorted(revisions - known)
    newer = [r for r in unknown if migrate.plugin_of_revision(r) in branches]
    uninstalled = [r for r in unknown if migrate.plugin_of_revision(r) not in branches]
    # Without the graph (a revision file it could not read) an upgrade is run anyway: it is a no-op when current.
    older = graph is None or not migrate.is_current(holder, (graph, revisions))
    return newer, uninstalled, older


def restore_backup(station: Station, path: str, *, yes: bool = False, files_only: bool = False, echo=click.echo):
    """Put the archive at ``path`` back into the station's instance folder (and SQLite database)."""
    archive = os.path.abspath(path)
    os.makedirs(station.instance, exist_ok=True)
    sqlite_path = station.sqlite_path
    busy = servers_using(station.instance, *([sqlite_path] if sqlite_path and not files_only else []))
    if busy:
        pid, command = busy[0]
        raise BackupError(
            f"a process is using {station.instance} or its database (pid {pid}: {command[:80]}): "
            "stop the kiosk first (systemctl stop kiosk), then restore"
        )
    with tempfile.TemporaryDirectory(prefix=WORK_PREFIX, dir=station.instance) as work:
        unpacked = os.path.join(work, "archive")
        manifest = read_archive(archive, unpacked)
        member = manifest["database"].get("member")
        take_database = bool(member) and not files_only
        if take_database and sqlite_path is None:
            raise BackupError(
                f"the backup holds a SQLite database but this station uses {station.dialect}: "
                "restore with --files-only, or point KIOSK_DATABASE_URL at the SQLite file"
            )
        newer, uninstalled, older = schema_check(manifest, station)
        if newer:
            raise BackupError(
                f"the backup is from a newer kiosk (its database has revision {', '.join(newer)}, which this "
                "version does not know): install that kiosk version or newer first"
            )
        replaced = _what_is_replaced(station, manifest, sqlite_path if take_database else None)
        made = f"made {manifest.get('created')} by kiosk {manifest.get('kiosk')}"
        echo(f"backup of station {manifest.get('station')}, {made}")
        if not member:
            echo("the backup holds no database (made with --files-only): the database is left as it is")
        elif files_only:
            echo("--files-only: the database is left as it is")
        if not yes:
            question = f"Restore this backup into {station.instance}"
            if replaced:
                names = ", ".join(os.path.relpath(p, station.instance) for p in replaced[:6])
                more = f" and {len(replaced) - 6} more" if len(replaced) > 6 else ""
                question += f", replacing {names}{more} (moved to a {REPLACED_PREFIX}… folder there)"
            click.confirm(question + ". Continue?", abort=True)
        aside = None
        if replaced:
            aside = os.path.join(station.instance, REPLACED_PREFIX + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ"))
            os.makedirs(aside)
            for item in replaced:
                kept = os.path.join(aside, _aside_name(item, station))
                os.makedirs(os.path.dirname(kept), exist_ok=True)
                shutil.move(item, kept)
        if take_database:
            assert sqlite_path is not None
            os.makedirs(os.path.dirname(sqlite_path), exist_ok=True)
            shutil.move(os.path.join(unpacked, member), sqlite_path)
        restored = 0
        for entry in manifest["files"]:
            name = entry["path"]
            target = _destination(name, station)
            if name == member or target is None:
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.move(os.path.join(unpacked, name), target)
            restored += 1
    echo(f"restored {'the database and ' if take_database else ''}{restored} file(s) into {station.instance}")
    if aside:
        echo(f"what was there before is in {aside}")
    if STATION_FILE_MEMBER in {e["path"] for e in manifest["files"]}:
        copy = _station_file_target(station)
        if copy != station.station_file:
            echo(
                f"{station.station_file} cannot be written by this user: the backup's station file is {copy}; "
                f"compare, then install it as root: install -m 0640 -g kiosk {copy} {station.station_file}"
            )
    for revision in uninstalled:
        echo(f"warning: the backup's database has revision {revision} of a plugin not installed here", err=True)
    if take_database:
        if older:
            echo("the restored database is older than this kiosk: migrating it (kiosk db upgrade)")
        _after_restore(echo, upgrade=older)
    elif not station.hub:
        echo(
            "if you restored the database with pg_restore, run `kiosk sync restored` before starting the kiosk, "
            "so what it records next reaches the hub"
        )
    return manifest


def _station_file_target(station: Station) -> str:
    """Where the backup's station file goes: its place, or the instance folder when that is not ours to write.

    ``/etc/kiosk/station.toml`` belongs to root; the kiosk user running the
    restore leaves the copy beside the data and says how to install it.
    """
    path = station.station_file
    writable = os.access(path, os.W_OK) if os.path.exists(path) else os.access(os.path.dirname(path), os.W_OK)
    return path if writable else os.path.join(station.instance, STATION_FILE_COPY)


def _destination(name: str, station: Station) -> str | None:
    if name == STATION_FILE_MEMBER:
        return _station_file_target(station)
    if name.startswith(INSTANCE_PREFIX):
        return os.path.join(station.instance, *name[len(INSTANCE_PREFIX) :].split("/"))
    return None


def _aside_name(path: str, station: Station) -> str:
    if path.startswith(station.instance + os.sep):
        return os.path.relpath(path, station.instance)
    return os.path.join("outside", path.lstrip(os.sep))


def _what_is_replaced(station: Station, manifest: dict, sqlite_path: str | None) -> list[str]:
    """Existing paths the restore moves aside: the database, and each top-level entry the archive brings."""
    found: list[str] = []
    if sqlite_path:
        found += [sqlite_path + s for s in DATABASE_SUFFIXES if os.path.exists(sqlite_path + s)]
    tops = set()
    for entry in manifest["files"]:
        name = entry["path"]
        if name.startswith(INSTANCE_PREFIX):
            tops.add(os.path.join(station.instance, name[len(INSTANCE_PREFIX) :].split("/")[0]))
        elif name == STATION_FILE_MEMBER:
            tops.add(_station_file_target(station))
    # Folders the archive brings are replaced whole, so a photo newer than the backup does not stay behind.
    for folder in ("uploads", "receipts"):
        tops.add(os.path.join(station.instance, folder))
    found += sorted(p for p in tops if os.path.lexists(p) and p not in found)
    return found


def _after_restore(echo, upgrade: bool) -> None:
    """Migrate the restored database if ``upgrade``, then mark it restored for the sync (``kiosk sync restored``).

    The mark makes the station's next sync number what it records after the
    hub's numbers: the restored outbox numbers from where the backup was, and the
    hub would skip those numbers as already received (kiosk.sync.pusher).
    """
    from kiosk import migrate, sync
    from kiosk.app import close_app, create_app
    from kiosk.config import ConfigError
    from kiosk.sync.pusher import mark_restored

    try:
        # As `kiosk db upgrade`: whatever auto_migrate says, this command is asked to migrate.
        # No jobs nor pusher: this app only migrates and marks.
        app = create_app({"AUTO_MIGRATE": True, "RUN_JOBS": False})
    except ConfigError as exc:
        if upgrade:
            raise BackupError(f"{exc}; then run `kiosk db upgrade` and `kiosk sync restored`") from None
        echo(f"warning: {exc}; then run `kiosk sync restored` before starting the kiosk", err=True)
        return
    try:
        if upgrade:
            newer = migrate.upgrade(app)
            left = migrate.pending(app)
            if newer or left:
                raise BackupError(f"the restored database could not be migrated ({', '.join(newer or left)})")
            echo("database is up to date")
        if not sync.is_hub(app):
            mark_restored(app)
    finally:
        close_app(app)  # what the app started for itself


# -- the commands ----------------------------------------------------------------------------
@click.command("backup")
@click.argument("path", type=click.Path())
@click.option(
    "--files-only",
    is_flag=True,
    help="Only the instance folder's files and settings (the database is PostgreSQL, backed up with pg_dump).",
)
def backup_command(path, files_only):
    """Back up the station's database, photos, receipts and settings into one archive at PATH.

    PATH is a new .tar.gz file, or a folder to put one in named after the
    station and the time. Safe while the kiosk runs.
    """
    station = station_config()
    target, manifest = make_backup(station, path, files_only=files_only)
    size = os.path.getsize(target)
    database = "database and " if manifest["database"]["member"] else ""
    click.echo(f"backed up the {database}{len(manifest['files'])} file(s) to {target} ({size / 1e6:.1f} MB)")


@click.command("restore")
@click.argument("path", type=click.Path())
@click.option("--yes", is_flag=True, help="Do not ask before replacing the station's data.")
@click.option("--files-only", is_flag=True, help="Put back the files only (the database is restored with pg_restore).")
def restore_command(path, yes, files_only):
    """Restore an archive made by `kiosk backup`: database (SQLite), photos, receipts and settings.

    Stop the kiosk first. What is replaced is kept in a before-restore-…
    folder of the instance folder; an older database is migrated.
    """
    restore_backup(station_config(), path, yes=yes, files_only=files_only)
