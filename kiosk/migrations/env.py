"""Alembic environment for the kiosk: the core's revisions plus every plugin's branch.

Run through ``kiosk db upgrade`` / ``downgrade`` / ``revision`` (or at first
start), which hand over a live connection in ``config.attributes["connection"]``.
``kiosk db revision`` also hands over ``include_tables``: the tables of the
branch's own models, so a plugin's revision never touches another's tables.
"""

from alembic import context

from kiosk.db import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `kiosk db upgrade`, not the alembic command")

include_tables = config.attributes.get("include_tables")


def include_object(obj, name, type_, reflected, compare_to):
    """Compare only the branch's own tables (everything, outside ``kiosk db revision``)."""
    if include_tables is None or type_ != "table":
        return True
    return name in include_tables


def process_revision_directives(ctx, revision, directives):
    """Write no file when the models did not change; the command says so."""
    if include_tables is not None and directives and directives[0].upgrade_ops.is_empty():
        config.attributes["no_changes"] = True
        directives[:] = []


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # Batch operations work on both databases, so a generated file does not
    # depend on the one it was generated against.
    render_as_batch=True,
    compare_type=True,
    include_object=include_object,
    process_revision_directives=process_revision_directives,
)
with context.begin_transaction():
    context.run_migrations()
