"""Running Alembic migrations for the core and every loaded plugin.

The core's revisions live in ``kiosk/migrations/versions``; each plugin adds its
own folder through the ``register_migrations`` hook, as a branch of its own
that depends on the core's first revision. ``upgrade`` goes to all heads.

Alembic itself takes most of a second to import, which would double the
kiosk's cold start, so at start :func:`is_current` first compares the
database's ``alembic_version`` with the heads read straight from the revision
files; Alembic is loaded only when there is something to do.
"""

from __future__ import annotations

import ast
import os
import re

from sqlalchemy import inspect, text

HERE = os.path.dirname(__file__)


def version_locations(app) -> list[str]:
    return [os.path.join(HERE, "migrations", "versions"), *app.extensions["kiosk_plugins"].migration_paths]


def alembic_config(app, connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", os.path.join(HERE, "migrations"))
    # Alembic splits this option on the separator it is told to use.
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(version_locations(app)))
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
    return {node.targets[0].id for node in tree.body if isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)}


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
        for name in os.listdir(folder):
            if not name.endswith(".py") or name.startswith("_"):
                continue
            revision, parents = _declared(os.path.join(folder, name))
            if revision is None:
                return None
            graph[revision] = parents
    return graph


def is_current(app) -> bool:
    """True when every revision file is applied (cheap: no Alembic import)."""
    graph = revision_graph(app)
    if graph is None:
        return False
    engine = app.extensions["db"].engine
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        current = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    applied, todo = set(), list(current)
    while todo:
        rev = todo.pop()
        if rev in applied:
            continue
        if rev not in graph:
            return False  # a revision these files do not know: let Alembic say what is wrong
        applied.add(rev)
        todo.extend(graph[rev])
    return applied == set(graph)


def upgrade(app) -> None:
    """Bring the database to the newest revision of every branch; keeps existing data."""
    from alembic import command

    engine = app.extensions["db"].engine
    with engine.begin() as conn:
        command.upgrade(alembic_config(app, conn), "heads")


def ensure_current(app) -> None:
    """Upgrade at start only when the revision files say there is something new."""
    if not is_current(app):
        upgrade(app)


def pending(app) -> list[str]:
    """Heads not yet applied (empty when the database is current)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    engine = app.extensions["db"].engine
    script = ScriptDirectory.from_config(alembic_config(app))
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    wanted = set(script.get_heads())
    applied = set()
    for rev in current:
        applied |= {r.revision for r in script.iterate_revisions(rev, "base")}
    return sorted(wanted - applied)
