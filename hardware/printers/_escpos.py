"""python-escpos, imported with its printer capability data parsed once per machine.

When ``escpos.capabilities`` is imported, python-escpos reads its
``capabilities.json`` (some 100 kB of printer profiles) with a YAML parser,
about 0.18 s here, and keeps the result as a pickle in the folder named by
``ESCPOS_CAPABILITIES_PICKLE_DIR``; without that variable the folder is a new
temporary directory each time, so every process parses the file again (and
leaves its pickle behind in /tmp). :func:`prepare` names a lasting folder
(the user's cache) and writes the pickle itself, atomically, from the file
read as the JSON it is (under a millisecond): several workers starting at once
never see a half-written pickle. Backends import python-escpos from here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import platform
import sys
import tempfile

ENV_FOLDER = "ESCPOS_CAPABILITIES_PICKLE_DIR"
ENV_FILE = "ESCPOS_CAPABILITIES_FILE"


def default_folder() -> str:
    """``$XDG_CACHE_HOME/kiosk-hardware`` (``~/.cache/kiosk-hardware``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kiosk-hardware")


def capabilities_file() -> str | None:
    """The capability data python-escpos will read (its own, or the one the environment names)."""
    named = os.environ.get(ENV_FILE)
    if named:
        return named
    spec = importlib.util.find_spec("escpos")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "capabilities.json")


def pickle_path(folder: str) -> str:
    """Where python-escpos looks for its pickle in ``folder`` (it names it by Python version)."""
    return os.path.join(folder, f"{platform.python_version()}.capabilities.pickle")


def prepare(folder: str | None = None) -> str | None:
    """Point python-escpos at a lasting folder and fill it; returns the folder, or None.

    Does nothing once python-escpos's capabilities are loaded, and leaves a
    folder the environment already names alone except to fill it. When no
    folder can be written, python-escpos keeps its own behaviour.
    """
    if "escpos.capabilities" in sys.modules:
        return os.environ.get(ENV_FOLDER)
    folder = os.environ.get(ENV_FOLDER) or folder or default_folder()
    try:
        os.makedirs(folder, exist_ok=True)
        _write_pickle(folder)
    except (OSError, ValueError, pickle.PickleError):
        # Unwritable, or not JSON (a YAML file named by ESCPOS_CAPABILITIES_FILE):
        # python-escpos parses it itself, in a folder it can write if this one is.
        if not os.access(folder, os.W_OK):
            return None
    os.environ[ENV_FOLDER] = folder
    return folder


def _write_pickle(folder: str) -> None:
    source = capabilities_file()
    if source is None or not os.path.exists(source):
        return
    target = pickle_path(folder)
    if os.path.exists(target) and os.path.getmtime(target) >= os.path.getmtime(source):
        return  # current: python-escpos reloads it only when the data file is newer
    with open(source, encoding="utf-8") as fh:
        data = json.load(fh)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".capabilities-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


prepare()

from escpos import printer  # noqa: E402  (after prepare(): the import reads the capabilities)
from escpos.exceptions import DeviceNotFoundError  # noqa: E402

__all__ = ["DeviceNotFoundError", "prepare", "printer"]
