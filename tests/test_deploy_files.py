"""The kiosk appliance's files under deploy/: units, udev rules, polkit rule and the station file."""

from __future__ import annotations

import ast
import importlib
import logging
import os
import re
import shlex
import shutil
import subprocess
from datetime import time
from pathlib import Path

import pytest

from kiosk.config import DEFAULTS, ConfigError, _merge, load_station_file, validate

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SERVER_UNIT = DEPLOY / "systemd" / "kiosk.service"
DISPLAY_UNIT = DEPLOY / "systemd" / "kiosk-display.service"
HUB_UNIT = DEPLOY / "systemd" / "kiosk-hub.service"
NGINX_HUB = DEPLOY / "nginx" / "kiosk-hub.conf"
PGBOUNCER_EXAMPLE = DEPLOY / "pgbouncer" / "pgbouncer.ini.example"
UDEV_RULES = DEPLOY / "udev" / "70-kiosk-devices.rules"
STATION_EXAMPLE = DEPLOY / "station.toml.example"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"

#: What the issue asks of the browser: no pinch zoom, no overscroll navigation, no
#: translate bar, autoplay for the calling display, no background networking...
REQUIRED_FLAGS = {
    "--kiosk",
    "--disable-pinch",
    "--overscroll-history-navigation=0",
    "--disable-features=TranslateUI",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-session-crashed-bubble",
    "--noerrdialogs",
}


# -- systemd units -------------------------------------------------------------------
def unit_lines(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, continuation lines joined, in order."""
    out, section, pending = [], "", ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", ";"))):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {line!r}"
        out.append((section, key.strip(), value.strip()))
    return out


def unit_values(path: Path, section: str, key: str) -> list[str]:
    return [v for s, k, v in unit_lines(path) if s == section and k == key]


def _systemd_analyze() -> str | None:
    return shutil.which("systemd-analyze")


@pytest.mark.parametrize("unit", [SERVER_UNIT, DISPLAY_UNIT, HUB_UNIT], ids=lambda p: p.name)
def test_units_parse(unit, tmp_path):
    sections = {s for s, _k, _v in unit_lines(unit)}
    assert sections == {"Unit", "Service", "Install"}
    assert unit_values(unit, "Install", "WantedBy")
    tool = _systemd_analyze()
    if tool is None:
        return  # the line parser above is the check on machines without systemd
    # systemd-analyze also insists that each program exists; on a build machine
    # /opt/kiosk is not installed, so those programs are stood in for by /bin/true
    # in a copy. Everything else must pass untouched.
    text = unit.read_text(encoding="utf-8")
    for program in set(re.findall(r"^Exec\w+=[-@:+!]*(/\S+)", text, re.MULTILINE)):
        if not os.access(program, os.X_OK):
            text = text.replace(program, "/bin/true")
    copy = tmp_path / unit.name
    copy.write_text(text, encoding="utf-8")
    run = subprocess.run([tool, "verify", str(copy)], check=False, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and not (run.stdout + run.stderr).strip(), run.stdout + run.stderr


def test_systemd_analyze_would_catch_a_mistake(tmp_path):
    tool = _systemd_analyze()
    if tool is None:
        pytest.skip("systemd-analyze not found: apt-get install systemd")
    broken = tmp_path / "broken.service"
    broken.write_text("[Service]\nExecStart=/bin/true\nRestart=sometimes\nUserr=kiosk\n", encoding="utf-8")
    run = subprocess.run([tool, "verify", str(broken)], check=False, capture_output=True, text=True, timeout=60)
    assert f"{broken.name}:3:" in run.stderr and "Userr" in run.stderr


def test_the_server_unit_runs_kiosk_serve_unprivileged_with_secrets_from_a_file():
    service = {k: v for s, k, v in unit_lines(SERVER_UNIT) if s == "Service"}
    assert service["User"] == "kiosk" and service["Group"] == "kiosk"
    assert service["EnvironmentFile"] == "/etc/kiosk/kiosk.env"
    assert re.search(r"/kiosk serve\b", service["ExecStart"])
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service[key] == value, key
    # The printer and readers are device nodes: the unit must not hide /dev.
    assert "PrivateDevices" not in service and "DevicePolicy" not in service
    env = dict(v.split("=", 1) for v in unit_values(SERVER_UNIT, "Service", "Environment"))
    assert env["KIOSK_STATION_FILE"] == "/etc/kiosk/station.toml"
    # Secrets come only from the root-only file, never from the unit's own settings.
    assert not any(
        "KIOSK_SECRET_KEY" in value or "KIOSK_DATABASE_URL" in value for _s, _k, value in unit_lines(SERVER_UNIT)
    )


@pytest.mark.parametrize("unit", [SERVER_UNIT, DISPLAY_UNIT, HUB_UNIT], ids=lambda p: p.name)
def test_no_unit_can_run_out_of_restarts(unit):
    """A station or hub booting while its database is away keeps trying; systemd must never give up on it."""
    unit_section = {k: v for s, k, v in unit_lines(unit) if s == "Unit"}
    service = {k: v for s, k, v in unit_lines(unit) if s == "Service"}
    assert unit_section["StartLimitIntervalSec"] == "0"
    assert "StartLimitBurst" not in unit_section
    assert service["Restart"] == "always"
    # A step before the server that fails while the database is away would use up restarts;
    # the display's wait for the server ends in success either way.
    for pre in unit_values(unit, "Service", "ExecStartPre"):
        assert "db upgrade" not in pre and pre.rstrip("'").endswith(">&2"), pre


def test_the_servers_wait_for_their_database_and_restart_after_five_seconds():
    for unit in (SERVER_UNIT, HUB_UNIT):
        service = {k: v for s, k, v in unit_lines(unit) if s == "Service"}
        assert service["RestartSec"] == "5"
        assert "ExecStartPre" not in service
    from kiosk import server

    # What lets the units do without `kiosk db upgrade` first: the server waits and then migrates.
    assert [server.retry_delay(n) for n in range(1, 7)] == [2, 4, 8, 15, 15, 15]


def test_the_hub_unit_runs_several_workers_as_the_hub_with_secrets_from_a_file():
    service = {k: v for s, k, v in unit_lines(HUB_UNIT) if s == "Service"}
    assert service["User"] == "kiosk" and service["EnvironmentFile"] == "/etc/kiosk/kiosk.env"
    env = dict(v.split("=", 1) for v in unit_values(HUB_UNIT, "Service", "Environment"))
    assert env["KIOSK_ROLE"] == "hub" and env["KIOSK_STATION_FILE"] == "/etc/kiosk/hub.toml"
    assert int(env["KIOSK_DATABASE_CONNECTIONS"]) >= 2
    words = shlex.split(service["ExecStart"])
    assert words[0].endswith("/kiosk") and words[1] == "serve"
    assert int(words[words.index("--workers") + 1]) > 1
    assert words[words.index("--host") + 1] == "127.0.0.1"  # only nginx reaches it
    port = words[words.index("--port") + 1]
    assert f"server 127.0.0.1:{port};" in NGINX_HUB.read_text(encoding="utf-8")
    # The hub drives no device: it may hide /dev entirely.
    assert service["PrivateDevices"] == "yes" and service["NoNewPrivileges"] == "yes"
    assert not any("KIOSK_SECRET_KEY" in v or "KIOSK_DATABASE_URL" in v for _s, _k, v in unit_lines(HUB_UNIT))


# -- the hub's nginx and PgBouncer -----------------------------------------------------
def nginx_blocks(path: Path) -> dict[str, list[str]]:
    """Directives by the block they sit in (``""``: top level; ``"server 2/location /sync/"``...).

    Raises on unbalanced braces or a directive without its semicolon.
    """
    text = re.sub(r"#[^\n]*", "", path.read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {}
    stack: list[str] = []
    servers = 0
    for token in re.findall(r"[^{};]+[{;]|}", text):
        token = token.strip()
        if token == "}":
            assert stack, f"{path.name}: a closing brace too many"
            stack.pop()
        elif token.endswith("{"):
            name = " ".join(token[:-1].split())
            if name == "server":
                servers += 1
                name = f"server {servers}"
            stack.append(name)
        else:
            found.setdefault("/".join(stack), []).append(" ".join(token[:-1].split()))
    assert not stack, f"{path.name}: unclosed block {stack}"
    leftover = re.sub(r"[^{};]+[{;]|}", "", text).strip()
    assert not leftover, f"{path.name}: not a directive: {leftover[:80]!r}"
    return found


def test_the_hub_nginx_config_has_tls_hsts_unbuffered_streams_photos_and_a_sync_limit():
    blocks = nginx_blocks(NGINX_HUB)
    tls = next(name for name, lines in blocks.items() if any(d.startswith("listen 443 ssl") for d in lines))
    server = blocks[tls]
    assert any(d.startswith("ssl_certificate ") for d in server) and "ssl_protocols TLSv1.2 TLSv1.3" in server
    assert any(d.startswith("add_header Strict-Transport-Security") and "max-age=" in d for d in server)
    (body,) = [d for d in server if d.startswith("client_max_body_size")]
    assert int(body.split()[1].rstrip("m")) * 1024 * 1024 > DEFAULTS["MAX_CONTENT_LENGTH"]
    assert "access_log off" in server  # URLs carry ticket tokens
    streams = blocks[f"{tls}/location /events/"]
    assert "proxy_buffering off" in streams and any(d.startswith("proxy_read_timeout") for d in streams)
    sync = blocks[f"{tls}/location /sync/"]
    zones = {d.split("zone=")[1].split(":")[0] for d in blocks[""] if d.startswith("limit_req_zone")}
    (limit,) = [d for d in sync if d.startswith("limit_req ")]
    assert limit.split("zone=")[1].split()[0] in zones
    assert "limit_req_status 429" in sync
    plain = next(name for name, lines in blocks.items() if "listen 80" in lines)
    assert any(d.startswith("return 301 https://") for d in blocks[f"{plain}/location /"])
    # The app marks every event stream X-Accel-Buffering: no; nginx must be left to obey it.
    assert not any("proxy_ignore_headers" in d for lines in blocks.values() for d in lines)


def test_the_nginx_check_would_catch_a_mistake(tmp_path):
    broken = tmp_path / "broken.conf"
    broken.write_text("server {\n    listen 443 ssl\n    location / { proxy_pass http://x; }\n", encoding="utf-8")
    with pytest.raises(AssertionError):
        nginx_blocks(broken)


def test_the_pgbouncer_example_pools_transactions_for_the_hub():
    import configparser

    ini = configparser.ConfigParser(comment_prefixes=(";",), inline_comment_prefixes=None, interpolation=None)
    ini.read_string(PGBOUNCER_EXAMPLE.read_text(encoding="utf-8"))
    bouncer = ini["pgbouncer"]
    assert bouncer["pool_mode"] == "transaction"
    hub_env = dict(v.split("=", 1) for v in unit_values(HUB_UNIT, "Service", "Environment"))
    words = shlex.split(unit_values(HUB_UNIT, "Service", "ExecStart")[0])
    clients = int(words[words.index("--workers") + 1]) * int(hub_env["KIOSK_DATABASE_CONNECTIONS"])
    assert int(bouncer["max_client_conn"]) >= clients
    server_side = int(bouncer["default_pool_size"]) + int(bouncer.get("reserve_pool_size", "0"))
    assert server_side <= int(bouncer["max_db_connections"]) < 100  # PostgreSQL's default max_connections
    assert "kiosk" in ini["databases"]
    assert bouncer["listen_port"] == "6432"


def display_flags() -> list[str]:
    (command,) = unit_values(DISPLAY_UNIT, "Service", "ExecStart")
    words = shlex.split(command)
    browser = words.index("/usr/bin/chromium")
    return [w for w in words[browser + 1 :] if w.startswith("--")]


def documented_flags() -> list[str]:
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    section = text.split("## Chromium flags", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(--[^`]+)` \|", section, re.MULTILINE)


def test_the_display_unit_restarts_chromium_in_cage_with_the_documented_flags():
    service = {k: v for s, k, v in unit_lines(DISPLAY_UNIT) if s == "Service"}
    assert service["User"] == "kiosk-display" and service["Restart"] == "always"
    (command,) = unit_values(DISPLAY_UNIT, "Service", "ExecStart")
    words = shlex.split(command)
    assert words[0] == "/usr/bin/cage" and "-s" not in words[: words.index("--")]
    assert words[-1] == "${KIOSK_URL}"
    flags = display_flags()
    assert len(flags) == len(set(flags)), "a flag is given twice"
    assert REQUIRED_FLAGS <= set(flags)
    assert sorted(flags) == sorted(documented_flags())
    assert any(f.startswith("--user-data-dir=/var/lib/kiosk-display/") for f in flags)


# -- udev and polkit ---------------------------------------------------------------
MATCH_KEYS = {
    "ACTION",
    "DEVPATH",
    "KERNEL",
    "KERNELS",
    "NAME",
    "SUBSYSTEM",
    "SUBSYSTEMS",
    "DRIVER",
    "DRIVERS",
    "ATTR",
    "ATTRS",
    "ENV",
    "TAG",
    "TAGS",
    "TEST",
    "PROGRAM",
    "RESULT",
    "SYSCTL",
    "CONST",
}
ASSIGN_KEYS = {
    "NAME",
    "SYMLINK",
    "OWNER",
    "GROUP",
    "MODE",
    "ENV",
    "TAG",
    "RUN",
    "LABEL",
    "GOTO",
    "IMPORT",
    "OPTIONS",
    "ATTR",
    "SYSCTL",
    "SECLABEL",
}
TOKEN = re.compile(r'\s*([A-Z]+)(?:\{([^}]+)\})?\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(?:,|$)')


def udev_rules(path: Path) -> list[list[tuple[str, str | None, str, str]]]:
    """Each rule as its (key, attribute, operator, value) tokens; raises on anything malformed."""
    rules = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tokens, pos = [], 0
        while pos < len(line):
            match = TOKEN.match(line, pos)
            assert match, f"{path.name}:{number}: cannot parse from {line[pos:]!r}"
            tokens.append(match.groups())
            pos = match.end()
        for key, _attr, op, _value in tokens:
            if op in ("==", "!="):
                assert key in MATCH_KEYS, f"{path.name}:{number}: {key} cannot be matched"
            else:
                assert key in ASSIGN_KEYS, f"{path.name}:{number}: {key} cannot be assigned"
        assert any(op in ("==", "!=") for _k, _a, op, _v in tokens), f"{path.name}:{number}: matches nothing"
        rules.append(tokens)
    return rules


def test_udev_rules_parse():
    udevadm = shutil.which("udevadm")
    if udevadm and subprocess.run([udevadm, "verify", "--help"], check=False, capture_output=True).returncode == 0:
        run = subprocess.run(
            [udevadm, "verify", str(UDEV_RULES)], check=False, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stdout + run.stderr
    rules = udev_rules(UDEV_RULES)
    assert len(rules) >= 10
    for tokens in rules:
        assigned = {(k, a): v for k, a, op, v in tokens if op not in ("==", "!=")}
        # Only the service's group, never everyone, and never root's ownership games.
        assert assigned[("GROUP", None)] == "kiosk" and assigned[("MODE", None)] == "0660"
        assert ("OWNER", None) not in assigned and ("RUN", None) not in assigned


def test_the_format_check_would_catch_a_mistake(tmp_path):
    bad = tmp_path / "bad.rules"
    bad.write_text('SUBSYSTEM=="usb", ATTR{idVendor}=="0416" GROUP="kiosk"\n', encoding="utf-8")
    with pytest.raises(AssertionError, match="cannot parse"):
        udev_rules(bad)
    bad.write_text('SUBSYSTEM=="usb", MODE=="0660"\n', encoding="utf-8")
    with pytest.raises(AssertionError, match="cannot be matched"):
        udev_rules(bad)


def test_the_udev_rules_cover_the_devices_the_docs_name():
    matches = [{(k, a): v for k, a, op, v in tokens if op == "=="} for tokens in udev_rules(UDEV_RULES)]
    usb = {
        (m.get(("ATTR", "idVendor")), m.get(("ATTR", "idProduct")))
        for m in matches
        if m.get(("SUBSYSTEM", None)) == "usb"
    }
    assert {("0416", "5011"), ("04b8", "0202"), ("0fe6", "811e")} <= usb
    kernels = {m.get(("KERNEL", None)) for m in matches}
    assert "lp[0-9]*" in kernels and "ttyUSB[0-9]*|ttyACM[0-9]*" in kernels
    assert any(m.get(("SUBSYSTEM", None)) == "input" and "ATTRS" in {k for k, _a in m} for m in matches)


def test_the_polkit_rule_names_the_pcscd_actions_and_the_kiosk_user():
    text = (DEPLOY / "polkit" / "50-kiosk-pcscd.rules").read_text(encoding="utf-8")
    assert text.count("{") == text.count("}") and text.count("(") == text.count(")")
    for needle in (
        '"org.debian.pcsc-lite.access_pcsc"',
        '"org.debian.pcsc-lite.access_card"',
        'subject.user == "kiosk"',
        "polkit.Result.YES",
    ):
        assert needle in text


def test_every_file_the_deploy_guide_names_exists():
    named = set(re.findall(r"^\| `([^`]+)` \| `/etc", DEPLOY_DOC.read_text(encoding="utf-8"), re.MULTILINE))
    assert len(named) == 7
    for name in named:
        assert (DEPLOY / name).is_file(), name


# -- the station file ----------------------------------------------------------------
def station_config() -> dict:
    defaults = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()}
    # The secret key comes from kiosk.env, as on a real kiosk.
    return _merge(defaults, load_station_file(STATION_EXAMPLE)) | {"SECRET_KEY": "from-kiosk-env" * 4}


def test_the_station_example_loads_and_validates():
    config = station_config()
    validate(config)
    assert config["STATION"]["kind"] == "party_service" and config["STATION"]["code"] == "shuibei-001"
    from kiosk_hardware.printers import printer_from_config
    from kiosk_hardware.readers.config import reader_from_config

    printer = {
        k: v for k, v in config["DEVICES"]["printer"].items() if k not in ("max_attempts", "retry_delay", "poll_status")
    }
    assert printer_from_config(printer).describe()
    for name, reader in config["DEVICES"]["readers"].items():
        assert reader_from_config(name, reader).name == name
    # And the check is real: a wrong kind is refused.
    with pytest.raises(ConfigError):
        validate(config | {"STATION": dict(config["STATION"], kind="library")})


def test_every_built_in_plugin_starts_with_the_station_example(sqlite_template, tmp_path, caplog):
    from kiosk.app import create_app
    from kiosk.testing import close_app

    shutil.copy(sqlite_template, tmp_path / "kiosk.db")
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "from-kiosk-env" * 4,
            "STATION_FILE": str(STATION_EXAMPLE),
            "DATABASE_URL": "sqlite:///" + str(tmp_path / "kiosk.db"),
            "INSTANCE_PATH": str(tmp_path),
            "IME_PRELOAD": False,
        }
    )
    try:
        infos = app.extensions["kiosk_plugins"].infos
        for name in ("legal", "courier_rest", "parking", "petitions"):
            assert infos[name].state == "enabled" and not infos[name].faults, (name, infos[name].error)
        with app.app_context(), caplog.at_level(logging.WARNING):
            from kiosk_plugins.courier_rest.settings import get_settings as courier
            from kiosk_plugins.parking.settings import settings as parking
            from kiosk_plugins.petitions.settings import get_settings as petitions

            assert courier(app).seats == 8 and courier(app).auto_close_at == time(23, 30)
            assert parking(app).max_reprints == 2
            assert petitions(app).rate_limit("kiosk") == (30, 600)
            assert petitions(app).places[0].label["zh_Hans"] == "贝丽花园"
        # Nothing about any plugin's settings may be logged either.
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "plugins." in r.getMessage()]
    finally:
        close_app(app)


#: Settings only tests or the server commands set, not an operator.
INTERNAL = {
    "TESTING",
    "TESTING_NO_LISTENER",
    "EXTRA_PLUGINS",
    "CSRF_DISABLED",
    "DEBUG",
    "STATION_FILE",
    "INSTANCE_PATH",
    # Flask's own, read where the session cookie's signer is kept (kiosk.security); not a setting
    # the station file offers.
    "SECRET_KEY_FALLBACKS",
}


def _core_settings() -> set[str]:
    found = set()
    tree = ast.parse((ROOT / "kiosk" / "config.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "DEFAULTS":
            found |= {k.value for k in node.value.keys}
    for path in (ROOT / "kiosk").glob("*.py"):
        found |= set(re.findall(r'config(?:\.get\(|\[)"([A-Z][A-Z_]+)"', path.read_text(encoding="utf-8")))
    return found - INTERNAL


def _plugin_settings(schema) -> set[str]:
    """Every setting a plugin's schema declares, nested ones by their own name (``webhook.url`` → ``url``)."""
    return {re.sub(r"\[\d+\]", "", name).rsplit(".", 1)[-1] for name, _setting in schema.documented()}


def _documented(text: str, key: str) -> bool:
    return bool(re.search(rf"(?m)^#?\s*{re.escape(key)}\s*=|\.{re.escape(key)}\]|\b{re.escape(key)} = ", text))


def test_the_station_example_documents_every_setting():
    from kiosk.printing import QUEUE_KEYS
    from kiosk_hardware.printers.factory import BACKENDS, COMMON_KEYS
    from kiosk_hardware.readers.config import BACKEND_KEYS

    text = STATION_EXAMPLE.read_text(encoding="utf-8")
    missing = [
        k
        for k in sorted(_core_settings())
        if not (_documented(text, k.lower()) or f"[{k.lower()}]" in text or f"[{k.lower()}." in text)
    ]
    for plugin in ("legal", "courier_rest", "parking", "petitions"):
        keys = _plugin_settings(importlib.import_module(f"kiosk_plugins.{plugin}.settings").SCHEMA)
        assert keys, f"no settings declared by {plugin}"
        missing += [f"{plugin}.{k}" for k in sorted(keys) if not _documented(text, k)]
    device_keys = set(COMMON_KEYS) | set(QUEUE_KEYS) | {"kind"}
    for _cls, required, optional in BACKENDS.values():
        device_keys |= required | optional
    for keys in BACKEND_KEYS.values():
        device_keys |= keys
    missing += [f"devices.{k}" for k in sorted(device_keys) if not _documented(text, k)]
    assert not missing, f"settings not in deploy/station.toml.example: {missing}"
