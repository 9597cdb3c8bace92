"""`kiosk serve`'s master imports the CLI with the cyclic collector off and freezes what the imports made."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_cli_collects_nothing_and_leaves_the_collector_on():
    # A child interpreter: this one has imported the CLI already. The source is compiled
    # beforehand (compiling may collect, and a station's install has its bytecode).
    script = (
        "import gc, py_compile, kiosk\n"
        "py_compile.compile(kiosk.__path__[0] + '/cli.py')\n"
        "runs = []\n"
        "gc.callbacks.append(lambda phase, info: runs.append(phase))\n"
        "import kiosk.cli\n"
        "during = len(runs)\n"
        "young = [[] for _ in range(5000)]  # enough new objects for collections to run again\n"
        "print(during, gc.isenabled(), len(runs) > 0, gc.get_freeze_count() > 10000)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["0", "True", "True", "True"]


def test_a_cli_imported_with_the_collector_off_leaves_it_off():
    script = "import gc\ngc.disable()\nimport kiosk.cli\nprint(gc.isenabled())\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False"]


def test_importing_the_cli_imports_no_command_group_nor_the_database_layer():
    # `kiosk serve`'s master imports the CLI and forks: the command groups (users, sync,
    # agent, ...) and SQLAlchemy come in only when a command needs them (issue 22).
    script = (
        "import sys\n"
        "import kiosk.cli\n"
        "heavy = ('sqlalchemy', 'kiosk.db', 'kiosk.models', 'kiosk.sync', 'kiosk.agent', 'kiosk.backup')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_every_command_and_each_lazy_one_loads():
    from click.testing import CliRunner

    from kiosk.cli import LAZY_COMMANDS, cli

    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    expected = {"serve", "run", "db", "plugins", "demo", "printer", "doctor"}
    expected |= {"users", "backup", "restore", "config", "stations", "sync", "agent", "terminals", "purge"}
    assert expected <= listed
    assert set(LAZY_COMMANDS) <= listed
    for name in LAZY_COMMANDS:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert f" {name} [OPTIONS]" in result.output, (name, result.output)
