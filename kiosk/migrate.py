"""Running Alembic migrations for the core and every installed plugin.

The core's revisions live in ``kiosk/migrations/versions``. A plugin's are found
by convention, like its templates and static files: the ``migrations/`` folder
of its package is its Alembic branch, labelled with the plugin's name and
depending on the core's first revision (``kiosk_core_0001``). Switched-off and
broken plugins count too: their tables are part of the database's history.
``upgrade`` goes to all heads; :func:`new_revision` and :func:`downgrade` work
on one branch (``kiosk db revision`` / ``kiosk db downgrade``).

A plugin that was uninstalled leaves its revision in ``alembic_version``, which
Alembic cannot locate and would refuse every command for. Such revisions are
set aside while Alembic runs (and the kiosk warns, naming the plugin) until
``kiosk plugins forget NAME`` retires them: its tables stay untouched.

Several processes may upgrade at once: three stations' ``kiosk db upgrade``
in a roll-out, or a hub's workers each migrating at start. On PostgreSQL the
upgrade holds an advisory lock (:data:`MIGRATION_LOCK`) for its transaction,
so one migrates and the others then find nothing to do. A transaction-scoped
lock also works behind PgBouncer in transaction mode, where a session lock
would be left on whichever server connection took it.

A node whose code is older than its database (a hub worker not yet upgraded
during a rolling upgrade) finds revisions of branches it knows that none of
its files name: it starts with a warning naming them and migrates nothing,
instead of failing with Alembic's "Can't locate revision".

Alembic itself takes most of a second to import, which would double the
kiosk's cold start, so at start :func:`is_current` first compares the
database's ``alembic_version`` with the heads read straight from the revision
files; Alembic is loaded only when there is something to do.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import os
import re
import sysconfig
from contextlib import contextmanager

from sqlalchemy import inspect, text

__all__ = [
    "MIGRATION_LOCK",
    "MigrationError",
    "downgrade",
    "is_current",
    "new_revision",
    "newer_revisions",
    "pending",
    "plugin_folders",
    "unknown_revisions",
    "upgrade",
    "walk_branch",
]

log = logging.getLogger("kiosk.migrate")

HERE = os.path.dirname(__file__)
CORE = "core"
CORE_BRANCH = "kiosk_core"
CORE_FIRST = "kiosk_core_0001"
CORE_FOLDER = os.path.join(HERE, "migrations", "versions")

#: The PostgreSQL advisory lock an upgrade holds ("kioskmig" as a 64-bit number): one upgrade at a time.
MIGRATION_LOCK = int.from_bytes(b"kioskmig", "big")

#: A revision id as ``kiosk db revision`` makes them: the branch, then a number.
_NUMBERED = re.compile(r"^(?P<branch>.+)_(?P<number>\d+)$")


class MigrationError(Exception):
    """A migration command that cannot be done as asked; the message says why and what to do."""


def _package_folder(info) -> str:
    """A plugin package's folder, found without importing a plugin that is off or broken."""
    if info.path:
        return info.path
    module = (info.module or "").split(":")[0]
    if not module:
        return ""
    try:
        spec = importlib.util.find_spec(module)
    except Exception:  # its parent package fails to import: nothing to find
        return ""
    if spec is None or not spec.submodule_search_locations:
        return ""
    return list(spec.submodule_search_locations)[0]


def _has_revisions(folder: str) -> bool:
    return os.path.isdir(folder) and any(n.endswith(".py") and not n.startswith("_") for n in os.listdir(folder))


def plugin_folders(app) -> dict[str, str]:
    """Plugin name → its package's ``migrations/`` folder, for every installed plugin with one."""
    folders = {}
    for name, info in app.extensions["kiosk_plugins"].infos.items():
        base = _package_folder(info)
        if base and _has_revisions(os.path.join(base, "migrations")):
            folders[name] = os.path.join(base, "migrations")
    return folders


def version_locations(app) -> list[str]:
    """Every folder of revisions: the core's, the plugins' by convention, then the deprecated hook's."""
    found = [CORE_FOLDER, *plugin_folders(app).values()]
    seen = {os.path.realpath(f) for f in found}
    for path in app.extensions["kiosk_plugins"].migration_paths:
        if os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            found.append(path)
    return found


def alembic_config(app, connection=None, extra_locations=()):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", os.path.join(HERE, "migrations"))
    # Alembic splits this option on the separator it is told to use.
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join([*version_locations(app), *extra_locations]))
    cfg.attributes["connection"] = connection
    return cfg


#: Where a revision file's identifiers end: its first top-level function, class or decorator.
_FIRST_DEFINITION = re.compile(r"^(?:(?:def|class|async)\b|@)", re.MULTILINE)
_IDENTIFIERS = {"revision", "down_revision", "depends_on"}


def _declared(path: str) -> tuple[str | None, set[str]]:
    """The ``revision`` a revision file assigns and what it builds on.

    Both ``down_revision`` and ``depends_on`` count as parents: Alembic leaves
    a revision that another depends on out of ``alembic_version``. Only the
    file's head is parsed when it assigns all three (Alembic writes them at the
    top): parsing whole revision files took 40 ms of every start.
    """
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    end = _FIRST_DEFINITION.search(source)
    if end is not None:
        try:
            head = ast.parse(source[: end.start()], path)
        except SyntaxError:
            head = None
        if head is not None and _IDENTIFIERS <= _assigned(head):
            return _identifiers(head)
    return _identifiers(ast.parse(source, path))


def _assigned(tree: ast.Module) -> set[str]:
    """Names given a value by a top-level ``name = ...`` in ``tree``."""
    return {
        node.targets[0].id
        for node in tree.body
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
    }


def _identifiers(tree: ast.Module) -> tuple[str | None, set[str]]:
    """``revision`` and its parents from a parsed revision file; (None, set()) if computed."""
    revision, parents = None, set()
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = getattr(node.targets[0], "id", None)
        if target not in ("revision", "down_revision", "depends_on"):
            continue
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            return None, set()  # computed ids: let Alembic decide
        if target == "revision":
            revision = value
        elif value:
            parents |= {value} if isinstance(value, str) else set(value)
    return revision, parents


def revision_graph(app) -> dict[str, set[str]] | None:
    """Revision id → its parents, read from the files without Alembic; None if unsure."""
    graph: dict[str, set[str]] = {}
    for folder in version_locations(app):
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".py") or name.startswith("_"):
                continue
            revision, parents = _declared(os.path.join(folder, name))
            if revision is None:
                return None
            graph[revision] = parents
    return graph


def _stored(conn) -> set[str]:
    """The revisions in ``alembic_version`` (empty before the first migration)."""
    if not inspect(conn).has_table("alembic_version"):
        return set()
    return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


def plugin_of_revision(revision: str) -> str:
    """The plugin a revision id names by convention (``wishes_0001`` → ``wishes``)."""
    match = _NUMBERED.match(revision)
    return match.group("branch") if match else revision


def _database_state(app) -> tuple[dict[str, set[str]] | None, set[str]]:
    """The revision graph read from the files, and the revisions the database has."""
    graph = revision_graph(app)
    with app.extensions["db"].engine.connect() as conn:
        return graph, _stored(conn)


def _known_graph(app, graph) -> dict[str, set[str]]:
    if graph is not None:
        return graph
    from alembic.script import ScriptDirectory

    return {r.revision: set() for r in ScriptDirectory.from_config(alembic_config(app)).walk_revisions()}


def _unlocated(app, state=None) -> tuple[list[str], dict[str, list[str]]]:
    """The database's revisions no file here names: (newer ones of known branches, plugin → uninstalled ones)."""
    graph, stored = state or _database_state(app)
    graph = _known_graph(app, graph)
    branches = {plugin_of_revision(r) for r in graph}
    newer: list[str] = []
    uninstalled: dict[str, list[str]] = {}
    for revision in sorted(stored - set(graph)):
        branch = plugin_of_revision(revision)
        if branch in branches:
            newer.append(revision)
        else:
            uninstalled.setdefault(branch, []).append(revision)
    return newer, uninstalled


def unknown_revisions(app, state=None) -> dict[str, list[str]]:
    """Plugin name → its revisions in the database that no installed revision file knows.

    These are left by an uninstalled plugin: its tables stay, and
    ``kiosk plugins forget NAME`` retires the revisions. Revisions of a branch
    this code has (newer code wrote them) are :func:`newer_revisions` instead.
    """
    return _unlocated(app, state)[1]


def newer_revisions(app, state=None) -> list[str]:
    """Revisions in the database of a branch this code knows (the core, an installed plugin) but not in its files.

    Newer code migrated the database (a rolling upgrade half done): this code
    must neither migrate it nor stop, only say so.
    """
    return _unlocated(app, state)[0]


def warn_newer(revisions: list[str]) -> None:
    log.warning(
        "the database is newer than this code: it has revision %s, which this version does not know; "
        "starting without migrating (upgrade this node's kiosk package to match the others)",
        ", ".join(revisions),
    )


def warn_unknown(app, state=None) -> dict[str, list[str]]:
    """Log a warning per uninstalled plugin whose revision is still in the database."""
    found = unknown_revisions(app, state)
    for plugin, revisions in found.items():
        log.warning(
            "plugin %s is not installed but the database has its revision %s: its tables are kept and "
            "the rest of the kiosk works; reinstall it, or run `kiosk plugins forget %s` to retire it",
            plugin,
            ", ".join(revisions),
            plugin,
        )
    return found


def is_current(app, state=None) -> bool:
    """True when every revision file is applied (cheap: no Alembic import).

    Revisions these files do not know (an uninstalled plugin's) do not count.
    """
    graph, stored = state or _database_state(app)
    if graph is None:
        return False
    applied, todo = set(), list(stored & set(graph))
    while todo:
        rev = todo.pop()
        if rev in applied:
            continue
        applied.add(rev)
        todo.extend(graph.get(rev, ()))
    return applied == set(graph)


@contextmanager
def _unknown_set_aside(conn, cfg):
    """Hide revisions Alembic cannot locate from it while it runs, in the same transaction.

    Alembic refuses every command ("Can't locate revision") while
    ``alembic_version`` holds a revision of an uninstalled plugin; the rows are
    put back afterwards (or the transaction rolls back with the command).
    """
    from alembic.script import ScriptDirectory

    known = {r.revision for r in ScriptDirectory.from_config(cfg).walk_revisions()}
    unknown = sorted(_stored(conn) - known)
    for revision in unknown:
        conn.execute(text("DELETE FROM alembic_version WHERE version_num = :v"), {"v": revision})
    yield unknown
    for revision in unknown:
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": revision})


def upgrade(app) -> list[str]:
    """Bring the database to the newest revision of every branch; keeps existing data.

    Returns the revisions that make the database newer than this code (see
    :func:`newer_revisions`); then nothing was done. On PostgreSQL the whole
    upgrade holds :data:`MIGRATION_LOCK`: a second process waits for the first
    and then finds the database current.
    """
    from alembic import command

    engine = app.extensions["db"].engine
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Released when this transaction ends; what another upgrade committed
            # meanwhile is read after it (READ COMMITTED: each statement sees the latest).
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        newer = newer_revisions(app, (revision_graph(app), _stored(conn)))
        if newer:
            return newer
        cfg = alembic_config(app, conn)
        with _unknown_set_aside(conn, cfg):
            command.upgrade(cfg, "heads")
    return []


def ensure_current(app) -> None:
    """Upgrade at start only when the revision files say there is something new.

    A database newer than this code is left as it is, with a warning.
    """
    state = _database_state(app)  # read once: this runs at every start
    newer = newer_revisions(app, state)
    if not newer and not is_current(app, state):
        newer = upgrade(app)
    if newer:
        warn_newer(newer)
    warn_unknown(app, state)


def pending(app) -> list[str]:
    """Heads not yet applied (empty when the database is current)."""
    from alembic.script import ScriptDirectory

    engine = app.extensions["db"].engine
    script = ScriptDirectory.from_config(alembic_config(app))
    known = {r.revision for r in script.walk_revisions()}
    with engine.connect() as conn:
        stored = _stored(conn)
    current = stored & known
    branches = {plugin_of_revision(r) for r in known}
    # A branch the database has a newer revision of is not pending here, it is ahead.
    ahead = {plugin_of_revision(r) for r in stored - known} & branches
    wanted = {h for h in script.get_heads() if plugin_of_revision(h) not in ahead}
    applied = set()
    for rev in current:
        applied |= {r.revision for r in script.iterate_revisions(rev, "base")}
    return sorted(wanted - applied)


# -- one branch: new revisions and downgrades ---------------------------------------
def _branch(app, name: str) -> tuple[str, str, str]:
    """(branch label, revision folder, package folder) of ``core`` or an installed plugin."""
    if name == CORE:
        return CORE_BRANCH, CORE_FOLDER, HERE
    infos = app.extensions["kiosk_plugins"].infos
    if name not in infos:
        known = ", ".join(sorted(infos)) or "none"
        raise MigrationError(f"unknown plugin {name!r}: use `core` or an installed plugin ({known})")
    package = _package_folder(infos[name])
    if not package:
        raise MigrationError(
            f"cannot find the package folder of plugin {name!r} ({infos[name].error or 'not importable'})"
        )
    return name, os.path.join(package, "migrations"), package


def _read_only(folder: str) -> bool:
    """A folder pip installed into (site-packages) or that this user cannot write."""
    installed = {os.path.realpath(p) for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])}
    real = os.path.realpath(folder)
    if any(real == p or real.startswith(p + os.sep) for p in installed) or "site-packages" in real.split(os.sep):
        return True
    probe = folder if os.path.isdir(folder) else os.path.dirname(folder)
    return not os.access(probe, os.W_OK)


def _model_tables(package: str, module_prefix: str) -> set[str]:
    """Tables of the ``kiosk.db.Base`` models defined in the modules of ``module_prefix``.

    Every module of the package is imported first (not its migrations or
    tests), so models in any of them count.
    """
    import pkgutil

    from kiosk.db import Base

    for found in pkgutil.walk_packages([package], module_prefix + "."):
        parts = found.name[len(module_prefix) + 1 :].split(".")
        if parts[0] in ("migrations", "tests", "scaffold_templates", "testing") or parts[0].startswith("test_"):
            continue
        try:
            importlib.import_module(found.name)
        except Exception as exc:  # one broken module must not hide the others' models
            log.warning("could not import %s to read its models: %s", found.name, exc)
    tables = set()
    for mapper in Base.registry.mappers:
        module = mapper.class_.__module__
        if module == module_prefix or module.startswith(module_prefix + "."):
            tables |= {t.name for t in mapper.tables}
    return tables


def _module_prefix(app, name: str) -> str:
    if name == CORE:
        return "kiosk"
    info = app.extensions["kiosk_plugins"].infos[name]
    return (info.module or "").split(":")[0]


def _next_id(script, label: str, name: str) -> tuple[str, str | None]:
    """The next ``<name>_000N`` of a branch and the branch's head (None for a new branch)."""
    try:
        revisions = list(script.iterate_revisions(f"{label}@head", "base"))
    except Exception:  # no such branch yet: this revision starts it
        return f"{name}_0001", None
    prefix = CORE_BRANCH if name == CORE else name
    numbers = [int(m.group("number")) for r in revisions if (m := _NUMBERED.match(r.revision))]
    head = script.get_revision(f"{label}@head").revision
    return f"{prefix}_{max(numbers, default=0) + 1:04d}", head


def new_revision(app, name: str, message: str, into: str | None = None) -> str:
    """Write a revision of ``name``'s branch from its models; returns the new file's path.

    ``name`` is ``core`` or an installed plugin. Only the tables its own models
    declare are compared with the database, which must be current. The file
    goes into the plugin's ``migrations/`` folder, or ``into`` (a plugin
    installed into site-packages has no folder to write to).

    :raises MigrationError: unknown plugin, read-only package, database not
        current, no models, or nothing changed.
    """
    from alembic import command
    from alembic.script import ScriptDirectory

    label, folder, package = _branch(app, name)
    if into:
        folder = os.path.abspath(into)
    elif _read_only(folder):
        raise MigrationError(
            f"plugin {name!r} is installed read-only in {package}: run this from its source "
            f"checkout (pip install -e) or pass --into DIR"
        )
    left = pending(app)
    if left:
        raise MigrationError(
            f"the database is not current (pending {', '.join(left)}): run `kiosk db upgrade` "
            "first, so the new revision holds only the new changes"
        )
    tables = _model_tables(package, _module_prefix(app, name))
    if not tables:
        raise MigrationError(f"{name!r} declares no models on kiosk.db.Base: nothing to compare")
    os.makedirs(folder, exist_ok=True)
    engine = app.extensions["db"].engine
    with engine.begin() as conn:
        known = {os.path.realpath(f) for f in version_locations(app)}
        cfg = alembic_config(app, conn, extra_locations=[] if os.path.realpath(folder) in known else [folder])
        cfg.attributes["include_tables"] = tables
        revision_id, head = _next_id(ScriptDirectory.from_config(cfg), label, name)
        with _unknown_set_aside(conn, cfg):
            script = command.revision(
                cfg,
                message=message,
                autogenerate=True,
                rev_id=revision_id,
                version_path=folder,
                head=f"{label}@head" if head else "base",
                branch_label=None if head else label,
                depends_on=None if head or name == CORE else CORE_FIRST,
            )
    if cfg.attributes.get("no_changes"):
        raise MigrationError(
            f"no changes in the models of {name!r} (tables {', '.join(sorted(tables))}): no revision written"
        )
    if script is None or isinstance(script, list):
        raise MigrationError(f"alembic wrote no single revision for {name!r}")
    return script.path


def downgrade(app, name: str, to: str | None = None) -> list[str]:
    """Downgrade ``name``'s branch one revision, or to revision ``to`` (``base``: all of it).

    Returns the branch's revisions applied afterwards. The core cannot go below
    its first revision: every plugin's tables depend on it.

    :raises MigrationError: unknown plugin or revision, or the core to base.
    """
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    label, _, _ = _branch(app, name)
    engine = app.extensions["db"].engine
    with engine.begin() as conn:
        cfg = alembic_config(app, conn)
        script = ScriptDirectory.from_config(cfg)
        branch = {r.revision for r in walk_branch(script, label)}
        if to and to != "base" and to not in branch:
            raise MigrationError(f"{to!r} is not a revision of {name!r}: one of {', '.join(sorted(branch))} or base")
        if name == CORE and (to == "base" or (to is None and _current_of(conn, branch) == {CORE_FIRST})):
            raise MigrationError("the core cannot go below kiosk_core_0001: every plugin's tables depend on it")
        target = f"{label}@-1" if to is None else (f"{label}@base" if to == "base" else to)
        with _unknown_set_aside(conn, cfg):
            try:
                command.downgrade(cfg, target)
            except CommandError as exc:
                raise MigrationError(f"cannot downgrade {name!r} to {to or 'the previous revision'}: {exc}") from exc
        return sorted(_current_of(conn, branch))


def walk_branch(script, label: str) -> list:
    """The revisions of one branch, newest first (not the core revisions it depends on)."""
    try:
        revisions = script.iterate_revisions(f"{label}@head", "base")
        # Alembic gives every revision of a branch its label; dependencies have their own.
        return [r for r in revisions if label in r.branch_labels]
    except MigrationError:
        raise
    except Exception:
        raise MigrationError(f"{label!r} has no revisions") from None


def _current_of(conn, branch: set[str]) -> set[str]:
    return _stored(conn) & branch


def current(app) -> dict[str, list[str]]:
    """Branch label → its revisions applied in the database; unknown ones under their plugin's name."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(app))
    with app.extensions["db"].engine.connect() as conn:
        stored = _stored(conn)
    found: dict[str, list[str]] = {}
    for revision in sorted(stored):
        try:
            labels = script.get_revision(revision).branch_labels
            label = sorted(labels)[0] if labels else _label_of(script, revision)
        except Exception:
            branch = plugin_of_revision(revision)
            ahead = any(plugin_of_revision(r.revision) == branch for r in script.walk_revisions())
            label = branch + (" (newer than this code)" if ahead else " (not installed)")
        found.setdefault(label, []).append(revision)
    return found


def _label_of(script, revision: str) -> str:
    for rev in script.iterate_revisions(revision, "base"):
        if rev.branch_labels:
            return sorted(rev.branch_labels)[0]
    return revision


# -- retiring an uninstalled plugin's branch ------------------------------------------
def plugin_tables(app, name: str) -> list[str]:
    """The database's tables named like plugin ``name``'s (``<name>_…``), by convention."""
    with app.extensions["db"].engine.connect() as conn:
        return sorted(t for t in inspect(conn).get_table_names() if t.startswith(name + "_"))


def forget(app, name: str, drop_tables: bool = False) -> tuple[list[str], list[str]]:
    """Remove an uninstalled plugin's revisions from ``alembic_version``; returns (revisions, dropped tables).

    Its tables stay unless ``drop_tables``: then the tables named ``<name>_…``
    are dropped too (see :func:`plugin_tables`).

    :raises MigrationError: the plugin is installed, or the database has no revision of it.
    """
    from sqlalchemy import MetaData

    info = app.extensions["kiosk_plugins"].infos.get(name)
    if info is not None:
        raise MigrationError(
            f"plugin {name!r} is installed ({info.state}): uninstall it first (pip uninstall), "
            "or list it under [plugins] disabled to switch it off and keep it"
        )
    revisions = unknown_revisions(app).get(name, [])
    tables = plugin_tables(app, name) if drop_tables else []
    if not revisions and not tables:
        raise MigrationError(f"the database has no revision of plugin {name!r}: nothing to forget")
    with app.extensions["db"].engine.begin() as conn:
        for revision in revisions:
            conn.execute(text("DELETE FROM alembic_version WHERE version_num = :v"), {"v": revision})
        if tables:
            meta = MetaData()
            meta.reflect(conn, only=tables)
            # Reflection also brings in the tables they refer to (station): drop only theirs.
            meta.drop_all(conn, tables=[meta.tables[t] for t in tables])
    return revisions, tables
