"""``kiosk serve`` with two gunicorn workers: /metrics adds up both workers' counts.

One real server (the point is gunicorn's processes): requests go to whichever
worker accepts them, and whichever worker answers /metrics must publish the sum.
A worker that dies keeps its counts in the total, while its open push stream
leaves the live gauge (gunicorn's ``child_exit`` hook).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from kiosk.testing import IME_CACHE_DIR, free_port, wait_for

pytestmark = pytest.mark.timeout(120)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STATION_FILE = """
[station]
code = "shuibei"
name = "水贝社区党群服务中心"
kind = "party_service"
"""
HEALTHZ = ("kiosk_http_requests_total", (("endpoint", "health.healthz"), ("method", "GET"), ("status", "200")))


def get(url: str, timeout: float = 10.0) -> str:
    # urllib sends "Connection: close": each request is a new connection, for any worker to accept.
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def samples_of(text: str) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def per_worker(folder: str) -> dict[int, float]:
    """Each worker's own count of answered /healthz requests, read from its file."""
    counts = {}
    for path in glob.glob(os.path.join(folder, "counter_*.db")):
        pid = int(re.search(r"counter_(\d+)\.db$", path).group(1))
        merged = samples_of_metrics(MultiProcessCollector.merge([path], accumulate=False))
        counts[pid] = merged.get(HEALTHZ, 0.0)
    return counts


def samples_of_metrics(metrics) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in metrics for s in m.samples}


@pytest.fixture
def server(tmp_path, sqlite_template):
    folder = tmp_path / "instance"
    folder.mkdir()
    (folder / "station.toml").write_text(STATION_FILE, encoding="utf-8")
    shutil.copy(sqlite_template, folder / "kiosk.db")  # migrated: the workers need not migrate at once
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left from an earlier run")  # must be emptied at start
    env = dict(
        os.environ,
        KIOSK_INSTANCE_PATH=str(folder),
        KIOSK_SECRET_KEY="metrics-serve-test-secret-0123456789",
        KIOSK_DATABASE_URL="sqlite:///" + str(folder / "kiosk.db"),
        KIOSK_IME_CACHE_DIR=IME_CACHE_DIR,
        KIOSK_RUN_JOBS="false",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    for name in ("KIOSK_STATION_FILE", "KIOSK_ROLE", "KIOSK_METRICS_TOKEN"):
        env.pop(name, None)
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    command = [sys.executable, "-m", "kiosk.cli", "serve", "--port", str(port), "--workers", "2", "--threads", "4"]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return get(url + "/metrics", timeout=2)
        except OSError:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
            return None

    try:
        wait_for(up, 60, "kiosk serve to answer")
        yield url, str(metrics_dir), proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()


def test_two_workers_counts_are_summed_and_a_dead_workers_stream_leaves(server):
    url, folder, proc = server
    assert not os.path.exists(os.path.join(folder, "counter_1.db"))  # the earlier run's file is gone
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        # Concurrent connections until both workers have answered some (the kernel picks who accepts).
        while True:
            list(pool.map(lambda _: get(url + "/healthz"), range(16)))
            sent += 16
            counts = per_worker(folder)
            if len([c for c in counts.values() if c > 0]) == 2 or sent > 400:
                break
    busy = {pid: count for pid, count in counts.items() if count > 0}
    assert len(busy) == 2, counts
    assert sum(busy.values()) == sent
    # Whichever worker answers, /metrics publishes the sum of both, three times over.
    for _ in range(3):
        assert samples_of(get(url + "/metrics"))[HEALTHZ] == sent

    # A push stream held open by one worker shows in the live gauge...
    stream = urllib.request.urlopen(url + "/events/stream?channel=legal", timeout=10)
    assert stream.readline().startswith(b"retry:")
    streams = ("kiosk_push_streams_open", (("endpoint", "events.stream"),))
    assert samples_of(get(url + "/metrics"))[streams] == 1
    holder = [
        int(re.search(r"_(\d+)\.db$", path).group(1))
        for path in glob.glob(os.path.join(folder, "gauge_livesum_*.db"))
        if samples_of_metrics(MultiProcessCollector.merge([path])).get(streams)
    ]
    assert len(holder) == 1, holder
    # ...until that worker dies: gunicorn's child_exit drops its live gauge; its counts stay in the total.
    os.kill(holder[0], signal.SIGKILL)
    stream.close()
    wait_for(lambda: not os.path.exists(os.path.join(folder, f"gauge_livesum_{holder[0]}.db")), 10, "child_exit")
    after = samples_of(get(url + "/metrics"))
    assert after.get(streams, 0) == 0
    assert after[HEALTHZ] == sent
    assert proc.poll() is None

    # docs/deploy.md's "Metrics" block, as written, against this server.
    (block,) = metrics_guide_blocks()
    assert "127.0.0.1:5000/metrics" in block
    if shutil.which("curl"):
        command = block.replace("http://127.0.0.1:5000", url)
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert "kiosk_sync_enrolled 0.0" in done.stdout.splitlines()


def metrics_guide_blocks() -> list[str]:
    """The sh blocks of docs/deploy.md's Metrics section."""
    guide = open(os.path.join(ROOT, "docs", "deploy.md"), encoding="utf-8").read()
    section = guide.split("## 10. Metrics", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
