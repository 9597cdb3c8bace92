"""Scheduled jobs state where they run (issue 15 point 6).

The bleed the issue measured: two stations on one database, one lease per job
name for the whole database, and the job run with the settings of whichever
station's process won the lease, so B (no webhook) kept A's petitions from
being forwarded, and A later forwarded B's petition to A's webhook; retention
bled the same way. Leases are now per station (``<job>@<station code>``), a
hub job runs on the hub alone (``<job>@hub``), once across its processes.

A throwaway plugin ("bleed") keeps notes in the audit log: its station job
``forward`` sends the station's unsent notes to the station's webhook, and
``retain`` deletes the station's notes older than its ``retention_days``.
Each run records the station and the settings it ran with.
"""

from __future__ import annotations

import types
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from kiosk.db import session_for
from kiosk.hookspecs import hookimpl
from kiosk.jobs import lease_name, run_due
from kiosk.models import AuditLog, JobRun, Station
from kiosk.settings import Integer, Schema, Text, plugin_settings
from kiosk.stations import station_id_of

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)  # 10:00 in Shenzhen

SCHEMA = Schema({"retention_days": Integer(30, min=1), "webhook": Text("")})


def _note_plugin(runs: list, sent: list):
    """The throwaway plugin: two station jobs that act on their own station's notes."""

    def forward(app):
        settings = plugin_settings("bleed", app)
        sid = station_id_of(app)
        with session_for(app, write=True) as session:
            code = session.get(Station, sid).code
            runs.append(("forward", code, settings.webhook))
            if not settings.webhook:
                return  # no dispatch system at this station: its notes wait
            notes = session.scalars(
                select(AuditLog)
                .where(AuditLog.station_id == sid, AuditLog.action == "bleed.note")
                .order_by(AuditLog.id)
            ).all()
            unsent = [n for n in notes if not n.detail.get("sent")]
            for note in unsent:
                sent.append((settings.webhook, code, note.detail["text"]))
                note.detail = {**note.detail, "sent": True}
            session.commit()

    def retain(app):
        settings = plugin_settings("bleed", app)
        sid = station_id_of(app)
        with session_for(app, write=True) as session:
            code = session.get(Station, sid).code
            runs.append(("retain", code, settings.retention_days))
            cutoff = NOW - timedelta(days=settings.retention_days)
            session.execute(
                delete(AuditLog).where(
                    AuditLog.station_id == sid, AuditLog.action == "bleed.note", AuditLog.at < cutoff
                )
            )
            session.commit()

    def register_settings(register):
        register(SCHEMA)

    def register_jobs(register):
        register("forward", forward, every=60)  # scope="station", the default
        register("retain", retain, at="03:00", scope="station")

    return _module("bleed", register_settings=register_settings, register_jobs=register_jobs)


def _module(name: str, **hooks):
    mod = types.ModuleType(f"kiosk_{name}_throwaway_jobs")
    for hook, func in hooks.items():
        func.__name__ = hook
        setattr(mod, hook, hookimpl(func))
    return mod


def _note(app, text: str, at: datetime) -> None:
    with session_for(app, write=True) as session:
        session.add(AuditLog(station_id=station_id_of(app), action="bleed.note", detail={"text": text}, at=at))
        session.commit()


def _notes(app) -> dict[str, list[str]]:
    """Every station's notes (whatever app reads them: they share the database)."""
    with session_for(app) as session:
        rows = session.execute(
            select(Station.code, AuditLog.detail)
            .join(Station, Station.id == AuditLog.station_id)
            .where(AuditLog.action == "bleed.note")
            .order_by(AuditLog.id)
        ).all()
    out: dict[str, list[str]] = {}
    for code, detail in rows:
        out.setdefault(code, []).append(detail["text"])
    return out


def _leases(app) -> set[str]:
    with session_for(app) as session:
        return set(session.scalars(select(JobRun.name).where(JobRun.name.like("bleed.%"))))


def _station(code: str, name: str, **extra) -> dict:
    return {"STATION": {"code": code, "name": name, **extra}}


def test_two_stations_on_one_database_each_run_their_jobs_with_their_own_settings(make_app, database_url):
    runs: list = []
    sent: list = []
    plugin = {"bleed": _note_plugin(runs, sent)}
    a = make_app(
        database_url,
        EXTRA_PLUGINS=plugin,
        PLUGINS={"bleed": {"retention_days": 2, "webhook": "https://a.example.gov.cn/hook"}},
        **_station("shuibei", "水贝社区党群服务中心"),
    )
    b = make_app(
        database_url,
        EXTRA_PLUGINS=plugin,
        PLUGINS={"bleed": {"retention_days": 30}},  # B has no webhook
        **_station("sungang", "笋岗社区党群服务中心"),
    )
    old = NOW - timedelta(days=5)
    _note(a, "A old", old)
    _note(a, "A new", NOW - timedelta(hours=1))
    _note(b, "B old", old)
    _note(b, "B new", NOW - timedelta(hours=1))

    # B's process gets there first, as in the issue: it runs for B, with B's settings.
    night = NOW.replace(hour=19, minute=5)  # 03:05 in Shenzhen, the next morning
    assert sorted(n for n in run_due(b, night) if n.startswith("bleed.")) == ["bleed.forward", "bleed.retain"]
    assert runs == [("forward", "sungang", ""), ("retain", "sungang", 30)]
    assert sent == []  # B has no dispatch system: nothing of A's is held back by it, nothing is sent

    # A's jobs were not taken by B's lease: A runs them too, for A alone, with A's settings.
    assert sorted(n for n in run_due(a, night) if n.startswith("bleed.")) == ["bleed.forward", "bleed.retain"]
    assert runs[2:] == [("forward", "shuibei", "https://a.example.gov.cn/hook"), ("retain", "shuibei", 2)]
    assert sent == [("https://a.example.gov.cn/hook", "shuibei", t) for t in ("A old", "A new")]
    # A's retention (2 days) took A's old note; B's (30 days) kept B's.
    assert _notes(a) == {"shuibei": ["A new"], "sungang": ["B old", "B new"]}
    assert _leases(a) == {
        "bleed.forward@shuibei",
        "bleed.retain@shuibei",
        "bleed.forward@sungang",
        "bleed.retain@sungang",
    }

    # B stops; A goes on running alone, and B's notes still never reach A's webhook.
    _note(b, "B later", night)
    runs.clear()
    later = night + timedelta(minutes=2)
    assert "bleed.forward" in run_due(a, later)
    assert runs == [("forward", "shuibei", "https://a.example.gov.cn/hook")]
    assert [s for s in sent if s[1] != "shuibei"] == []
    assert _notes(a)["sungang"] == ["B old", "B new", "B later"]


def test_a_lease_held_by_one_station_does_not_stop_the_other(make_app, database_url):
    runs: list = []
    plugin = {"bleed": _note_plugin(runs, [])}
    a = make_app(database_url, EXTRA_PLUGINS=plugin, **_station("shuibei", "水贝社区党群服务中心"))
    b = make_app(database_url, EXTRA_PLUGINS=plugin, **_station("sungang", "笋岗社区党群服务中心"))
    # B's worker is in the middle of its run (its lease is held for another five minutes).
    with session_for(b, write=True) as session:
        session.add(JobRun(name="bleed.forward@sungang", lease_until=NOW + timedelta(minutes=5), last_error=""))
        session.commit()
    assert "bleed.forward" not in run_due(b, NOW)
    assert "bleed.forward" in run_due(a, NOW)
    assert [r for r in runs if r[0] == "forward"] == [("forward", "shuibei", "")]


def test_a_station_job_runs_at_its_own_stations_local_time(make_app, database_url):
    runs: list = []
    plugin = {"bleed": _note_plugin(runs, [])}
    shenzhen = make_app(database_url, EXTRA_PLUGINS=plugin, **_station("shuibei", "水贝社区党群服务中心"))
    urumqi = make_app(
        database_url, EXTRA_PLUGINS=plugin, **_station("tianshan", "天山社区服务站", timezone="Asia/Urumqi")
    )
    at = datetime(2026, 12, 6, 19, 30, tzinfo=UTC)  # 03:30 in Shenzhen, 01:30 in Urumqi
    assert "bleed.retain" in run_due(shenzhen, at)
    assert "bleed.retain" not in run_due(urumqi, at)
    assert "bleed.retain" in run_due(urumqi, at + timedelta(hours=2))  # 03:30 in Urumqi
    assert [r for r in runs if r[0] == "retain"] == [("retain", "shuibei", 30), ("retain", "tianshan", 30)]


def _scoped_plugin(runs: list, inside=None):
    def job(label):
        def run(app):
            runs.append((label, app.config["ROLE"], app.config["STATION"]["code"]))
            if inside is not None and label == "hub":
                inside()

        return run

    def register_jobs(register):
        register("on_station", job("station"), every=60, scope="station")
        register("on_hub", job("hub"), every=60, scope="hub")
        register("anywhere", job("any"), every=60, scope="any")

    return _module("scoped", register_jobs=register_jobs)


def _ran(app, now=NOW) -> list[str]:
    return sorted(n for n in run_due(app, now) if n.startswith("scoped."))


def test_station_jobs_run_on_stations_hub_jobs_on_the_hub_and_any_on_both(make_app, database_url, tmp_path):
    runs: list = []
    plugin = {"scoped": _scoped_plugin(runs)}
    hub = make_app(database_url, EXTRA_PLUGINS=plugin, ROLE="hub", **_station("district", "罗湖区"))
    station = make_app(f"sqlite:///{tmp_path / 'station.db'}", EXTRA_PLUGINS=plugin)
    assert _ran(hub) == ["scoped.anywhere", "scoped.on_hub"]
    assert _ran(station) == ["scoped.anywhere", "scoped.on_station"]
    assert sorted(runs) == [
        ("any", "hub", "district"),
        ("any", "station", "shuibei"),
        ("hub", "hub", "district"),
        ("station", "station", "shuibei"),
    ]
    with session_for(hub) as session:
        names = set(session.scalars(select(JobRun.name).where(JobRun.name.like("scoped.%"))))
    assert names == {"scoped.anywhere@hub", "scoped.on_hub@hub"}
    # The core's own jobs say where they run too: pruning events is everyone's.
    scopes = {j["name"]: j["scope"] for j in hub.extensions["kiosk_jobs"]}
    assert scopes["kiosk.prune_events"] == "any"


def test_a_hub_job_runs_once_across_two_hub_processes(make_app, database_url):
    runs: list = []
    during: list = []
    second: list = []

    def while_the_first_runs():
        # The second hub process's scheduler pass, while the first holds the lease.
        during.append(_ran(second[0]))

    plugin = {"scoped": _scoped_plugin(runs, inside=while_the_first_runs)}
    first = make_app(database_url, EXTRA_PLUGINS=plugin, ROLE="hub", **_station("district", "罗湖区"))
    second.append(make_app(database_url, EXTRA_PLUGINS=plugin, ROLE="hub", **_station("district", "罗湖区")))
    # The first process runs the hub job; meanwhile the second's pass skips it (its lease is
    # held) and runs the "any" job, which the first then finds done.
    assert _ran(first) == ["scoped.on_hub"]
    assert during == [["scoped.anywhere"]]
    assert _ran(second[0]) == []  # and afterwards neither is due again
    assert [r for r in runs if r[0] == "hub"] == [("hub", "hub", "district")]
    assert _ran(second[0], NOW + timedelta(seconds=61)) == ["scoped.anywhere", "scoped.on_hub"]
    assert [r[0] for r in runs].count("hub") == 2


def test_a_job_with_an_unknown_scope_switches_its_plugin_off(make_app, database_url):
    def register_jobs(register):
        register("tidy", lambda app: None, every=60, scope="district")

    app = make_app(database_url, EXTRA_PLUGINS={"odd": _module("odd", register_jobs=register_jobs)})
    info = app.extensions["kiosk_plugins"].infos["odd"]
    assert info.state == "failed"
    assert "scope must be one of 'station', 'hub', 'any', not 'district'" in info.error
    assert not any(j["plugin"] == "odd" for j in app.extensions["kiosk_jobs"])


def test_the_last_run_before_per_station_leases_carries_over(make_app, database_url):
    """Upgrading must not run a daily job twice on the same day: the old row's last run counts."""
    runs: list = []
    app = make_app(database_url, EXTRA_PLUGINS={"bleed": _note_plugin(runs, [])})
    this_morning = datetime(2026, 12, 5, 19, 1, tzinfo=UTC)  # 03:01 in Shenzhen
    with session_for(app, write=True) as session:
        session.add(JobRun(name="bleed.retain", last_run_at=this_morning, last_error=""))
        session.commit()
    assert "bleed.retain" not in run_due(app, this_morning + timedelta(hours=3))
    assert "bleed.retain" in run_due(app, this_morning + timedelta(days=1))
    with session_for(app) as session:
        row = session.get(JobRun, "bleed.retain@shuibei")
        assert row is not None and row.last_run_at == this_morning + timedelta(days=1)


@pytest.mark.parametrize("code", ["s" * 64])
def test_a_lease_name_fits_its_column_and_stays_unique(code):
    long_a = lease_name("courier_rest.close_forgotten_checkins", code)
    long_b = lease_name("courier_rest.close_forgotten_checkinz", code)
    assert len(long_a) <= 100 and len(long_b) <= 100 and long_a != long_b
    assert lease_name("legal.close_day", "shuibei") == "legal.close_day@shuibei"
