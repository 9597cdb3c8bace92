"""Accounts and audit: disabled accounts, case-insensitive usernames, audit address and terminal, logged-out sessions.

User names become unique regardless of case (a unique index on
``lower(username)``, on SQLite and PostgreSQL alike). Accounts that already
collide (``ADMIN`` next to ``admin``) are not merged or deleted: the oldest
keeps its name, each later one is renamed ``<name>-<id>`` and the rename is
printed, so an operator can tell its owner.

SQLite cannot reflect an index on an expression: a later migration that
rebuilds ``kiosk_user`` with ``batch_alter_table(recreate=...)`` must create
``uq_kiosk_user_username_lower`` again.

Revision ID: kiosk_core_0007
Revises: kiosk_core_0006
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "kiosk_core_0007"
down_revision = "kiosk_core_0006"
branch_labels = None
depends_on = None


def _rename_case_duplicates() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, username FROM kiosk_user ORDER BY id")).all()
    taken = {str(name).lower() for _id, name in rows}
    seen: set[str] = set()
    for user_id, name in rows:
        key = str(name).lower()
        if key not in seen:
            seen.add(key)
            continue
        suffix = f"-{user_id}"
        new = str(name)[: 64 - len(suffix)] + suffix
        n = 1
        while new.lower() in taken:
            suffix = f"-{user_id}-{n}"
            new = str(name)[: 64 - len(suffix)] + suffix
            n += 1
        taken.add(new.lower())
        seen.add(new.lower())
        conn.execute(sa.text("UPDATE kiosk_user SET username = :new WHERE id = :id"), {"new": new, "id": user_id})
        print(f"kiosk_core_0007: user names differ only by case; account {user_id} {name!r} renamed {new!r}")


def upgrade():
    with op.batch_alter_table("kiosk_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("last_login_at", UTCDateTime(), nullable=True))
    _rename_case_duplicates()
    op.create_index("uq_kiosk_user_username_lower", "kiosk_user", [sa.text("lower(username)")], unique=True)

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("terminal", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_log_user_at", ["user_id", "at"], unique=False)
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempt_at", ["at"], unique=False)

    op.create_table(
        "kiosk_revoked_session",
        sa.Column("sid_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sid_hash", name=op.f("pk_kiosk_revoked_session")),
    )
    with op.batch_alter_table("kiosk_revoked_session", schema=None) as batch_op:
        batch_op.create_index("ix_kiosk_revoked_session_expires_at", ["expires_at"], unique=False)


def downgrade():
    op.drop_table("kiosk_revoked_session")
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempt_at")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_user_at")
        batch_op.drop_index("ix_audit_log_at")
        batch_op.drop_column("terminal")
        batch_op.drop_column("address")
    op.drop_index("uq_kiosk_user_username_lower", table_name="kiosk_user")
    with op.batch_alter_table("kiosk_user", schema=None) as batch_op:
        batch_op.drop_column("last_login_at")
        batch_op.drop_column("session_version")
