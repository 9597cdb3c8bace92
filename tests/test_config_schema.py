"""One schema for the station file and every KIOSK_* variable (issue 21, points 1 to 3).

Mistakes are named where they were made (file and line, or the variable) with
the nearest valid name; `kiosk serve` refuses them and a secret anyone could
know; `kiosk doctor` reports them and an unreachable database as lines, never
a traceback; `kiosk config show` says where every value came from; `kiosk db
upgrade` migrates a fresh database whatever `auto_migrate` says.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk import config_schema
from kiosk.app import create_app
from kiosk.cli import cli
from kiosk.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
GOOD_SECRET = "0123456789abcdef" * 4

BAD_STATION = """\
# a station file with the mistakes operators make
secret_key = "replace-with-64-hex-characters"
max_content_length = -1
auto_migrat = true

[station]
cod = "huangbei-001"
name = "黄贝街道党群服务中心"
timezone = "Asia/Shenzhen"
languages = ["zh_Hans", "fr"]

[plugins]
disabled = []

[plugins.legl]
counters = 3

[devices.printer]
type = "lasr"
"""


@pytest.fixture(autouse=True)
def closed_apps(monkeypatch):
    """The apps the in-process ``kiosk`` commands build, closed after the test (a process would exit)."""
    import kiosk.cli
    from kiosk.testing import close_app

    built = []
    build = kiosk.cli._build_app

    def recording():
        app = build()
        built.append(app)
        return app

    monkeypatch.setattr(kiosk.cli, "_build_app", recording)
    yield built
    for app in built:
        close_app(app)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _env(tmp_path: Path, station: Path | None = None, **extra) -> dict:
    """A command's environment: its own instance folder, no station file but ``station``, no secret but given."""
    env = {
        "KIOSK_INSTANCE_PATH": str(tmp_path / "instance"),
        "KIOSK_STATION_FILE": str(station) if station else None,
        "KIOSK_SECRET_KEY": None,
        "KIOSK_DATABASE_URL": None,
        "KIOSK_IME_PRELOAD": "false",
    }
    env.update(extra)
    return env


def test_every_mistake_is_named_with_its_file_line_and_nearest_name(tmp_path):
    station = _write(tmp_path, BAD_STATION)
    sources = config_schema.read_sources(
        str(tmp_path),
        environ={"KIOSK_DATABSE_URL": "postgresql+psycopg://kiosk@db/kiosk", "KIOSK_IDLE_SECONDS": "2"},
        station_file=str(station),
    )
    lines = [str(p) for p in config_schema.check(sources, server=True, deep=True)]
    text = "\n".join(lines)
    assert f"{station}:3: max_content_length: must be a whole number from 1048576" in text
    assert f"{station}:4: auto_migrat: is not a setting; did you mean auto_migrate?" in text
    assert f"{station}:7: station.cod: is not a setting here; did you mean code?" in text
    assert f'{station}:9: station.timezone: "Asia/Shenzhen" is not a time zone' in text
    assert f"{station}:10: station.languages[1]: must be one of" in text
    assert f"{station}:15: plugins.legl: no installed plugin is called legl" in text and "did you mean legal?" in text
    assert f"{station}:18: devices.printer:" in text and "lasr" in text
    assert "environment: KIOSK_DATABSE_URL: is not a kiosk setting; did you mean KIOSK_DATABASE_URL?" in text
    assert "environment: KIOSK_IDLE_SECONDS: must be a whole number from 5" in text
    assert f"{station}:2: secret_key: Refusing to start with the placeholder secret key" in text
    assert len(lines) == 10, text


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("KIOSK_DATABASE_URL", "mysql://kiosk@db/kiosk", "SQLite or PostgreSQL"),
        ("KIOSK_DATABASE_URL", "not a url", "is not a database URL"),
        ("KIOSK_ROLE", "fleet", 'must be one of "station", "hub"'),
        ("KIOSK_STATION__cod", "x", "did you mean KIOSK_STATION__code?"),
        ("KIOSK_PUBLIC_URL", "shuibei.example.gov.cn", "must start with http:// or https://"),
        ("KIOSK_MAX_CONTENT_LENGTH", "1000", "must be a whole number from 1048576"),
        ("KIOSK_LOG_LEVEL", "LOUD", "must be one of DEBUG"),
        ("KIOSK_DEMO", "maybe", "must be true or false"),
    ],
)
def test_each_variable_is_checked_like_the_station_file(tmp_path, variable, value, needle):
    sources = config_schema.read_sources(str(tmp_path), environ={variable: value}, station_file="")
    (problem,) = config_schema.check(sources)
    assert problem.key == variable and problem.where == "environment"
    assert needle in problem.message


def test_a_station_file_without_mistakes_and_the_deploy_examples_pass(tmp_path):
    for example in ("station.toml.example", "hub.toml.example"):
        sources = config_schema.read_sources(
            str(tmp_path), environ={"KIOSK_SECRET_KEY": GOOD_SECRET}, station_file=str(ROOT / "deploy" / example)
        )
        assert config_schema.check(sources, server=True, deep=True) == [], example


def test_every_kiosk_variable_the_project_uses_is_known():
    """Tests, tools, units and docs set KIOSK_* variables: each must be one the schema knows (or ignores)."""
    # Python names, and the ignored prefixes KIOSK_TEST_ and KIOSK_BENCH_ themselves.
    not_variables = {"KIOSK_API", "KIOSK_PROCESS", "KIOSK_PETITION", "KIOSK_STATIC", "KIOSK_TEST", "KIOSK_BENCH"}
    found: set[str] = set()
    for folder in ("kiosk", "plugins", "hardware", "tests", "bench", "deploy", "tools", "docs", "examples"):
        for path in (ROOT / folder).rglob("*"):
            if "node_modules" in path.parts or not path.is_file() or path.suffix in (".pyc", ".po", ".mo", ".db"):
                continue
            if path.name in (Path(__file__).name, "config_schema.py"):  # misspelt names on purpose
                continue
            text = path.read_text(encoding="utf-8", errors="ignore")
            found |= set(re.findall(r"\bKIOSK_[A-Z0-9_]*[A-Z0-9](?:__[a-z_]+)?", text))
    found |= set(re.findall(r"\bKIOSK_[A-Z0-9_]*[A-Z0-9](?:__[a-z_]+)?", (ROOT / "README.md").read_text()))
    unknown = sorted(name for name in found - not_variables if not config_schema.known_variable(name))
    assert not unknown, f"KIOSK_* variables the configuration schema does not know: {unknown}"
    assert {"KIOSK_SECRET_KEY", "KIOSK_TEST_DATABASE_URL", "KIOSK_SCREENSHOT_DIR"} <= found


def test_toml_lines_are_found_without_a_parser_that_keeps_them():
    text = (
        'role = "station"\n'
        'note = """\n[station]\ncode = "not here"\n"""\n'
        "[station]\n"
        'code = "a"   # comment\n'
        "[plugins.legal]\n"
        "webhook.url = 'x'\n"
        "[[plugins.legal.services]]\n"
        'key = "consultation"\n'
        'label = { zh_Hans = "法律咨询" }\n'
    )
    assert config_schema.toml_line(text, ["role"]) == 1
    assert config_schema.toml_line(text, ["station", "code"]) == 7  # not inside the multi-line string
    assert config_schema.toml_line(text, ["plugins", "legal"]) == 8
    assert config_schema.toml_line(text, ["plugins", "legal", "webhook", "url"]) == 9
    assert config_schema.toml_line(text, ["plugins", "legal", "services", "key"]) == 11
    assert config_schema.toml_line(text, ["plugins", "legal", "services", "label", "en"]) == 12  # inline table
    assert config_schema.toml_line(text, ["hub", "stale_after_minutes"]) is None
    # Indexes: the n-th [[table]] of an array, and an item of a list (on the list's line).
    example = (ROOT / "deploy" / "station.toml.example").read_text(encoding="utf-8")
    second = config_schema.toml_line(example, ["plugins", "legal", "services[1]", "prefix"])
    assert second is not None and example.splitlines()[second - 1].startswith('prefix = "B"')
    languages = config_schema.toml_line(example, ["station", "languages[1]"])
    assert languages is not None and example.splitlines()[languages - 1].startswith("languages = ")


def test_the_app_refuses_a_time_zone_instead_of_failing_every_ticket(tmp_path):
    """A zone this machine does not know was looked up per request: every ticket and petition failed.

    Now it stops the app (and so every command and server) at start, with the line to fix.
    """
    station = _write(tmp_path, '[station]\ntimezone = "Asia/Shenzhen"\n')
    with pytest.raises(ConfigError) as refused:
        create_app({"INSTANCE_PATH": str(tmp_path), "STATION_FILE": str(station), "START_DEVICES": False})
    assert f"{station}:2: station.timezone" in str(refused.value)
    assert "Asia/Shanghai" in str(refused.value)


def test_the_instance_folder_defaults_to_the_current_folder_not_the_virtualenv(tmp_path, monkeypatch):
    monkeypatch.delenv("KIOSK_INSTANCE_PATH", raising=False)
    monkeypatch.delenv("KIOSK_STATION_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["config", "show"], env={"KIOSK_SECRET_KEY": None})
    assert result.exit_code == 0, result.output
    assert re.search(rf'^instance_path += "{re.escape(str(tmp_path / "instance"))}" ', result.output, re.MULTILINE)
    assert "default: instance/ in the current folder" in result.output


def test_serve_refuses_mistakes_and_a_weak_secret_before_starting(tmp_path):
    station = _write(tmp_path, BAD_STATION)
    result = CliRunner().invoke(cli, ["serve", "--port", "1"], env=_env(tmp_path, station))
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("kiosk: ")]
    assert len(lines) == 9, result.stderr  # eight mistakes and the verdict, one line each
    assert f"kiosk: {station}:7: station.cod: is not a setting here; did you mean code?" in lines
    # A short key is refused like the default one; demo mode has its own generated key.
    short = CliRunner().invoke(cli, ["serve", "--port", "1"], env=_env(tmp_path, KIOSK_SECRET_KEY="short-key"))
    assert short.exit_code == 2 and "at least 32" in short.stderr
    sources = config_schema.read_sources(str(tmp_path), environ={"KIOSK_DEMO": "true"}, station_file="")
    assert config_schema.check(sources, server=True) == []


def test_doctor_reports_the_configuration_by_line_and_never_a_traceback(tmp_path):
    station = _write(tmp_path, '[station]\ncod = "huangbei-001"\n')
    result = CliRunner().invoke(cli, ["doctor"], env=_env(tmp_path, station))
    assert result.exit_code == 1
    assert f"[FIX] configuration: {station}:2: station.cod: is not a setting here; did you mean code?" in result.output
    assert "[FIX] secret key:" in result.output and "kiosk serve refuses" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)

    # The database does not answer: a line to fix, not the traceback of the app connecting first.
    down = CliRunner().invoke(
        cli,
        ["doctor"],
        env=_env(
            tmp_path, KIOSK_DATABASE_URL="postgresql+psycopg://kiosk@127.0.0.1:1/kiosk", KIOSK_SECRET_KEY=GOOD_SECRET
        ),
    )
    assert down.exit_code == 1, down.output
    assert "[ok ] configuration:" in down.output
    assert "[FIX] database: unreachable" in down.output and "KIOSK_DATABASE_URL" in down.output
    assert "Traceback" not in down.output and isinstance(down.exception, SystemExit)


def test_config_show_says_where_each_value_came_from_with_secrets_masked(tmp_path):
    station = _write(
        tmp_path,
        'idle_seconds = 45\n[station]\ncode = "futian-7"\n[plugins.courier_rest]\napi_token = "tok-0123456789abcdef"\n',
    )
    env = _env(
        tmp_path,
        station,
        KIOSK_SECRET_KEY=GOOD_SECRET,
        KIOSK_DATABASE_URL="postgresql+psycopg://kiosk:hunter2-password@db.example/kiosk",
    )
    result = CliRunner().invoke(cli, ["config", "show"], env=env)
    assert result.exit_code == 0, result.output
    rows = {line.split(" = ")[0].strip(): line for line in result.output.splitlines() if " = " in line}
    assert rows["idle_seconds"].endswith(f"# {station}:1")
    assert rows["station.code"].endswith(f"# {station}:3")
    assert rows["idle_countdown_seconds"].endswith("# default")
    assert (
        rows["secret_key"].endswith("# environment KIOSK_SECRET_KEY") and "**** (64 characters)" in rows["secret_key"]
    )
    assert "hunter2" not in result.output and GOOD_SECRET not in result.output
    assert "tok-0123456789abcdef" not in result.output and "plugins.courier_rest.api_token" in rows
    assert "problem:" not in result.output


def test_db_upgrade_migrates_a_fresh_database_with_auto_migrate_off(tmp_path, fresh_database_url):
    station = _write(tmp_path, "auto_migrate = false\n")
    env = _env(tmp_path, station, KIOSK_DATABASE_URL=fresh_database_url)
    refused = CliRunner().invoke(cli, ["plugins", "list"], env=env)
    assert refused.exit_code == 2 and "run `kiosk db upgrade`" in refused.stderr
    upgraded = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert "database is up to date" in upgraded.output
    listed = CliRunner().invoke(cli, ["plugins", "list"], env=env)
    assert listed.exit_code == 0 and "legal" in listed.output


def test_the_kiosk_env_example_is_known_and_its_placeholder_refused(tmp_path):
    lines = (ROOT / "deploy" / "kiosk.env.example").read_text(encoding="utf-8").splitlines()
    # Every variable, the commented-out ones too, as an operator would uncomment them.
    pairs = [line.lstrip("#").split("=", 1) for line in lines if re.match(r"#?KIOSK_[A-Z_]+=", line)]
    environ = {name: value for name, value in pairs}
    assert set(environ) == {"KIOSK_SECRET_KEY", "KIOSK_DATABASE_URL"}
    sources = config_schema.read_sources(str(tmp_path), environ=environ, station_file="")
    assert config_schema.check(sources) == []  # commands run with the file as shipped
    (refused,) = config_schema.check(sources, server=True)
    assert refused.key == "secret_key" and "placeholder" in refused.message
    assert refused.where == "environment KIOSK_SECRET_KEY"


def test_a_plugins_own_table_is_checked_and_doctor_names_the_line(tmp_path):
    """[plugins.<name>] tables: unknown keys (nearest name) and wrong values switch that plugin off, with the line."""
    station = _write(tmp_path, '[plugins.legal]\nmax_skip = 3\nbooking_days = "soon"\n')
    result = CliRunner().invoke(cli, ["doctor"], env=_env(tmp_path, station, KIOSK_SECRET_KEY=GOOD_SECRET))
    assert result.exit_code == 1
    fixes = [line for line in result.output.splitlines() if line.startswith("[FIX] plugin legal")]
    assert any(
        "plugins.legal.max_skip: is not a setting here; did you mean max_skips? (station.toml:2)" in f for f in fixes
    )
    assert any("plugins.legal.booking_days" in f and "(station.toml:3)" in f for f in fixes), fixes
    assert "Traceback" not in result.output


#: (station file text, the key its problem names): mistakes operators make, one per file.
MISTAKES = [
    ('[station]\ncod = "x"\n', "station.cod"),
    ('[station]\ntimezone = "Asia/Shenzhen"\n', "station.timezone"),
    ('[station]\ntimezone = "UTC+8"\n', "station.timezone"),
    ("max_content_length = -1\n", "max_content_length"),
    ("max_content_length = 100\n", "max_content_length"),
    ("idle_seconds = 0\n", "idle_seconds"),
    ('idle_seconds = "60"\n', "idle_seconds"),
    ("idle_countdown_seconds = -5\n", "idle_countdown_seconds"),
    ("login_max_failures = 0\n", "login_max_failures"),
    ("login_lock_minutes = true\n", "login_lock_minutes"),
    ("database_connections = 1\n", "database_connections"),
    ('database_url = "postgres//kiosk@db/kiosk"\n', "database_url"),
    ('database_url = "mysql://kiosk@db/kiosk"\n', "database_url"),
    ('database_prepare_threshold = "sometimes"\n', "database_prepare_threshold"),
    ('role = "hubb"\n', "role"),
    ('demo = "yes"\n', "demo"),
    ('auto_migrate = "false"\n', "auto_migrate"),
    ("auto_migrat = false\n", "auto_migrat"),
    ('session_cookie_samesite = "sometimes"\n', "session_cookie_samesite"),
    ("session_cookie_secure = 1\n", "session_cookie_secure"),
    ('public_url = "kiosk.example.gov.cn"\n', "public_url"),
    ("secret_key = 12345\n", "secret_key"),
    ('timezone = "Asia/Shanghai"\n', "timezone"),
    ('[station]\nkind = "library"\n', "station.kind"),
    ("[station]\nlanguages = []\n", "station.languages"),
    ('[station]\nlanguages = ["zh_CN"]\n', "station.languages[0]"),
    ('[station]\ntag = "TOOLONG1"\n', "station.tag"),
    ('[station]\nname = ""\n', "station.name"),
    ('[station]\npublic_url = "ftp://kiosk.example.gov.cn"\n', "station.public_url"),
    ("[hub]\nstale_after_minutes = 0\n", "hub.stale_after_minutes"),
    ("[hub]\nstale = 5\n", "hub.stale"),
    ("sse_max_seconds = 0\n", "sse_max_seconds"),
    ("ime_preload_delay = -1\n", "ime_preload_delay"),
    ("[retention]\naudit_days = 0\n", "retention.audit_days"),
    ('[plugins]\ndisabled = "parking"\n', "plugins.disabled"),
    ("[plugins.legl]\ncounters = 3\n", "plugins.legl"),
    ('[devices.printer]\ntype = "lasr"\n', "devices.printer"),
    ('[devices.printr]\ntype = "preview"\n', "devices.printr"),
    ('[terminals.hall-2]\nkind = "kioskk"\n', "terminals"),
]


def test_each_of_the_mistakes_operators_make_is_refused_by_name(tmp_path):
    """The issue's count: of 32 bad settings, 18 passed kiosk doctor. Here every one is refused by name."""
    missed = []
    for index, (text, key) in enumerate(MISTAKES):
        path = tmp_path / f"station-{index}.toml"
        path.write_text(text, encoding="utf-8")
        sources = config_schema.read_sources(str(tmp_path), environ={}, station_file=str(path))
        problems = [p for p in config_schema.check(sources, deep=True) if not p.warning]
        if not any(p.key == key and p.where.startswith(f"{path}:") for p in problems):
            missed.append((text, key, [str(p) for p in problems]))
    assert not missed, missed
    assert len(MISTAKES) >= 32


def test_the_demo_station_passes_what_kiosk_run_checks(tmp_path):
    """`kiosk demo` writes a station file with a generated key; `kiosk run` must accept it (a preview printer
    without a folder too, which kiosk.printing gives one), and demo mode lets the default key through."""
    from kiosk.cli import DEMO_STATION

    for secret, demo in (("0123456789abcdef" * 4, "true"), ("dev-only-change-me", "true")):
        path = _write(tmp_path, DEMO_STATION.format(secret=secret).replace("demo = true", f"demo = {demo}"))
        sources = config_schema.read_sources(str(tmp_path), environ={}, station_file=str(path))
        assert config_schema.check(sources, server=True, deep=True) == [], secret
    off = _write(tmp_path, DEMO_STATION.format(secret="dev-only-change-me").replace("demo = true", "demo = false"))
    sources = config_schema.read_sources(str(tmp_path), environ={}, station_file=str(off))
    assert [p.key for p in config_schema.check(sources, server=True, deep=True)] == ["secret_key"]


def test_the_packaged_services_set_their_instance_folder():
    """Without KIOSK_INSTANCE_PATH a command uses ./instance; the services must never depend on their folder."""
    for unit, folder in (("kiosk.service", "/var/lib/kiosk"), ("kiosk-hub.service", "/var/lib/kiosk-hub")):
        text = (ROOT / "deploy" / "systemd" / unit).read_text(encoding="utf-8")
        assert "kiosk serve" in text
        assert f"Environment=KIOSK_INSTANCE_PATH={folder}\n" in text, unit


def test_every_default_setting_is_in_the_schema():
    """A setting added to kiosk.config.DEFAULTS must be added to the schema too, or the file could not set it."""
    from kiosk.config import DEFAULTS

    missing = sorted(key for key in DEFAULTS if key.lower() not in config_schema.TOP)
    assert not missing, f"add these to kiosk.config_schema.TOP: {missing}"
    for table in ("STATION", "HUB", "RETENTION"):
        fields = config_schema.TOP[table.lower()].fields
        assert set(DEFAULTS[table]) <= set(fields), table
