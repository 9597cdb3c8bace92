"""``kiosk serve``: gunicorn with threaded keep-alive workers whose push streams hold no thread.

Threaded workers (:class:`StreamWorker`, gunicorn's gthread) because views are
plain synchronous Flask; keep-alive because kiosk browsers reuse one
connection for every tap. The calling display, each kiosk page and each
resident's ticket page hold a server-sent-events stream open: the worker hands
those sockets to one pump thread (:mod:`kiosk.streams`), so open streams never
use up the request threads.

A kiosk may boot before its database host, and a hub may boot while its
PostgreSQL is down: when the database cannot be reached at start, the server
starts anyway, answers every request with a "temporarily unavailable" page
that reloads itself, and keeps trying with a growing pause (2, 4, 8, then
every 15 s, one log line per attempt). When the database answers it builds
the real app, which runs the pending migrations (under the migration lock on
PostgreSQL). So the process never exits for an unreachable database and
systemd never reaches its start limit; no ``kiosk db upgrade`` is needed
before ``kiosk serve``.
"""

from __future__ import annotations

import gc
import html
import logging
import os
import shutil
import tempfile
import threading
import time

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.workers.gthread import ThreadWorker

from kiosk import streams
from kiosk.memory import release_free_memory

log = logging.getLogger("kiosk.server")

#: Seconds before the second try to reach the database at start, and the waiting page's reload.
RETRY_SECONDS = 2
#: The longest pause between two tries: each pause doubles up to this.
MAX_RETRY_SECONDS = 15


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed try number ``attempt`` (1, 2, …): 2, 4, 8, 15, 15, …"""
    return float(min(RETRY_SECONDS * 2 ** min(attempt - 1, 10), MAX_RETRY_SECONDS))


class KioskServer(BaseApplication):
    """Embeds gunicorn so ``kiosk serve`` needs no separate config file."""

    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self):
        # Building the app creates some 170 thousand objects that live as long as
        # the worker; the cyclic collector would scan them again and again while
        # they are made (a tenth of the start). Off while building, then they
        # are frozen out of every later collection; the few cycles left over
        # from start-up (about 100 kB) are never freed.
        gc.disable()
        try:
            from kiosk.app import create_app
            from kiosk.logs import RequestIds

            return RequestIds(start_app(create_app))
        finally:
            gc.freeze()
            gc.enable()


def start_app(factory):
    """``factory()``'s app, or a stand-in while the database cannot be reached at start."""
    from kiosk.db import error_line, unavailable

    try:
        return factory()
    except Exception as exc:
        if not unavailable(exc):
            raise
        first = error_line(exc)
    log.warning(
        "the database cannot be reached (%s); serving a 'temporarily unavailable' page and trying "
        "again in %s s: check that the database runs and KIOSK_DATABASE_URL",
        first,
        RETRY_SECONDS,
    )
    waiting = WaitingForDatabase(factory, first)
    threading.Thread(target=waiting.keep_trying, daemon=True, name="kiosk-wait-for-database").start()
    return waiting


class WaitingForDatabase:
    """A WSGI app that stands in for the kiosk until the database answers, then hands over."""

    def __init__(self, factory, error: str):
        from kiosk.db import default_url

        self.factory = factory
        self.error = error
        self.app = None
        config = _config()
        self.url = config.get("DATABASE_URL") or default_url(config["INSTANCE_PATH"])
        self.page = waiting_page(config)
        self.sleep = time.sleep  # a test counts the pauses instead

    def keep_trying(self) -> None:
        """Build the real app once the database answers (runs in its own thread).

        A bare connection is tried first: building the app every few seconds
        would fill the log with start-up lines.
        """
        from kiosk.db import error_line

        attempt = 1  # the failed start was the first
        while self.app is None:
            self.sleep(retry_delay(attempt))
            attempt += 1
            try:
                _connect(self.url)
                self.app = self.factory()
            except Exception as exc:  # a thread that died here would leave the kiosk waiting for ever
                log.warning(
                    "still waiting for the database (attempt %d: %s); trying again in %s s",
                    attempt,
                    error_line(exc),
                    int(retry_delay(attempt)),
                )
        log.warning("the database answers after %d attempts: the kiosk is ready", attempt)

    def __call__(self, environ, start_response):
        app = self.app
        if app is not None:
            return app(environ, start_response)
        start_response(
            "503 SERVICE UNAVAILABLE",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Retry-After", str(RETRY_SECONDS)),
                ("Cache-Control", "no-store"),
                ("Content-Length", str(len(self.page))),
            ],
        )
        return [self.page]


def _config() -> dict:
    """The station's configuration as the app would read it (no database needed)."""
    from flask import Flask

    from kiosk.config import configure, instance_path_default

    app = Flask("kiosk", instance_path=instance_path_default())
    configure(app)
    return dict(app.config, INSTANCE_PATH=app.instance_path)


def _connect(url: str) -> None:
    """Open and close one connection to ``url``; raises what the driver raises."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        engine.connect().close()
    finally:
        engine.dispose()


def waiting_page(config: dict) -> bytes:
    """The page a resident sees meanwhile, in each of the station's languages (first one large).

    No user has chosen a language yet on a kiosk that is starting, so every
    language the station offers is shown; it reloads itself to reach the kiosk.
    """
    from kiosk.i18n import CORE_TRANSLATIONS, HTML_LANG, N_, Catalogs

    catalogs = Catalogs()
    catalogs.add_folder(CORE_TRANSLATIONS)
    message = N_("This service is temporarily unavailable. Please try again later or ask the staff.")
    langs = config["STATION"]["languages"]
    lines = [f'<p lang="{HTML_LANG[lang]}">{html.escape(catalogs.gettext(lang, message))}</p>' for lang in langs]
    title = html.escape(config["STATION"]["name"])
    return (
        f'<!doctype html><html lang="{HTML_LANG[langs[0]]}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{RETRY_SECONDS}"><title>{title}</title>'
        "<style>body{font-family:sans-serif;text-align:center;margin:20vh 8vw;color:#333}"
        "p{font-size:1.6rem}p:first-child{font-size:2.6rem;font-weight:bold}</style></head>"
        f'<body><main role="alert">{"".join(lines)}</main></body></html>'
    ).encode()


class StreamWorker(ThreadWorker):
    """gunicorn's threaded worker that hands push streams to a :class:`kiosk.streams.StreamPump`.

    A stream view run under this worker finds the pump in the environ and
    answers with headers and a first line only (:func:`kiosk.streams.handoff`);
    once they are written the socket is the pump's, and the request thread
    serves the next request. See :mod:`kiosk.streams`.

    Its main loop (which wakes at least once a second to tell the master it
    lives) also hands the memory malloc keeps after a busy spell back to the
    system: see :class:`AfterBusySpell`.
    """

    def init_process(self):
        streams.raise_open_files_limit()
        self.pump = streams.StreamPump()
        self._local = threading.local()
        self.after_busy_spell = AfterBusySpell()
        super().init_process()

    def notify(self):
        super().notify()
        self.after_busy_spell.tick(self.nr)

    def load_wsgi(self):
        super().load_wsgi()
        self.wsgi = self._wrap(self.wsgi)

    def _wrap(self, app):
        pump, local = self.pump, self._local

        def wsgi(environ, start_response):
            handing = environ.get("REQUEST_METHOD") == "GET" and environ.get("SERVER_PROTOCOL") in (
                "HTTP/1.0",
                "HTTP/1.1",
            )
            if not handing:
                return app(environ, start_response)
            environ[streams.PUMP_ENVIRON] = pump

            def start(status, headers, exc_info=None):
                pending = environ.pop(streams.PENDING_ENVIRON, None)
                response = getattr(start_response, "__self__", None)
                if pending is not None and exc_info is None and status.startswith("200") and response is not None:
                    # The body runs until the connection closes: no chunked framing the
                    # worker would end with its last chunk, and no keep-alive.
                    response.force_close()
                    write = start_response(status, headers)
                    response.chunked = False
                    local.pending = pending
                    return write
                if pending is not None:
                    pending.abandon()
                return start_response(status, headers, exc_info)

            body = app(environ, start)
            left = environ.pop(streams.PENDING_ENVIRON, None)
            if left is not None:  # a stream view whose answer never started: undo its subscription
                left.abandon()
            return body

        return wsgi

    def handle_request(self, req, conn):
        self._local.pending = None
        try:
            result = super().handle_request(req, conn)
        except BaseException:
            pending, self._local.pending = self._local.pending, None
            if pending is not None:
                pending.abandon()
            raise
        pending, self._local.pending = self._local.pending, None
        if pending is None:
            return result
        # Headers and first line are written: the socket is the pump's from here on.
        conn.kiosk_handed_off = True
        self.pump.attach(conn.sock, pending)
        return False

    def finish_request(self, conn, fs):
        if getattr(conn, "kiosk_handed_off", False):
            self.nr_conns -= 1  # no longer this worker's connection to count or close
            return
        super().finish_request(conn, fs)

    def run(self):
        try:
            super().run()
        finally:
            self.pump.stop()


class AccessLogger(GunicornLogger):
    """gunicorn's logger, giving its access line only what the kiosk's line writes (kiosk.logs).

    gunicorn hands the access record a dict of some 60 "atoms": every request
    and response header and every WSGI environ entry, each key lower-cased and
    formatted, on every request (a third of gunicorn's own CPU per ticket,
    py-spy --gil under 4 outside clients). The kiosk's line keeps the method,
    the URL rule (or the masked path), the status, the duration and the
    request id; the rest was built to be thrown away, and it included the
    session cookie, in a record any other handler could have written out.
    """

    def atoms(self, resp, req, environ, request_time):
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        return {
            "m": environ.get("REQUEST_METHOD"),
            "U": environ.get("PATH_INFO"),
            "s": status,
            "D": request_time.seconds * 1_000_000 + request_time.microseconds,
            "{kiosk.route}e": environ.get("kiosk.route", "-"),
            "{kiosk.request_id}e": environ.get("kiosk.request_id", "-"),
        }


def run_server(host: str = "127.0.0.1", port: int = 5000, workers: int = 1, threads: int = 16) -> None:
    from kiosk.logs import gunicorn_logconfig, set_process_station

    try:
        # gunicorn's master writes lines too (start, stop, a worker that died): they name the station.
        set_process_station(_config()["STATION"]["code"])
    except Exception:  # a bad setting is reported by the worker that builds the app
        pass
    if workers > 1:
        # Devices belong to one process; several workers are for the hub.
        os.environ["KIOSK_START_DEVICES"] = "false"
    # A connection for each request thread, and some for the worker's own threads.
    os.environ.setdefault("KIOSK_DATABASE_CONNECTIONS", str(threads + 4))
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": StreamWorker,  # gthread, handing push streams to a pump thread
        "threads": threads,
        "keepalive": 75,
        "timeout": 0,  # push streams stay open; gthread still reaps dead workers
        "graceful_timeout": 10,
        # gunicorn's error and access lines in the kiosk's JSON (kiosk.logs): the access
        # line names the URL rule, never the path's ticket tokens nor the query string.
        "logconfig_dict": gunicorn_logconfig(),
        "logger_class": AccessLogger,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "kiosk",
        # gunicorn's control socket (gunicornc, $XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl, one
        # path for every gunicorn of the user): the kiosk does not use it, and starting it made
        # the master import asyncio and run an event loop thread while its worker was booting.
        "control_socket_disable": True,
        # /metrics adds up every worker's counts (kiosk.metrics): see metrics_folder.
        "child_exit": worker_exited,
        "on_exit": remove_metrics_folder,
    }
    metrics_folder()
    limit_malloc_arenas()
    KioskServer(options).run()


#: The environment variable prometheus_client's multi-process mode reads (in each worker, at import).
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
#: The folders :func:`metrics_folder` made in this (the master) process.
_made_folders: list[str] = []


def metrics_folder() -> str:
    """An empty, private folder for the workers' Prometheus files, named in the environment they inherit.

    Each worker writes its counts to files of its own there and ``/metrics``
    adds them up, so a scrape sees every worker's requests, not only those
    of the worker that answers it. Emptied at each start: a previous run's
    counts would be added to this one's. A folder the operator names in
    ``PROMETHEUS_MULTIPROC_DIR`` is used (its ``*.db`` files removed); else a
    new one under the temporary folder, removed when the server stops.
    """
    folder = os.environ.get(METRICS_DIR_VARIABLE)
    if folder:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.remove(os.path.join(folder, name))
        return folder
    folder = tempfile.mkdtemp(prefix="kiosk-metrics-")
    os.environ[METRICS_DIR_VARIABLE] = folder
    _made_folders.append(folder)  # ours to remove at exit (an operator's is left)
    return folder


def worker_exited(server, worker) -> None:
    """gunicorn's ``child_exit`` (in the master): drop the dead worker's gauges, keep its counts."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def remove_metrics_folder(server) -> None:
    """gunicorn's ``on_exit`` (in the master, not in a worker): remove the folder this start made."""
    while _made_folders:
        shutil.rmtree(_made_folders.pop(), ignore_errors=True)


#: glibc's ``mallopt`` parameter for the number of malloc arenas (``M_ARENA_MAX`` in malloc.h).
M_ARENA_MAX = -8


def limit_malloc_arenas(count: int = 2) -> None:
    """Let every thread of the workers (forked after this) share ``count`` malloc arenas.

    glibc gives threads arenas of their own, up to eight per core, and memory
    freed in one is not reused by another: with 32 request threads a worker
    kept about 9 MB more after a busy spell, for a parallelism the GIL does not
    allow anyway.
    """
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, count)
    except (OSError, AttributeError):  # not glibc: its allocator needs no such limit
        pass


#: Seconds without a new request after which a worker that served some gives freed memory back.
QUIET_SECONDS = 2.0


class AfterBusySpell:
    """Gives the memory malloc keeps after a busy spell back to the system, once the spell is over.

    During a busy spell a worker's threads, the print thread and the pool's
    extra database connections allocate and free a lot; glibc keeps what they
    freed (its heap only shrinks from the top, and it raises its own trim
    threshold as it sees large blocks freed), so a worker stayed some 8 MiB
    bigger after 1,500 tickets from 32 clients than its live data needed.
    :meth:`tick` is called from the worker's main loop (never per request)
    with the count of requests so far; once that count has not changed for
    ``quiet`` seconds and moved since the last trim, it calls
    :func:`release_free_memory`. A worker that stays busy is not trimmed:
    what it frees, it allocates again. Nothing happens where malloc_trim
    does not exist (not glibc).
    """

    def __init__(self, quiet: float = QUIET_SECONDS, clock=time.monotonic, release=None):
        self.quiet = quiet
        self.clock = clock
        self.release = release if release is not None else release_free_memory
        self.requests = 0  # the count last seen
        self.since = clock()  # when it last changed
        self.trimmed_at = 0  # the count at the last trim
        self.trims = 0

    def tick(self, requests: int) -> None:
        now = self.clock()
        if requests != self.requests:
            self.requests, self.since = requests, now
            return
        if requests == self.trimmed_at or now - self.since < self.quiet:
            return
        self.trimmed_at = requests
        self.trims += 1
        try:
            self.release()
        except Exception:  # the worker's main loop must go on: memory is only given back later, or never
            log.warning("could not give freed memory back to the system", exc_info=True)
