"""Calling plugins through pluggy's hook callers, one plugin's failure isolated from the rest."""

from __future__ import annotations

import types
from importlib import metadata

import pytest
from flask import Flask

from kiosk import hookimpl
from kiosk.plugins import ENTRY_POINT_GROUP, KioskPlugins


def _plugin(name: str, **hooks) -> types.ModuleType:
    """A throwaway plugin module whose attributes are the given (already marked) hook functions."""
    module = types.ModuleType(f"kiosk_{name}_calltest")
    for attr, function in hooks.items():
        setattr(module, attr, function)
    return module


def _manager(**modules) -> KioskPlugins:
    """Only the throwaway plugins, registered in the order given; the installed ones are off."""
    installed = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return KioskPlugins(disabled=installed, extra_modules=modules)


class Station:
    """Just what KioskPlugins.call asks of a station."""

    def __init__(self, off=()):
        self.off = set(off)

    def plugin_enabled(self, name: str) -> bool:
        return name not in self.off


def _answer(value, calls=None, name=""):
    def health_check(station):
        if calls is not None:
            calls.append(name)
        return value

    return hookimpl(health_check)


def test_a_wrapper_runs_around_the_call_and_sees_and_changes_the_results():
    seen = []

    @hookimpl(wrapper=True)
    def health_check(station):
        seen.append("before")
        results = yield
        seen.append(list(results))
        return [*results, {"ok": True, "detail": "audited"}]

    plugins = _manager(
        one=_plugin("one", health_check=_answer({"ok": True, "detail": "1"})),
        audit=_plugin("audit", health_check=health_check),
    )
    answers = plugins.call("health_check", station=Station())
    assert seen == ["before", [{"ok": True, "detail": "1"}]]
    assert answers == [("one", {"ok": True, "detail": "1"}), ("audit", {"ok": True, "detail": "audited"})]


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_wrapper_that_raises_is_isolated(where):
    @hookimpl(wrapper=True)
    def health_check(station):
        if where == "before":
            raise RuntimeError("wrapper broke before")
        yield
        raise RuntimeError("wrapper broke after")

    @hookimpl(hookwrapper=True)
    def old_style(station):
        outcome = yield
        raise RuntimeError(f"old wrapper broke, saw {outcome.get_result()!r}")

    old = _plugin("old")
    old.health_check = old_style
    plugins = _manager(
        one=_plugin("one", health_check=_answer({"ok": True, "detail": "1"})),
        wrap=_plugin("wrap", health_check=health_check),
        old=old,
    )
    assert plugins.call("health_check", station=Station()) == [("one", {"ok": True, "detail": "1"})]
    assert f"wrapper broke {where}" in plugins.infos["wrap"].last_fault
    assert "old wrapper broke, saw [{'ok': True, 'detail': '1'}]" in plugins.infos["old"].last_fault
    assert plugins.infos["one"].faults == 0


def test_a_firstresult_hook_stops_at_the_first_answer():
    calls = []

    def service(answer, name):
        def request_service(kind, payload, station):
            calls.append(name)
            return answer

        return hookimpl(request_service)

    plugins = _manager(
        first=_plugin("first", request_service=service({"ticket": "A1"}, "first")),
        silent=_plugin("silent", request_service=service(None, "silent")),
        last=_plugin("last", request_service=service({"ticket": "B1"}, "last")),
    )
    # pluggy calls the last registered first: "last" answers and nobody after it is asked.
    assert plugins.call("request_service", kind="queue_ticket", payload={}, station=Station()) == {"ticket": "B1"}
    assert calls == ["last"]
    off = Station(off={"last"})
    assert plugins.call("request_service", firstresult=True, kind="q", payload={}, station=off) == {"ticket": "A1"}
    assert calls == ["last", "silent", "first"]
    with pytest.raises(TypeError, match="firstresult"):
        plugins.call("health_check", firstresult=True, station=Station())


def test_a_raising_plugin_is_recorded_by_name_and_skipped_for_the_rest_of_the_request():
    calls = []

    def broken(station):
        calls.append("broken")
        raise ValueError("no health today")

    plugins = _manager(
        one=_plugin("one", health_check=_answer({"ok": True, "detail": "1"}, calls, "one")),
        broken=_plugin("broken", health_check=hookimpl(broken)),
        two=_plugin("two", health_check=_answer({"ok": False, "detail": "2"}, calls, "two")),
    )
    with Flask(__name__).test_request_context("/"):
        first = plugins.call("health_check", station=Station())
        second = plugins.call("health_check", station=Station())
    expected = [("two", {"ok": False, "detail": "2"}), ("one", {"ok": True, "detail": "1"})]
    assert first == second == expected
    assert calls == ["two", "broken", "one", "two", "one"]  # skipped once it raised
    info = plugins.infos["broken"]
    assert info.faults == 1 and "ValueError: no health today" in info.last_fault
    assert info.state == "enabled"  # at run time it is skipped, not switched off


def test_tryfirst_and_trylast_are_respected():
    plugins = _manager(
        early=_plugin("early", health_check=hookimpl(trylast=True)(lambda station: "trylast")),
        middle=_plugin("middle", health_check=_answer("plain")),
        late=_plugin("late", health_check=hookimpl(tryfirst=True)(lambda station: "tryfirst")),
    )
    assert plugins.call("health_check", station=Station()) == [
        ("late", "tryfirst"),
        ("middle", "plain"),
        ("early", "trylast"),
    ]


def test_per_plugin_arguments_reach_each_plugin_and_switched_off_plugins_are_left_out():
    got = []

    def tiles(label):
        def register_tiles(register, station):
            register(label)

        return hookimpl(register_tiles)

    plugins = _manager(
        a=_plugin("a", register_tiles=tiles("A")),
        b=_plugin("b", register_tiles=tiles("B")),
        c=_plugin("c", register_tiles=tiles("C")),
    )

    def per_plugin(name):
        return {"register": lambda label: got.append((name, label))}

    assert plugins.call("register_tiles", station=Station(off={"b"}), per_plugin=per_plugin) == []
    assert got == [("c", "C"), ("a", "A")]


def test_a_plugin_raising_at_start_is_disabled_and_the_others_start():
    started = []

    def good(register):
        register("good")

    def bad(register):
        raise OSError("no folder")

    plugins = _manager(
        good=_plugin("good", register_jobs=hookimpl(good)), bad=_plugin("bad", register_jobs=hookimpl(bad))
    )
    plugins.call_startup(
        "register_jobs", per_plugin=lambda name: {"register": lambda what: started.append((name, what))}
    )
    assert started == [("good", "good")]
    assert plugins.infos["bad"].state == "failed" and "OSError: no folder" in plugins.infos["bad"].error
    assert plugins.call("health_check", station=Station()) == []  # and it is out for good


def test_a_misspelled_hook_names_the_nearest_hook_and_docs_hooks_md():
    def register_tile(register):  # should be register_tiles
        pass

    def helth_check(station):  # should be health_check
        pass

    plugins = _manager(typo=_plugin("typo", register_tile=hookimpl(register_tile), helth_check=hookimpl(helth_check)))
    info = plugins.infos["typo"]
    assert info.state == "failed"
    assert "register_tile (did you mean register_tiles?)" in info.error
    assert "helth_check (did you mean health_check?)" in info.error
    assert "docs/hooks.md" in info.error and "hookspecs.py" not in info.error
