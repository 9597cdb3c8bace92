"""The kiosk command: users, plugins, demo, and the production server for real."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from sqlalchemy import select

from kiosk.cli import cli
from kiosk.models import User


def test_users_create_and_refuse_bad_input(app):
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["users", "create", "lawyer1", "--role", "staff", "--password", "long-enough-pw"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["users", "create", "lawyer1", "--password", "long-enough-pw"])
    assert result.exit_code != 0 and "already exists" in result.output
    result = runner.invoke(cli, ["users", "create", "short", "--password", "123"])
    assert result.exit_code != 0 and "at least 8" in result.output
    with app.app_context():
        users = app.extensions["db"].Session().scalars(select(User.username)).all()
    assert users == ["lawyer1"]


def test_plugins_list_shows_the_built_ins(app):
    result = app.test_cli_runner().invoke(cli, ["plugins", "list"])
    assert result.exit_code == 0
    for name in ("legal", "courier_rest", "parking", "petitions"):
        assert name in result.output


def _env(tmp_path, **extra):
    env = dict(os.environ)
    env.pop("KIOSK_STATION_FILE", None)
    env.update({"KIOSK_INSTANCE_PATH": str(tmp_path / "instance"), "KIOSK_IME_PRELOAD": "false"}, **extra)
    return env


def test_demo_sets_up_a_station_with_accounts(tmp_path):
    env = _env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "demo"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "demo staff account: staff / kiosk-staff-demo" in result.stdout
    station_file = tmp_path / "instance" / "station.toml"
    assert 'name = "水贝社区党群服务中心"' in station_file.read_text(encoding="utf-8")
    assert (tmp_path / "instance" / "kiosk.db").exists()
    assert "open http://127.0.0.1:5000/terminal/enrol/" in result.stdout
    # tools/run-demo on another port: the one-time link points where the kiosk will answer.
    again = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "demo"],
        env={**env, "KIOSK_PORT": "5077"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "(exists)" in again.stdout
    assert "open http://127.0.0.1:5077/terminal/enrol/" in again.stdout


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_the_production_server(tmp_path):
    port = _free_port()
    env = _env(tmp_path, KIOSK_SECRET_KEY="a-real-secret-for-this-test-0123456789")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    body = response.read().decode("utf-8")
                    server = response.headers.get("Server", "")
                break
            except OSError:
                time.sleep(0.3)
        assert body is not None, "kiosk serve did not answer"
        assert "欢迎" in body
        assert "gunicorn" in server
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def test_commands_run_without_a_secret_but_servers_refuse_it(tmp_path):
    """A fresh machine: commands work before a secret is set; `kiosk serve` and `kiosk run` refuse to serve."""
    env = _env(tmp_path)
    env.pop("KIOSK_SECRET_KEY", None)

    def kiosk(*args, **extra):
        return subprocess.run(
            [sys.executable, "-m", "kiosk.cli", *args],
            env=dict(env, **extra),
            capture_output=True,
            text=True,
            timeout=60,
        )

    listed = kiosk("plugins", "list")
    assert listed.returncode == 0, listed.stderr
    assert "legal" in listed.stdout
    for command in ("serve", "run"):
        refused = kiosk(command, "--port", "1")
        assert refused.returncode == 2, (command, refused.stderr)
        assert "default secret key" in refused.stderr and "KIOSK_SECRET_KEY" in refused.stderr
        assert "Traceback" not in refused.stderr
    # The placeholder of deploy/kiosk.env.example, copied and never edited, is refused the same way.
    placeholder = kiosk("serve", "--port", "1", KIOSK_SECRET_KEY="replace-with-64-hex-characters")
    assert placeholder.returncode == 2 and "placeholder" in placeholder.stderr


def test_doctor_reports_each_check(make_app, database_url):
    from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

    with FakeNetworkPrinter("paper_out") as fake:
        app = make_app(database_url, DEVICES={"printer": fake.printer_config(), "readers": {}})
        result = app.test_cli_runner().invoke(cli, ["doctor"])
    assert "[ok ] database" in result.output
    assert "[ok ] migrations: up to date" in result.output
    assert "[ok ] CJK font" in result.output
    assert "[FIX] printer" in result.output and "paper out" in result.output
    assert result.exit_code != 0  # a problem to fix
