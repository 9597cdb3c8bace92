"""Alembic migrations: first start creates everything, upgrades keep data, models match."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select

from kiosk import migrate
from kiosk.db import Base
from kiosk.models import Station, User

CORE_TABLES = {
    "station",
    "kiosk_user",
    "login_attempt",
    "audit_log",
    "print_job",
    "kiosk_event",
    "job_run",
    "printer_lease",
    "kiosk_revoked_session",
}


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


# -- several upgrades at once, and code older than its database ------------------------------
def _upgrade_env(tmp_path, url: str, k: int) -> dict:
    import os

    instance = tmp_path / f"upgrader-{k}"
    instance.mkdir()
    return dict(
        os.environ,
        KIOSK_SECRET_KEY="three-at-once-" * 4,
        KIOSK_DATABASE_URL=url,
        KIOSK_INSTANCE_PATH=str(instance),
        KIOSK_STATION_FILE=str(instance / "no-station.toml"),
        KIOSK_IME_PRELOAD="false",
    )


def test_three_db_upgrades_at_once_on_a_fresh_postgresql_database_all_succeed(
    backend, fresh_database_url, tmp_path, make_app
):
    """The issue's roll-out: three `kiosk db upgrade` at once, two used to fail; the advisory lock queues them."""
    import subprocess
    import sys

    import pytest

    if backend != "postgresql":
        pytest.skip("the migration lock is PostgreSQL's: a SQLite file belongs to one station node")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "kiosk.cli", "db", "upgrade"],
            env=_upgrade_env(tmp_path, fresh_database_url, k),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(3)
    ]
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
    for code, out, err in results:
        assert code == 0, err[-3000:]
        assert "database is up to date" in out
    app = make_app(fresh_database_url, AUTO_MIGRATE=False)
    assert migrate.pending(app) == [] and migrate.is_current(app)
    assert CORE_TABLES <= set(inspect(app.extensions["db"].engine).get_table_names())


def _core_head(app) -> str:
    graph = migrate.revision_graph(app)
    core = [r for r in graph if r.startswith("kiosk_core_")]
    return max(core)


def test_code_older_than_its_database_starts_with_a_warning_and_upgrade_has_nothing_to_do(
    make_app, fresh_database_url, caplog
):
    """A hub worker not yet upgraded, in a rolling upgrade: the database has a core revision it does not know."""
    import logging

    from sqlalchemy import text

    from kiosk.cli import cli

    first = make_app(fresh_database_url)
    head = _core_head(first)
    with first.extensions["db"].engine.begin() as conn:
        conn.execute(
            text("UPDATE alembic_version SET version_num = 'kiosk_core_9999' WHERE version_num = :v"), {"v": head}
        )
    with caplog.at_level(logging.WARNING, logger="kiosk.migrate"):
        older = make_app(fresh_database_url)  # used to fail: "Can't locate revision identified by 'kiosk_core_9999'"
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "database is newer than this code" in said and "kiosk_core_9999" in said
    assert "not installed" not in said  # the core is not an uninstalled plugin
    assert migrate.newer_revisions(older) == ["kiosk_core_9999"]
    assert migrate.unknown_revisions(older) == {}
    assert migrate.pending(older) == []
    result = older.test_cli_runner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database is newer than this code: nothing to do" in result.output
    assert "kiosk_core_9999" in result.output
    current = older.test_cli_runner().invoke(cli, ["db", "current"])
    assert "kiosk_core (newer than this code)" in current.output and "pending" not in current.output
    with older.extensions["db"].engine.connect() as conn:
        stored = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
    assert "kiosk_core_9999" in stored and head not in stored  # nothing was migrated or undone
    # The node still serves.
    assert older.test_client().get("/healthz").status_code == 200


def test_db_upgrade_with_the_database_away_says_so_in_one_line(tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    env = _upgrade_env(tmp_path, f"postgresql+psycopg://kiosk@127.0.0.1:{port}/kiosk", 0)
    run = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 3
    said = [line for line in run.stderr.splitlines() if line.startswith("kiosk:")]  # the rest is the JSON log
    assert len(said) == 1 and said[0].startswith("kiosk: the database cannot be reached (OperationalError")
    assert "Traceback" not in run.stderr and "KIOSK_DATABASE_URL" in said[0]
