"""GET /metrics in process: what is counted, who may read it, and the alert rules against it.

The real ``kiosk serve`` with two workers, whose counts must be summed, is
tests/test_metrics_serve.py.
"""

from __future__ import annotations

import os
import re
import shutil
import types

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from test_legal_support import take_ticket

from kiosk import hookimpl
from kiosk.config import ConfigError
from kiosk.db import session_for, utcnow
from kiosk.metrics import _token as metrics_token
from kiosk.models import DeviceReport, PrintJob
from kiosk.testing import printed_receipts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = os.path.join(ROOT, "deploy", "prometheus", "kiosk-alerts.yml")
TOKEN = "metrics-token-0123456789abcdef"
#: Series Prometheus makes itself (not the kiosk's): a rule may use them.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds"}


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template):
    """``sqlite_url()`` → a fresh copy of the migrated SQLite file, for tests where the backend plays no part."""
    made = []

    def copy() -> str:
        path = tmp_path / f"metrics-{len(made)}.db"
        shutil.copy(sqlite_template, path)
        made.append(path)
        return f"sqlite:///{path}"

    return copy


@pytest.fixture
def sqlite_app(make_app, sqlite_url):
    return make_app(sqlite_url())


def plugin(name, **hooks):
    """A throwaway plugin module holding the given hook implementations."""
    module = types.ModuleType(f"kiosk_{name}_throwaway")
    for hook, func in hooks.items():
        func.__name__ = hook
        setattr(module, hook, hookimpl(func))
    return module


def scrape(client, **kwargs) -> dict:
    """``{(sample name, ((label, value), ...)): value}`` of one scrape."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


#: PromQL words that are not metric names.
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: not functions, keywords, label names or values."""
    # Label matchers, strings, ranges and the label lists of by/on/... hold no metric names.
    expr = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]', " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        rest = expr[match.end() :].lstrip()
        if not rest.startswith("(") and match.group() not in PROMQL_WORDS:
            names.add(match.group())
    return names


def exported_names(client) -> set[str]:
    """Every metric family and sample name the endpoint declares (even one with no sample now)."""
    text = client.get("/metrics").get_data(as_text=True)
    names = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def test_requests_are_counted_by_endpoint_never_by_path(sqlite_app):
    client = sqlite_app.test_client()
    client.get("/healthz")
    client.get("/healthz")
    client.get("/m/legal/t/secret-ticket-token-42")  # a phone page: the token is in the path
    client.get("/no/such/page-of-someone")
    odd = client.open("/healthz", method="BREW").status_code  # a method nobody uses
    response = client.get("/metrics")
    text = response.get_data(as_text=True)
    samples = scrape(client)
    assert value(samples, "kiosk_http_requests_total", endpoint="health.healthz", method="GET", status="200") == 2
    assert value(samples, "kiosk_http_requests_total", endpoint="unmatched", method="GET", status="404") == 1
    assert value(samples, "kiosk_http_requests_total", endpoint="unmatched", method="other", status=str(odd)) == 1
    phone = [k for k in samples if k[0] == "kiosk_http_requests_total" and ("endpoint", "legal_mobile.status") in k[1]]
    assert phone, sorted(k for k in samples if k[0] == "kiosk_http_requests_total")
    assert value(samples, "kiosk_http_request_duration_seconds_count", endpoint="health.healthz") == 2
    assert value(samples, "kiosk_http_request_duration_seconds_bucket", endpoint="health.healthz", le="+Inf") == 2
    assert value(samples, "kiosk_http_request_duration_seconds_sum", endpoint="health.healthz") > 0
    for secret in ("secret-ticket-token-42", "page-of-someone", "BREW"):
        assert secret not in text


def test_errors_are_counted_by_route(make_app, sqlite_url):
    from flask import Blueprint

    bp = Blueprint("broken", __name__)

    @bp.route("/")
    def fails():
        raise RuntimeError("the plugin's page is broken")

    app = make_app(
        sqlite_url(), EXTRA_PLUGINS={"broken": plugin("broken", register_blueprints=lambda register: register(bp))}
    )
    client = app.test_client()
    for _ in range(3):
        assert client.get("/k/broken/").status_code == 500
    samples = scrape(client)
    assert value(samples, "kiosk_http_requests_total", endpoint="broken.fails", method="GET", status="500") == 3


def test_only_this_machine_or_the_token_reads_it(make_app, sqlite_url):
    open_app = make_app(sqlite_url())
    client = open_app.test_client()
    assert client.get("/metrics").status_code == 200  # loopback
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    for refused in (
        {"environ_base": {"REMOTE_ADDR": "10.20.0.5"}},
        # From 127.0.0.1 but relayed by nginx: someone on the network.
        {"headers": {"X-Forwarded-For": "203.0.113.9"}},
        {"headers": {"X-Real-IP": "203.0.113.9"}},
        # No token is configured: a bearer header opens nothing.
        {"environ_base": {"REMOTE_ADDR": "10.20.0.5"}, "headers": {"Authorization": f"Bearer {TOKEN}"}},
    ):
        response = client.get("/metrics", **refused)
        assert response.status_code == 403, refused
        assert "kiosk_" not in response.get_data(as_text=True)

    guarded = make_app(sqlite_url(), METRICS={"token": TOKEN}).test_client()
    remote = {"REMOTE_ADDR": "10.20.0.5"}
    samples = scrape(guarded, environ_base=remote, headers={"Authorization": f"Bearer {TOKEN}"})
    assert value(samples, "kiosk_info", role="station", station="shuibei") == 1
    for header in (f"Bearer {TOKEN}x", "Bearer ", TOKEN, f"Basic {TOKEN}"):
        response = guarded.get("/metrics", environ_base=remote, headers={"Authorization": header})
        assert response.status_code == 403 and b"kiosk_" not in response.data, header
    # KIOSK_METRICS_TOKEN arrives as METRICS_TOKEN and wins; a token too short to be a secret is refused.
    assert metrics_token({"METRICS_TOKEN": TOKEN, "METRICS": {"token": None}}) == TOKEN
    assert metrics_token({"METRICS_TOKEN": None, "METRICS": {}}) is None
    with pytest.raises(ConfigError, match="at least 16 characters"):
        metrics_token({"METRICS": {"token": "short"}})


def test_with_the_database_down_the_counts_are_still_published(sqlite_app, monkeypatch):
    client = sqlite_app.test_client()
    from sqlalchemy.exc import OperationalError

    class Down:
        def get(self, *args, **kwargs):
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

        rollback = get

    client.get("/healthz")
    monkeypatch.setattr("kiosk.db.get_session", lambda: Down())
    samples = scrape(client)
    assert value(samples, "kiosk_http_requests_total", endpoint="health.healthz", method="GET", status="200") == 1
    assert value(samples, "kiosk_metrics_collect_errors", part="database") == 1
    assert value(samples, "kiosk_info", role="station", station="shuibei") == 1
    assert not [k for k in samples if k[0].startswith(("kiosk_sync_", "kiosk_legal_"))]


def test_tickets_waiting_and_print_jobs(app, client):
    kiosk = app.test_client()
    take_ticket(kiosk, "consultation")
    take_ticket(kiosk, "consultation")
    take_ticket(kiosk, "mediation")
    assert len(printed_receipts(app, "legal.ticket")) == 3
    samples = scrape(client)
    assert value(samples, "kiosk_legal_tickets_issued_total", service="consultation") == 2
    assert value(samples, "kiosk_legal_tickets_issued_total", service="mediation") == 1
    assert value(samples, "kiosk_legal_tickets_issued_total", service="arbitration") == 0  # listed with 0
    assert value(samples, "kiosk_legal_waiting", service="consultation") == 2
    assert value(samples, "kiosk_legal_waiting", service="mediation") == 1
    # Each job is counted once, by the state it ended in (whatever the print queue calls it).
    with session_for(app) as session:
        states = [job.state for job in session.query(PrintJob).all()]
    counted = {
        dict(labels)["outcome"]: v for (name, labels), v in samples.items() if name == "kiosk_print_jobs_total" and v
    }
    assert sum(counted.values()) == 3 and set(counted) == set(states)
    assert all(dict(labels)["printer"] == "default" for (name, labels) in samples if name == "kiosk_print_jobs_total")


def test_a_station_that_switched_the_plugin_off_publishes_none_of_its_figures(app, client):
    from test_courier_rest_support import switch_off

    switch_off(app, "legal")
    samples = scrape(client)
    assert not [k for k in samples if k[0].startswith("kiosk_legal_")]


def test_push_streams_open(sqlite_app):
    app, client = sqlite_app, sqlite_app.test_client()
    stream = app.test_client().get("/events/stream?channel=legal", buffered=False)
    assert stream.mimetype == "text/event-stream"
    assert value(scrape(client), "kiosk_push_streams_open", endpoint="events.stream") == 1
    stream.close()
    assert value(scrape(client), "kiosk_push_streams_open", endpoint="events.stream") == 0


def test_device_states_as_last_reported_and_live(app, client):
    from datetime import timedelta

    from kiosk import device_reports

    with app.app_context():
        device_reports.report(app)
    station_id = app.extensions["kiosk_station_id"]
    with session_for(app, write=True) as session:
        session.add(
            DeviceReport(
                station_id=station_id,
                device="hall-2/card",
                kind="reader",
                state="error",
                detail="unplugged",
                updated_at=utcnow() - timedelta(minutes=7),
            )
        )
        session.commit()
    samples = scrape(client)
    printer = {"station": "shuibei", "device": "printer", "kind": "printer"}
    assert value(samples, "kiosk_device_state", state="unknown", **printer) == 1  # not used since the start
    assert value(samples, "kiosk_device_fault", **printer) == 0
    reader = {"station": "shuibei", "device": "hall-2/card", "kind": "reader"}
    assert value(samples, "kiosk_device_state", state="error", **reader) == 1
    assert value(samples, "kiosk_device_fault", **reader) == 1
    assert 400 < value(samples, "kiosk_device_report_age_seconds", **reader) < 600

    # The process that drives the devices reads them live (kiosk.printing.printer_statuses).
    app.config["START_DEVICES"] = True
    printing = app.extensions["kiosk_printing"]
    printing.start()
    printing.queues["default"].check_status()
    samples = scrape(client)
    assert value(samples, "kiosk_device_state", state="ok", **printer) == 1
    assert value(samples, "kiosk_device_report_age_seconds", **printer) == 0


def test_sync_backlog_and_age_at_the_station_and_the_hub(make_app, database_url, sqlite_url):
    from datetime import timedelta

    from kiosk import device_reports, sync
    from kiosk.sync.local import enrol_local, transfer
    from kiosk.sync.models import SyncPeer

    station = make_app(sqlite_url(), STATION={"code": "a-001"})
    hub = make_app(database_url, ROLE="hub", STATION={"code": "district"})
    samples = scrape(station.test_client())
    assert value(samples, "kiosk_sync_enrolled") == 0
    assert value(samples, "kiosk_sync_last_success_age_seconds", station="a-001") is None
    enrol_local(station, hub)
    transfer(station, hub)
    with station.app_context(), session_for(station, write=True) as session:
        for key in ("1", "2"):
            sync.record(session, "kiosk.station", key, {"note": key})
        session.commit()
    samples = scrape(station.test_client())
    assert value(samples, "kiosk_sync_enrolled") == 1
    assert value(samples, "kiosk_sync_outbox_waiting") == 2
    assert 0 <= value(samples, "kiosk_sync_outbox_oldest_age_seconds") < 60
    assert 0 <= value(samples, "kiosk_sync_last_success_age_seconds", station="a-001") < 60
    # The station's device states reach the hub through sync; the hub publishes every station's.
    with station.app_context():
        device_reports.report(station)
    transfer(station, hub)
    assert value(scrape(station.test_client()), "kiosk_sync_outbox_waiting") == 0
    with hub.app_context(), session_for(hub, write=True) as session:
        peer = session.query(SyncPeer).one()
        peer.last_sync_at = utcnow() - timedelta(minutes=20)
        session.commit()
    samples = scrape(hub.test_client())
    assert 1100 < value(samples, "kiosk_sync_last_success_age_seconds", station="a-001") < 1300
    assert value(samples, "kiosk_sync_parked_entries") == 0
    assert value(samples, "kiosk_info", role="hub", station="district") == 1
    assert not [k for k in samples if k[0] == "kiosk_legal_waiting"]  # the hub issues no tickets
    printer = {"station": "a-001", "device": "printer", "kind": "printer"}
    assert value(samples, "kiosk_device_state", state="unknown", **printer) == 1
    assert value(samples, "kiosk_device_fault", **printer) == 0
    assert 0 <= value(samples, "kiosk_device_report_age_seconds", **printer) < 60


def test_the_alert_rules_use_only_what_the_endpoint_exports(make_app, sqlite_url):
    from kiosk.sync.local import enrol_local

    with open(RULES, encoding="utf-8") as fh:
        rules = yaml.safe_load(fh)
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    sample = 'sum by (instance, le) (rate(kiosk_a_total{status=~"5.."}[5m])) / on (instance) kiosk_b > bool 0.05'
    assert metric_names(sample) == {"kiosk_a_total", "kiosk_b"}  # the reader of expressions itself
    names = {rule["alert"] for rule in alerts}
    assert {"KioskPrinterFault", "KioskSyncBehind", "KioskServerErrors", "KioskStationNotReporting"} <= names
    station = make_app(sqlite_url(), STATION={"code": "a-001"})
    hub = make_app(sqlite_url(), ROLE="hub", STATION={"code": "district"})
    enrol_local(station, hub)
    exported = exported_names(station.test_client()) | exported_names(hub.test_client())
    used = set()
    for rule in alerts:
        assert rule.get("for") and rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        used |= metric_names(rule["expr"])
    assert used, "no metric found in the rules"
    unknown = used - exported - PROMETHEUS_OWN
    assert not unknown, f"the rules use metrics /metrics does not export: {sorted(unknown)}"
    assert {"kiosk_device_fault", "kiosk_sync_last_success_age_seconds", "kiosk_http_requests_total"} <= used
