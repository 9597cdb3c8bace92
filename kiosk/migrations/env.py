"""Alembic environment for the kiosk: the core's revisions plus every plugin's branch.

Run through ``kiosk db upgrade`` (or at first start), which hands over a live
connection in ``config.attributes["connection"]``.
"""

from alembic import context

from kiosk.db import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `kiosk db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
