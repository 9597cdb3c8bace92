"""A real station: ``kiosk sync join`` and ``kiosk serve`` processes syncing to a hub over HTTP, SIGKILLed mid-sync.

The hub runs in the test process (a LiveServer on the test backend) so the test
can slow its application of a batch down: the station is killed while a long
backlog is on its way, started again, and every entry must reach the hub
exactly once, in order.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from kiosk import sync
from kiosk.cli import cli
from kiosk.db import session_for
from kiosk.models import DeviceReport, Station
from kiosk.sync.models import SyncParked, SyncPeer
from kiosk.testing import IME_CACHE_DIR, LiveServer, free_port, wait_for

SECRET = "sync-serve-test-secret-0123456789abcdef"
BACKLOG = 1200
STATION_FILE = """
[station]
code = "shuibei"
name = "水贝社区党群服务中心"
kind = "party_service"
"""


class StationNode:
    """An instance folder with a station file and its own SQLite file; ``kiosk`` commands and servers on it."""

    def __init__(self, folder):
        self.folder = str(folder)
        os.makedirs(self.folder, exist_ok=True)
        with open(os.path.join(self.folder, "station.toml"), "w", encoding="utf-8") as fh:
            fh.write(STATION_FILE)
        self.db_path = os.path.join(self.folder, "kiosk.db")
        self.procs: list[subprocess.Popen] = []

    def env(self) -> dict:
        env = dict(
            os.environ,
            KIOSK_INSTANCE_PATH=self.folder,
            KIOSK_SECRET_KEY=SECRET,
            KIOSK_DATABASE_URL="sqlite:///" + self.db_path,
            KIOSK_IME_CACHE_DIR=IME_CACHE_DIR,
        )
        env.pop("KIOSK_STATION_FILE", None)
        env.pop("KIOSK_ROLE", None)
        return env

    def kiosk(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "kiosk.cli", *args], env=self.env(), capture_output=True, text=True, timeout=300
        )

    def serve(self) -> subprocess.Popen:
        log = open(os.path.join(self.folder, f"serve-{len(self.procs)}.log"), "ab")  # noqa: SIM115
        command = [sys.executable, "-m", "kiosk.cli", "serve", "--port", str(free_port()), "--workers", "1"]
        proc = subprocess.Popen(command, env=self.env(), stdout=log, stderr=log, start_new_session=True)
        self.procs.append(proc)
        return proc

    def kill(self, proc) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)

    def log(self) -> str:
        out = []
        for n in range(len(self.procs)):
            with open(os.path.join(self.folder, f"serve-{n}.log"), encoding="utf-8", errors="replace") as fh:
                out.append(fh.read()[-3000:])
        return "\n---\n".join(out)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.kill(proc)

    def sql(self, statement: str, *params):
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            return conn.execute(statement, params).fetchall()


@pytest.fixture
def node(tmp_path):
    made = StationNode(tmp_path / "station")
    yield made
    made.stop()


@pytest.fixture
def hub(make_app, database_url):
    app = make_app(database_url, ROLE="hub", STATION={"code": "district", "name": "罗湖区", "kind": "party_service"})
    applied: list[int] = []

    def slow_apply(session, station, key, data):
        """A test kind whose application takes a while, so the station can be killed in the middle."""
        time.sleep(0.002)
        session.add(SyncParked(station_id=station.id, seq=int(key), kind="test.bulk", key=key, reason="applied"))
        applied.append(int(key))

    app.extensions["kiosk_sync_kinds"]["test.bulk"] = sync.SyncKind("test", "test.bulk", to_hub=slow_apply)
    return app


def _peer(hub) -> SyncPeer | None:
    with session_for(hub) as session:
        return session.scalar(select(SyncPeer).join(Station).where(Station.code == "shuibei"))


def test_a_served_station_syncs_and_a_sigkill_mid_sync_loses_and_doubles_nothing(node, hub):
    live = LiveServer(hub)
    try:
        result = hub.test_cli_runner().invoke(
            cli, ["stations", "enrol", "shuibei", "--name", "水贝社区党群服务中心", "--kind", "party_service"]
        )
        assert result.exit_code == 0, result.output
        token = re.search(r"kiosk sync join \S+ (\S+)", result.output).group(1)
        joined = node.kiosk("sync", "join", live.url, token)
        assert joined.returncode == 0, joined.stderr
        status = node.kiosk("sync", "status")
        assert f"hub: {live.url}" in status.stdout

        # A backlog written while the station was offline (as plugins' record() calls would have).
        (station_id,) = node.sql("SELECT id FROM station WHERE code = 'shuibei'")[0]
        rows = [
            (station_id, "test.bulk", str(n), json.dumps({"n": n}), "2026-12-06 01:00:00.000000")
            for n in range(1, BACKLOG + 1)
        ]
        with sqlite3.connect(node.db_path, timeout=30) as conn:
            conn.executemany("INSERT INTO sync_outbox (station_id, kind, key, data, at) VALUES (?, ?, ?, ?, ?)", rows)

        first = node.serve()
        # The served station's pusher starts on its own; kill it while the backlog is half way.
        wait_for(lambda: (_peer(hub).last_seq or 0) > 200, 120, f"the pusher to start sending\n{node.log()}")
        node.kill(first)
        sent_before = _peer(hub).last_seq
        assert sent_before < BACKLOG, "the backlog went through before the kill; make it longer"
        # The killed pusher's lease is still in the database; its successor takes it once it has run
        # out (kiosk.sync.pusher.LEASE_SECONDS, 15 s). Rather than wait that out, it runs out now: the
        # successor takes it by the same path, an expired lease, not a released one.
        (held,) = node.sql(
            "SELECT count(*) FROM job_run WHERE name LIKE 'kiosk.sync.pusher@%' AND lease_until IS NOT NULL"
        )[0]
        assert held == 1, "the killed pusher held no lease"
        node.sql("UPDATE job_run SET lease_until = '2000-01-01 00:00:00.000000' WHERE name LIKE 'kiosk.sync.pusher@%'")

        node.serve()
        wait_for(
            lambda: (
                node.sql("SELECT count(*) FROM sync_outbox WHERE sent_at IS NULL")[0][0] == 0
                and _peer(hub).last_seq >= BACKLOG
            ),
            180,
            f"the restarted station to catch up\n{node.log()}",
        )
        with session_for(hub) as session:
            keys = [int(k) for k in session.scalars(select(SyncParked.key).where(SyncParked.kind == "test.bulk"))]
            seqs = list(session.scalars(select(SyncParked.seq).where(SyncParked.kind == "test.bulk")))
        assert sorted(keys) == list(range(1, BACKLOG + 1))  # every one, none twice
        assert len(set(seqs)) == len(seqs)
        # Applied in the station's order: the keys were written in order, so they ascend with the rows.
        with session_for(hub) as session:
            in_order = [
                int(k)
                for k in session.scalars(
                    select(SyncParked.key).where(SyncParked.kind == "test.bulk").order_by(SyncParked.id)
                )
            ]
        assert in_order == sorted(in_order)
        # The core's own kinds came along: the station's description and its printer's report.
        wait_for(
            lambda: _hub_devices(hub),
            60,
            f"the station's device report at the hub\n{node.log()}",
        )
        now = node.kiosk("sync", "now")
        assert now.returncode == 0, now.stderr
    finally:
        live.stop()


def _hub_devices(hub):
    with session_for(hub) as session:
        return session.scalars(select(DeviceReport.device).join(Station).where(Station.code == "shuibei")).all()
