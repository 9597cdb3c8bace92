"""Starting `kiosk serve` for a benchmark: cold start to first 200, and its workers' memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `kiosk serve` process on a fresh instance folder (demo data loaded)."""

    def __init__(self, workers: int = 1, threads: int = 16, database_url: str | None = None, env: dict | None = None):
        self.instance = tempfile.mkdtemp(prefix="kiosk-bench-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers, self.threads = workers, threads
        self.env = dict(os.environ, KIOSK_INSTANCE_PATH=self.instance,
                        KIOSK_SECRET_KEY="bench-secret-0123456789abcdef", **(env or {}))
        self.env.pop("KIOSK_STATION_FILE", None)
        if database_url:
            self.env["KIOSK_DATABASE_URL"] = database_url
        self.proc: subprocess.Popen | None = None
        self.cold_start_s: float | None = None

    def prepare(self) -> None:
        """Migrate and load demo data first, so the cold start measures only the start."""
        subprocess.run([sys.executable, "-m", "kiosk.cli", "demo"], env=self.env, check=True,
                       capture_output=True, timeout=300)

    def start(self, path: str = "/") -> float:
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk.cli", "serve", "--port", str(self.port), "--workers", str(self.workers),
             "--threads", str(self.threads)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = started + 60
        while time.perf_counter() < deadline:
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status == 200:
                        self.cold_start_s = time.perf_counter() - started
                        return self.cold_start_s
            except OSError:
                time.sleep(0.005)
        raise RuntimeError("kiosk serve did not answer within 60 s")

    def worker_rss_mib(self) -> list[float]:
        """Resident memory of each gunicorn worker (children of the master)."""
        out = []
        try:
            children = open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read().split()
        except OSError:
            children = []
        for pid in children:
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmRSS:"):
                        out.append(int(line.split()[1]) / 1024)
            except OSError:
                continue
        return out

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc = None
