"""Terminals (issue 16 point 1): enrolment links, credentials, the admin page and the CLI."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from sqlalchemy import select, update

from kiosk.cli import cli
from kiosk.db import session_for, utcnow
from kiosk.models import AuditLog
from kiosk.terminals import COOKIE, Terminal, add, enrolment_path
from kiosk.testing import count_rows, csrf_of, enrol_terminal


def _terminal(app, name) -> Terminal:
    with session_for(app) as session:
        return session.scalar(select(Terminal).where(Terminal.name == name))


def _add(app, name="hall-1", kind="kiosk") -> str:
    with app.app_context(), session_for(app, write=True) as session:
        _t, token = add(session, app.extensions["kiosk_station_id"], name, kind)
        session.commit()
    return token


def _set(app, name, **values) -> None:
    with session_for(app, write=True) as session:
        session.execute(update(Terminal).where(Terminal.name == name).values(**values))
        session.commit()


def test_cli_add_prints_a_link_that_enrols_the_browser_once(app, runner):
    result = runner.invoke(cli, ["terminals", "add", "hall-1", "--kind", "kiosk", "--label", "大厅左侧"])
    assert result.exit_code == 0, result.output
    [link] = re.findall(r"http://\S+/terminal/enrol/\S+", result.output)
    path = link.split("5000", 1)[1] if "5000" in link else "/" + link.split("/", 3)[3]
    assert _terminal(app, "hall-1").state == "waiting"

    browser = app.test_client()
    first = browser.get(path)
    assert first.status_code == 302 and first.headers["Location"] == "/"
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Max-Age=315360000" in cookie and "Secure" not in cookie  # plain http: no Secure flag
    row = _terminal(app, "hall-1")
    assert row.state == "enrolled" and row.enrol_token_hash is None
    value = browser.get_cookie(COOKIE).value
    assert value.startswith(f"{row.id}.") and value.split(".", 1)[1] not in (row.credential_hash or "")
    # The screen now receives its reads.
    assert browser.get("/events/reader?screen=home", buffered=False).status_code == 200

    # The link a second time, from another browser: refused in three languages, nothing changed.
    other = app.test_client()
    again = other.get(path)
    page = again.get_data(as_text=True)
    assert again.status_code == 410
    assert "已使用" in page and "已使用" in page and "has been used already" in page
    assert "鏈接" in page or "連結" in page
    assert other.get_cookie(COOKIE) is None
    assert _terminal(app, "hall-1").credential_hash == row.credential_hash

    listed = runner.invoke(cli, ["terminals", "list"])
    assert "hall-1" in listed.output and "enrolled" in listed.output and "大厅左侧" in listed.output


def test_an_expired_link_enrols_nobody(app):
    token = _add(app)
    _set(app, "hall-1", enrol_expires_at=utcnow() - timedelta(seconds=1))
    browser = app.test_client()
    response = browser.get(enrolment_path(token))
    assert response.status_code == 410 and browser.get_cookie(COOKIE) is None
    assert _terminal(app, "hall-1").state == "waiting"


def test_https_sets_a_secure_cookie(app):
    token = _add(app)
    response = app.test_client().get(enrolment_path(token), base_url="https://kiosk.local")
    assert "Secure" in response.headers["Set-Cookie"]


def test_start_pages_by_kind(app):
    for name, kind, where in (("wall", "display", "/k/legal/display"), ("desk-1", "counter", "/staff/login")):
        token = _add(app, name, kind)
        response = app.test_client().get(enrolment_path(token))
        assert response.headers["Location"] == where


def test_forged_expired_and_revoked_credentials_are_refused_and_logged(app, runner, caplog):
    browser = app.test_client()
    enrol_terminal(browser, app, "hall-1")
    good = browser.get_cookie(COOKIE).value
    ident = good.split(".")[0]
    for forged in ("garbage", f"{ident}.not-the-secret", f"999{ident}.{good.split('.')[1]}"):
        client = app.test_client()
        client.set_cookie(COOKIE, forged)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="kiosk.terminals"):
            refused = client.get("/events/reader?screen=home", headers={"Accept": "application/json"})
        assert refused.status_code == 403 and "已登记的终端" in refused.get_json()["error"]
        assert any("refused (forged)" in r.getMessage() for r in caplog.records)
    # A page for a human: the same message on the error page.
    client = app.test_client()
    client.set_cookie(COOKIE, "garbage")
    page = client.get("/events/reader?screen=home")
    assert page.status_code == 403 and "管理员" in page.get_data(as_text=True)

    # Expired.
    _set(app, "hall-1", credential_expires_at=utcnow() - timedelta(seconds=1))
    with caplog.at_level(logging.WARNING, logger="kiosk.terminals"):
        assert browser.get("/events/reader?screen=home").status_code == 403
    assert any("refused (expired)" in r.getMessage() for r in caplog.records)
    _set(app, "hall-1", credential_expires_at=utcnow() + timedelta(days=1))
    assert browser.get("/events/reader?screen=home", buffered=False).status_code == 200

    # Revoked: from the next request on.
    assert runner.invoke(cli, ["terminals", "revoke", "hall-1"]).exit_code == 0
    with caplog.at_level(logging.WARNING, logger="kiosk.terminals"):
        assert browser.get("/events/reader?screen=home").status_code == 403
    assert any("refused (revoked)" in r.getMessage() for r in caplog.records)
    assert 'data-terminal=""' in browser.get("/").get_data(as_text=True), "treated as not a terminal"


def test_anonymous_phone_and_staff_browsers_get_403_for_the_reader_stream(app, client, login):
    assert client.get("/events/reader?screen=parking.identify").status_code == 403
    login("admin")
    assert client.get("/events/reader?screen=parking.identify").status_code == 403
    phone = app.test_client()
    phone.get("/m/legal/", headers={"User-Agent": "Mozilla/5.0 (iPhone)"})
    assert phone.get("/events/reader?screen=courier_rest.checkin").status_code == 403


def test_last_seen_is_written_at_most_once_a_minute(app):
    browser = app.test_client()
    enrol_terminal(browser, app, "hall-1")
    browser.get("/")
    first = _terminal(app, "hall-1").last_seen_at
    assert first is not None
    browser.get("/")
    assert _terminal(app, "hall-1").last_seen_at == first
    _set(app, "hall-1", last_seen_at=first - timedelta(seconds=61))
    browser.get("/")
    assert _terminal(app, "hall-1").last_seen_at > first - timedelta(seconds=1)


def test_page_knows_its_terminal_kind(app):
    kiosk, wall = app.test_client(), app.test_client()
    enrol_terminal(kiosk, app, "hall-1", "kiosk")
    enrol_terminal(wall, app, "wall", "display")
    assert 'data-terminal="hall-1" data-terminal-kind="kiosk"' in kiosk.get("/").get_data(as_text=True)
    assert 'data-terminal-kind="display"' in wall.get("/").get_data(as_text=True)
    assert 'data-terminal="" data-terminal-kind=""' in app.test_client().get("/").get_data(as_text=True)


def test_admin_page_adds_renames_revokes(app, client, login):
    assert client.get("/admin/terminals").status_code in (302, 401, 403)
    login("staff")
    assert client.get("/admin/terminals").status_code in (302, 403)
    login("admin")
    page = client.get("/admin/terminals")
    assert page.status_code == 200
    token = csrf_of(client)
    # No CSRF token: refused, nothing added.
    assert client.post("/admin/terminals", data={"action": "add", "name": "hall-2"}).status_code == 400
    assert count_rows(app, Terminal) == 0
    added = client.post(
        "/admin/terminals", data={"action": "add", "name": "hall-2", "kind": "kiosk", "csrf_token": token}
    )
    html = added.get_data(as_text=True)
    assert added.status_code == 200
    [path] = re.findall(r"/terminal/enrol/[A-Za-z0-9_-]+", html)
    assert "/terminal/enrol/" not in client.get("/admin/terminals").get_data(as_text=True), "shown once"
    # Bad input: clear message, nothing changed.
    for bad in ({"name": "Hall 2"}, {"name": "hall-2"}, {"name": "x", "kind": "tv"}):
        refused = client.post("/admin/terminals", data={"action": "add", "kind": "kiosk", **bad, "csrf_token": token})
        assert refused.status_code == 400 and 'data-testid="terminal-error"' in refused.get_data(as_text=True)
    assert count_rows(app, Terminal) == 1
    hall = _terminal(app, "hall-2")
    browser = app.test_client()
    assert browser.get(path).status_code == 302
    renamed = client.post(
        "/admin/terminals",
        data={"action": "rename", "terminal": hall.id, "new_name": "hall-9", "csrf_token": token},
    )
    assert renamed.status_code == 302 and _terminal(app, "hall-9") is not None
    assert 'data-terminal="hall-9"' in browser.get("/").get_data(as_text=True), "renamed, still enrolled"
    client.post("/admin/terminals", data={"action": "revoke", "terminal": hall.id, "csrf_token": token})
    assert _terminal(app, "hall-9").state == "revoked"
    assert browser.get("/events/reader").status_code == 403
    listing = client.get("/admin/terminals").get_data(as_text=True)
    assert 'data-terminal="hall-9"' in listing
    with session_for(app) as session:
        actions = set(session.scalars(select(AuditLog.action).where(AuditLog.action.like("terminal.%"))))
    assert {"terminal.add", "terminal.rename", "terminal.revoke", "terminal.enrolled"} <= actions


def test_cli_refuses_bad_names_and_unknown_terminals(app, runner):
    bad = runner.invoke(cli, ["terminals", "add", "Hall_1"])
    assert bad.exit_code != 0 and "a-z" in bad.output
    assert runner.invoke(cli, ["terminals", "add", "hall-1"]).exit_code == 0
    taken = runner.invoke(cli, ["terminals", "add", "hall-1"])
    assert taken.exit_code != 0 and "already" in taken.output
    missing = runner.invoke(cli, ["terminals", "revoke", "nope"])
    assert missing.exit_code != 0 and "no terminal named" in missing.output
    assert count_rows(app, Terminal) == 1
    assert runner.invoke(cli, ["terminals", "rename", "hall-1", "hall-2"]).exit_code == 0
    assert _terminal(app, "hall-2") is not None


def test_the_hub_has_no_terminals(make_app, database_url):
    hub = make_app(database_url, ROLE="hub", PUBLIC_URL="https://hub.example.gov.cn")
    assert hub.test_client().get("/terminal/enrol/whatever").status_code == 404
    result = hub.test_cli_runner().invoke(cli, ["terminals", "list"])
    assert result.exit_code != 0 and "station node" in result.output


def test_the_demo_enrols_its_one_kiosk_terminal(app):
    """`kiosk demo` prints a link that makes the demo's browser the station's own terminal, kiosk-1."""
    from kiosk.demo import enrol_demo_terminal

    first = enrol_demo_terminal(app)
    second = enrol_demo_terminal(app)  # `kiosk demo` run again: a fresh link, still one terminal
    assert count_rows(app, Terminal) == 1
    browser = app.test_client()
    assert browser.get(first).status_code == 410, "the earlier link was replaced"
    assert browser.get(second).status_code == 302
    assert 'data-terminal="kiosk-1" data-terminal-kind="kiosk"' in browser.get("/").get_data(as_text=True)
    assert browser.get("/events/reader?screen=home", buffered=False).status_code == 200


def test_the_admin_page_links_to_the_terminals(app, client, login):
    login("admin")
    assert 'href="/admin/terminals"' in client.get("/admin/").get_data(as_text=True)
