"""CI runs the README's test command exactly, and that command lints before it tests."""

from __future__ import annotations

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*parts: str) -> str:
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as fh:
        return fh.read()


def test_ci_runs_the_readmes_test_command():
    blocks = re.findall(r"```sh\n(.*?)\n```", _read("README.md"), re.S)
    assert len(blocks) >= 2, "README.md starts with two commands: run the kiosk, run the tests"
    test_command = blocks[1].strip()
    ci_lines = [line.strip() for line in _read(".ci", "run").splitlines()]
    assert test_command in ci_lines, f".ci/run does not run the README's test command {test_command!r}"


def test_the_test_command_lints_and_type_checks_first():
    test_command = re.findall(r"```sh\n(.*?)\n```", _read("README.md"), re.S)[1]
    assert "tools/lint" in test_command.split("&&")[1]
    lint = _read("tools", "lint")
    assert os.access(os.path.join(ROOT, "tools", "lint"), os.X_OK)
    for step in ("ruff check", "ruff format --check", "mypy"):
        assert step in lint
