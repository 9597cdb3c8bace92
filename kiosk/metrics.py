"""Prometheus metrics: ``GET /metrics`` for the district's monitoring.

What is counted as it happens, in the process where it happens:

- ``kiosk_http_requests_total{endpoint, method, status}`` and the latency
  histogram ``kiosk_http_request_duration_seconds{endpoint}``, labelled by the
  Flask endpoint (``legal_kiosk.index``), never the raw path: URLs carry
  ticket tokens and any client can make up paths, so the path would both leak
  and grow the series without bound. A request no route takes (an unknown
  URL, a method the route does not allow) is ``endpoint="unmatched"``.
  A push stream's time is the time to its first byte, not how long it stays open.
- ``kiosk_push_streams_open{endpoint}``: server-sent-event streams open now.
- ``kiosk_print_jobs_total{printer, outcome}``: jobs of this node's print
  queues that reached a final state, labelled with the state's own name.

What the database holds is read at scrape time by :class:`ScrapeCollector`
(cheap, indexed queries; nothing per request): the sync link (outbox backlog,
age of the last sync; on a hub each station's), the printers' and readers'
states, and what plugins publish through the ``register_metrics`` hook (the
legal queue's tickets and people waiting per service).

Under ``kiosk serve`` each gunicorn worker writes its counts to files in the
folder ``PROMETHEUS_MULTIPROC_DIR`` names (made by :mod:`kiosk.server` at each
start) and whichever worker answers ``/metrics`` adds every worker's up, so the
figures do not depend on which worker Prometheus reached. Elsewhere (``kiosk
run``, tests) the counts are the process's own, kept per app.

Only a caller on this machine (loopback, not relayed by a proxy) or one sending
``Authorization: Bearer <token>`` with ``[metrics] token`` (or
``KIOSK_METRICS_TOKEN``) reads it; anyone else gets 403 and no figures.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select

from kiosk.config import ConfigError
from kiosk.plugins import PluginError
from kiosk.urls import is_loopback_address

__all__ = ["Metrics", "ScrapeCollector", "init_app", "print_job_finished"]

log = logging.getLogger("kiosk.metrics")

bp = Blueprint("metrics", __name__)

#: Latency buckets in seconds: a tap should answer within a quarter of a second.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Methods counted by name; anything else a client sends is ``other`` (the label set stays bounded).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Headers a reverse proxy adds: a request carrying one came from elsewhere, even if from 127.0.0.1.
PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")
#: The shortest token accepted: anything shorter could be guessed.
MIN_TOKEN_LENGTH = 16
#: A plugin's metric name (after ``kiosk_<plugin>_``) and label names.
NAME = re.compile(r"[a-z][a-z0-9_]*")
KINDS = ("gauge", "counter")
#: The endpoint label of a request no route took (a made-up URL, a method the route does not allow).
UNMATCHED = "unmatched"


@dataclass(frozen=True)
class PluginMetric:
    """One metric a plugin registered through ``register_metrics``."""

    plugin: str
    name: str  # the published name, without a counter's ``_total``
    help: str
    collect: Callable
    labels: tuple[str, ...]
    kind: str


class _Stream:
    """A push stream's body that counts itself open from the answer until the server closes it."""

    __slots__ = ("_body", "_gauge", "_open")

    def __init__(self, body, gauge):
        self._body = body
        self._gauge = gauge
        self._open = True
        gauge.inc()

    def __iter__(self):
        return iter(self._body)

    def close(self) -> None:
        if self._open:
            self._open = False
            self._gauge.dec()
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


class Metrics:
    """The app's metrics (``app.extensions["kiosk_metrics"]``): the per-request counts and the scrape."""

    def __init__(self, app):
        self.app = app
        self.folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
        #: True under ``kiosk serve``: values live in the workers' shared files, not in this registry.
        self.multiprocess = values.ValueClass is not values.MutexValue and bool(self.folder)
        if self.multiprocess:
            os.makedirs(self.folder, exist_ok=True)
        # A *_created series beside each count doubles the page for nothing an alert reads
        # (multi-process mode never writes them; a single process should not either).
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "kiosk_http_requests",
            "HTTP requests answered, by Flask endpoint, method and status code.",
            ("endpoint", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "kiosk_http_request_duration_seconds",
            "Seconds from a request's start to its answer (a push stream: to its first byte), by endpoint.",
            ("endpoint",),
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.streams = Gauge(
            "kiosk_push_streams_open",
            "Server-sent-event streams open now, by endpoint.",
            ("endpoint",),
            multiprocess_mode="livesum",  # a dead worker's streams are closed
            registry=self.registry,
        )
        self.print_jobs = Counter(
            "kiosk_print_jobs",
            "Print jobs of this node's print queues that reached a final state, by printer and outcome.",
            ("printer", "outcome"),
            registry=self.registry,
        )
        self.plugin_metrics: list[PluginMetric] = []
        self.token = _token(app.config)
        # (endpoint, method, status) → (count child, latency child): labels() takes a lock and
        # builds a key each time; the label sets are few and fixed, so each is looked up once.
        self._children: dict[tuple, tuple] = {}
        self._stream_children: dict[str, object] = {}

    # -- per request --------------------------------------------------------------------------

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        key = (endpoint, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(endpoint, method, str(status)),
                self.latency.labels(endpoint),
            )
        children[0].inc()
        children[1].observe(seconds)

    def stream_gauge(self, endpoint: str):
        child = self._stream_children.get(endpoint)
        if child is None:
            child = self._stream_children[endpoint] = self.streams.labels(endpoint)
        return child

    def started(self) -> None:
        """First of the app's before-request functions: when the request began."""
        request.environ["kiosk.metrics.started"] = time.perf_counter()

    def answered(self, response):
        """First of the app-wide after-request functions: count and time the answer; watch a push stream."""
        req = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup, not four
        started = req.environ.get("kiosk.metrics.started")
        if started is None:
            return response
        endpoint = req.endpoint or UNMATCHED
        method = req.method if req.method in METHODS else "other"
        self.observe(endpoint, method, response.status_code, time.perf_counter() - started)
        if response.is_streamed and response.mimetype == "text/event-stream":
            adopt = getattr(response.response, "adopt_gauge", None)
            if adopt is not None:  # handed to the worker's stream pump (kiosk.streams), which counts it
                adopt(self.stream_gauge(endpoint))
            else:
                response.response = _Stream(response.response, self.stream_gauge(endpoint))
        return response

    # -- the scrape ---------------------------------------------------------------------------

    def exposition(self, session) -> bytes:
        """The text Prometheus reads: every worker's counts, then what the database holds now."""
        sources: list = []
        if self.multiprocess:
            from prometheus_client.multiprocess import MultiProcessCollector

            sources.append(MultiProcessCollector(None, path=self.folder))
        else:
            sources.append(self.registry)
        sources.append(ScrapeCollector(self.app, session))
        return generate_latest(_Sources(sources))  # type: ignore[arg-type]


class _Sources:
    """What ``generate_latest`` needs of a registry: ``collect()``, here of several sources."""

    def __init__(self, sources: list):
        self.sources = sources

    def collect(self) -> Iterable[Metric]:
        for source in self.sources:
            yield from source.collect()


def _token(config) -> str | None:
    """``KIOSK_METRICS_TOKEN``, else ``[metrics] token``; refused when too short to be a secret."""
    table = config.get("METRICS") or {}
    token = config.get("METRICS_TOKEN") or (table.get("token") if isinstance(table, dict) else None)
    if token in (None, ""):
        return None
    if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"metrics.token (or KIOSK_METRICS_TOKEN) must be a text of at least {MIN_TOKEN_LENGTH} characters: "
            "for example python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return token


def print_job_finished(app, printer: str, outcome: str) -> None:
    """Count a print job that reached its final state ``outcome`` (the job state's own name)."""
    metrics: Metrics | None = app.extensions.get("kiosk_metrics")
    if metrics is not None:
        metrics.print_jobs.labels(printer, outcome).inc()


# -- what the database holds, read at scrape time ------------------------------------------------


class ScrapeCollector:
    """Figures read from the database at scrape time: sync, devices, the plugins' metrics.

    Each part is read on its own: one that fails (a plugin's table not
    migrated, a query that raises) is logged and counted in
    ``kiosk_metrics_collect_errors{part}``, and the rest is published.
    """

    def __init__(self, app, session):
        self.app = app
        self.session = session

    def collect(self) -> Iterable[Metric]:
        from kiosk.models import Station

        app, session = self.app, self.session
        info = GaugeMetricFamily(
            "kiosk_info", "This node: its role and station code (always 1).", labels=("role", "station")
        )
        info.add_metric((app.config.get("ROLE", "station"), app.config["STATION"]["code"]), 1)
        yield info
        failed: list[str] = []
        try:
            station = session.get(Station, app.extensions["kiosk_station_id"])
        except Exception as exc:
            # The database is down: the counts above and the error below still tell Prometheus so.
            log.warning("metrics: the database could not be read: %s", exc)
            failed.append("database")
            _rollback(session)
            station = None
        parts: list[tuple[str, Callable]] = []
        if station is not None:
            parts = [("sync", self._sync), ("devices", self._devices)]
            parts += [(f"plugin:{m.plugin}", _plugin_part(m)) for m in self._plugin_metrics(station)]
        for part, read in parts:
            try:
                families = list(read(session, station))
            except Exception as exc:
                log.warning("metrics: %s could not be read: %s", part, exc)
                failed.append(part)
                _rollback(session)
                continue
            yield from families
        errors = GaugeMetricFamily(
            "kiosk_metrics_collect_errors",
            "Parts of this scrape that could not be read (1: left out).",
            labels=("part",),
        )
        for part in failed:
            errors.add_metric((part,), 1)
        yield errors

    def _plugin_metrics(self, station) -> list[PluginMetric]:
        metrics: Metrics = self.app.extensions["kiosk_metrics"]
        infos = self.app.extensions["kiosk_plugins"].infos
        return [
            m
            for m in metrics.plugin_metrics
            if m.plugin in infos and infos[m.plugin].state == "enabled" and station.plugin_enabled(m.plugin)
        ]

    def _sync(self, session, station) -> Iterable[Metric]:
        from kiosk.db import utcnow
        from kiosk.models import Station
        from kiosk.sync import is_hub
        from kiosk.sync.models import SyncOutbox, SyncParked, SyncPeer, SyncState

        now = utcnow()
        age = GaugeMetricFamily(
            "kiosk_sync_last_success_age_seconds",
            "Seconds since the last successful sync (on a hub: with each station; since enrolment if never).",
            labels=("station",),
        )
        if is_hub(self.app):
            peers = session.execute(
                select(Station.code, SyncPeer.last_sync_at, SyncPeer.enrolled_at)
                .join(Station, Station.id == SyncPeer.station_id)
                .where(SyncPeer.enrolled_at.is_not(None), SyncPeer.revoked_at.is_(None))
            ).all()
            for code, last, enrolled in peers:
                age.add_metric((code,), _seconds(now, last or enrolled))
            parked = GaugeMetricFamily(
                "kiosk_sync_parked_entries", "Entries from stations the hub received but could not apply."
            )
            parked.add_metric((), session.scalar(select(func.count(SyncParked.id))) or 0)
            return [age, parked]
        state = session.get(SyncState, station.id)
        enrolled = state is not None and state.enrolled_at is not None and bool(state.hub_url)
        flag = GaugeMetricFamily("kiosk_sync_enrolled", "1 when this station has joined a district hub.")
        flag.add_metric((), 1 if enrolled else 0)
        unsent = (SyncOutbox.station_id == station.id, SyncOutbox.sent_at.is_(None))
        waiting, oldest = session.execute(
            select(func.count(SyncOutbox.id), func.min(SyncOutbox.at)).where(*unsent)
        ).one()
        backlog = GaugeMetricFamily("kiosk_sync_outbox_waiting", "Outbox entries not yet applied by the hub.")
        backlog.add_metric((), waiting or 0)
        oldest_age = GaugeMetricFamily(
            "kiosk_sync_outbox_oldest_age_seconds", "Age of the oldest outbox entry the hub has not applied (0: none)."
        )
        oldest_age.add_metric((), _seconds(now, oldest) if oldest is not None else 0.0)
        families = [flag, backlog, oldest_age]
        if enrolled and state is not None:
            age.add_metric((station.code,), _seconds(now, state.last_ok_at or state.enrolled_at))
            families.append(age)
        return families

    def _devices(self, session, station) -> Iterable[Metric]:
        """Printers and readers: live from this process when it drives them, else as last reported."""
        from kiosk.db import utcnow
        from kiosk.device_reports import HEALTHY_STATES
        from kiosk.models import DeviceReport, Station

        labels = ("station", "device", "kind")
        state = GaugeMetricFamily(
            "kiosk_device_state",
            "A printer's or reader's current state (1, the state in its label).",
            labels=(*labels, "state"),
        )
        fault = GaugeMetricFamily(
            "kiosk_device_fault", "1 when a printer or reader needs someone to look.", labels=labels
        )
        age = GaugeMetricFamily(
            "kiosk_device_report_age_seconds",
            "Seconds since the device's state was last reported (0: read live from the process that drives it).",
            labels=labels,
        )
        rows: list[tuple[str, str, str, str, float]] = []
        live = self.app.config.get("START_DEVICES") and "kiosk_devices" in self.app.extensions
        if live:
            for device, status in self.app.extensions["kiosk_devices"].statuses().items():
                rows.append((station.code, device, str(status.get("kind") or ""), str(status.get("state") or ""), 0.0))
        else:
            now = utcnow()
            query = select(Station.code, DeviceReport).join(Station, Station.id == DeviceReport.station_id)
            if self.app.config.get("ROLE") != "hub":
                query = query.where(DeviceReport.station_id == station.id)
            for code, report in session.execute(query.order_by(Station.code, DeviceReport.device)).all():
                rows.append((code, report.device, report.kind, report.state, _seconds(now, report.updated_at)))
        for code, device, kind, current, seconds in rows:
            state.add_metric((code, device, kind, current), 1)
            fault.add_metric((code, device, kind), 0 if current in HEALTHY_STATES else 1)
            age.add_metric((code, device, kind), seconds)
        return [state, fault, age]


def _plugin_part(metric: PluginMetric) -> Callable:
    def read(session, station) -> list[Metric]:
        answer = metric.collect(session, station)
        family: Metric
        if metric.kind == "counter":
            family = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
        else:
            family = GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)
        for key, value in (answer or {}).items():
            label_values = (key,) if isinstance(key, str) else tuple(str(v) for v in key)
            if len(label_values) != len(metric.labels):
                raise ValueError(f"{metric.name}: {key!r} does not give one value per label {metric.labels}")
            family.add_metric(label_values, float(value))
        return [family]

    return read


def _rollback(session) -> None:
    try:
        session.rollback()
    except Exception:  # a connection that is gone cannot roll back either; the next request gets a new one
        pass


def _seconds(now, then) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


# -- the plugins' metrics ------------------------------------------------------------------------


def _collect_plugin_metrics(app, metrics: Metrics) -> None:
    taken: set[str] = set()

    def per_plugin(plugin: str) -> dict:
        def register(name, help, collect, labels=(), kind="gauge"):  # noqa: A002 - the hook's documented name
            if not isinstance(name, str) or not NAME.fullmatch(name) or name.endswith("_total"):
                raise PluginError(f"metric name {name!r}: use lower-case letters, digits and _ (no _total)")
            labels = (labels,) if isinstance(labels, str) else tuple(labels)
            bad = [label for label in labels if not isinstance(label, str) or not NAME.fullmatch(label)]
            if bad or len(set(labels)) != len(labels):
                raise PluginError(f"metric {name}: label names must be distinct lower-case identifiers, not {bad}")
            if kind not in KINDS:
                raise PluginError(f"metric {name}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
            if not callable(collect):
                raise PluginError(f"metric {name} needs a callable collect(session, station)")
            full = f"kiosk_{plugin}_{name}"
            if full in taken:
                raise PluginError(f"metric {full} is already registered")
            taken.add(full)
            text = " ".join(str(help or name).split())
            metrics.plugin_metrics.append(PluginMetric(plugin, full, text, collect, labels, kind))

        return {"register": register}

    app.extensions["kiosk_plugins"].call_startup("register_metrics", per_plugin=per_plugin)


# -- the endpoint and the request hooks ----------------------------------------------------------


def caller_may_read(metrics: Metrics) -> bool:
    """A loopback caller not relayed by a proxy, or one with the configured bearer token."""
    header = request.headers.get("Authorization", "")
    if metrics.token and header[:7].lower() == "bearer ":
        if hmac.compare_digest(header[7:].strip().encode(), metrics.token.encode()):
            return True
        log.warning("metrics refused to %s: wrong bearer token", request.remote_addr)
        return False
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    return is_loopback_address(request.remote_addr)


@bp.route("/metrics")
def scrape():
    """The Prometheus text format: every worker's counts and what the database holds now."""
    from kiosk.db import get_session

    metrics: Metrics = current_app.extensions["kiosk_metrics"]
    if not caller_may_read(metrics):
        abort(403)
    body = metrics.exposition(get_session())
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _count_print_jobs(app, metrics: Metrics) -> None:
    """Listen to this node's print queues: each job that reaches a final state is counted by that state."""

    def listener(job) -> None:
        if getattr(job, "finished", False):
            state = getattr(job.state, "value", job.state)
            metrics.print_jobs.labels(job.printer, str(state)).inc()

    for queue in app.extensions["kiosk_printing"].queues.values():
        queue.add_listener(listener)


def init_app(app) -> None:
    """Register ``/metrics``, the request timing, the print-queue listener and the plugins' metrics."""
    metrics = Metrics(app)
    app.extensions["kiosk_metrics"] = metrics
    app.register_blueprint(bp)
    # First of the app's before-request functions, so the time covers the others (loading the user...).
    app.before_request_funcs.setdefault(None, []).insert(0, metrics.started)
    app.after_request(metrics.answered)
    _count_print_jobs(app, metrics)
    _collect_plugin_metrics(app, metrics)
