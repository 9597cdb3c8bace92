"""The core imports in one direction: no module of kiosk/ or hardware/ imports itself in a loop.

Imports inside functions count too: they hide a cycle from Python, not from the
reader (kiosk/app.py and kiosk/openapi.py once imported each other that way).
"""

from __future__ import annotations

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = {"kiosk": "kiosk", "kiosk_hardware": "hardware"}


def _module_files():
    for package, folder in PACKAGES.items():
        base = os.path.join(ROOT, folder)
        for here, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if d not in {"__pycache__", "migrations", "scaffold_templates"}]
            for name in files:
                if not name.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(here, name), base)[:-3].replace(os.sep, ".")
                module = package if rel == "__init__" else f"{package}.{rel.removesuffix('.__init__')}"
                yield module, os.path.join(here, name)


def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports anywhere in its body."""
    files = dict(_module_files())
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        deps: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    deps.add(candidate if candidate in files else node.module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[module] = {d for d in deps if d in files and d != module and not module.startswith(d + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_in_the_core():
    found = cycles(import_graph())
    assert not found, "modules that import each other (move the shared part to a module of its own): " + repr(found)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
