"""Generates docs/hooks.md from the hook specs: the docstrings are the documentation.

``python -m kiosk.hookdocs > docs/hooks.md``; a test fails when the file is stale.
"""

from __future__ import annotations

import inspect
import sys

from kiosk import hookspecs

HEADER = """# Hook reference

Generated from `kiosk/hookspecs.py` by `python -m kiosk.hookdocs > docs/hooks.md`; do not edit by
hand. A plugin implements a hook with a function of the same name decorated with `@hookimpl`
(`from kiosk import hookimpl`); it may accept any subset of the arguments. See
[plugins.md](plugins.md) for the rest of the plugin API.
"""


def _options(func) -> str:
    opts = []
    spec_opts = getattr(func, "kiosk_spec", {}) or {}
    if spec_opts.get("firstresult"):
        opts.append("first result wins")
    if spec_opts.get("historic"):
        opts.append("historic")
    return f" ({', '.join(opts)})" if opts else ""


def render() -> str:
    parts = [HEADER]
    for name, func in vars(hookspecs).items():
        if not (inspect.isfunction(func) and hasattr(func, "kiosk_spec")):
            continue
        signature = str(inspect.signature(func))
        parts.append(f"## `{name}{signature}`{_options(func)}\n")
        parts.append(inspect.cleandoc(func.__doc__ or "") + "\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
