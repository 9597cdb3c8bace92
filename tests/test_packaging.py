"""Packaging: every source package is installed, under the project's own names only."""

import os
import re
import tomllib

ROOT = os.path.dirname(os.path.dirname(__file__))
MAPPING = {"kiosk": "kiosk", "kiosk_hardware": "hardware", "kiosk_plugins": "plugins"}


def test_every_package_folder_is_listed_in_pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        project = tomllib.load(fh)
    listed = set(project["tool"]["setuptools"]["packages"])
    assert project["tool"]["setuptools"]["package-dir"] == MAPPING
    found = set()
    for name, folder in MAPPING.items():
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, folder)):
            if "__init__.py" in files and "__pycache__" not in dirpath:
                rel = os.path.relpath(dirpath, os.path.join(ROOT, folder))
                found.add(name if rel == "." else name + "." + rel.replace(os.sep, "."))
    assert found == listed
    # Nothing is installed under a bare, clashing top-level name.
    assert not any(p.split(".")[0] in ("plugins", "hardware") for p in listed)


def test_built_in_plugins_are_entry_points_not_core_imports():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        project = tomllib.load(fh)
    eps = project["project"]["entry-points"]["kiosk.plugins"]
    assert set(eps) == {"legal", "courier_rest", "parking", "petitions"}
    for dirpath, _dirs, files in os.walk(os.path.join(ROOT, "kiosk")):
        for name in files:
            if name.endswith((".py", ".html")):
                text = open(os.path.join(dirpath, name), encoding="utf-8").read()
                assert not re.search(r"(from|import)\s+kiosk_plugins|kiosk_plugins\.\w", text), (
                    f"{name} imports a built-in plugin"
                )
