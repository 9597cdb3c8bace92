"""``kiosk agent``: a terminal whose printer and card reader hang off its own PC, over a real local connection.

The station node is a LiveServer; the agent runs as a subprocess (``python -m
kiosk.cli agent``) with a copy of the station file, a fake serial receipt
printer and a serial card reader on pseudo-terminals, as on a kiosk PC.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import tty
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zxingcpp
from flask import abort, request
from sqlalchemy import select, update

from kiosk import hookimpl
from kiosk.agent import PROTOCOL, Agent, AgentRefused, StationUnreachable, TerminalAgent, new_token
from kiosk.device_config import TerminalDevices
from kiosk.models import DeviceReport, PrintJob
from kiosk.testing import EventStream, LiveServer, terminal_credential, wait_for
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.testing.fake_printer import FakeSerialPrinter

ROOT = Path(__file__).resolve().parent.parent


def _tapper():
    mod = types.ModuleType("kiosk_tapper_agent_test")

    def handle_reader_event(event, screen, station):
        if screen == "tapper.checkin" and event.kind == "card":
            return {"fill": {"card": event.value}}
        return None

    mod.handle_reader_event = hookimpl(handle_reader_event)
    return mod


class Tty:
    """A serial card reader's port: the agent opens ``device``; the test writes what the card says."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.device = os.ttyname(self.slave)

    def tap(self, uid: str) -> None:
        os.write(self.master, uid.encode() + b"\r\n")

    def close(self):
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def kiosk_pc(tmp_path):
    """The terminal PC's devices: a serial receipt printer and a serial card reader."""
    printer = FakeSerialPrinter().start()
    reader = Tty()
    yield printer, reader
    printer.close()
    reader.close()


def _tables(printer, reader) -> dict:
    return {
        "hall-1": {"kind": "kiosk"},
        "hall-3": {
            "kind": "kiosk",
            "agent": True,
            "printer": printer.printer_config(profile="58mm", status_timeout=2.0),
            "readers": {"card": {"type": "serial", "device": reader.device, "framing": "crlf", "kind": "card"}},
        },
    }


def _station_file(path: Path, tables: dict) -> Path:
    lines = []
    for name, table in tables.items():
        lines.append(f"[terminals.{name}]")
        for key, value in table.items():
            if not isinstance(value, dict):
                lines.append(f"{key} = {json.dumps(value)}")
        for sub in ("printer",):
            if sub in table:
                lines.append(f"[terminals.{name}.{sub}]")
                lines += [f"{k} = {json.dumps(v)}" for k, v in table[sub].items()]
        for rname, rcfg in table.get("readers", {}).items():
            lines.append(f"[terminals.{name}.readers.{rname}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in rcfg.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Station:
    """A station node (LiveServer) with terminals hall-1 and hall-3 (hall-3's devices are on its agent's PC)."""

    def __init__(self, make_app, database_url, tmp_path, printer, reader, hold_done=None):
        self.tables = _tables(printer, reader)
        self.app = make_app(database_url, EXTRA_PLUGINS={"tapper": _tapper()}, TERMINALS=self.tables)
        if hold_done is not None:
            self.app.before_request(hold_done)
        self.tmp = tmp_path
        self.station_file = _station_file(tmp_path / "station.toml", self.tables)
        self.hall1 = terminal_credential(self.app, "hall-1")
        self.hall3 = terminal_credential(self.app, "hall-3")  # the kiosk screen of hall-3, on the same PC
        self.server = LiveServer(self.app)
        self.url = self.server.url
        self.credential_file = tmp_path / "agent" / "agent.json"
        self.journal = tmp_path / "agent" / "hall-3.journal"
        self.logs: list[Path] = []

    def token(self, name: str = "hall-3") -> str:
        with self.app.app_context():
            with self.app.extensions["db"].WriteSession() as session:
                token = new_token(session, self.app.extensions["kiosk_station_id"], name)
                session.commit()
        return token

    def kiosk(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "kiosk.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=self.tmp
        )

    def enrol(self) -> None:
        done = self.kiosk("agent", "enrol", self.url, self.token(), "--credential-file", str(self.credential_file))
        assert done.returncode == 0, done.stderr

    def start_agent(self, *extra: str) -> subprocess.Popen:
        log = self.tmp / f"agent-{len(self.logs)}.log"
        self.logs.append(log)
        args = ["--credential-file", str(self.credential_file), "--station-file", str(self.station_file)]
        args += ["--journal", str(self.journal), *extra]
        return subprocess.Popen(
            [sys.executable, "-m", "kiosk.cli", "agent", *args],
            stdout=open(log, "w"),  # noqa: SIM115 - the child holds it
            stderr=subprocess.STDOUT,
            cwd=self.tmp,
        )

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in self.logs if p.exists())

    def submit(self, count: int) -> list[str]:
        from kiosk import printing

        ids = []
        with self.app.test_request_context("/"):
            for i in range(count):
                receipt = Receipt().title(f"第 {i} 号").qr(f"agent-job-{i}")
                ids.append(printing.submit(receipt, "test.slip", terminal="hall-3")["job_id"])
        return ids

    def rows(self, ids) -> dict[str, PrintJob]:
        with self.app.extensions["db"].Session() as session:
            rows = session.scalars(select(PrintJob).where(PrintJob.id.in_(ids))).all()
            for row in rows:
                session.expunge(row)
        return {row.id: row for row in rows}

    def wait_done(self, ids, timeout: float = 60) -> dict[str, PrintJob]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows(ids)
            if all(r.state == "done" for r in rows.values()) or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)

    def close(self) -> None:
        self.server.stop()


@pytest.fixture
def stop_agents():
    agents: list[subprocess.Popen] = []
    yield agents
    for agent in agents:
        if agent.poll() is None:
            agent.kill()
            agent.wait(10)


def _labels(printer) -> list[str]:
    out = []
    for job in printer.completed_jobs:
        out += [r.text for r in zxingcpp.read_barcodes(job.parse().raster().convert("L"))]
    return out


def test_agent_prints_its_terminals_jobs_and_forwards_its_card_taps(
    make_app, database_url, tmp_path, kiosk_pc, stop_agents
):
    printer, reader = kiosk_pc
    station = Station(make_app, database_url, tmp_path, printer, reader)
    try:
        station.enrol()
        mode = stat.S_IMODE(os.stat(station.credential_file).st_mode)
        assert mode == 0o600
        ids = station.submit(2)
        agent = station.start_agent()
        stop_agents.append(agent)
        rows = station.wait_done(ids)
        assert [rows[i].state for i in ids] == ["done", "done"], station.log_text()
        assert sorted(_labels(printer)) == ["agent-job-0", "agent-job-1"]
        # While it runs, a new job reaches it through the long poll.
        [later] = station.submit(1)
        assert station.wait_done([later])[later].state == "done", station.log_text()

        # A card tapped at hall-3's reader reaches hall-3's page, and not hall-1's.
        path = "/events/reader?screen=tapper.checkin"
        with (
            EventStream(station.url, path, headers={"Cookie": f"kiosk_terminal={station.hall3}"}) as page3,
            EventStream(station.url, path, headers={"Cookie": f"kiosk_terminal={station.hall1}"}) as page1,
        ):
            got: list = []
            deadline = time.monotonic() + 20
            while not got and time.monotonic() < deadline:
                reader.tap("E004010012345678")  # until the agent's reader has opened the port
                got = page3.collect(1, timeout=1)
            missed = page1.collect(1, timeout=1)
        assert [name for name, _ in got] == ["reader"], station.log_text()
        assert "card" in got[0][1]["fill"]
        assert missed == []

        # Its device states show on /healthz (and are reported for the hub's dashboard).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            devices = station.app.test_client().get("/healthz").get_json()["devices"]
            if devices.get("hall-3/card", {}).get("state") == "ok":
                break
            time.sleep(0.2)
        assert devices["hall-3/card"]["state"] == "ok", devices
        assert devices["hall-3/agent"]["state"] == "ok"
        # What the printer said after the last job ("unknown" if its status reply came late on a busy machine).
        assert devices["hall-3/printer"]["state"] in ("ok", "warning", "unknown")
        assert devices["hall-3/printer"]["detail"] != "not used yet"
    finally:
        station.close()


def test_killing_the_agent_mid_job_and_restarting_it_prints_every_job_once(
    make_app, database_url, tmp_path, kiosk_pc, stop_agents
):
    """SIGKILL after the printer took job 2 but before the station heard of it: the restart does not print it again."""
    printer, reader = kiosk_pc
    gate = {"armed": True, "dones": 0, "held": threading.Event(), "release": threading.Event()}

    def hold_second_done():
        if gate["armed"] and request.path.startswith("/agent/v1/jobs/") and request.path.endswith("/done"):
            gate["dones"] += 1
            if gate["dones"] == 2:
                gate["held"].set()
                gate["release"].wait(30)
                abort(503)

    station = Station(make_app, database_url, tmp_path, printer, reader, hold_done=hold_second_done)
    try:
        station.enrol()
        ids = station.submit(5)
        first = station.start_agent()
        stop_agents.append(first)
        assert gate["held"].wait(60), station.log_text()
        printed_before_kill = len(printer.wait_for_jobs(2))
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        gate["armed"] = False
        gate["release"].set()
        assert printed_before_kill == 2
        rows = station.rows(ids)
        assert [rows[i].state for i in ids[:2]] == ["done", "printing"]  # job 2 printed, not acknowledged

        second = station.start_agent()
        stop_agents.append(second)
        rows = station.wait_done(ids)
        assert [rows[i].state for i in ids] == ["done"] * 5, station.log_text()
        time.sleep(0.5)  # anything printed twice would have arrived by now
        labels = _labels(printer)
        assert sorted(labels) == [f"agent-job-{i}" for i in range(5)], labels
        assert len(printer.completed_jobs) == 5
        assert "printed before the agent restarted" in rows[ids[1]].note
        assert station.journal.read_text().split() == ids
    finally:
        station.close()


def _raw(url: str, method: str, path: str, headers: dict, body: dict | None = None) -> tuple[int, dict]:
    host, _, port = url.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={**headers, "Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def _headers(credential: str, terminal: str | None = None, protocol: int = PROTOCOL) -> dict:
    out = {
        "Authorization": f"Bearer {credential}",
        "Kiosk-Agent-Protocol": str(protocol),
        "Kiosk-Agent-Session": f"{int(time.time() * 1000):013d}-0123456789abcdef",
    }
    if terminal:
        out["Kiosk-Agent-Terminal"] = terminal
    return out


def test_an_agent_speaking_an_older_protocol_is_refused_naming_the_version_to_install(
    make_app, database_url, tmp_path, kiosk_pc, caplog
):
    from kiosk.agent import package_version

    printer, reader = kiosk_pc
    station = Station(make_app, database_url, tmp_path, printer, reader)
    try:
        station.enrol()
        credential = json.loads(station.credential_file.read_text())["credential"]
        [job] = station.submit(1)
        with caplog.at_level("WARNING", logger="kiosk.agent"):
            code, body = _raw(station.url, "GET", "/agent/v1/jobs?wait=0", _headers(credential, protocol=PROTOCOL - 1))
        assert code == 400 and body["protocol"] == {"min": 1, "max": PROTOCOL}
        assert f"install station-kiosk {package_version()}" in body["error"] and "older" in body["error"]
        assert "older than this station node accepts" in caplog.text

        # The agent itself stops with that message before opening any device.
        old = Agent(
            station.url, "hall-3", credential, TerminalDevices("hall-3", agent=True), tmp_path / "j", protocol=0
        )
        with pytest.raises(AgentRefused, match="install station-kiosk"):
            old.run()
        assert station.rows([job])[job].state == "queued"  # nothing was taken
        assert printer.jobs == []
    finally:
        station.close()


def test_only_the_terminals_own_credential_takes_its_jobs_and_posts_its_reads(
    make_app, database_url, tmp_path, kiosk_pc, caplog
):
    printer, reader = kiosk_pc
    station = Station(make_app, database_url, tmp_path, printer, reader)
    try:
        station.enrol()
        credential = json.loads(station.credential_file.read_text())["credential"]
        [job] = station.submit(1)
        url = station.url
        read = {"source": "card", "kind": "card", "value": "04A1", "at": datetime.now(UTC).isoformat()}
        with caplog.at_level("WARNING", logger="kiosk.agent"):
            # No credential, a forged one, another terminal's screen credential asking for hall-3.
            assert _raw(url, "GET", "/agent/v1/jobs?wait=0", {"Kiosk-Agent-Protocol": "1"})[0] == 403
            forged = credential.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            assert _raw(url, "GET", "/agent/v1/jobs?wait=0", _headers(forged))[0] == 403
            code, body = _raw(url, "GET", "/agent/v1/jobs?wait=0", _headers(station.hall1, "hall-3"))
            assert code == 403 and "hall-1" in body["error"]
            assert _raw(url, "POST", "/agent/v1/reads", _headers(station.hall1, "hall-3"), read)[0] == 403
            # hall-1's own credential gets hall-1's jobs (none), and may not settle hall-3's.
            assert _raw(url, "GET", "/agent/v1/jobs?wait=0", _headers(station.hall1)) == (200, {"job": None})
            code, body = _raw(url, "POST", f"/agent/v1/jobs/{job}/done", _headers(station.hall1), {})
            assert code == 403 and body["job"] == "elsewhere"
        assert caplog.text.count("refused (403)") >= 5
        row = station.rows([job])[job]
        assert (row.state, row.attempts, row.lease_owner) == ("queued", 0, None)

        # The agent's own credential takes it; a revoked terminal's agent is refused from then on.
        code, body = _raw(url, "GET", "/agent/v1/jobs?wait=0", _headers(credential))
        assert code == 200 and body["job"]["id"] == job
        with station.app.app_context():
            from kiosk.terminals import Terminal

            with station.app.extensions["db"].WriteSession() as session:
                session.execute(update(Terminal).where(Terminal.name == "hall-3").values(revoked_at=datetime.now(UTC)))
                session.commit()
        code, body = _raw(url, "POST", f"/agent/v1/jobs/{job}/done", _headers(credential), {})
        assert code == 403 and "revoked" in body["error"]
        assert station.rows([job])[job].state == "printing"
    finally:
        station.close()


def test_a_job_the_agents_printer_did_not_confirm_is_sent_not_printed(make_app, database_url, tmp_path, kiosk_pc):
    # The agent's printer took the bytes but never answered the status question after them: staff
    # must see "sent, not confirmed", as for the station's own printers, not "printed".
    printer, reader = kiosk_pc
    station = Station(make_app, database_url, tmp_path, printer, reader)
    try:
        station.enrol()
        credential = json.loads(station.credential_file.read_text())["credential"]
        silent, confirmed, old_agent = station.submit(3)
        outcomes = {silent: {"confirmed": False, "queried": True}, confirmed: {"confirmed": True}, old_agent: {}}
        for _ in outcomes:
            code, body = _raw(station.url, "GET", "/agent/v1/jobs?wait=0", _headers(credential))
            assert code == 200, body
            job = body["job"]["id"]
            assert _raw(station.url, "POST", f"/agent/v1/jobs/{job}/done", _headers(credential), outcomes[job]) == (
                200,
                {"state": "done" if job != silent else "sent"},
            )
        rows = station.rows(outcomes)
        assert (rows[silent].state, rows[silent].error_kind) == ("sent", "unconfirmed")
        assert rows[confirmed].state == rows[old_agent].state == "done"
        # Saying it again changes nothing.
        again = _raw(station.url, "POST", f"/agent/v1/jobs/{silent}/done", _headers(credential), {"confirmed": True})
        assert again == (200, {"state": "sent"})
    finally:
        station.close()


def test_an_enrolment_token_never_reads_as_an_option(app, monkeypatch):
    # token_urlsafe's alphabet holds "-": `kiosk agent enrol URL -Xy...` took the token for an
    # option about once in 64 runs, for operators and for the test below.
    import secrets

    from kiosk.terminals import add as add_terminal

    monkeypatch.setattr(secrets, "token_urlsafe", lambda n=None: "-" + "x" * 31)
    with app.extensions["db"].WriteSession() as session:
        add_terminal(session, app.extensions["kiosk_station_id"], "hall-9", "kiosk")
        token = new_token(session, app.extensions["kiosk_station_id"], "hall-9")
        session.commit()
    assert not token.startswith("-") and token.endswith("x" * 31)


def test_enrolment_tokens_work_once_and_expire(make_app, database_url, tmp_path, kiosk_pc):
    printer, reader = kiosk_pc
    station = Station(make_app, database_url, tmp_path, printer, reader)
    try:
        # The operator's command on the station node prints the token (and says what to run on the PC).
        from kiosk.cli import cli

        runner = station.app.test_cli_runner()
        made = runner.invoke(cli, ["agent", "token", "hall-3"])
        assert made.exit_code == 0, made.output
        token = made.stdout.strip().splitlines()[0]
        unknown = runner.invoke(cli, ["agent", "token", "hall-8"])
        assert unknown.exit_code != 0 and "kiosk terminals add hall-8" in unknown.output
        first = station.kiosk("agent", "enrol", station.url, token, "--credential-file", str(tmp_path / "a.json"))
        assert first.returncode == 0, first.stderr
        again = station.kiosk("agent", "enrol", station.url, token, "--credential-file", str(tmp_path / "b.json"))
        assert again.returncode != 0 and "unknown, used or expired" in again.stderr
        assert not (tmp_path / "b.json").exists()

        late = station.token()
        with station.app.extensions["db"].WriteSession() as session:
            session.execute(update(TerminalAgent).values(token_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
            session.commit()
        expired = station.kiosk("agent", "enrol", station.url, late, "--credential-file", str(tmp_path / "c.json"))
        assert expired.returncode != 0 and "unknown, used or expired" in expired.stderr
        # The credential enrolled first still works (a new token does not revoke it until it is used).
        credential = json.loads((tmp_path / "a.json").read_text())["credential"]
        assert _raw(station.url, "GET", "/agent/v1/hello", _headers(credential))[0] == 200
        # A token for a terminal the station does not have: a clear message.
        refused = station.kiosk("agent", "enrol", station.url, "x" * 32, "--credential-file", str(tmp_path / "d.json"))
        assert refused.returncode != 0 and "kiosk agent token" in refused.stderr
    finally:
        station.close()


def test_bad_agent_input_is_refused_and_changes_nothing(make_app, database_url, tmp_path, kiosk_pc):
    printer, reader = kiosk_pc
    station = Station(make_app, database_url, tmp_path, printer, reader)
    try:
        station.enrol()
        credential = json.loads(station.credential_file.read_text())["credential"]
        h = _headers(credential)
        url = station.url

        def read(**changes):
            body = {"source": "card", "kind": "card", "value": "04A1", "at": datetime.now(UTC).isoformat(), **changes}
            return _raw(url, "POST", "/agent/v1/reads", h, body)

        assert read(kind="smell")[0] == 400
        assert read(at="yesterday")[0] == 400
        assert read(at="2026-12-06T10:00:00")[0] == 400  # no offset
        assert read(source="../card")[0] == 400
        assert read(value="9" * 5000)[0] == 400
        # A tap that took minutes to arrive is dropped: the resident it belonged to may have left.
        old = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        assert read(at=old) == (200, {"delivered": 0, "dropped": "too old"})
        assert _raw(url, "POST", "/agent/v1/status", h, {"devices": {"card": {"state": "DROP TABLE"}}})[0] == 400
        assert _raw(url, "POST", "/agent/v1/status", h, {"devices": "all fine"})[0] == 400
        assert _raw(url, "POST", "/agent/v1/jobs/" + "0" * 32 + "/done", h, {})[0] == 404
        assert _raw(url, "POST", "/agent/v1/jobs/%00/done", h, {})[0] == 404
        assert _raw(url, "GET", "/agent/v1/jobs?wait=soon", h)[0] == 400
        bad_session = {**h, "Kiosk-Agent-Session": "me"}
        assert _raw(url, "GET", "/agent/v1/jobs?wait=0", bad_session)[0] == 400
        with station.app.extensions["db"].Session() as session:
            assert session.scalars(select(DeviceReport)).all() == []
    finally:
        station.close()


def test_a_newer_agent_run_takes_over_and_the_older_one_is_told_to_stop(make_app, database_url, tmp_path, kiosk_pc):
    printer, reader = kiosk_pc
    station = Station(make_app, database_url, tmp_path, printer, reader)
    try:
        station.enrol()
        credential = json.loads(station.credential_file.read_text())["credential"]
        older = {**_headers(credential), "Kiosk-Agent-Session": f"{int(time.time() * 1000) - 5000:013d}-aaaaaaaa"}
        newer = {**_headers(credential), "Kiosk-Agent-Session": f"{int(time.time() * 1000):013d}-bbbbbbbb"}
        assert _raw(station.url, "GET", "/agent/v1/jobs?wait=0", older)[0] == 200
        assert _raw(station.url, "GET", "/agent/v1/jobs?wait=0", newer)[0] == 200
        code, body = _raw(station.url, "GET", "/agent/v1/jobs?wait=0", older)
        assert code == 409 and body["superseded"] is True and "one agent per terminal" in body["error"]
    finally:
        station.close()


def test_the_agents_devices_show_on_healthz_and_go_offline_when_it_stops_reporting(
    make_app, database_url, tmp_path, kiosk_pc
):
    from kiosk import device_reports

    printer, reader = kiosk_pc
    station = Station(make_app, database_url, tmp_path, printer, reader)
    try:
        client = station.app.test_client()
        devices = client.get("/healthz").get_json()["devices"]
        assert devices["hall-3/agent"]["state"] == "offline" and "no kiosk agent" in devices["hall-3/agent"]["detail"]
        device_reports.report(station.app)  # the station's own report shows the missing agent to the dashboards
        with station.app.extensions["db"].Session() as session:
            written = {r.device: r.state for r in session.scalars(select(DeviceReport))}
        assert written["hall-3/agent"] == "offline"

        station.enrol()
        credential = json.loads(station.credential_file.read_text())["credential"]
        states = {"printer": {"kind": "printer", "state": "warning", "detail": "paper low"}}
        code, _body = _raw(station.url, "POST", "/agent/v1/status", _headers(credential), {"devices": states})
        assert code == 200
        devices = client.get("/healthz").get_json()["devices"]
        assert devices["hall-3/printer"]["state"] == "warning" and devices["hall-3/printer"]["detail"] == "paper low"
        assert devices["hall-3/agent"]["state"] == "ok"

        # The agent stops reporting: its devices show offline, and the station's report does not hide it.
        with station.app.extensions["db"].WriteSession() as session:
            session.execute(update(DeviceReport).values(updated_at=datetime.now(UTC) - timedelta(minutes=5)))
            session.commit()
        devices = client.get("/healthz").get_json()["devices"]
        assert devices["hall-3/printer"]["state"] == "offline" and devices["hall-3/agent"]["state"] == "offline"
        device_reports.report(station.app)
        with station.app.extensions["db"].Session() as session:
            row = session.scalar(select(DeviceReport).where(DeviceReport.device == "hall-3/printer"))
        assert datetime.now(UTC) - row.updated_at > timedelta(minutes=4)  # still old: the dashboards flag it
    finally:
        station.close()


def test_a_job_no_agent_takes_in_time_is_left_for_staff_not_printed_hours_later(
    make_app, database_url, tmp_path, kiosk_pc
):
    from kiosk import printing
    from kiosk.db import utcnow

    printer, reader = kiosk_pc
    station = Station(make_app, database_url, tmp_path, printer, reader)
    try:
        [old, fresh] = station.submit(2)
        with station.app.extensions["db"].WriteSession() as session:
            session.execute(
                update(PrintJob).where(PrintJob.id == old).values(updated_at=utcnow() - timedelta(minutes=3))
            )
            session.commit()
        assert printing.expire_agent_jobs(station.app) == 1
        rows = station.rows([old, fresh])
        assert rows[old].state == "failed" and "kiosk agent did not print it in time" in rows[old].error
        assert rows[fresh].state == "queued"

        # Staff send it back to hall-3's printer: it has its full time again.
        with station.app.test_request_context("/"):
            assert printing.reprint(old, station.app.extensions["kiosk_station_id"], "hall-3")
        assert printing.expire_agent_jobs(station.app) == 0
        assert station.rows([old])[old].state == "queued"

        # An agent back after hours gets nothing of what residents gave up on.
        station.enrol()
        credential = json.loads(station.credential_file.read_text())["credential"]
        with station.app.extensions["db"].WriteSession() as session:
            session.execute(update(PrintJob).values(updated_at=utcnow() - timedelta(hours=3)))
            session.commit()
        assert _raw(station.url, "GET", "/agent/v1/jobs?wait=0", _headers(credential)) == (200, {"job": None})
        assert {r.state for r in station.rows([old, fresh]).values()} == {"failed"}
        assert printer.jobs == []
    finally:
        station.close()


def test_the_agents_device_states_reach_the_district_hubs_dashboard(
    make_app, database_url, kiosk_database_template, tmp_path, kiosk_pc
):
    import shutil

    from kiosk.sync.local import enrol_local, transfer
    from kiosk.testing import Auth

    printer, reader = kiosk_pc
    path = tmp_path / "station.db"
    shutil.copy(kiosk_database_template, path)
    station = Station(make_app, f"sqlite:///{path}", tmp_path, printer, reader)
    hub = make_app(database_url, ROLE="hub", STATION={"code": "district", "name": "罗湖区", "kind": "party_service"})
    try:
        enrol_local(station.app, hub)
        station.enrol()
        credential = json.loads(station.credential_file.read_text())["credential"]
        states = {"printer": {"kind": "printer", "state": "error", "detail": "paper out"}}
        assert _raw(station.url, "POST", "/agent/v1/status", _headers(credential), {"devices": states})[0] == 200
        transfer(station.app, hub)
        client = hub.test_client()
        Auth(hub, client).login("district")
        summary = client.get("/admin/district/summary.json").get_json()
        card = next(s for s in summary["stations"] if s["code"] == station.app.config["STATION"]["code"])
        devices = {d["device"]: d for d in card["devices"]}
        assert devices["hall-3/printer"]["state"] == "error" and devices["hall-3/printer"]["fault"] is True
        assert devices["hall-3/agent"]["state"] == "ok"
    finally:
        station.close()


def test_the_agent_waits_for_the_station_node_and_reconnects_by_itself(make_app, database_url, tmp_path, kiosk_pc):
    """The station node is down when the agent starts, comes up, goes away and comes back: every job prints once."""
    import socket

    from werkzeug.serving import make_server

    printer, reader = kiosk_pc
    station = Station(make_app, database_url, tmp_path, printer, reader)
    station.server.stop()  # this test serves the app on a port of its own, to stop and start it again
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    url = f"http://127.0.0.1:{port}"

    def serve():
        server = make_server("127.0.0.1", port, station.app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    server = serve()
    station.url = url
    station.enrol()
    server.shutdown()
    server.server_close()
    credential = json.loads(station.credential_file.read_text())["credential"]
    devices = TerminalDevices("hall-3", agent=True, printer=station.tables["hall-3"]["printer"])
    agent = Agent(url, "hall-3", credential, devices, tmp_path / "journal", wait=1, status_every=1)
    failure: list[BaseException] = []
    missed: list[str] = []  # the requests that found no station node, in order
    reach = agent.call

    def call(path: str, **kwargs):
        try:
            return reach(path, **kwargs)
        except StationUnreachable:
            missed.append(path)
            raise

    agent.call = call  # type: ignore[method-assign]

    def run():
        try:
            agent.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        [first] = station.submit(1)
        wait_for(lambda: missed, 30, "the agent to find nobody at least once")
        assert thread.is_alive() and not failure
        server = serve()
        assert station.wait_done([first], timeout=30)[first].state == "done"
        server.shutdown()
        server.server_close()
        before = len(missed)
        [second] = station.submit(1)
        wait_for(lambda: missed[before:], 30, "a request of the agent to find the node gone")
        assert thread.is_alive() and not failure
        server = serve()
        assert station.wait_done([second], timeout=60)[second].state == "done"
        assert sorted(_labels(printer)) == ["agent-job-0", "agent-job-0"]  # one of each submit(1), printed once
        assert len(printer.completed_jobs) == 2
    finally:
        agent.stop.set()
        thread.join(10)
        server.shutdown()
        server.server_close()
    assert not failure


def test_the_hub_has_no_agent_endpoints(make_app, database_url):
    hub = make_app(database_url, ROLE="hub")
    response = hub.test_client().get("/agent/v1/hello", headers={"Kiosk-Agent-Protocol": "1"})
    assert response.status_code == 404


def test_agent_refuses_a_station_file_that_does_not_make_its_terminal_an_agent_terminal(tmp_path):
    station_file = _station_file(tmp_path / "station.toml", {"hall-3": {"kind": "kiosk"}})
    credential = tmp_path / "agent.json"
    credential.write_text(json.dumps({"station": "http://127.0.0.1:9", "terminal": "hall-3", "credential": "x"}))
    done = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "agent", "--credential-file", str(credential)]
        + ["--station-file", str(station_file)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 4
    assert "does not say agent = true" in done.stderr
