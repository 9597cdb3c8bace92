"""docs/deploy.md stays true: its district part's ``kiosk …`` commands run, in order, against real processes.

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

import re
import shlex
import sys
import tomllib
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
@pytest.mark.xdist_group("district")
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
