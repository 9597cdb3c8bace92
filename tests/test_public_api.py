"""Plugins use the documented plugin API and nothing else.

The API is the ``__all__`` of the modules in ``kiosk.apidocs.PUBLIC_MODULES``,
documented in docs/api.md (generated, kept in step here). Every built-in plugin
and the venue example are walked: an import of a private core module or name, an
import of another plugin, a read of the core's ``app.extensions`` entries, or a
public module's attribute outside its ``__all__`` fails with the file and line.
"""

from __future__ import annotations

import ast
import importlib
import os

import pytest

from kiosk.apidocs import PUBLIC_MODULES, public_names, render

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Source folder → the package name it is installed as.
PLUGIN_PACKAGES = {
    os.path.join(ROOT, "plugins", name): f"kiosk_plugins.{name}"
    for name in sorted(os.listdir(os.path.join(ROOT, "plugins")))
    if os.path.isfile(os.path.join(ROOT, "plugins", name, "__init__.py"))
}
PLUGIN_PACKAGES[os.path.join(ROOT, "examples", "venue", "kiosk_venue")] = "kiosk_venue"
PLUGIN_PACKAGES[os.path.join(ROOT, "examples", "venue", "tests")] = "kiosk_venue"

CORE_ROOTS = ("kiosk", "kiosk_hardware")


def _python_files(folder: str):
    for here, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in {"__pycache__", "build"}]
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(here, name)


def _is_core(module: str) -> bool:
    return module.split(".")[0] in CORE_ROOTS


def _is_other_plugin(module: str, own: str) -> bool:
    if module == own or module.startswith(own + "."):
        return False
    return module.split(".")[0] in {"kiosk_plugins", "kiosk_venue"}


def _plugin_name(package: str) -> str:
    return package.rsplit(".", 1)[-1].removeprefix("kiosk_")


class _Walker(ast.NodeVisitor):
    """Collects the API breaches of one file."""

    def __init__(self, path: str, package: str):
        self.path = os.path.relpath(path, ROOT)
        self.package = package
        self.own_key = _plugin_name(package)
        self.modules: dict[str, str] = {}  # local name → public module it is bound to
        self.problems: list[str] = []

    def _problem(self, node, text: str) -> None:
        self.problems.append(f"{self.path}:{node.lineno}: {text}")

    def _check_module(self, node, module: str) -> bool:
        if _is_other_plugin(module, self.package):
            self._problem(node, f"imports another plugin ({module}); plugins talk through hooks and events")
            return False
        if _is_core(module) and module not in PUBLIC_MODULES:
            self._problem(node, f"imports {module}, which is not part of the plugin API (docs/api.md)")
            return False
        return _is_core(module)

    def visit_Import(self, node):
        for alias in node.names:
            if self._check_module(node, alias.name):
                if alias.asname:
                    self.modules[alias.asname] = alias.name

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return  # relative: the plugin's own modules
        if not self._check_module(node, node.module):
            return
        allowed = public_names(node.module)
        for alias in node.names:
            submodule = f"{node.module}.{alias.name}"
            if submodule in PUBLIC_MODULES:
                self.modules[alias.asname or alias.name] = submodule
            elif alias.name not in allowed:
                self._problem(node, f"imports {alias.name} from {node.module}, which is not in its __all__")

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name) and node.value.id in self.modules:
            module = self.modules[node.value.id]
            if node.attr not in public_names(module):
                self._problem(node, f"uses {module}.{node.attr}, which is not in its __all__")
        self.generic_visit(node)

    def visit_Subscript(self, node):
        # app.extensions["db"] and friends are the core's own state.
        target = node.value
        if isinstance(target, ast.Attribute) and target.attr == "extensions":
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                if key.value != self.own_key and not key.value.startswith(self.own_key + "_"):
                    self._problem(
                        node,
                        f"reads app.extensions[{key.value!r}], which belongs to the core "
                        "or another plugin; use the plugin API",
                    )
        self.generic_visit(node)


def _breaches() -> list[str]:
    problems = []
    for folder, package in PLUGIN_PACKAGES.items():
        for path in _python_files(folder):
            with open(path, encoding="utf-8") as fh:
                tree = ast.parse(fh.read(), path)
            walker = _Walker(path, package)
            walker.visit(tree)
            problems.extend(walker.problems)
    return problems


def test_plugins_use_only_the_public_api():
    problems = _breaches()
    assert not problems, "plugins step outside the plugin API:\n" + "\n".join(problems)


@pytest.mark.parametrize("module_name", sorted(PUBLIC_MODULES))
def test_every_public_module_lists_its_api(module_name):
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    assert names, f"{module_name} has no __all__"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{module_name}.__all__ names what it does not define: {missing}"
    undocumented = [
        n for n in names if (callable(getattr(module, n)) and not (getattr(module, n).__doc__ or "").strip())
    ]
    assert not undocumented, f"{module_name}: public names without a docstring: {undocumented}"


def test_api_docs_are_in_step():
    with open(os.path.join(ROOT, "docs", "api.md"), encoding="utf-8") as fh:
        docs = fh.read()
    assert docs == render(), "docs/api.md is stale: run python -m kiosk.apidocs > docs/api.md"


def test_the_walker_catches_a_private_import(tmp_path):
    """The check itself must be able to fail: a private name, another plugin, core state."""
    source = (
        "from kiosk.db import _close_session\n"
        "from kiosk.app import create_app\n"
        "from kiosk_plugins.parking import models\n"
        "from kiosk import db\n"
        "db._mark_written\n"
        "app.extensions['db']\n"
    )
    path = tmp_path / "bad.py"
    path.write_text(source, encoding="utf-8")
    walker = _Walker(str(path), "kiosk_plugins.legal")
    walker.visit(ast.parse(source))
    text = "\n".join(walker.problems)
    assert "_close_session" in text
    assert "kiosk.app" in text
    assert "another plugin" in text
    assert "kiosk.db._mark_written" in text
    assert "app.extensions['db']" in text
