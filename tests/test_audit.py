"""The audit trail: logins with address and terminal, the admin search page, CSV export, retention."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from kiosk.models import AuditLog, LoginAttempt, Station, User
from kiosk.testing import TEST_PASSWORD, csrf_of


def _rows(app, *where) -> list[AuditLog]:
    with app.app_context():
        session = app.extensions["db"].Session()
        rows = list(session.scalars(select(AuditLog).where(*where).order_by(AuditLog.id)))
        session.expunge_all()
        session.close()
    return rows


def _add(app, rows: list[dict]) -> None:
    with app.app_context():
        session = app.extensions["db"].Session()
        for row in rows:
            session.add(AuditLog(**row))
        session.commit()
        session.close()


def test_logins_failed_logins_and_logouts_carry_address_and_terminal(app, client, auth, terminal_client, csrf):
    auth.create("clerk", TEST_PASSWORD)
    client.get("/staff/login")
    typed = "Nobody-" + "x" * 100
    client.post("/staff/login", data={"username": typed, "password": "whatever-1", "csrf_token": csrf(client)})
    client.post("/staff/login", data={"username": "clerk", "password": "wrong-pass", "csrf_token": csrf(client)})
    client.post("/staff/login", data={"username": "CLERK", "password": TEST_PASSWORD, "csrf_token": csrf(client)})
    client.post("/staff/logout", data={"csrf_token": csrf(client)})
    failed = _rows(app, AuditLog.action == "staff.login_failed")
    assert [r.detail["reason"] for r in failed] == ["unknown", "password"]
    assert failed[0].detail["username"] == typed[:64] and failed[0].user_id is None
    assert all(r.address == "127.0.0.1" and r.terminal is None for r in failed)
    done = _rows(app, AuditLog.action.in_(["staff.login", "staff.logout"]))
    assert [r.action for r in done] == ["staff.login", "staff.logout"]
    assert all(r.user_id is not None and r.address == "127.0.0.1" for r in done)

    # A staff member logging in at an enrolled kiosk terminal: the row names the terminal.
    terminal_client.get("/staff/login")
    terminal_client.post(
        "/staff/login", data={"username": "clerk", "password": TEST_PASSWORD, "csrf_token": csrf(terminal_client)}
    )
    assert _rows(app, AuditLog.action == "staff.login")[-1].terminal == "kiosk-1"


def _seed_search(app) -> dict:
    with app.app_context():
        session = app.extensions["db"].Session()
        home = app.extensions["kiosk_station_id"]
        other = Station(code="gangxia", name="岗厦社区党群服务中心", kind="party_service", timezone="Asia/Shanghai")
        session.add(other)
        session.flush()
        formula = User(username="=HYPERLINK(1)", password_hash="x", role="staff", display_name="x", station_id=home)
        session.add(formula)
        session.flush()
        ids = {"home": home, "other": other.id, "formula": formula.id}
        session.commit()
        session.close()
    may_day = datetime(2024, 5, 1, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
    _add(
        app,
        [
            {
                "action": "petitions.updated",
                "detail": {"tracking_no": "SB-0001", "note": "岗厦路灯"},
                "at": may_day,
                "station_id": ids["home"],
                "user_id": ids["formula"],
                "address": "10.0.0.7",
            },
            {
                "action": "petitions.updated",
                "detail": {"tracking_no": "GX-0001"},
                "at": may_day,
                "station_id": ids["other"],
            },
            {
                "action": "legal.called",
                "detail": {"ticket": "A001"},
                "at": may_day + timedelta(days=3),
                "station_id": ids["home"],
            },
        ]
        + [
            {
                "action": "parking.redeemed",
                "detail": {"n": n},
                "at": may_day + timedelta(days=1, minutes=n),
                "station_id": ids["home"],
            }
            for n in range(60)
        ],
    )
    return ids


def test_the_audit_page_searches_its_own_station_in_local_time(app, client, auth):
    _seed_search(app)
    auth.login("admin", username="boss")
    page = client.get("/admin/audit?from=2024-05-01&to=2024-05-01")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "2024-05-01 08:30:00" in html and "SB-0001" in html and "10.0.0.7" in html
    assert "GX-0001" not in html  # another station's
    assert "A001" not in html and "parking.redeemed" not in html  # outside the days asked for

    by_text = client.get("/admin/audit?from=2024-04-01&text=岗厦").get_data(as_text=True)
    assert "SB-0001" in by_text and "A001" not in by_text
    by_user = client.get("/admin/audit?from=2024-04-01&user==hyperlink(1)").get_data(as_text=True)
    assert "SB-0001" in by_user and "A001" not in by_user
    by_action = client.get("/admin/audit?from=2024-04-01&action=legal").get_data(as_text=True)
    assert "A001" in by_action and "SB-0001" not in by_action

    first = client.get("/admin/audit?from=2024-05-02&to=2024-05-02").get_data(as_text=True)
    assert first.count('data-action="parking.redeemed"') == 50 and "n=59" in first and "n=9<" not in first
    second = client.get("/admin/audit?from=2024-05-02&to=2024-05-02&page=2").get_data(as_text=True)
    assert second.count('data-action="parking.redeemed"') == 10 and "n=0<" in second

    bad = client.get("/admin/audit?from=yesterday")
    assert bad.status_code == 400 and "2024-05-01" in bad.get_data(as_text=True)
    assert client.get("/admin/audit?from=9999-12-31&to=0001-01-01").status_code == 400
    assert client.get("/admin/audit?text=%00%01&user=%00&page=-3").status_code == 200


def test_the_audit_page_says_each_action_in_the_readers_words_and_finds_it_by_them(app, client, auth, csrf):
    ids = _seed_search(app)
    at = datetime(2024, 5, 1, 1, tzinfo=UTC)
    _add(app, [{"action": "staff.login_failed", "detail": {}, "at": at, "station_id": ids["home"]}])
    auth.login("admin", username="boss")

    def action_cells(query):
        html = client.get("/admin/audit?" + query).get_data(as_text=True)
        rows = html.split('data-action="')[1:]
        return {row.split('"', 1)[0]: row.split("</td><td", 3)[2].split(">", 1)[1].split("</td>")[0] for row in rows}

    cells = action_cells("from=2024-05-01&to=2024-05-01")
    assert cells == {"staff.login_failed": "登录失败", "petitions.updated": "处理诉求"}  # the core's, a plugin's
    # An action nobody gave words for shows as its key, never a 500.
    assert action_cells("from=2024-05-04&to=2024-05-04") == {"legal.called": "<code>legal.called</code>"}
    found = client.get("/admin/audit?from=2024-04-01&action=诉求").get_data(as_text=True)
    assert "SB-0001" in found and "A001" not in found
    client.post("/lang", data={"lang": "en", "csrf_token": csrf(client)})
    english = client.get("/admin/audit.csv?from=2024-05-01&to=2024-05-01").data.decode("utf-8-sig")
    assert [r[4] for r in csv.reader(io.StringIO(english))][1:] == ["Failed login", "Request handled"]
    client.post("/lang", data={"lang": "zh_Hant", "csrf_token": csrf(client)})
    assert "處理訴求" in client.get("/admin/audit?from=2024-05-01&to=2024-05-01").get_data(as_text=True)


def test_staff_cannot_read_the_audit_trail_and_district_admins_read_every_station(app, client, auth):
    from kiosk.testing import Auth

    _seed_search(app)
    auth.login("staff", username="clerk")
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/audit.csv").status_code == 403
    district = app.test_client()
    Auth(app, district).login("district", username="chief")
    html = district.get("/admin/audit?from=2024-05-01&to=2024-05-01").get_data(as_text=True)
    assert "SB-0001" in html and "GX-0001" in html
    only = district.get("/admin/audit?from=2024-05-01&to=2024-05-01&station=gangxia").get_data(as_text=True)
    assert "GX-0001" in only and "SB-0001" not in only


def test_csv_export_opens_in_excel_and_neutralises_formulas(app, client, auth, monkeypatch):
    from kiosk import accounts
    from kiosk.accounts import csv_cell

    _seed_search(app)
    auth.login("admin", username="boss")
    response = client.get("/admin/audit.csv?from=2024-05-01&to=2024-05-01")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.data
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "时间"  # headers in the admin's language
    [row] = rows[1:]
    assert row[0] == "2024-05-01 08:30:00" and row[1] == "Asia/Shanghai"
    assert row[3] == "'=HYPERLINK(1)"  # a user name a spreadsheet would run as a formula
    assert "岗厦路灯" in row[7]
    assert [csv_cell(v) for v in ("+1", "-1", "@SUM(A1)", "ok", "", None)] == ["'+1", "'-1", "'@SUM(A1)", "ok", "", ""]
    assert _rows(app, AuditLog.action == "audit.exported")  # reading the trail out is itself recorded

    monkeypatch.setattr(accounts, "CSV_BATCH", 7)  # streamed a batch at a time: none lost, none twice
    day = client.get("/admin/audit.csv?from=2024-05-02&to=2024-05-02").data.decode("utf-8-sig")
    numbers = [r[7] for r in csv.reader(io.StringIO(day))][1:]
    assert numbers == [f"n={n}" for n in range(59, -1, -1)]


def test_retention_job_deletes_old_audit_rows_failed_logins_and_lapsed_logouts(app):
    from kiosk import retention
    from kiosk.auth import RevokedSession

    # The retention job is the one that decides, on stations and the hub; no job of its own any more.
    [job] = [j for j in app.extensions["kiosk_jobs"] if j["name"] == "kiosk.retention"]
    assert job["scope"] == "any"
    assert not [j for j in app.extensions["kiosk_jobs"] if j["name"] == "kiosk.prune_audit"]
    now = datetime.now(UTC)
    _add(
        app,
        [
            {"action": "old", "detail": {}, "at": now - timedelta(days=366)},
            {"action": "kept", "detail": {}, "at": now - timedelta(days=300)},
        ],
    )
    with app.app_context():
        session = app.extensions["db"].Session()
        session.add_all([LoginAttempt(key="a|x", at=now - timedelta(days=31)), LoginAttempt(key="b|x", at=now)])
        session.add_all(
            [
                RevokedSession(sid_hash="a" * 64, expires_at=now - timedelta(minutes=1)),
                RevokedSession(sid_hash="b" * 64, expires_at=now + timedelta(days=1)),
            ]
        )
        session.commit()
        session.close()
    taken = {o.kind.key: o.records for o in retention.purge(app, only="kiosk")}
    assert taken["kiosk.audit_log"] == 1 and taken["kiosk.login_attempts"] == 1
    assert taken["kiosk.revoked_sessions"] == 1
    with app.app_context():
        session = app.extensions["db"].Session()
        assert list(session.scalars(select(LoginAttempt.key))) == ["b|x"]
        assert list(session.scalars(select(RevokedSession.sid_hash))) == ["b" * 64]  # its cookie still counts
        session.close()
    assert [r.action for r in _rows(app)] == ["kept"]
    app.config["RETENTION"] = {"audit_days": 200, "login_attempt_days": 30}
    retention.purge(app, only="kiosk.audit_log")
    assert _rows(app) == []


def test_login_next_never_leaves_the_site(client, auth, csrf):
    auth.create("clerk", TEST_PASSWORD)
    client.get("/staff/login")
    for target in ("/\t/evil.example", "/\n/evil.example", "/\\evil.example", "https://evil.example/"):
        response = client.post(
            "/staff/login",
            query_string={"next": target},
            data={"username": "clerk", "password": TEST_PASSWORD, "csrf_token": csrf_of(client)},
        )
        assert response.headers["Location"].endswith("/staff/"), target
        client.post("/staff/logout", data={"csrf_token": csrf(client)})
        client.get("/staff/login")
    raw = client.post(
        "/staff/login?next=/%09/evil.example",
        data={"username": "clerk", "password": TEST_PASSWORD, "csrf_token": csrf_of(client)},
    )
    assert raw.headers["Location"].endswith("/staff/")
