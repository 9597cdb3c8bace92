"""Outside check (H6): requests an attacker or a careless operator sends get a clear refusal, never a 500."""

from __future__ import annotations

import pytest

from kiosk.testing import TEST_PASSWORD, csrf_of


def test_an_account_id_beyond_any_row_is_not_found_not_a_500(app, client, auth):
    # A forged form naming a user id larger than the database's integers overflowed SQLite's
    # parameter binding (OverflowError) and answered 500.
    auth.login("admin", username="boss")
    token = csrf_of(client)
    for user in ("99999999999999999999", "-99999999999999999999", "1e9", "１"):
        response = client.post("/admin/accounts", data={"action": "disable", "user": user, "csrf_token": token})
        assert response.status_code == 404, (user, response.status_code)


@pytest.mark.parametrize("path", ["/lang", "/large-text", "/call-staff", "/speech/toggle"])
def test_the_kiosk_switches_never_redirect_to_another_site(client, path):
    client.get("/")
    token = csrf_of(client)
    for target in ("/\t/evil.example", "/\\evil.example", "/\n/evil.example"):
        response = client.post(path, data={"csrf_token": token, "next": target, "lang": "en"})
        location = response.headers.get("Location", "")
        assert response.status_code in (302, 303, 400, 429), (target, response.status_code)
        assert "evil.example" not in location, (target, location)


def test_kiosk_users_says_a_wrong_name_before_asking_for_the_password(app):
    # The operator typed the password twice, then learnt the account did not exist (or the name was
    # unusable, or taken): the checks now come first, and no password is asked for.
    from kiosk.cli import cli

    runner = app.test_cli_runner()
    for args in (
        ["users", "reset-password", "nobody"],
        ["users", "create", "da ve"],
        ["users", "create", "ADMIN-H6"],
    ):
        if args[-1] == "ADMIN-H6":
            made = runner.invoke(cli, ["users", "create", "admin-h6", "--password", "a-fine-password"])
            assert made.exit_code == 0, made.output
        result = runner.invoke(cli, args, input="a-fine-password\na-fine-password\n")
        assert result.exit_code == 1, (args, result.output)
        assert "assword" not in result.output.split("Error:")[0], (args, result.output)
    asked = runner.invoke(cli, ["users", "create", "newbie-h6"], input="a-fine-password\na-fine-password\n")
    assert asked.exit_code == 0 and "Password" in asked.output and "created staff newbie-h6" in asked.output


def test_the_hub_refuses_a_deeply_nested_sync_body_without_a_500(make_app, database_url):
    hub = make_app(database_url, ROLE="hub", STATION={"code": "district", "name": "罗湖区", "kind": "party_service"})
    client = hub.test_client()
    for path in ("/sync/v1/enrol", "/sync/v1/push"):
        response = client.post(
            path, data="[" * 50000, content_type="application/json", headers={"Kiosk-Sync-Protocol": "1"}
        )
        assert response.status_code in (400, 401, 403), (path, response.status_code)


def test_an_admin_made_before_the_station_code_was_set_works_in_the_real_station(make_app, database_url):
    from kiosk.testing import create_account

    # No station file yet: the station is the default one (kiosk.config's defaults).
    first = make_app(database_url, STATION={"code": "default", "name": "党群服务中心", "kind": "party_service"})
    create_account(first, "early-admin", role="admin")
    app = make_app(database_url, STATION={"code": "shuibei", "name": "水贝社区党群服务中心", "kind": "party_service"})
    create_account(app, "late-admin", role="admin")

    def console_of(username: str) -> str:
        client = app.test_client()
        client.get("/staff/login")
        client.post(
            "/staff/login", data={"username": username, "password": TEST_PASSWORD, "csrf_token": csrf_of(client)}
        )
        console = client.get("/staff/")
        assert console.status_code == 200
        return console.get_data(as_text=True)

    assert "水贝社区党群服务中心" in console_of("late-admin")  # an account made after the code was set
    assert "水贝社区党群服务中心" in console_of("early-admin")


def test_a_plugin_switch_sent_twice_stays_as_asked(app, client, auth):
    # The staff pages have no double-submit guard: a double click (or a resent form) on
    # "Switch off" switched the plugin off and straight back on. With the state asked for, the
    # second request changes nothing and records nothing.
    from sqlalchemy import func, select

    from kiosk.models import AuditLog, Station

    auth.login("admin", username="boss")
    token = csrf_of(client)

    def disabled() -> list:
        with app.app_context():
            session = app.extensions["db"].Session()
            row = session.get(Station, app.extensions["kiosk_station_id"])
            value, switched = (
                list(row.disabled_plugins or []),
                session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action.like("plugin.%"))),
            )
            session.close()
        return [value, switched]

    for _ in range(2):
        sent = client.post("/admin/plugins/parking/toggle", data={"csrf_token": token, "state": "off"})
        assert sent.status_code == 302
    assert disabled() == [["parking"], 1]
    for _ in range(2):
        sent = client.post("/admin/plugins/parking/toggle", data={"csrf_token": token, "state": "on"})
        assert sent.status_code == 302
    assert disabled() == [[], 2]
    # A form without the state (the page as it is today) still toggles.
    client.post("/admin/plugins/parking/toggle", data={"csrf_token": token})
    assert disabled() == [["parking"], 3]


def test_kiosk_users_create_on_an_enrolled_station_says_the_hub_owns_its_accounts(app):
    # An operator made an account at an enrolled station; the hub never heard of it, and an
    # account of the same name made at the hub later replaced it (password and role) without a word.
    from kiosk.cli import cli
    from kiosk.db import utcnow
    from kiosk.sync.models import SyncState

    runner = app.test_cli_runner()
    alone = runner.invoke(cli, ["users", "create", "local-one", "--password", "a-fine-password"])
    assert alone.exit_code == 0 and "hub" not in alone.output
    with app.app_context():
        session = app.extensions["db"].Session()
        session.add(
            SyncState(
                station_id=app.extensions["kiosk_station_id"],
                hub_url="https://district.example.gov.cn",
                enrolled_at=utcnow(),
            )
        )
        session.commit()
        session.close()
    enrolled = runner.invoke(cli, ["users", "create", "local-two", "--password", "a-fine-password"])
    assert enrolled.exit_code == 0, enrolled.output
    assert "created staff local-two" in enrolled.output and "district hub" in enrolled.output
