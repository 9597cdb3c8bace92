"""Running Alembic migrations for the core and every loaded plugin.

The core's revisions live in ``kiosk/migrations/versions``; each plugin adds its
own folder through the ``register_migrations`` hook, as a branch of its own
that depends on the core's first revision. ``upgrade`` goes to all heads.
"""

from __future__ import annotations

import os

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

HERE = os.path.dirname(__file__)


def alembic_config(app, connection=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", os.path.join(HERE, "migrations"))
    locations = [os.path.join(HERE, "migrations", "versions")]
    locations += app.extensions["kiosk_plugins"].migration_paths
    # Alembic splits this option on the separator it is told to use.
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(locations))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(app) -> None:
    """Bring the database to the newest revision of every branch; keeps existing data."""
    engine = app.extensions["db"].engine
    with engine.begin() as conn:
        command.upgrade(alembic_config(app, conn), "heads")


def pending(app) -> list[str]:
    """Heads not yet applied (empty when the database is current)."""
    engine = app.extensions["db"].engine
    script = ScriptDirectory.from_config(alembic_config(app))
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    wanted = set(script.get_heads())
    applied = set()
    for rev in current:
        applied |= {r.revision for r in script.iterate_revisions(rev, "base")}
    return sorted(wanted - applied)
