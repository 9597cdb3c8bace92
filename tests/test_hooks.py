"""One test per hook (test_hook_<name>), each through a throwaway plugin.

``test_every_hook_is_tested_and_documented`` keeps this file and docs/hooks.md
in step with kiosk/hookspecs.py.
"""

import inspect
import os
import types
from datetime import UTC, timedelta

import click
import pytest
from flask import Blueprint
from sqlalchemy import select

from kiosk import hookimpl, hookspecs

HERE = os.path.dirname(__file__)
ROOT = os.path.dirname(HERE)


def plugin(name, **hooks):
    """A throwaway plugin module holding the given hook implementations."""
    mod = types.ModuleType(f"kiosk_{name}_throwaway")
    for hook, func in hooks.items():
        func.__name__ = hook
        setattr(mod, hook, hookimpl(func))
    return mod


def hook_names():
    return sorted(n for n, f in vars(hookspecs).items() if inspect.isfunction(f) and hasattr(f, "kiosk_spec"))


def test_every_hook_is_tested_and_documented():
    source = open(__file__, encoding="utf-8").read()
    docs = open(os.path.join(ROOT, "docs", "hooks.md"), encoding="utf-8").read()
    from kiosk.hookdocs import render

    assert docs == render(), "docs/hooks.md is stale: run python -m kiosk.hookdocs > docs/hooks.md"
    for name in hook_names():
        assert f"def test_hook_{name}(" in source, f"hook {name} has no test_hook_{name}"
        assert f"## `{name}(" in docs, f"hook {name} is not in docs/hooks.md"
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"hook {name} has no docstring"


def test_hook_kiosk_startup(make_app, database_url):
    started = []
    app = make_app(database_url, EXTRA_PLUGINS={"s": plugin("s", kiosk_startup=lambda app: started.append(app))})
    assert started == [app]


def test_hook_register_blueprints(make_app, database_url, csrf):
    bp = Blueprint("bp_staff", __name__)
    bp.add_url_rule("/", "index", lambda: "secret staff page")
    kiosk_bp = Blueprint("bp", __name__)
    kiosk_bp.add_url_rule("/", "index", lambda: "hello kiosk")

    def register_blueprints(register):
        register(kiosk_bp, "kiosk")
        register(bp, "staff")

    app = make_app(database_url, EXTRA_PLUGINS={"bp": plugin("bp", register_blueprints=register_blueprints)})
    client = app.test_client()
    assert client.get("/k/bp/").get_data(as_text=True) == "hello kiosk"
    assert client.get("/staff/bp/").status_code == 302  # the core requires the login
    from kiosk.testing import Auth

    Auth(app, client).login("staff")
    assert client.get("/staff/bp/").get_data(as_text=True) == "secret staff page"


def test_hook_register_tiles(make_app, database_url, csrf):
    def register_tiles(register, station):
        register(
            key="venue",
            label={"zh_Hans": "场地预约", "zh_Hant": "場地預約", "en": "Venue booking"},
            endpoint="shell.home",
            icon="default",
            order=5,
        )
        if station.kind == "courier_station":
            register(key="never", label="x", endpoint="shell.home")

    app = make_app(database_url, EXTRA_PLUGINS={"venue": plugin("venue", register_tiles=register_tiles)})
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    assert 'data-tile="venue.venue"' in html and "场地预约" in html
    assert 'data-tile="venue.never"' not in html
    client.post("/lang", data={"lang": "zh_Hant", "csrf_token": csrf(client)})
    assert "場地預約" in client.get("/").get_data(as_text=True)


def test_hook_register_migrations(make_app, fresh_database_url, tmp_path, caplog):
    """Deprecated for one release (a package's migrations/ folder is found by convention), still applied."""
    folder = tmp_path / "mig"
    folder.mkdir()
    (folder / "extra_0001.py").write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n"
        'revision = "extra_0001"\ndown_revision = None\nbranch_labels = ("extra",)\n'
        'depends_on = "kiosk_core_0001"\n'
        'def upgrade():\n    op.create_table("extra_thing", sa.Column("id", sa.Integer, primary_key=True))\n'
        'def downgrade():\n    op.drop_table("extra_thing")\n',
        encoding="utf-8",
    )
    from sqlalchemy import inspect as sa_inspect

    app = make_app(
        fresh_database_url,
        EXTRA_PLUGINS={"extra": plugin("extra", register_migrations=lambda register: register(str(folder)))},
    )
    assert "extra_thing" in sa_inspect(app.extensions["db"].engine).get_table_names()
    assert "plugin extra uses the deprecated register_migrations hook" in caplog.text


def test_hook_register_settings(make_app, database_url):
    from kiosk.settings import Integer, Schema, plugin_settings

    schema = Schema({"lockers": Integer(4, min=1, max=40, description="Lockers at the station")})
    good = make_app(
        database_url,
        PLUGINS={"lockers": {"lockers": 12}},
        EXTRA_PLUGINS={"lockers": plugin("lockers", register_settings=lambda register: register(schema))},
    )
    assert plugin_settings("lockers", good).lockers == 12
    bad = make_app(
        database_url,
        PLUGINS={"lockers": {"lockers": 0}},
        EXTRA_PLUGINS={"lockers": plugin("lockers", register_settings=lambda register: register(schema))},
    )
    info = bad.extensions["kiosk_plugins"].infos["lockers"]
    assert info.state == "failed" and "plugins.lockers.lockers: must be a whole number from 1 to 40" in info.error
    # Anything but a Schema is refused at start, naming the plugin.
    odd = make_app(
        database_url, EXTRA_PLUGINS={"odd": plugin("odd", register_settings=lambda register: register({"lockers": 4}))}
    )
    assert odd.extensions["kiosk_plugins"].infos["odd"].state == "failed"
    assert "kiosk.settings.Schema" in odd.extensions["kiosk_plugins"].infos["odd"].error


def test_hook_register_translations(make_app, database_url, tmp_path, csrf):
    po = tmp_path / "tr" / "zh_Hant" / "LC_MESSAGES"
    po.mkdir(parents=True)
    (po / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Food safety testing"\nmsgstr "食品快檢"\n',
        encoding="utf-8",
    )

    def register_tiles(register):
        register(key="food", label="Food safety testing", endpoint="shell.home")

    app = make_app(
        database_url,
        EXTRA_PLUGINS={
            "food": plugin(
                "food",
                register_translations=lambda register: register(str(tmp_path / "tr")),
                register_tiles=register_tiles,
            )
        },
    )
    client = app.test_client()
    client.post("/lang", data={"lang": "zh_Hant", "csrf_token": csrf(client)})
    assert "食品快檢" in client.get("/").get_data(as_text=True)


def test_hook_register_staff_panels(make_app, database_url):
    def register_staff_panels(register, station):
        register(
            key="today",
            title={"zh_Hans": "今日概况", "en": "Today"},
            render=lambda: f"<p class='today'>{station.code}</p>",
        )
        register(key="broken", title="Broken", render=lambda: 1 / 0)

    app = make_app(database_url, EXTRA_PLUGINS={"p": plugin("p", register_staff_panels=register_staff_panels)})
    client = app.test_client()
    from kiosk.testing import Auth

    Auth(app, client).login("staff")
    html = client.get("/staff/").get_data(as_text=True)
    assert "今日概况" in html and "<p class='today'>shuibei</p>" in html
    assert "此面板暂时无法显示" in html  # the broken panel did not take the console down
    assert app.extensions["kiosk_plugins"].infos["p"].faults == 1


def test_hook_kiosk_event(make_app, database_url):
    got = []
    app = make_app(database_url, EXTRA_PLUGINS={"l": plugin("l", kiosk_event=lambda event: got.append(event.name))})
    from kiosk.events import emit

    with app.test_request_context("/"):
        emit("parking.voucher_issued", {"lot": 1})
    assert got == ["parking.voucher_issued"]


def test_hook_request_service(make_app, database_url):
    def request_service(kind, payload, station):
        if kind == "queue_ticket":
            return {"ticket": "F" + payload["service"][:2].upper(), "station": station.code}
        return None

    app = make_app(
        database_url,
        EXTRA_PLUGINS={
            "q": plugin("q", request_service=request_service),
            "n": plugin("n", request_service=lambda kind, payload, station: None),
        },
    )
    from kiosk.stations import current_station

    with app.test_request_context("/"):
        plugins = app.extensions["kiosk_plugins"]
        station = current_station()
        assert plugins.call(
            "request_service", firstresult=True, kind="queue_ticket", payload={"service": "legal_aid"}, station=station
        ) == {"ticket": "FLE", "station": "shuibei"}
        assert plugins.call("request_service", firstresult=True, kind="unknown", payload={}, station=station) is None


def test_hook_register_commands(make_app, database_url):
    def register_commands(cli):
        @cli.command("greet")
        @click.argument("name")
        def greet(name):
            click.echo(f"你好, {name}")

    from kiosk.cli import KioskGroup

    group = KioskGroup()
    app = make_app(database_url, EXTRA_PLUGINS={"c": plugin("c", register_commands=register_commands)})
    app.extensions["kiosk_plugins"].call_startup("register_commands", cli=group)
    result = app.test_cli_runner().invoke(group, ["greet", "水贝"])
    assert result.output.strip() == "你好, 水贝"


def test_hook_register_jobs(make_app, database_url):
    from datetime import datetime

    from kiosk.jobs import run_due

    runs = []

    def register_jobs(register):
        register("tick", lambda app: runs.append("tick"), every=60)
        register("close_day", lambda app: runs.append("close"), at="23:30")

    app = make_app(database_url, EXTRA_PLUGINS={"j": plugin("j", register_jobs=register_jobs)})
    morning = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # 10:00 in Shenzhen

    def ran(now):
        return sorted(name for name in run_due(app, now) if name.startswith("j."))

    assert ran(morning) == ["j.tick"]
    assert runs == ["tick"]
    assert ran(morning) == []  # not due again within the minute
    night = datetime(2026, 11, 22, 15, 31, tzinfo=UTC)  # 23:31 in Shenzhen
    assert ran(night) == ["j.close_day", "j.tick"]
    assert ran(night.replace(second=30)) == []  # once a day, and tick not yet due again


def test_hook_register_sync(make_app, database_url, tmp_path):
    """A kind declared by a plugin travels from a station to the hub and back, applied once."""
    from kiosk import sync
    from kiosk.db import session_for
    from kiosk.models import Station
    from kiosk.sync.local import enrol_local, transfer

    at_hub, at_station = [], []

    def register_sync(register):
        register("note", to_hub=lambda session, station, key, data: at_hub.append((station.code, key, data)))
        register("reply", to_station=lambda session, station, key, data: at_station.append((key, data)))

    plugins = {"n": plugin("n", register_sync=register_sync)}
    station = make_app(f"sqlite:///{tmp_path / 'a.db'}", EXTRA_PLUGINS=plugins, STATION={"code": "a-001"})
    hub = make_app(database_url, EXTRA_PLUGINS=plugins, ROLE="hub", STATION={"code": "district"})
    assert set(sync.kinds(hub)) >= {"n.note", "n.reply"}
    enrol_local(station, hub)
    with station.app_context(), session_for(station, write=True) as session:
        sync.record(session, "n.note", "1", {"text": "hello"})
        session.commit()
    with hub.app_context(), session_for(hub, write=True) as session:
        assert sync.record(session, "n.note", "x", {}) is False  # recording is a station's job
        hub_id = session.scalar(select(Station.id).where(Station.code == "a-001"))
        sync.publish(session, "n.reply", "1", {"text": "noted"}, station_id=hub_id)
        session.commit()
    assert transfer(station, hub) == (1, 1)
    assert at_hub == [("a-001", "1", {"text": "hello"})]
    assert at_station == [("1", {"text": "noted"})]
    assert transfer(station, hub) == (0, 0)  # nothing is sent or applied twice
    assert len(at_hub) == 1 and len(at_station) == 1


def test_hook_register_metrics(make_app, database_url):
    """A plugin's figures are read at scrape time; a broken one is left out, a bad name refused at start."""
    from prometheus_client.parser import text_string_to_metric_families

    scrapes = []

    def open_lots(session, station):
        scrapes.append(station.code)
        return {"north": 3, "south": 0}

    def register_metrics(register):
        register("open_lots", "Parking lots open now.", open_lots, labels=("lot",))
        register("vouchers_redeemed", "Vouchers redeemed today.", lambda session, station: {(): 5}, kind="counter")
        register("broken", "Raises.", lambda session, station: 1 / 0)

    def bad_name(register):
        register("Bad-Name", "Not a metric name.", lambda session, station: {})

    plugins = {"m": plugin("m", register_metrics=register_metrics), "x": plugin("x", register_metrics=bad_name)}
    app = make_app(database_url, EXTRA_PLUGINS=plugins)
    assert scrapes == []  # nothing is read before a scrape
    text = app.test_client().get("/metrics").get_data(as_text=True)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("kiosk_m_open_lots", (("lot", "north"),))] == 3
    assert samples[("kiosk_m_open_lots", (("lot", "south"),))] == 0
    assert samples[("kiosk_m_vouchers_redeemed_total", ())] == 5
    types = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert types["kiosk_m_vouchers_redeemed"] == "counter" and types["kiosk_m_open_lots"] == "gauge"
    assert scrapes == ["shuibei"]
    # The broken metric is left out of the scrape and said to be; the rest was published.
    assert samples[("kiosk_metrics_collect_errors", (("part", "plugin:m"),))] == 1
    assert "kiosk_m_broken" not in text
    # A name that is not a metric name is refused at start, like any bad registration.
    assert app.extensions["kiosk_plugins"].infos["x"].state != "enabled"


def test_hook_health_check(make_app, database_url):
    app = make_app(
        database_url,
        EXTRA_PLUGINS={"h": plugin("h", health_check=lambda station: {"ok": False, "detail": "lawyer schedule empty"})},
    )
    body = app.test_client().get("/healthz").get_json()
    assert body["plugins"]["h"]["ok"] is False
    assert body["plugins"]["h"]["detail"] == "lawyer schedule empty"
    assert body["ok"] is False


def test_hook_register_demo_data(make_app, database_url):
    from kiosk.demo import load_demo
    from kiosk.models import AuditLog

    def register_demo_data(station, session):
        session.add(AuditLog(action="demo.loaded", detail={"station": station.code}, station_id=station.id))

    app = make_app(database_url, EXTRA_PLUGINS={"d": plugin("d", register_demo_data=register_demo_data)})
    with app.app_context():
        created = load_demo(app, [("demo-staff", "demo-password-1", "staff", "前台")])
        from sqlalchemy import select

        rows = (
            app.extensions["db"]
            .Session()
            .scalars(select(AuditLog.detail).where(AuditLog.action == "demo.loaded"))
            .all()
        )
    assert created == ["demo-staff"] and rows == [{"station": "shuibei"}]


def test_hook_handle_reader_event(make_app, database_url):
    from datetime import datetime

    from kiosk_hardware.readers import ReaderEvent

    def handle_reader_event(event, screen, station):
        if screen == "c.checkin":
            return {"redirect": f"/k/c/rider/{event.value}"}
        return None

    app = make_app(database_url, EXTRA_PLUGINS={"c": plugin("c", handle_reader_event=handle_reader_event)})
    hub = app.extensions["reader_hub"]
    q = hub.subscribe("c.checkin")
    hub.publish(ReaderEvent(source="card", kind="card", value="0A0B0C0D", at=datetime.now(UTC)))
    assert q.get_nowait() == {"redirect": "/k/c/rider/0A0B0C0D"}


def test_hook_register_receipt_layouts(make_app, database_url):
    from kiosk.printing import build_receipt
    from kiosk_hardware.receipt import Receipt

    def register_receipt_layouts(register):
        register("food.slip", lambda ctx: Receipt().title("食品快检").kv("样品", ctx["sample"]))

    app = make_app(
        database_url, EXTRA_PLUGINS={"food": plugin("food", register_receipt_layouts=register_receipt_layouts)}
    )
    with app.test_request_context("/"):
        receipt = build_receipt("food.slip", {"sample": "青菜"})
        assert "食品快检" in receipt.plain_text() and "青菜" in receipt.plain_text()
        with pytest.raises(KeyError):
            build_receipt("food.unknown", {})


def test_hook_decorate_receipt(make_app, database_url):
    from kiosk.printing import build_receipt
    from kiosk_hardware.receipt import Receipt

    def register_receipt_layouts(register):
        register("food.slip", lambda ctx: Receipt().title("食品快检"))

    def decorate_receipt(receipt, layout, station):
        receipt.footer(f"{station.name} · 民有所呼,我有所应 · {layout}")

    app = make_app(
        database_url,
        EXTRA_PLUGINS={
            "food": plugin("food", register_receipt_layouts=register_receipt_layouts),
            "footer": plugin("footer", decorate_receipt=decorate_receipt),
        },
    )
    with app.test_request_context("/"):
        text = build_receipt("food.slip", {}).plain_text()
    assert "水贝社区党群服务中心 · 民有所呼,我有所应 · food.slip" in text


def test_hook_district_figures(make_app, database_url):
    from kiosk.auth import create_user

    seen = []

    def district_figures(station, day):
        seen.append((station.code, day))
        return [
            {"key": "lockers", "label": {"zh_Hans": "储物柜", "en": "Lockers"}, "value": 7, "alert": True},
            {"key": "broken", "value": "not a number"},
        ]

    app = make_app(database_url, EXTRA_PLUGINS={"f": plugin("f", district_figures=district_figures)})
    with app.app_context():
        session = app.extensions["db"].Session()
        create_user(session, "district1", "correct-horse", role="district")
        session.commit()
        session.close()
    client = app.test_client()
    client.get("/staff/login")
    from kiosk.testing import csrf_of

    client.post(
        "/staff/login", data={"username": "district1", "password": "correct-horse", "csrf_token": csrf_of(client)}
    )
    body = client.get("/admin/district/summary.json").get_json()
    (station,) = body["stations"]
    mine = [f for f in station["figures"] if f["plugin"] == "f"]
    assert mine == [{"plugin": "f", "key": "f.lockers", "label": "储物柜", "value": 7, "alert": True}]
    assert station["alert"] is True
    assert seen[0][0] == "shuibei" and seen[0][1].isoformat() == station["day"]
    # The malformed figure is dropped and charged to the plugin that gave it.
    assert "district_figures" in app.extensions["kiosk_plugins"].infos["f"].last_fault


def test_hook_api_description(make_app, database_url):
    from flask import abort

    from kiosk.testing import Auth

    api = Blueprint("lockers_api", __name__)
    api.add_url_rule("/lockers/<int:number>", "locker", lambda number: {"number": number, "free": True})
    kiosk = Blueprint("lockers_kiosk", __name__)
    kiosk.add_url_rule("/free/<int:number>", "free", lambda number: abort(404) if number > 10 else {"free": True})
    staff = Blueprint("lockers_staff", __name__)
    staff.add_url_rule("/report", "report", lambda: {"open": 3})

    def register_blueprints(register):
        register(api, "api")
        register(kiosk, "kiosk")
        register(staff, "staff")

    def answer(description, schema=None):
        return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}

    def api_description():
        return {
            "schemas": {"Locker": {"type": "object", "properties": {"number": {"type": "integer"}}}},
            "endpoints": {
                "lockers_api.locker": {
                    "get": {"responses": {"200": answer("A locker", {"$ref": "#/components/schemas/Locker"})}}
                },
                "lockers_kiosk.free": {
                    "get": {
                        "responses": {
                            "200": answer("Free"),
                            "404": answer("No such locker", {"$ref": "#/components/schemas/Error"}),
                        }
                    }
                },
                "lockers_staff.report": {"get": {"responses": {"200": answer("Open lockers")}}},
                "health.healthz": {"get": {"responses": {"200": answer("Not the plugin's to describe")}}},
            },
        }

    app = make_app(
        database_url,
        EXTRA_PLUGINS={
            "lockers": plugin("lockers", register_blueprints=register_blueprints, api_description=api_description)
        },
    )
    client = app.test_client()
    doc = client.get("/api/openapi.json").get_json()
    locker = doc["paths"]["/api/lockers/lockers/{number}"]["get"]
    # The core found the URL, typed the path parameter and published the schema under the plugin's name.
    assert locker["parameters"] == [
        {"name": "number", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
    ]
    assert locker["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/lockers.Locker"
    }
    assert "lockers.Locker" in doc["components"]["schemas"] and "Error" in doc["components"]["schemas"]
    # Another's endpoint is dropped and charged to the plugin; the core's own description stays.
    assert doc["paths"]["/healthz"]["get"]["summary"].startswith("Whether the database")
    assert "health.healthz" in app.extensions["kiosk_plugins"].infos["lockers"].last_fault
    # A staff endpoint is listed to staff only, marked as needing the login.
    assert "/staff/lockers/report" not in doc["paths"]
    # A described endpoint answers its errors as JSON, whatever the client accepts.
    response = client.get("/k/lockers/free/99", headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.get_json()["status"] == 404
    Auth(app, client).login("staff")
    report = client.get("/api/openapi.json").get_json()["paths"]["/staff/lockers/report"]["get"]
    assert report["security"] == [{"login": []}]


def test_hook_register_home_status(make_app, database_url, csrf):
    def register_home_status(register, station):
        register(key="venue", label={"zh_Hans": "场地预约", "en": "Venue booking"}, waiting=3, wait_minutes=12, order=1)
        register(key="hall", label={"zh_Hans": "活动室", "en": "Activity room"}, counters=[7, 8])

    def broken(register, station):
        register(key="", label="")  # a line without a key: the plugin's fault, the home screen still shows

    app = make_app(
        database_url,
        EXTRA_PLUGINS={
            "venue": plugin("venue", register_home_status=register_home_status),
            "broken": plugin("broken", register_home_status=broken),
        },
    )
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    venue = html.split('data-service="venue.venue"', 1)[1].split("</li>", 1)[0]
    assert "场地预约" in venue and "<b>3</b> 人等候" in venue and "约 12 分钟" in venue
    hall = html.split('data-service="venue.hall"', 1)[1].split("</li>", 1)[0]
    assert "7、8 号窗口" in hall and "人等候" not in hall
    assert html.index('data-service="venue.venue"') < html.index('data-service="venue.hall"')
    client.post("/lang", data={"lang": "en", "csrf_token": csrf(client)})
    assert "Counter 7, 8" in client.get("/").get_data(as_text=True)


def test_hook_register_retention(make_app, database_url):
    from kiosk import retention

    calls = []

    def purge(sweep):
        calls.append((sweep.days, sweep.dry_run, sweep.cutoff == sweep.now - timedelta(days=sweep.days)))
        return 3

    def register_retention(register):
        register("notes", days=14, purge=purge, label={"zh_Hans": "备注", "en": "Notes"}, reason="two weeks")

    app = make_app(
        database_url,
        EXTRA_PLUGINS={"r": plugin("r", register_retention=register_retention)},
        RETENTION={"r": {"notes": 3}},
    )
    outcomes = {o.kind.key: o for o in retention.purge(app, dry_run=True, only="r")}
    assert list(outcomes) == ["r.notes"] and outcomes["r.notes"].records == 3
    assert calls == [(3, True, True)], "the station file's [retention.r] notes = 3 wins over the default 14"


def test_hook_register_audit_actions(make_app, database_url):
    from kiosk import audit

    def register_audit_actions(register):
        register("venue.booked", {"zh_Hans": "预约场地", "zh_Hant": "預約場地", "en": "Venue booked"})
        register("staff.login", {"zh_Hans": "冒名", "en": "Not mine"})  # another's action: refused

    app = make_app(
        database_url, EXTRA_PLUGINS={"venue": plugin("venue", register_audit_actions=register_audit_actions)}
    )
    with app.test_request_context():
        assert audit.action_text("venue.booked", "zh_Hans") == "预约场地"
        assert audit.action_text("venue.booked", "en") == "Venue booked"
        assert audit.action_text("staff.login", "en") == "Logged in"  # the core's words stay
        assert audit.action_text("venue.unnamed", "en") == "venue.unnamed"
    info = app.extensions["kiosk_plugins"].infos["venue"]
    assert info.state == "enabled" and "staff.login" in info.last_fault
