"""README.md and docs/deploy.md stay true: their command blocks run here as an operator runs them.

The README's "Running a station" block runs line by line in a fresh virtual
environment with a copy of this checkout installed (see
:func:`test_the_readme_station_block_runs_on_a_fresh_machine`). docs/deploy.md's
station part: every ``sh`` block either runs, in that same fresh virtual environment
(:func:`test_the_station_blocks_of_the_guide_run`), or says in the guide's source why
it cannot here (``<!-- not run by tests: ... -->`` before it).

docs/deploy.md's district part: its ``kiosk …`` commands run, in order, against real processes.

The guide's shell blocks say where they run (``# on the hub`` or ``# on a
station`` as their first line). Every ``kiosk …`` line of those blocks is run
here as written, on a hub instance (``role = "hub"``, the guide's own hub.toml
block as its settings, a scratch PostgreSQL database) or a station instance
(SQLite), with two substitutions: the hub's public address becomes the address
of a hub `kiosk serve` started for the test, and ``<token>`` the token the
guide's ``kiosk stations enrol`` printed. ``kiosk serve`` itself is left out
(the harness starts it), and commands other than ``kiosk`` (systemctl, nginx,
pg_dump) cannot run here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from kiosk.config import DEFAULTS, _merge, validate
from kiosk.testing import PG_SKIP, PG_URL

sys.path.insert(0, str(Path(__file__).resolve().parent))

from district_harness import District, Station, parse_token  # noqa: E402 - the harness lives beside the tests

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "deploy.md"
HUB_URL = "https://district.example.gov.cn"
PASSWORD = "district-admin-pw-1"


def blocks(language: str) -> list[str]:
    """The guide's fenced blocks of ``language``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)


def district_part() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    assert "# Part 2: the district hub" in text
    return text.split("# Part 2: the district hub", 1)[1]


def commands() -> list[tuple[str, list[str]]]:
    """(``"hub"`` or ``"station"``, argv) of every ``kiosk`` command in the blocks that say where they run."""
    out = []
    for block in blocks("sh"):
        lines = block.replace("\\\n", " ").splitlines()
        if not lines or lines[0].strip() not in ("# on the hub", "# on a station"):
            continue
        where = "hub" if lines[0].strip() == "# on the hub" else "station"
        for line in lines[1:]:
            line = line.split(" #", 1)[0].strip()
            if line.startswith("kiosk ") and not line.startswith("kiosk serve"):
                out.append((where, shlex.split(line.replace("<token>", "TOKEN"))[1:]))
    return out


def hub_toml() -> str:
    (found,) = [b for b in blocks("toml") if 'role = "hub"' in b]
    return found


def test_the_guide_names_the_district_commands_in_the_order_an_operator_runs_them():
    names = [(where, " ".join(argv[:2])) for where, argv in commands()]
    assert ("hub", "db upgrade") in names
    assert ("hub", "stations enrol") in names
    assert ("station", "sync join") in names
    assert ("hub", "stations revoke") in names
    assert names.index(("hub", "stations enrol")) < names.index(("station", "sync join"))
    assert names.index(("station", "sync join")) < names.index(("hub", "stations revoke"))


def test_the_guides_hub_settings_load_and_validate(monkeypatch):
    monkeypatch.setenv("PETITIONS_WEBHOOK_SECRET", "x" * 32)
    mapped = {key.upper(): value for key, value in tomllib.loads(hub_toml()).items()}
    config = _merge({k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()}, mapped)
    config["SECRET_KEY"] = "from-kiosk-env" * 4  # the secret key comes from kiosk.env, as on the hub
    validate(config)
    assert config["ROLE"] == "hub"
    assert config["STATION"]["public_url"] == HUB_URL


def test_every_file_the_district_part_names_exists():
    named = re.findall(r"^\| `([^`]+)` \| [^|]+ \| `/etc", district_part(), re.MULTILINE)
    assert len(named) >= 4, named
    for name in named:
        assert (ROOT / "deploy" / name).is_file(), name
    # The whole guide is about the district now: no shared database, no fleet server.
    text = GUIDE.read_text(encoding="utf-8").lower()
    assert "fleet" not in text
    assert "shared database" not in text


def test_the_old_shared_database_and_fleet_text_is_gone():
    text = GUIDE.read_text(encoding="utf-8")
    assert "?station=shuibei-001" not in text
    assert "fleet server" not in text


@pytest.mark.skipif(not PG_URL, reason=PG_SKIP)
@pytest.mark.xdist_group("district-2")  # with the second half of tests/test_district_e2e.py (see its docstring)
def test_the_guides_kiosk_commands_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PETITIONS_WEBHOOK_SECRET", "guide-dispatch-secret-0123456789")
    with District(tmp_path) as district:
        hub = district.hub
        hub.station_file.write_text(hub_toml(), encoding="utf-8")
        station: Station | None = None
        token = ""
        ran = []
        for where, argv in commands():
            if where == "station" and not hub.running:
                hub.start()
            if where == "station" and station is None:
                # No card reader: `kiosk doctor` run beside the server cannot open the reader the server
                # holds and reports it stopped (see the report); a printer it can check.
                station = district.add_station(
                    "shuibei", "水贝社区党群服务中心", enrol=False, start=False, reader=False
                )
            node = hub if where == "hub" else station
            assert node is not None
            args = [a.replace(HUB_URL, station.relay.url if station else HUB_URL) for a in argv]
            args = [token if a == "TOKEN" else a for a in args]
            answer = PASSWORD + "\n" + PASSWORD + "\n" if argv[:2] == ["users", "create"] else None
            done = node.cli(*args, check=False, input=answer)
            output = done.stdout + done.stderr
            ran.append((where, args, done.returncode))
            assert "Traceback" not in output, (args, output)
            assert done.returncode == 0, (where, args, output)
            if argv[0] == "doctor" and where == "hub":
                assert "[ok ] role: district hub" in output, output
            if argv[0] == "doctor" and where == "station":
                assert HUB_URL in output, "the station's doctor does not say its QR codes open the hub"
            if argv[:2] == ["stations", "enrol"]:
                token = parse_token(output)
            if argv[:2] == ["sync", "status"]:
                assert "shuibei" in output or "enrolled" in output.lower(), output
            if argv[:2] == ["stations", "revoke"]:
                assert station is not None
                refused = station.cli("sync", "now", check=False)
                assert refused.returncode != 0, "a revoked station still syncs"
        assert {(w, a[0]) for w, a, _ in ran} >= {("hub", "stations"), ("station", "sync"), ("hub", "db")}
        listed = hub.cli("stations", "list").stdout
        assert "shuibei" in listed


# -- README.md: "Running a station", run as written in a fresh virtual environment ------------------
README = ROOT / "README.md"
README_PASSWORD = "readme-admin-pw-1"


def readme_station_block() -> list[str]:
    text = README.read_text(encoding="utf-8").split("## Running a station", 1)[1]
    block = re.search(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert block, "README's Running a station section has no sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def fresh_checkout(tmp_path_factory):
    """A copy of this checkout (its files as git sees them) and a fresh venv to ``pip install .`` it into.

    The venv sees the system's site-packages (``--system-site-packages``), so
    ``pip install .`` needs no network: the README's line runs with
    ``--no-deps --no-build-isolation`` added, the one change to it.
    """
    base = tmp_path_factory.mktemp("readme")
    src = base / "station"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, src / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    return src, venv


@pytest.mark.xdist_group("fresh-venv")
def test_the_readme_station_block_runs_on_a_fresh_machine(fresh_checkout):
    """Every line of the README block, in order, in one shell, on a machine with no secret and no settings.

    Substituted, and only these: ``pip install .`` gets ``--no-deps
    --no-build-isolation --no-compile`` (no network here; bytecode is not what
    is tested); ``kiosk users create`` is given its password on stdin (it
    prompts); ``kiosk serve`` gets a free port (5000 may be taken on a shared
    machine) and runs in the background until it answered.
    """
    src, venv = fresh_checkout
    lines = readme_station_block()
    port = _free_port()
    script = ["set -u"]
    for line in lines:
        command = line.split(" #", 1)[0].strip()
        if command.startswith("pip install ."):
            command = command.replace(
                "pip install .", "pip install -q --no-deps --no-build-isolation --no-compile .", 1
            )
        elif command.startswith("kiosk users create"):
            command = f"printf '%s\\n%s\\n' {README_PASSWORD} {README_PASSWORD} | {command}"
        elif command == "kiosk serve":
            command = f"kiosk serve --port {port} > serve.log 2>&1 & echo $! > serve.pid"
        script.append(f'{command}\necho "::: rc=$?"')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_", "PYTHON", "PYTEST", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=src, env=env, capture_output=True, text=True, timeout=240
    )
    pid = int((src / "serve.pid").read_text()) if (src / "serve.pid").exists() else None
    try:
        output = done.stdout + done.stderr
        assert "Traceback" not in output, output
        codes = [int(code) for code in re.findall(r"::: rc=(\d+)", done.stdout)]
        assert len(codes) == len(lines), done.stdout
        for line, code in zip(lines, codes, strict=True):
            if line.startswith("kiosk doctor"):
                # The fresh station has no public address yet: doctor says so (exit 1), and nothing else.
                assert code in (0, 1), output
            else:
                assert code == 0, (line, output)
        fixes = [row for row in done.stdout.splitlines() if row.startswith("[FIX]")]
        assert fixes and all(row.startswith("[FIX] public URL") for row in fixes), fixes
        assert "created admin alice" in done.stdout
        assert re.search(r"^secret_key +=.*# environment KIOSK_SECRET_KEY", done.stdout, re.MULTILINE) is None
        # `pip install .` put the kiosk and its command into the fresh venv (not the checkout's own install).
        assert (venv / "bin" / "kiosk").is_file()
        assert list(venv.glob("lib/python*/site-packages/kiosk/config_schema.py"))
        # The database is in the current folder's instance/, not in the virtual environment.
        assert (src / "instance" / "kiosk.db").is_file()
        assert not list(venv.rglob("kiosk.db"))
        assert pid is not None, "kiosk serve did not start"
        deadline = time.monotonic() + 60
        body = ""
        while time.monotonic() < deadline and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    body = response.read().decode("utf-8")
            except OSError:
                time.sleep(0.3)
        assert "欢迎" in body, (src / "serve.log").read_text()
    finally:
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


# -- docs/deploy.md: every sh block runs here or says in the guide why it cannot ----------------------
NOT_RUN = re.compile(r"<!-- not run by tests: (.+?) -->\s*$")
#: Sections whose blocks other helpers' tests run (their sections of the guide, their tests).
OTHER_TESTS = {"Backup and restore": "tests/test_backup*.py", "Metrics": "tests/test_metrics.py"}
DISTRICT_MARKERS = ("# on the hub", "# on a station")


def guide_blocks() -> list[dict]:
    """Every fenced block of the guide: language, heading, body, and the not-run reason before it."""
    out = []
    heading = ""
    lines = GUIDE.read_text(encoding="utf-8").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("```"):
            end = index + 1
            while not lines[end].startswith("```"):
                end += 1
            before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
            reason = NOT_RUN.match(before.strip())
            out.append(
                {
                    "language": line[3:].strip(),
                    "heading": heading,
                    "line": index + 1,
                    "body": "\n".join(lines[index + 1 : end]),
                    "not_run": reason.group(1) if reason else None,
                }
            )
            index = end
        index += 1
    return out


def runnable_station_blocks() -> list[dict]:
    """The guide's sh blocks this module runs: not marked, not another test's, not the district's."""
    out = []
    for block in guide_blocks():
        if block["language"] != "sh" or block["not_run"]:
            continue
        if any(name in block["heading"] for name in OTHER_TESTS):
            continue
        if block["body"].lstrip().split("\n", 1)[0].strip() in DISTRICT_MARKERS:
            continue  # test_the_guides_kiosk_commands_run
        out.append(block)
    return out


def test_every_block_of_the_guide_runs_or_says_why_not():
    blocks = [b for b in guide_blocks() if b["language"] == "sh"]
    assert len(blocks) >= 20
    for block in blocks:
        if block["not_run"] is not None:
            assert len(block["not_run"]) > 10, block  # a reason, not a bare marker
    runnable = runnable_station_blocks()
    firsts = [b["body"].lstrip().split("\n", 1)[0] for b in runnable]
    assert any(f.startswith("python3 -c 'import secrets") for f in firsts), firsts
    assert any(f.startswith("kiosk terminals add kiosk-1") for f in firsts), firsts
    assert any("agent of hall-2" in f for f in firsts), firsts
    for block in runnable:
        for line in block["body"].replace("\\\n", " ").splitlines():
            command = line.split(" #", 1)[0].strip()
            if command and not command.startswith("#"):
                assert command.startswith(("kiosk ", "python3 -c ")), (
                    f"docs/deploy.md line {block['line']}: {command!r} cannot run here; mark the block "
                    "<!-- not run by tests: why -->"
                )


@pytest.mark.xdist_group("fresh-venv")
def test_the_station_blocks_of_the_guide_run(fresh_checkout, tmp_path):
    """The station part's runnable blocks, in order, on a fresh station (SQLite), as written, in a fresh venv.

    The checkout is ``pip install``-ed into the fresh virtual environment (as the README
    test does), and each line runs as a command there: what the guide says works with the
    installed package, not only with this checkout. The station file marks hall-2 ``agent =
    true``, as the guide says to before ``kiosk agent token hall-2``; ``kiosk db upgrade``
    first, as the service does when it starts.
    """
    src, venv = fresh_checkout
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_", "PYTHON", "PYTEST", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if not (venv / "bin" / "kiosk").is_file():
        pip = [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "--no-build-isolation", "--no-compile", "."]
        subprocess.run(pip, cwd=src, env=env, check=True, capture_output=True, timeout=240)
    station = tmp_path / "station.toml"
    station.write_text('[terminals.hall-2]\nkind = "kiosk"\nagent = true\n', encoding="utf-8")
    env |= {
        "KIOSK_INSTANCE_PATH": str(tmp_path / "instance"),
        "KIOSK_STATION_FILE": str(station),
        "KIOSK_IME_PRELOAD": "false",
    }

    def run(command: str) -> str:
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0 and "Traceback" not in done.stderr, (command, done.stdout, done.stderr)
        return done.stdout

    run("kiosk db upgrade")
    ran = []
    for block in runnable_station_blocks():
        for line in block["body"].replace("\\\n", " ").splitlines():
            command = line.split(" #", 1)[0].strip()
            if command and not command.startswith("#"):
                ran.append((command, run(command)))
    outputs = dict(ran)
    assert (venv / "bin" / "kiosk").is_file() and (tmp_path / "instance" / "kiosk.db").is_file()
    secret = next(out for cmd, out in ran if cmd.startswith("python3 -c"))
    assert re.fullmatch(r"[0-9a-f]{64}\n", secret)
    added = next(out for cmd, out in ran if cmd.startswith("kiosk terminals add kiosk-1"))
    assert "/terminal/enrol/" in added
    assert "kiosk agent token hall-2" in outputs and outputs["kiosk agent token hall-2"].strip()


def test_the_guides_settings_blocks_pass_the_configuration_schema(tmp_path, monkeypatch):
    from kiosk import config_schema

    monkeypatch.setenv("PETITIONS_WEBHOOK_SECRET", "guide-dispatch-secret-0123456789")
    checked = 0
    for block in guide_blocks():
        if block["language"] != "toml":
            continue
        path = tmp_path / f"block-{block['line']}.toml"
        path.write_text(block["body"], encoding="utf-8")
        sources = config_schema.read_sources(str(tmp_path), environ={}, station_file=str(path))
        assert config_schema.check(sources, deep=True) == [], f"docs/deploy.md line {block['line']}"
        checked += 1
    assert checked >= 2
