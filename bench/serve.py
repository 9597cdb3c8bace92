"""Starting `kiosk serve` for a benchmark: cold start to first 200, and its workers' memory."""

from __future__ import annotations

import contextlib
import os
import shutil
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
    """A `kiosk serve` process on a fresh instance folder (demo data loaded).

    ``station_toml``: the station file's text (written to the instance folder
    and named by ``KIOSK_STATION_FILE``); without it `kiosk demo` writes its own.
    """

    SECRET_KEY = "bench-secret-0123456789abcdef-0123456789"  # kiosk serve wants 32 bytes or more

    def __init__(
        self,
        workers: int = 1,
        threads: int = 16,
        database_url: str | None = None,
        env: dict | None = None,
        station_toml: str | None = None,
    ):
        self.instance = tempfile.mkdtemp(prefix="kiosk-bench-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers, self.threads = workers, threads
        self.database_url = database_url
        self.station_file = os.path.join(self.instance, "station.toml")
        self.env = dict(os.environ, KIOSK_INSTANCE_PATH=self.instance, KIOSK_SECRET_KEY=self.SECRET_KEY, **(env or {}))
        self.env.pop("KIOSK_STATION_FILE", None)
        # A station's install has its bytecode compiled (pip does it); a shell with
        # PYTHONDONTWRITEBYTECODE would make every start of a source checkout
        # compile the kiosk again (about 55 ms here). prepare() writes it.
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        if station_toml is not None:
            self.station_file = os.path.join(self.instance, "bench-station.toml")
            with open(self.station_file, "w", encoding="utf-8") as fh:
                fh.write(station_toml)
            self.env["KIOSK_STATION_FILE"] = self.station_file
        if database_url:
            self.env["KIOSK_DATABASE_URL"] = database_url
        self.proc: subprocess.Popen | None = None
        self.cold_start_s: float | None = None

    def prepare(self) -> None:
        """Migrate and load demo data first, so the cold start measures only the start."""
        subprocess.run(
            [sys.executable, "-m", "kiosk.cli", "demo"], env=self.env, check=True, capture_output=True, timeout=300
        )

    @contextlib.contextmanager
    def app(self):
        """A kiosk app in this process on the server's station and database, to prepare bench data."""
        from kiosk.app import create_app

        config = {
            "INSTANCE_PATH": self.instance,
            "STATION_FILE": self.station_file,
            "SECRET_KEY": self.SECRET_KEY,
            "RUN_JOBS": False,
            "START_DEVICES": False,
            "IME_PRELOAD": False,
            "TESTING_NO_LISTENER": True,
            "SECURITY": {"rate_limits": False},
        }
        if self.database_url:
            config["DATABASE_URL"] = self.database_url
        app = create_app(config)
        try:
            yield app
        finally:
            app.extensions["kiosk_printing"].shutdown()
            app.extensions["db"].dispose()

    def start(self, path: str = "/") -> float:
        started = time.perf_counter()
        self.log_path = os.path.join(self.instance, "serve.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kiosk.cli",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            start_new_session=True,
        )
        deadline = started + 60
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kiosk serve exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status == 200:
                        self.cold_start_s = time.perf_counter() - started
                        return self.cold_start_s
            except OSError:
                time.sleep(0.005)
        raise RuntimeError("kiosk serve did not answer within 60 s")

    def log_tail(self, size: int = 1500) -> str:
        """The end of the server's error log (gunicorn logs warnings and worst only)."""
        with open(self.log_path, "rb") as fh:
            return fh.read()[-size:].decode("utf-8", "replace")

    def worker_memory_mib(self) -> list[dict]:
        """Resident memory of each gunicorn worker (children of the master), in MiB.

        ``rss`` is the total; ``anon`` the process's own heap, ``file`` mapped
        files (shared libraries, fonts, the pinyin dictionary's index), which
        the kernel can share and drop.
        """
        fields = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file"}
        out = []
        try:
            children = open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read().split()
        except OSError:
            children = []
        for pid in children:
            try:
                with open(f"/proc/{pid}/status") as fh:
                    rows = [line.split() for line in fh]
                found = {fields[row[0]]: round(int(row[1]) / 1024, 1) for row in rows if row and row[0] in fields}
            except OSError:
                continue
            out.append(found)
        return out

    def halt(self) -> None:
        """End the server's process group; the instance folder stays (for a restart)."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)
            self.proc = None
            self._log.close()

    def stop(self) -> None:
        """End the server's process group and remove its instance folder."""
        self.halt()
        shutil.rmtree(self.instance, ignore_errors=True)


BENCH_STATION = """# Written by `python -m bench`: the demo station, printing to a TCP receipt printer.
demo = false

[station]
code = "bench-shuibei"
name = "水贝社区党群服务中心"
kind = "party_service"
languages = ["zh_Hans", "zh_Hant", "en"]
timezone = "Asia/Shanghai"

[devices.printer]
type = "network"
host = "{host}"
port = {port}
profile = "80mm"
timeout = 5.0

# Every bench client sends from 127.0.0.1: the core's rate limits (a kiosk terminal's allowance
# there) and the petitions plugin's per-address limit would turn the load into 429s.
[security]
rate_limits = false

[plugins.petitions.rate_limit]
kiosk = [1000000000, 600]
mobile = [1000000000, 600]
"""


def station_toml(printer_host: str, printer_port: int) -> str:
    """The bench station's file: demo-like, with the receipt printer at ``host:port``."""
    return BENCH_STATION.format(host=printer_host, port=printer_port)


def printer_settled(printer, since: int, quiet: float = 2.0, limit: float = 300.0) -> tuple[int, float]:
    """Wait until the fake printer has had no new job for ``quiet`` seconds.

    Returns (jobs received since position ``since``, seconds from the call
    until the last of them arrived): the print queue's backlog after a load.
    """
    started = changed = time.perf_counter()
    count = len(printer.jobs)
    while time.perf_counter() - changed < quiet and time.perf_counter() - started < limit:
        time.sleep(0.1)
        now = len(printer.jobs)
        if now != count:
            count, changed = now, time.perf_counter()
    return count - since, round(max(0.0, changed - started), 2)
