"""What holds a Python process's memory, told from inside it: the bill that ``python -m bench outside`` prints.

:func:`report` looks at the process it runs in and says where its memory is:

- ``pymalloc``: Python's own allocator for objects of 512 bytes or less, in
  1 MiB arenas mapped from the system: the arenas, what is in use in them,
  what is free inside them (free blocks and unused pools: Python gives an
  arena back only when all of it is free), and what its bookkeeping costs
  (``sys._debugmallocstats``);
- ``malloc``: glibc's allocator (bigger Python objects, C extensions,
  SQLite, the interpreter's own tables): in use, free but kept, and what
  it mapped for large blocks (``mallinfo2``). Free but kept is what
  ``malloc_trim`` can hand back; once handed back it is no longer resident,
  though ``mallinfo2`` still counts it as free;
- ``sqlite``: what SQLite itself has allocated (page caches, schemas,
  prepared statements), part of ``malloc``'s "in use";
- ``sqlalchemy``: each engine's compiled-statement cache (entries against
  its limit) and its pool;
- ``code``: the bill of the code that modules loaded, by package: code
  objects (bytecode, line tables, constants, docstrings), functions, classes
  and module namespaces. At a worker's start this is most of pymalloc's
  arenas, and it only grows with what is imported;
- ``largest_types``: the object types that hold the most, among the objects
  the cyclic collector tracks.

The figures are in MiB. A process's resident memory (``/proc``) is the sum
of these and of mapped files, thread stacks and Python's other mappings,
less what was never touched or was handed back.

A gunicorn worker is asked from outside with :func:`from_process` (gdb
attaches, takes the GIL and runs :func:`dump` in it; only where gdb is
installed and may attach, and only in the bench). Without gdb,
``python -m bench outside`` reports the same for an app in a child process
of its own (:func:`in_process`).
"""

from __future__ import annotations

import collections
import ctypes
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 2**20


def _mib(size: float) -> float:
    return round(size / MIB, 2)


# -- pymalloc -----------------------------------------------------------------------
def pymalloc() -> dict:
    """Python's small-object allocator, from ``sys._debugmallocstats`` (which writes to the C stderr)."""
    with tempfile.TemporaryFile("w+") as out:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read()
    return parse_mallocstats(text)


def parse_mallocstats(text: str) -> dict:
    """The totals of ``sys._debugmallocstats``'s output, in MiB (arenas, used, free, overhead)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        if "=" not in line:
            continue
        name, _, number = line.rpartition("=")
        name = re.sub(r"^\d+ ", "", name.strip().lstrip("# "))
        try:
            values[name] = int(number.strip().replace(",", ""))
        except ValueError:
            continue
    pools = next((v for k, v in values.items() if k.startswith("unused pools")), 0)
    arena_bytes = next((v for k, v in values.items() if k.startswith("arenas *")), 0)
    overhead = sum(
        values.get(f"bytes lost to {what}", 0) for what in ("pool headers", "quantization", "arena alignment")
    )
    return {
        "arenas": values.get("arenas allocated current", 0),
        "arenas_highwater": values.get("arenas highwater mark", 0),
        "arenas_mib": _mib(arena_bytes),
        "used_mib": _mib(values.get("bytes in allocated blocks", 0)),
        "free_mib": _mib(values.get("bytes in available blocks", 0) + pools),
        "overhead_mib": _mib(overhead),
    }


# -- glibc malloc ---------------------------------------------------------------------
class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def malloc() -> dict | None:
    """glibc malloc's totals over all its arenas (``mallinfo2``, glibc >= 2.33), or None elsewhere."""
    try:
        function = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError, TypeError):
        return None
    function.restype = _MallInfo2
    info = function()
    return {
        "heap_mib": _mib(info.arena),  # the main heap and the other arenas, as obtained from the system
        "used_mib": _mib(info.uordblks),
        "free_mib": _mib(info.fordblks),  # free but kept (resident unless handed back)
        "top_releasable_mib": _mib(info.keepcost),
        "large_blocks_mib": _mib(info.hblkhd),  # blocks mapped one by one (freed straight back)
        "large_blocks": info.hblks,
    }


# -- SQLite -------------------------------------------------------------------------
def sqlite() -> dict | None:
    """What SQLite has allocated now and at most (``sqlite3_memory_used``), if the process loaded it."""
    path = None
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                if "libsqlite3" in line:
                    path = line.split(None, 5)[5].strip()
                    break
    except OSError:
        return None
    if path is None:
        return None
    library = ctypes.CDLL(path)  # the library already loaded: the same copy and counters
    library.sqlite3_memory_used.restype = ctypes.c_int64
    library.sqlite3_memory_highwater.restype = ctypes.c_int64
    library.sqlite3_memory_highwater.argtypes = [ctypes.c_int]
    return {
        "used_mib": _mib(library.sqlite3_memory_used()),
        "highwater_mib": _mib(library.sqlite3_memory_highwater(0)),
    }


# -- the objects --------------------------------------------------------------------
def _all_objects() -> list:
    """Every object the collector tracks, frozen ones included (the server freezes what start-up made)."""
    frozen = gc.get_freeze_count()
    if frozen:
        gc.unfreeze()
    try:
        return gc.get_objects()
    finally:
        if frozen:
            gc.freeze()


def _package_of_module(name: str) -> str:
    top = name.split(".")[0]
    if top == "kiosk_plugins":
        return ".".join(name.split(".")[:2])
    if top in sys.stdlib_module_names or top.startswith("_"):
        return f"stdlib {top}"
    return top


class _Bill:
    """Sizes of code, functions, classes and module namespaces, by package."""

    def __init__(self):
        self.sizes: collections.Counter = collections.Counter()
        self.counts: collections.Counter = collections.Counter()
        self.seen: set[int] = set()
        self.file_package: dict[str, str] = {}
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str):
                self.file_package[path] = _package_of_module(name)

    def _once(self, obj) -> bool:
        if id(obj) in self.seen:
            return False
        self.seen.add(id(obj))
        return True

    def package_of_file(self, path: str) -> str:
        found = self.file_package.get(path)
        if found is None:
            if path.startswith("<frozen "):
                found = _package_of_module(path[8:-1])
            elif path.startswith("<"):
                found = "generated " + path  # exec'd code: SQLAlchemy's, dataclasses', attrs'...
            else:
                found = "file " + os.path.basename(path)
            self.file_package[path] = found
        return found

    def code(self, code: types.CodeType, package: str | None = None) -> None:
        if not self._once(code):
            return
        package = package or self.package_of_file(code.co_filename)
        # Not code.co_code: in 3.11 reading it makes and keeps a copy of the bytecode.
        size = sys.getsizeof(code)
        for part in (code.co_linetable, code.co_exceptiontable, code.co_names, code.co_varnames, code.co_consts):
            if self._once(part):
                size += sys.getsizeof(part)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const, package)
            elif isinstance(const, str | bytes | tuple | frozenset) and self._once(const):
                size += sys.getsizeof(const)
        self.sizes[package] += size

    def function(self, function: types.FunctionType) -> None:
        if not self._once(function):
            return
        package = self.package_of_file(function.__code__.co_filename)
        size = sys.getsizeof(function)
        if function.__defaults__ is not None and self._once(function.__defaults__):
            size += sys.getsizeof(function.__defaults__)
        self.sizes[package] += size
        self.counts[package] += 1
        self.code(function.__code__, package)

    def type(self, cls: type) -> None:
        if not self._once(cls):
            return
        name = getattr(cls, "__module__", None)
        name = name if isinstance(name, str) else "builtins"  # a metaclass's own attribute, not a name
        path = getattr(sys.modules.get(name), "__file__", None)
        package = self.package_of_file(path) if isinstance(path, str) else _package_of_module(name)
        size = sys.getsizeof(cls)
        for referent in gc.get_referents(cls):
            if type(referent) is dict and self._once(referent):  # the class's namespace
                size += sys.getsizeof(referent)
        self.sizes[package] += size

    def module(self, name: str, module: types.ModuleType) -> None:
        namespace = getattr(module, "__dict__", None)
        if isinstance(namespace, dict) and self._once(namespace):
            self.sizes[_package_of_module(name)] += sys.getsizeof(namespace) + sys.getsizeof(module)


def code_bill(objects: list, top: int = 24) -> dict:
    """The code's bill by package, largest first."""
    bill = _Bill()
    for name, module in list(sys.modules.items()):
        if isinstance(module, types.ModuleType):
            bill.module(name, module)
    for obj in objects:
        kind = type(obj)
        if kind is types.FunctionType:
            bill.function(obj)
        elif kind is types.CodeType:
            bill.code(obj)
        elif isinstance(obj, type):
            bill.type(obj)
    total = sum(bill.sizes.values())
    stdlib = sum(size for package, size in bill.sizes.items() if package.startswith("stdlib "))
    return {
        "total_mib": _mib(total),
        "stdlib_mib": _mib(stdlib),
        "by_package": [
            f"{_mib(size):.2f} MiB {package} ({bill.counts[package]} functions)"
            for package, size in bill.sizes.most_common(top)
        ],
    }


def largest_types(objects: list, top: int = 10) -> list[str]:
    """The types whose tracked objects hold the most (their own size, not what they refer to)."""
    sizes: collections.Counter = collections.Counter()
    counts: collections.Counter = collections.Counter()
    for obj in objects:
        kind = type(obj)
        try:
            sizes[kind] += sys.getsizeof(obj)
        except TypeError:
            continue
        counts[kind] += 1
    return [
        f"{_mib(size):.2f} MiB {counts[kind]} {getattr(kind, '__module__', '?')}.{kind.__qualname__}"
        for kind, size in sizes.most_common(top)
    ]


def sqlalchemy(objects: list) -> list[str]:
    """Each SQLAlchemy engine's compiled-statement cache (entries / limit) and pool."""
    engine_module = sys.modules.get("sqlalchemy.engine.base")
    if engine_module is None:
        return []
    out = []
    for obj in objects:
        if isinstance(obj, engine_module.Engine):
            cache = obj._compiled_cache
            entries = f"{len(cache)} / {cache.capacity}" if cache is not None else "off"
            out.append(f"{obj.url.get_backend_name()}: compiled cache {entries}; pool {obj.pool.status()}")
    return out


def report(trim: bool = False) -> dict:
    """What holds this process's memory (see the module's docstring).

    ``trim``: first hand malloc's free memory back as a worker does after a
    busy spell (:func:`kiosk.memory.release_free_memory`) and say how long
    that took and what it gave: little when the worker did it already.
    """
    out: dict = {}
    if trim:
        from kiosk.memory import release_free_memory

        done = release_free_memory()
        out["trim_now"] = None if done is None else {"ms": round(done[0] * 1000, 2), "mib_given": round(done[1], 2)}
    # The allocators first, before this function's own lists are made.
    out.update(malloc=malloc(), pymalloc=pymalloc(), sqlite=sqlite())
    out["modules"] = len(sys.modules)
    out["threads"] = threading.active_count()
    objects = _all_objects()
    try:
        out["tracked_objects"] = len(objects)
        out["sqlalchemy"] = sqlalchemy(objects)
        out["code"] = code_bill(objects)
        out["largest_types"] = largest_types(objects)
    finally:
        del objects
    return out


def dump(path: str, trim: bool = False) -> None:
    """Write :func:`report` as JSON to ``path`` (what gdb runs in a worker)."""
    try:
        found = report(trim)
    except Exception as exc:  # said in the bench's output rather than in the worker's log
        import traceback

        found = {"unavailable": "".join(traceback.format_exception(exc)[-3:])}
    with open(path + ".part", "w") as fh:
        json.dump(found, fh)
    os.replace(path + ".part", path)


# -- asking another process ---------------------------------------------------------
#: How gdb's lines begin when it could not attach or not call a function in the process.
CANNOT_CALL = ("Couldn't", "Could not", "ptrace", "No symbol", "Cannot", "warning: process")


def from_process(pid: int, timeout: float = 120.0, trim: bool = False) -> dict:
    """:func:`report` of process ``pid``, run in it by gdb; ``{"unavailable": why}`` without gdb or leave to attach.

    gdb stops the process, takes the GIL in its main thread (gunicorn's loop,
    waiting in ``select`` without it), runs :func:`dump` and lets go. Only for
    the bench: it stops the worker for a few seconds and needs ptrace.
    """
    gdb = shutil.which("gdb")
    if gdb is None:
        return {"unavailable": "gdb is not installed"}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "report.json")
        code = f"import sys; sys.path.insert(0, '{ROOT}'); import bench.worker_memory as m; m.dump('{path}', {trim})"
        command = [
            gdb,
            "-p",
            str(pid),
            "-batch",
            "-nx",
            "-ex",
            "call (int)PyGILState_Ensure()",
            "-ex",
            f'call (int)PyRun_SimpleStringFlags("{code}", 0)',
            "-ex",
            "call (void)PyGILState_Release($1)",
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"unavailable": f"gdb did not finish within {timeout:.0f} s"}
        if not os.path.exists(path):
            lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
            # gdb's own complaint, not its chatter (the auto-load notice, "detached"): a machine whose
            # gdb cannot call into a process says "Couldn't write extended state status" (some VMs).
            said = [line for line in lines if line.startswith(CANNOT_CALL)] or lines[-3:]
            return {"unavailable": "gdb could not run the report: " + " / ".join(dict.fromkeys(said))}
        with open(path) as fh:
            return json.load(fh)
