"""Operators' checks for terminals: ``kiosk printer test`` per terminal, ``kiosk doctor``, the agent on the admin page.

A station with terminals hall-1 and hall-2 (each its own fake TCP printer)
and hall-3, whose printer is driven by a ``kiosk agent`` (run here in a
thread against a real local HTTP server, with a fake network printer of its own).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from kiosk.agent import PROTOCOL, Agent, TerminalAgent
from kiosk.cli import cli
from kiosk.device_config import TerminalDevices
from kiosk.models import AuditLog, DeviceReport, PrintJob
from kiosk.testing import Auth, LiveServer, csrf_of, enrol_terminal, terminal_credential
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter


@pytest.fixture
def printers():
    with FakeNetworkPrinter() as one, FakeNetworkPrinter() as two, FakeNetworkPrinter() as three:
        yield one, two, three


def _station(make_app, database_url, one, two, three=None, **extra):
    agent_printer = three.printer_config() if three is not None else {"type": "network", "host": "192.0.2.1"}
    return make_app(
        database_url,
        PUBLIC_URL="https://kiosk.shuibei.example",
        TERMINALS={
            "hall-1": {"kind": "kiosk", "printer": one.printer_config(retry_delay=0.05)},
            "hall-2": {"kind": "kiosk", "printer": two.printer_config(retry_delay=0.05)},
            "hall-3": {"kind": "kiosk", "agent": True, "printer": agent_printer, "readers": {"card": {"type": "test"}}},
        },
        **extra,
    )


def _run(app, *args):
    return app.test_cli_runner().invoke(cli, list(args))


def _jobs(app, printer: str) -> list[PrintJob]:
    with app.extensions["db"].Session() as session:
        return list(session.scalars(select(PrintJob).where(PrintJob.printer == printer)))


def _line(output: str, name: str) -> str:
    lines = [line for line in output.splitlines() if line[6:].startswith(name + ":")]
    assert lines, f"no line for {name!r} in:\n{output}"
    return lines[0]


def test_printer_test_prints_on_the_terminal_or_printer_named(make_app, database_url, printers):
    one, two, _three = printers
    app = _station(make_app, database_url, one, two)

    done = _run(app, "printer", "test", "--terminal", "hall-2", "--wait", "10")
    assert done.exit_code == 0, done.output
    assert "test page printed" in done.output and "hall-2" in done.output
    assert len(two.wait_for_jobs(1)) == 1 and one.jobs == []

    done = _run(app, "printer", "test", "--printer", "hall-1", "--wait", "10")
    assert done.exit_code == 0, done.output
    assert len(one.wait_for_jobs(1)) == 1 and len(two.jobs) == 1

    # No option: the station's own printer, as before (a preview printer here), not a terminal's.
    done = _run(app, "printer", "test", "--wait", "10")
    assert done.exit_code == 0, done.output
    assert [j.state for j in _jobs(app, "default")] == ["done"]
    assert len(one.jobs) == 1 and len(two.jobs) == 1


def test_printer_test_refuses_an_unknown_name_naming_the_valid_ones(make_app, database_url, printers):
    one, two, _three = printers
    app = _station(make_app, database_url, one, two)
    refused = _run(app, "printer", "test", "--terminal", "hall-9")
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    assert "no terminal 'hall-9'" in refused.output
    assert all(name in refused.output for name in ("hall-1", "hall-2", "hall-3"))
    refused = _run(app, "printer", "test", "--printer", "lobby")
    assert refused.exit_code != 0 and "no printer 'lobby'" in refused.output
    assert "default, hall-1, hall-2, hall-3" in refused.output
    both = _run(app, "printer", "test", "--printer", "hall-1", "--terminal", "hall-1")
    assert both.exit_code != 0 and "not both" in both.output
    with app.extensions["db"].Session() as session:
        assert session.scalars(select(PrintJob)).all() == []  # nothing was queued
    assert one.jobs == [] and two.jobs == []


def test_a_terminal_without_its_own_printer_tests_the_station_printer(make_app, database_url, printers):
    one, two, _three = printers
    app = _station(make_app, database_url, one, two)
    enrol_terminal(app.test_client(), app, "desk-1", kind="counter")
    done = _run(app, "printer", "test", "--terminal", "desk-1", "--wait", "10")
    assert done.exit_code == 0, done.output
    assert "no printer of its own" in done.output
    assert [j.state for j in _jobs(app, "default")] == ["done"] and one.jobs == [] and two.jobs == []


def _enrol_agent(app, url: str, name: str) -> str:
    made = _run(app, "agent", "token", name)
    assert made.exit_code == 0, made.output
    return _agent_enrol(url, made.stdout.strip().splitlines()[0])


def _agent_enrol(url: str, token: str) -> str:
    request = urllib.request.Request(
        url + "/agent/v1/enrol",
        data=json.dumps({"token": token}).encode(),
        headers={"Content-Type": "application/json", "Kiosk-Agent-Protocol": str(PROTOCOL)},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["credential"]


def test_printer_test_of_an_agent_terminal_is_queued_for_its_agent(make_app, database_url, printers, tmp_path):
    one, two, three = printers
    app = _station(make_app, database_url, one, two, three)
    terminal_credential(app, "hall-3")

    # No agent connected: the command says the page waits for the agent, and that it has not come.
    waiting = _run(app, "printer", "test", "--terminal", "hall-3", "--wait", "0.5")
    assert "queued for the kiosk agent of terminal hall-3" in waiting.output
    assert waiting.exit_code != 0 and "is `kiosk agent` running" in waiting.output
    assert "no kiosk agent is enrolled for hall-3 yet: kiosk agent token hall-3" in waiting.output
    assert [j.state for j in _jobs(app, "hall-3")] == ["queued"] and three.jobs == []

    with LiveServer(app) as server:
        credential = _enrol_agent(app, server.url, "hall-3")
        devices = TerminalDevices("hall-3", agent=True, printer=three.printer_config())
        agent = Agent(server.url, "hall-3", credential, devices, tmp_path / "journal", wait=1)
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        try:
            done = _run(app, "printer", "test", "--printer", "hall-3", "--wait", "20")
            assert done.exit_code == 0, done.output
            assert "test page printed by the kiosk agent of terminal hall-3" in done.output
            # The page left waiting earlier comes out too (within its two minutes): two pages, each once.
            assert len(three.wait_for_jobs(2)) == 2
        finally:
            agent.stop.set()
            thread.join(10)
    assert {j.state for j in _jobs(app, "hall-3")} == {"done"}
    assert one.jobs == [] and two.jobs == []


def test_doctor_lists_every_terminals_devices_and_warns_about_what_serves_no_screen(make_app, database_url, printers):
    one, two, _three = printers
    app = _station(make_app, database_url, one, two, DEVICES={"readers": {"card": {"type": "test"}}})
    enrol_terminal(app.test_client(), app, "hall-1")
    enrol_terminal(app.test_client(), app, "lobby-2")  # the screen meant as hall-2, enrolled under another name
    terminal_credential(app, "hall-3")

    result = _run(app, "doctor")
    output = result.output
    assert "Traceback" not in output
    # Every printer: the station's, each terminal's (asked now), the agent's (what its agent reported: nothing).
    assert _line(output, "printer").startswith("[ok ]")
    assert _line(output, "printer of hall-1").startswith("[ok ]") and str(one.port) in output
    assert _line(output, "printer of hall-2").startswith("[ok ]") and str(two.port) in output
    agent_printer = _line(output, "printer of hall-3")
    assert agent_printer.startswith("[!  ]") and "kiosk agent of hall-3" in agent_printer
    # Every reader: the station's own and the agent terminal's.
    assert "reader card" in output and "reader hall-3/card" in output

    assert _line(output, "terminals.hall-1").startswith("[ok ]")
    hall2 = _line(output, "terminals.hall-2")
    assert hall2.startswith("[!  ]") and "names no terminal of this station" in hall2
    assert "kiosk terminals add hall-2 --kind kiosk" in hall2 and "kiosk terminals rename lobby-2 hall-2" in hall2
    agent = _line(output, "agent of hall-3")
    assert agent.startswith("[!  ]") and "kiosk agent token hall-3" in agent
    readers = _line(output, "readers")
    assert (
        readers.startswith("[!  ]") and "kiosk-1" in readers and "kiosk terminals add kiosk-1 --kind kiosk" in readers
    )
    # Warnings only (the station serves its other screens); the station's own reader is the server's to
    # open: with no report from a server, a device that is there passes ("the server starts it").
    assert [line for line in output.splitlines() if line.startswith("[FIX]")] == []
    assert _line(output, "reader card").startswith("[ok ]") and "the server starts it" in _line(output, "reader card")

    # The operator follows the advice: the rename, the kiosk-1 screen, the agent enrolled, then silent.
    assert _run(app, "terminals", "rename", "lobby-2", "hall-2").exit_code == 0
    enrol_terminal(app.test_client(), app, "kiosk-1")
    with LiveServer(app) as server:
        credential = _enrol_agent(app, server.url, "hall-3")
        never = _line(_run(app, "doctor").output, "agent of hall-3")
        assert never.startswith("[!  ]") and "never reported" in never
        states = {"printer": {"kind": "printer", "state": "ok", "detail": "ready"}}
        request = urllib.request.Request(
            server.url + "/agent/v1/status",
            data=json.dumps({"devices": states, "version": "9.9"}).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {credential}",
                "Kiosk-Agent-Protocol": str(PROTOCOL),
                "Kiosk-Agent-Session": f"{int(datetime.now(UTC).timestamp() * 1000):013d}-0123456789abcdef",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
    result = _run(app, "doctor")
    output = result.output
    for name in ("terminals.hall-2", "agent of hall-3", "printer of hall-3", "readers"):
        assert _line(output, name).startswith("[ok ]"), output

    # The agent stops reporting: a warning saying since when.
    with app.extensions["db"].WriteSession() as session:
        old = datetime.now(UTC) - timedelta(minutes=10)
        session.execute(update(DeviceReport).values(updated_at=old))
        session.execute(update(TerminalAgent).values(last_seen_at=old))
        session.commit()
    offline = _line(_run(app, "doctor").output, "agent of hall-3")
    assert offline.startswith("[!  ]") and "offline" in offline and "last reported" in offline


def test_doctor_on_a_revoked_terminal_names_the_rename_that_frees_its_name(make_app, database_url, printers):
    one, two, _three = printers
    app = _station(make_app, database_url, one, two)
    enrol_terminal(app.test_client(), app, "hall-1")
    assert _run(app, "terminals", "revoke", "hall-1").exit_code == 0
    line = _line(_run(app, "doctor").output, "terminals.hall-1")
    assert line.startswith("[!  ]") and "revoked" in line
    assert "kiosk terminals rename hall-1 hall-1-old" in line and "kiosk terminals add hall-1 --kind kiosk" in line
    # Enrolled as a kiosk, called a display in the station file: it behaves as a kiosk, and the doctor says so.
    enrol_terminal(app.test_client(), app, "hall-2")
    shown = make_app(database_url, TERMINALS={"hall-2": {"kind": "display", "printer": two.printer_config()}})
    line = _line(_run(shown, "doctor").output, "terminals.hall-2")
    assert line.startswith("[!  ]") and "kind = 'display'" in line and "enrolled as a kiosk" in line
    # The hub drives no devices and has no terminals: none of these checks.
    hub = make_app(database_url, ROLE="hub", STATION={"code": "district"})
    output = _run(hub, "doctor").output
    assert "terminals." not in output and "agent of" not in output and "Traceback" not in output


def test_admin_page_shows_the_agents_state_and_makes_a_one_time_agent_token(make_app, database_url, printers):
    one, two, three = printers
    app = _station(make_app, database_url, one, two, three)
    terminal_credential(app, "hall-3")
    terminal_credential(app, "hall-1")
    admin = app.test_client()
    Auth(app, admin).login("admin")
    page = admin.get("/admin/terminals").get_data(as_text=True)
    assert page.count('data-testid="agent-state"') == 1  # hall-3 only: the one with agent = true
    assert 'data-state="not enrolled"' in page

    with app.extensions["db"].Session() as session:
        hall3 = session.execute(select(TerminalAgent)).first()
        assert hall3 is None
        from kiosk.terminals import Terminal

        ident = session.scalar(select(Terminal.id).where(Terminal.name == "hall-3"))

    # Without the CSRF token: refused, no token made.
    refused = admin.post("/admin/terminals", data={"action": "agent_token", "terminal": str(ident)})
    assert refused.status_code in (400, 403)
    with app.extensions["db"].Session() as session:
        assert session.scalars(select(TerminalAgent)).all() == []

    made = admin.post(
        "/admin/terminals", data={"csrf_token": csrf_of(admin), "action": "agent_token", "terminal": str(ident)}
    )
    assert made.status_code == 200
    html = made.get_data(as_text=True)
    assert 'data-testid="agent-token"' in html
    command = html.split('data-testid="agent-command">', 1)[1].split("</code>", 1)[0]
    assert command.startswith("kiosk agent enrol http://localhost ")
    token = command.rsplit(" ", 1)[1]
    # Shown once: the page shows no token afterwards.
    assert token not in admin.get("/admin/terminals").get_data(as_text=True)
    with app.extensions["db"].Session() as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "agent.token")).all()
    assert [(a.detail["terminal"], a.detail["via"]) for a in audit] == [("hall-3", "admin")]

    # The token is the real thing: an agent enrols with it once, reports, and the page says so.
    with LiveServer(app) as server:
        credential = _agent_enrol(server.url, token)
        with pytest.raises(urllib.error.HTTPError):
            _agent_enrol(server.url, token)
        assert credential.startswith("agent-")
        page = admin.get("/admin/terminals").get_data(as_text=True)
        assert 'data-state="never reported"' in page
        request = urllib.request.Request(
            server.url + "/agent/v1/status",
            data=json.dumps({"devices": {"printer": {"state": "warning", "detail": "paper low"}}}).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {credential}",
                "Kiosk-Agent-Protocol": str(PROTOCOL),
                "Kiosk-Agent-Session": f"{int(datetime.now(UTC).timestamp() * 1000):013d}-0123456789abcdef",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
    page = admin.get("/admin/terminals").get_data(as_text=True)
    assert 'data-state="online"' in page and "paper low" in page

    # Not for a terminal of no station, nor for staff who are not admins.
    bad = admin.post("/admin/terminals", data={"csrf_token": csrf_of(admin), "action": "agent_token", "terminal": "99"})
    assert bad.status_code == 400
    staff = app.test_client()
    Auth(app, staff).login("staff")
    assert staff.post(
        "/admin/terminals", data={"csrf_token": csrf_of(staff), "action": "agent_token", "terminal": str(ident)}
    ).status_code in (302, 403)
    with app.extensions["db"].Session() as session:
        assert len(session.scalars(select(AuditLog).where(AuditLog.action == "agent.token")).all()) == 1


def test_doctor_beside_the_server_reads_the_readers_state_the_server_reported(make_app, database_url):
    """The server holds the readers: the doctor, another process, shows the server's report, not "not started"."""
    from kiosk.db import utcnow

    app = make_app(
        database_url, PUBLIC_URL="https://kiosk.shuibei.example", DEVICES={"readers": {"card": {"type": "test"}}}
    )
    unreported = _line(_run(app, "doctor").output, "reader card")
    assert unreported.startswith("[ok ]") and "not started (the server starts it)" in unreported

    sid = app.extensions["kiosk_station_id"]
    with app.extensions["db"].Session() as session:
        session.add(
            DeviceReport(
                station_id=sid, device="card", kind="reader", state="ok", detail="listening", updated_at=utcnow()
            )
        )
        session.commit()
    reported = _line(_run(app, "doctor").output, "reader card")
    assert reported.startswith("[ok ]") and "as the server reported it" in reported

    with app.extensions["db"].Session() as session:
        session.execute(
            update(DeviceReport).where(DeviceReport.device == "card").values(state="error", detail="unplugged")
        )
        session.commit()
    faulty = _line(_run(app, "doctor").output, "reader card")
    assert faulty.startswith("[FIX]") and "unplugged" in faulty
