"""python-escpos's capability data: parsed once per machine, never half-written, no /tmp litter.

Each case runs in a fresh interpreter: python-escpos reads its capabilities
once, when first imported.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import escpos

CAPABILITIES = os.path.join(os.path.dirname(escpos.__file__), "capabilities.json")


def _run(code: str, env: dict) -> dict:
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


IMPORT_ESCPOS = """
import json, os, sys, tempfile
before = set(os.listdir(tempfile.gettempdir()))
import kiosk_hardware.printers._escpos  # what a USB printer, a model profile or the bench load
import escpos.capabilities as caps
after = set(os.listdir(tempfile.gettempdir()))
print(json.dumps({"folder": os.environ.get("ESCPOS_CAPABILITIES_PICKLE_DIR"), "pickle": caps.pickle_path,
                  "profiles": len(caps.CAPABILITIES["profiles"]), "new_in_tmp": sorted(after - before)}))
"""


def _env(tmp_path, **extra) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ESCPOS_")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), TMPDIR=str(tmp_path / "tmp"), **extra)
    os.makedirs(env["TMPDIR"], exist_ok=True)
    return env


def test_the_capabilities_are_kept_in_the_users_cache_and_read_from_there(tmp_path):
    env = _env(tmp_path)
    first = _run(IMPORT_ESCPOS, env)
    folder = str(tmp_path / "cache" / "kiosk-hardware")
    assert first["folder"] == folder
    assert os.path.dirname(first["pickle"]) == folder
    # python-escpos 3.1 still makes an (empty) temporary folder per process: its
    # default for the variable is computed even when the variable is set.
    assert all(not os.listdir(tmp_path / "tmp" / name) for name in first["new_in_tmp"])
    with open(CAPABILITIES, encoding="utf-8") as fh:
        expected = json.load(fh)
    with open(first["pickle"], "rb") as fh:
        assert pickle.load(fh) == expected  # what python-escpos's own YAML parse gives
    assert first["profiles"] == len(expected["profiles"])

    # The next process reads the same pickle; it is not written again.
    written = os.stat(first["pickle"]).st_mtime_ns
    second = _run(IMPORT_ESCPOS, env)
    assert second["pickle"] == first["pickle"]
    assert os.stat(first["pickle"]).st_mtime_ns == written
    assert [name for name in os.listdir(folder) if name.endswith(".tmp")] == []


def test_a_folder_the_environment_names_is_used(tmp_path):
    named = tmp_path / "escpos-cache"
    result = _run(IMPORT_ESCPOS, _env(tmp_path, ESCPOS_CAPABILITIES_PICKLE_DIR=str(named)))
    assert result["folder"] == str(named)
    assert os.path.dirname(result["pickle"]) == str(named)
    assert os.path.exists(result["pickle"])


def test_an_unwritable_cache_leaves_python_escpos_to_its_own_ways(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder would be")
    result = _run(IMPORT_ESCPOS, _env(tmp_path))
    assert result["folder"] is None
    assert result["profiles"] > 0  # python-escpos parsed its data itself


def test_a_newer_capabilities_file_is_read_again(tmp_path):
    data = tmp_path / "capabilities.json"
    with open(CAPABILITIES, encoding="utf-8") as fh:
        content = json.load(fh)
    content["profiles"] = {"default": content["profiles"]["default"]}
    data.write_text(json.dumps(content), encoding="utf-8")
    env = _env(tmp_path, ESCPOS_CAPABILITIES_FILE=str(data))
    assert _run(IMPORT_ESCPOS, env)["profiles"] == 1
    content["profiles"]["TM-T88V"] = dict(content["profiles"]["default"], name="TM-T88V")
    data.write_text(json.dumps(content), encoding="utf-8")
    os.utime(data, ns=(data.stat().st_atime_ns, data.stat().st_mtime_ns + 5_000_000_000))
    assert _run(IMPORT_ESCPOS, env)["profiles"] == 2
