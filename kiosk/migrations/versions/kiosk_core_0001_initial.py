"""Core tables: stations, users, login attempts, audit log, print jobs, events, job runs.

Revision ID: kiosk_core_0001
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "kiosk_core_0001"
down_revision = None
branch_labels = ("kiosk_core",)
depends_on = None


def upgrade():
    op.create_table(
        "station",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("disabled_plugins", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_station"),
        sa.UniqueConstraint("code", name="uq_station_code"),
    )
    op.create_table(
        "kiosk_user",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("station_id", sa.Integer, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kiosk_user"),
        sa.UniqueConstraint("username", name="uq_kiosk_user_username"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_kiosk_user_station_id_station"),
    )
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_attempt"),
    )
    op.create_index("ix_login_attempt_key_at", "login_attempt", ["key", "at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, nullable=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_audit_log_station_id_station"),
        sa.ForeignKeyConstraint(["user_id"], ["kiosk_user.id"], name="fk_audit_log_user_id_kiosk_user"),
    )
    op.create_index("ix_audit_log_station_at", "audit_log", ["station_id", "at"])
    op.create_table(
        "print_job",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("printer", sa.String(64), nullable=False),
        sa.Column("layout", sa.String(100), nullable=False),
        sa.Column("receipt", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("error_kind", sa.String(32), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("reprint_of", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_print_job"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_print_job_station_id_station"),
    )
    op.create_index("ix_print_job_station_state", "print_job", ["station_id", "state"])
    op.create_table(
        "kiosk_event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kiosk_event"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_kiosk_event_station_id_station"),
    )
    op.create_index("ix_kiosk_event_station_id", "kiosk_event", ["station_id", "id"])
    op.create_table(
        "job_run",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("last_run_at", UTCDateTime, nullable=True),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_job_run"),
    )


def downgrade():
    for table in ("job_run", "kiosk_event", "print_job", "audit_log", "login_attempt", "kiosk_user", "station"):
        op.drop_table(table)
