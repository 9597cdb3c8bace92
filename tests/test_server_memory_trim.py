"""A serving worker gives the memory malloc keeps after a busy spell back to the system (issue 22 point 3).

glibc keeps what a busy spell freed; :class:`kiosk.server.AfterBusySpell`,
ticked from the worker's main loop, calls ``malloc_trim(0)`` once the
requests have stopped for a while. These tests check that the call really
returns freed memory, that it runs once per spell and never while requests
keep coming, and that the worker's loop ticks it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from kiosk import memory, server


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_trimming_returns_memory_freed_between_live_blocks():
    if memory._malloc_trim() is None:
        pytest.skip("no malloc_trim here (not glibc)")
    # A child interpreter: a clean heap, and no other test's threads allocating meanwhile.
    # 40 MB of 2 kB blocks (malloc's heap, not Python's arenas); one in eight is kept, so
    # the heap cannot shrink from its top and each freed stretch lies between live blocks.
    script = (
        "from kiosk.memory import _resident_mib, release_free_memory\n"
        "blocks = [bytes(2000) for _ in range(20000)]\n"
        "for i in range(len(blocks)):\n"
        "    if i % 8:\n"
        "        blocks[i] = None\n"
        "before = _resident_mib()\n"
        "took, given = release_free_memory()\n"
        "print(before - _resident_mib(), given, took)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    dropped, given, took = map(float, out.stdout.split())
    assert dropped >= 15, out.stdout  # about 23 MiB of the 35 freed: the pages wholly inside free chunks
    assert abs(given - dropped) < 1
    assert took < 0.5


def test_once_per_busy_spell_and_only_when_it_is_over():
    clock, calls = FakeClock(), []
    spell = server.AfterBusySpell(quiet=2.0, clock=clock, release=lambda: calls.append(clock.now))
    spell.tick(0)
    clock.now += 60
    spell.tick(0)
    assert calls == []  # no request since start: nothing was freed

    for requests in range(1, 50):  # a busy spell: the loop wakes for each request
        clock.now += 0.5
        spell.tick(requests)
    assert calls == []
    clock.now += 1.0
    spell.tick(49)
    assert calls == []  # quiet for 1 s only
    clock.now += 1.5
    spell.tick(49)
    assert calls == [clock.now]
    for _ in range(10):  # still quiet: once is enough
        clock.now += 1.0
        spell.tick(49)
    assert len(calls) == 1

    for requests in range(50, 400):  # a steady trickle: a request every 1.9 s is never quiet
        clock.now += 1.9
        spell.tick(requests)
    assert len(calls) == 1
    clock.now += 2.0
    spell.tick(399)
    assert len(calls) == 2 and spell.trims == 2


def test_the_workers_main_loop_ticks_it(monkeypatch):
    # gunicorn's loop calls notify() at least once a second; the worker's notify ticks the spell
    # with its request count (gunicorn's Worker.nr).
    from gunicorn.workers.base import Worker

    beats = []
    monkeypatch.setattr(Worker, "notify", lambda self: beats.append(self.nr))
    clock, calls = FakeClock(), []
    worker = server.StreamWorker.__new__(server.StreamWorker)
    worker.after_busy_spell = server.AfterBusySpell(quiet=2.0, clock=clock, release=lambda: calls.append(1))
    worker.nr = 0
    worker.notify()
    worker.nr = 120  # a busy spell's requests
    worker.notify()
    clock.now += 3
    worker.notify()
    assert beats == [0, 120, 120]  # the master still hears from the worker
    assert calls == [1]


def test_a_failing_trim_does_not_stop_the_workers_loop(caplog):
    clock = FakeClock()

    def broken():
        raise OSError("no such function")

    spell = server.AfterBusySpell(quiet=2.0, clock=clock, release=broken)
    spell.tick(5)
    clock.now += 3
    spell.tick(5)  # raises nothing: notify() runs in gunicorn's main loop
    assert spell.trims == 1
    assert "could not give freed memory back" in caplog.text
