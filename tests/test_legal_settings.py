"""Station settings for the legal area, the migration against the models, demo data, health."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from test_legal_support import legal_app, sqlite_legal_app  # noqa: F401

from kiosk.config import ConfigError
from kiosk.db import Base
from kiosk.models import DayCounter
from kiosk_plugins.legal.models import DutySlot, Ticket
from kiosk_plugins.legal.settings import parse


def test_defaults_follow_the_legal_area_of_the_source_documents():
    cfg = parse({})
    assert [s.key for s in cfg.queues()] == ["consultation", "mediation", "arbitration", "notarisation", "legal_aid"]
    assert [s.text("zh_Hans") for s in cfg.services] == [
        "法律咨询",
        "人民调解",
        "劳动仲裁",
        "公证",
        "法律援助",
        "法治宣传",
    ]
    assert cfg.service("legal_aid").prefix == "F" and not cfg.service("education").queue
    # Mediation and arbitration take longer than a consultation.
    assert cfg.service("mediation").minutes > cfg.service("consultation").minutes
    assert cfg.counters() == [1, 2, 3, 4, 5, 6] and [s.key for s in cfg.services_at(1)] == ["consultation"]


def test_station_settings_override_and_bad_ones_name_the_fix():
    cfg = parse(
        {
            "max_skips": 1,
            "voice": "yue",
            "services": [
                {"key": "consultation", "label": "法律咨询", "prefix": "A", "counters": [1, 2, 3], "minutes": 10}
            ],
        }
    )
    assert cfg.max_skips == 1 and cfg.voices == ("yue",) and cfg.service("consultation").counters == (1, 2, 3)
    bad = [
        ({"max_skips": -1}, "max_skips"),
        ({"voice": ["fr"]}, "voice"),
        ({"services": [{"key": "A b", "label": "x", "prefix": "A", "counters": [1]}]}, "key"),
        ({"services": [{"key": "a", "label": "x", "prefix": "AB", "counters": [1]}]}, "prefix"),
        ({"services": [{"key": "a", "label": "x", "prefix": "A", "counters": []}]}, r"counters: is empty"),
        ({"max_skip": 1}, "did you mean max_skips"),
        (
            {
                "services": [
                    {"key": "a", "label": "x", "prefix": "A", "counters": [1]},
                    {"key": "b", "label": "y", "prefix": "A", "counters": [2]},
                ]
            },
            "prefix letter",
        ),
        ({"services": [{"key": "a", "label": "x", "prefix": "A", "counters": [1], "minutes": 0}]}, "minutes"),
    ]
    for raw, words in bad:
        with pytest.raises(ConfigError, match=words):
            parse(raw)


def test_a_wrong_setting_disables_the_plugin_with_the_reason(make_app, tmp_path):
    app = make_app("sqlite:///" + str(tmp_path / "fresh.db"), PLUGINS={"legal": {"voice": ["klingon"]}})
    info = app.extensions["kiosk_plugins"].infos["legal"]
    assert info.state == "failed" and "plugins.legal.voice" in info.error
    client = app.test_client()
    assert client.get("/k/legal/").status_code == 404
    assert 'data-tile="legal.queue"' not in client.get("/").get_data(as_text=True)


def test_models_match_the_migration(legal_app):
    engine = legal_app.extensions["db"].engine
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [d for d in compare_metadata(context, Base.metadata) if "legal_" in repr(d)]
    assert diff == []


def test_demo_data_adds_only_what_is_missing(legal_app):
    from kiosk.demo import load_demo

    with legal_app.app_context():
        load_demo(legal_app, [])
        load_demo(legal_app, [])
    session = legal_app.extensions["db"].Session()
    try:
        slots = session.scalar(select(func.count()).select_from(DutySlot))
        organisations = set(session.scalars(select(DutySlot.organisation)))
        past = session.scalar(select(func.count()).select_from(Ticket))
        counters = session.scalar(select(func.count()).select_from(DayCounter).where(DayCounter.series.like("legal.%")))
    finally:
        session.close()
    assert slots >= 10 and "公证处水贝办事点" in organisations and "翠竹街道劳动仲裁庭" in organisations
    assert past == 3 * (14 + 4 + 3 + 5 + 6) and counters == 15


def test_health_reports_the_calling_voice(sqlite_legal_app, monkeypatch):
    legal_app = sqlite_legal_app
    legal = legal_app.test_client().get("/healthz").get_json()["plugins"]["legal"]
    assert legal["ok"] is True and legal["detail"] == "calling voice ready"
    monkeypatch.setenv("PATH", "/nonexistent")  # as on a kiosk without the Debian package
    legal = legal_app.test_client().get("/healthz").get_json()["plugins"]["legal"]
    assert legal["ok"] is True and "apt-get install espeak-ng" in legal["detail"]
