"""The plugin's tables, as Alembic revisions in this folder (the ``venue`` branch).

Alembic skips ``__init__.py`` when it reads the revisions, so the hook can live here.
"""

import os

from kiosk import hookimpl


@hookimpl
def register_migrations(register):
    """Hand this folder to the kiosk; ``kiosk db upgrade`` and the start-up check apply it."""
    register(os.path.dirname(os.path.abspath(__file__)))
