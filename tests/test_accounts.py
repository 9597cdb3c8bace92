"""Accounts: the ``kiosk users`` commands, the admin page, case-insensitive names, passwords, sessions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kiosk.cli import cli
from kiosk.models import AuditLog, Station, User
from kiosk.testing import TEST_PASSWORD, Auth, create_account, csrf_of


def _user(app, name: str) -> User:
    with app.app_context():
        session = app.extensions["db"].Session()
        user = session.scalar(select(User).where(User.username == name))
        session.expunge_all()
        session.close()
    return user


def _log_in(app, username: str, password: str = TEST_PASSWORD):
    client = app.test_client()
    client.get("/staff/login")
    response = client.post(
        "/staff/login", data={"username": username, "password": password, "csrf_token": csrf_of(client)}
    )
    return client, response


def _audit_actions(app) -> list[str]:
    with app.app_context():
        session = app.extensions["db"].Session()
        actions = list(session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
        session.close()
    return actions


def test_users_commands_list_disable_enable_reset_and_role(app):
    runner = app.test_cli_runner()
    made = runner.invoke(cli, ["users", "create", "alice", "--role", "admin", "--password", TEST_PASSWORD])
    assert made.exit_code == 0, made.output
    assert runner.invoke(cli, ["users", "create", "bob", "--password", TEST_PASSWORD]).exit_code == 0
    clash = runner.invoke(cli, ["users", "create", "BOB", "--password", TEST_PASSWORD])
    assert clash.exit_code != 0 and "already exists" in clash.output

    listed = runner.invoke(cli, ["users", "list"])
    assert listed.exit_code == 0
    assert "alice" in listed.output and "admin" in listed.output and "2 account(s)" in listed.output

    bob, response = _log_in(app, "Bob")  # names compare case-insensitively at login
    assert response.status_code == 302 and bob.get("/staff/").status_code == 200

    # Disabled: the open session ends at its next request, and no new login.
    assert runner.invoke(cli, ["users", "disable", "BOB"]).exit_code == 0
    assert bob.get("/staff/").status_code == 302
    assert _log_in(app, "bob")[1].status_code == 400
    assert "disabled" in runner.invoke(cli, ["users", "list"]).output
    assert runner.invoke(cli, ["users", "enable", "bob"]).exit_code == 0

    # A new password ends the sessions opened with the old one.
    bob, _response = _log_in(app, "bob")
    weak = runner.invoke(cli, ["users", "reset-password", "bob", "--password", "12345678"])
    assert weak.exit_code != 0 and "too common" in weak.output
    reset = runner.invoke(cli, ["users", "reset-password", "bob", "--password", "a-new-long-secret"])
    assert reset.exit_code == 0, reset.output
    assert bob.get("/staff/").status_code == 302
    assert _log_in(app, "bob")[1].status_code == 400
    assert _log_in(app, "bob", "a-new-long-secret")[1].status_code == 302

    assert runner.invoke(cli, ["users", "role", "bob", "admin"]).exit_code == 0
    assert _user(app, "bob").role == "admin"
    missing = runner.invoke(cli, ["users", "disable", "carol"])
    assert missing.exit_code != 0 and "no account carol" in missing.output
    actions = _audit_actions(app)
    for action in ("account.created", "account.disabled", "account.enabled", "account.password_reset", "account.role"):
        assert action in actions


def test_the_last_active_admin_is_neither_disabled_nor_demoted(app):
    runner = app.test_cli_runner()
    runner.invoke(cli, ["users", "create", "alice", "--role", "admin", "--password", TEST_PASSWORD])
    for args in (["disable", "alice"], ["role", "alice", "staff"]):
        result = runner.invoke(cli, ["users", *args])
        assert result.exit_code != 0 and "last active administrator" in result.output
    assert _user(app, "alice").active and _user(app, "alice").role == "admin"
    runner.invoke(cli, ["users", "create", "amy", "--role", "admin", "--password", TEST_PASSWORD])
    assert runner.invoke(cli, ["users", "role", "alice", "staff"]).exit_code == 0
    assert runner.invoke(cli, ["users", "disable", "amy"]).exit_code != 0  # now amy is the last one


@pytest.mark.parametrize(
    ("password", "said"),
    [
        ("short", "at least 8"),
        ("12345678", "too common"),
        ("PASSWORD", "too common"),
        ("x" * 257, "at most 256"),
        ("clerk-one", "not be the user name"),
    ],
)
def test_bad_passwords_are_refused_with_a_reason(password, said):
    from kiosk.auth import AccountError, check_password

    with pytest.raises(AccountError, match=said):
        check_password(password, "clerk-one")


def test_a_password_of_256_characters_is_accepted_and_works(app):
    password = "ab" * 128
    create_account(app, "long", "staff", password)
    assert _log_in(app, "long", password)[1].status_code == 302
    assert _log_in(app, "long", password + "c")[1].status_code == 400


def test_case_duplicates_are_refused_by_the_database_too(app):
    from sqlalchemy.exc import IntegrityError

    create_account(app, "admin", "admin")
    with app.app_context():
        session = app.extensions["db"].Session()
        session.add(User(username="ADMIN", password_hash="x", role="staff", display_name="x"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.close()


def test_the_migration_renames_existing_case_duplicates(backend, fresh_database_url, make_app):
    """On SQLite only: the renaming is plain SQL, and the index it makes room for is checked on both above."""
    import types

    if backend != "sqlite":
        pytest.skip("a fresh PostgreSQL database costs ~10 s to drop; the unique index is tested on it above")

    from alembic import command
    from sqlalchemy import create_engine, text

    from kiosk import migrate

    older = types.SimpleNamespace(extensions={"kiosk_plugins": types.SimpleNamespace(migration_paths=[], infos={})})
    engine = create_engine(fresh_database_url)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(older, conn), "kiosk_core_0006")
        for name in ("admin", "ADMIN", "Admin"):
            conn.execute(
                text(
                    "INSERT INTO kiosk_user (username, password_hash, role, display_name, active, created_at)"
                    " VALUES (:n, 'x', 'admin', :n, :t, CURRENT_TIMESTAMP)"
                ),
                {"n": name, "t": True},
            )
    engine.dispose()
    app = make_app(fresh_database_url)
    with app.app_context():
        session = app.extensions["db"].Session()
        names = list(session.scalars(select(User.username).order_by(User.id)))
        session.close()
    assert names[0] == "admin"
    assert {n.lower() for n in names} == {"admin", f"admin-{2}", f"admin-{3}"}


def _other_station(app) -> int:
    with app.app_context():
        session = app.extensions["db"].Session()
        other = Station(code="gangxia", name="岗厦社区党群服务中心", kind="party_service", timezone="Asia/Shanghai")
        session.add(other)
        session.flush()
        session.add(User(username="far-clerk", password_hash="x", role="staff", display_name="x", station_id=other.id))
        session.commit()
        other_id = other.id
        session.close()
    return other_id


def test_station_admin_manages_only_their_station_on_the_admin_page(app, client, auth):
    _other_station(app)
    auth.create("clerk", TEST_PASSWORD, "staff")
    auth.login("admin", username="boss")
    index = client.get("/admin/").get_data(as_text=True)
    assert "/admin/accounts" in index and "/admin/audit" in index
    page = client.get("/admin/accounts").get_data(as_text=True)
    assert 'data-account="clerk"' in page and 'data-account="far-clerk"' not in page
    token = csrf_of(client)
    far = _user(app, "far-clerk")
    refused = client.post("/admin/accounts", data={"action": "disable", "user": far.id, "csrf_token": token})
    assert refused.status_code == 404 and _user(app, "far-clerk").active

    clerk = _user(app, "clerk")
    done = client.post("/admin/accounts", data={"action": "disable", "user": clerk.id, "csrf_token": token})
    assert done.status_code == 302 and not _user(app, "clerk").active
    # A station admin cannot make a district admin.
    upgraded = client.post(
        "/admin/accounts", data={"action": "role", "role": "district", "user": clerk.id, "csrf_token": token}
    )
    assert upgraded.status_code == 400 and _user(app, "clerk").role == "staff"

    made = client.post(
        "/admin/accounts",
        data={
            "action": "create",
            "username": "Clerk",
            "password": TEST_PASSWORD,
            "password2": TEST_PASSWORD,
            "role": "staff",
            "csrf_token": token,
        },
    )
    assert made.status_code == 400 and "已存在" in made.get_data(as_text=True)  # "clerk" exists, in Chinese
    common = client.post(
        "/admin/accounts",
        data={
            "action": "create",
            "username": "newbie",
            "password": "password",
            "password2": "password",
            "role": "staff",
            "csrf_token": token,
        },
    )
    assert common.status_code == 400 and "过于常见" in common.get_data(as_text=True)
    good = client.post(
        "/admin/accounts",
        data={
            "action": "create",
            "username": "newbie",
            "display_name": "新同事",
            "password": "a-fine-password",
            "password2": "a-fine-password",
            "role": "staff",
            "csrf_token": token,
        },
    )
    assert good.status_code == 302
    newbie = _user(app, "newbie")
    assert newbie.station_id == app.extensions["kiosk_station_id"] and newbie.display_name == "新同事"

    # A new password for oneself keeps one's own session.
    me = _user(app, "boss")
    client.post(
        "/admin/accounts",
        data={
            "action": "reset",
            "user": me.id,
            "password": "boss-new-secret",
            "password2": "boss-new-secret",
            "csrf_token": token,
        },
    )
    assert client.get("/admin/accounts").status_code == 200


def test_staff_manage_nobody_and_district_admins_everybody(app, client, auth):
    _other_station(app)
    auth.login("staff", username="clerk")
    assert client.get("/admin/accounts").status_code == 403
    district = app.test_client()
    Auth(app, district).login("district", username="chief")
    page = district.get("/admin/accounts").get_data(as_text=True)
    assert 'data-account="far-clerk"' in page and 'data-account="clerk"' in page
    far = _user(app, "far-clerk")
    response = district.post(
        "/admin/accounts", data={"action": "enable", "user": far.id, "csrf_token": csrf_of(district)}
    )
    assert response.status_code == 302


def test_a_change_from_the_hub_ends_the_accounts_sessions_at_the_station(app):
    from kiosk.sync.core import user_data, user_to_station

    create_account(app, "clerk", "staff")
    client, _response = _log_in(app, "clerk")
    assert client.get("/staff/").status_code == 200
    with app.app_context():
        session = app.extensions["db"].Session()
        station = session.get(Station, app.extensions["kiosk_station_id"])
        user = session.scalar(select(User).where(User.username == "clerk"))
        data = user_data(user, station.code)
        data["active"] = False
        user_to_station(session, station, "CLERK", data)  # the hub's spelling may differ in case
        session.commit()
        assert session.scalar(select(User.active).where(User.username == "CLERK")) is False
        session.close()
    assert client.get("/staff/").status_code == 302


def test_the_hub_publishes_account_changes_but_not_logins(make_app, database_url):
    from kiosk.sync.models import SyncDown
    from kiosk.testing import count_rows

    hub = make_app(database_url, ROLE="hub", STATION={"code": "district", "name": "罗湖区", "kind": "party_service"})
    with hub.app_context():  # the station the account is for, as a hub holds each enrolled one
        session = hub.extensions["db"].Session()
        if session.scalar(select(Station).where(Station.code == "shuibei")) is None:
            session.add(Station(code="shuibei", name="水贝", kind="party_service", timezone="Asia/Shanghai"))
            session.commit()
        session.close()
    runner = hub.test_cli_runner()
    made = runner.invoke(cli, ["users", "create", "worker", "--station", "shuibei", "--password", TEST_PASSWORD])
    assert made.exit_code == 0, made.output
    assert count_rows(hub, SyncDown, SyncDown.kind == "kiosk.user") == 1
    assert _log_in(hub, "WORKER")[1].status_code == 302
    assert count_rows(hub, SyncDown, SyncDown.kind == "kiosk.user") == 1  # a login is the hub's own business
    assert runner.invoke(cli, ["users", "disable", "worker"]).exit_code == 0
    with hub.app_context():
        session = hub.extensions["db"].Session()
        last = session.scalars(select(SyncDown).where(SyncDown.kind == "kiosk.user").order_by(SyncDown.id)).all()[-1]
        session.close()
    assert len(last.data) and last.data["active"] is False and last.key == "worker"
    chief = hub.test_client()
    Auth(hub, chief).login("district", username="chief")
    page = chief.get("/admin/accounts")
    assert page.status_code == 200 and 'data-account="worker"' in page.get_data(as_text=True)
    assert 'value="shuibei"' in page.get_data(as_text=True)  # the station to create an account for
    assert chief.get("/admin/audit?action=account").status_code == 200


def test_the_account_and_audit_pages_speak_three_languages(app, client, auth):
    auth.login("admin", username="boss")
    seen = {}
    for lang in ("zh_Hans", "zh_Hant", "en"):
        client.post("/lang", data={"lang": lang, "next": "/admin/accounts", "csrf_token": csrf_of(client)})
        seen[lang] = client.get("/admin/accounts").get_data(as_text=True) + client.get("/admin/audit").get_data(
            as_text=True
        )
    assert "添加账号" in seen["zh_Hans"] and "审计日志" in seen["zh_Hans"]
    assert "新增帳號" in seen["zh_Hant"] and "稽核日誌" in seen["zh_Hant"]
    assert "Add an account" in seen["en"] and "Audit log" in seen["en"]


def test_the_revoked_session_table_matches_its_migration(app):
    """tests/test_migrations.py compares the core's listed tables; this one is new in kiosk_core_0007."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from kiosk.db import Base

    def include(obj, name, type_, reflected, compare_to):
        return type_ != "table" or name == "kiosk_revoked_session"

    engine = create_engine(app.extensions["db"].url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include, "compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == [], diff
