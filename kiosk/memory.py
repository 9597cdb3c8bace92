"""Giving memory a process has freed back to the system (glibc's ``malloc_trim``).

glibc keeps what a program frees for its next allocations: its heap shrinks
only from the top, and it raises its own trim threshold once it has seen
large blocks freed. After a burst (a busy spell of tickets, a large photo
decoded) a worker would stay as big as at the burst's peak. Used by the
serving worker once a busy spell is over (:class:`kiosk.server.AfterBusySpell`)
and by :mod:`kiosk.photos` after a large decode. Where the C library is not
glibc nothing happens.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)

_trim_function: list = []  # [the C function or None], found on the first call


def _malloc_trim():
    """glibc's ``malloc_trim``, or None (another C library, or no ctypes)."""
    if not _trim_function:
        try:
            import ctypes

            function = ctypes.CDLL(None).malloc_trim
            function.argtypes = [ctypes.c_size_t]
            function.restype = ctypes.c_int
        except (ImportError, OSError, AttributeError, TypeError):
            function = None
        _trim_function.append(function)
    return _trim_function[0]


def release_free_memory() -> tuple[float, float] | None:
    """Hand the free memory of every malloc arena back to the system (glibc's ``malloc_trim(0)``).

    Returns (seconds it took, MiB of resident memory it gave back), or None
    where there is no malloc_trim. ``malloc_trim(0)`` also gives back the
    free pages inside the heap, not only at its top, so memory left free
    between live blocks after a busy spell is no longer resident. It walks
    the arenas' free lists with the GIL released (ctypes): a few
    milliseconds for a worker's 30 MiB heap, during which a thread that
    allocates may wait for an arena's lock: call it when the process is quiet,
    or after a burst it caused itself.
    """
    trim = _malloc_trim()
    if trim is None:
        return None
    before = _resident_mib()
    started = time.perf_counter()
    trim(0)
    took = time.perf_counter() - started
    given = before - _resident_mib()
    log.debug("gave %.1f MiB of freed memory back to the system in %.1f ms", given, took * 1000)
    return took, given


def _resident_mib() -> float:
    """This process's resident memory in MiB (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0
