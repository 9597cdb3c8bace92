"""Alembic migrations: first start creates everything, upgrades keep data, models match."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select

from kiosk import migrate
from kiosk.db import Base
from kiosk.models import Station, User

CORE_TABLES = {"station", "kiosk_user", "login_attempt", "audit_log", "print_job", "kiosk_event", "job_run"}


def test_first_start_creates_every_table(make_app, fresh_database_url):
    app = make_app(fresh_database_url)
    tables = set(inspect(app.extensions["db"].engine).get_table_names())
    assert CORE_TABLES <= tables
    assert "alembic_version" in tables
    assert migrate.pending(app) == []


def test_db_upgrade_command_is_idempotent(make_app, fresh_database_url):
    app = make_app(fresh_database_url)
    from kiosk.cli import cli

    result = app.test_cli_runner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_upgrade_keeps_existing_data(make_app, fresh_database_url):
    # Stand for an older install: only the core's branch applied, with data in it.
    import types

    from sqlalchemy.orm import Session

    older = types.SimpleNamespace(extensions={"kiosk_plugins": types.SimpleNamespace(migration_paths=[], infos={})})
    engine = create_engine(fresh_database_url)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(older, conn), "kiosk_core@head")
    with Session(engine) as session:
        session.add(
            Station(
                code="old",
                name="石厦社区党群服务中心",
                kind="party_service",
                timezone="Asia/Shanghai",
                disabled_plugins=[],
            )
        )
        session.commit()
        station_id = session.scalar(select(Station.id).where(Station.code == "old"))
        session.add(
            User(
                username="veteran",
                password_hash="x",
                role="staff",
                display_name="老员工",
                station_id=station_id,
                active=True,
            )
        )
        session.commit()
    engine.dispose()
    app = make_app(fresh_database_url)  # first start of the new version upgrades
    session = app.extensions["db"].Session()
    assert session.scalar(select(User.display_name).where(User.username == "veteran")) == "老员工"
    assert session.scalar(select(Station.name).where(Station.code == "old")) == "石厦社区党群服务中心"
    session.close()
    assert migrate.pending(app) == []


def test_unmigrated_database_without_auto_migrate_says_what_to_run(make_app, fresh_database_url):
    import pytest

    from kiosk.config import ConfigError

    with pytest.raises(ConfigError, match="kiosk db upgrade"):
        make_app(fresh_database_url, AUTO_MIGRATE=False)


def test_models_match_migrations(app):
    """Alembic's autogenerate finds nothing to add: the migrations are the models."""
    loaded = set(app.extensions["kiosk_plugins"].enabled_names())

    def include(obj, name, type_, reflected, compare_to):
        if type_ == "table":
            return name in CORE_TABLES or name.split("_")[0] in loaded or any(name.startswith(p + "_") for p in loaded)
        return True

    engine = create_engine(app.extensions["db"].url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include, "compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == [], diff


def test_start_up_check_reads_the_revisions_without_alembic(app):
    """The cheap check at start agrees with Alembic's own view of the revisions."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    script = ScriptDirectory.from_config(migrate.alembic_config(app))
    graph = migrate.revision_graph(app)
    assert set(graph) == {r.revision for r in script.walk_revisions()}
    for revision in script.walk_revisions():
        deps = revision.dependencies or ()
        parents = set(revision._all_down_revisions) | ({deps} if isinstance(deps, str) else set(deps))
        assert graph[revision.revision] == parents
    assert migrate.is_current(app) is True
    with app.extensions["db"].engine.begin() as conn:
        stored = sorted(r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version")))
        conn.execute(text("DELETE FROM alembic_version WHERE version_num = :v"), {"v": stored[0]})
    try:
        assert migrate.is_current(app) is False
    finally:  # the PostgreSQL database is shared by the worker's later tests
        with app.extensions["db"].engine.begin() as conn:
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": stored[0]})
