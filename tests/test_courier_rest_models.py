"""The tables match their migration exactly, and the settings fall back safely on bad values."""

from __future__ import annotations

import logging

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from kiosk.db import Base
from kiosk_plugins.courier_rest import models  # noqa: F401  (registers the tables)
from kiosk_plugins.courier_rest.settings import from_mapping


def _ours(diff) -> bool:
    """Whether an autogenerate difference concerns one of this plugin's tables (its repr names them)."""
    return "courier_rest_" in repr(diff)


def test_models_match_the_migration(app, database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = [d for d in compare_metadata(context, Base.metadata) if _ours(d)]
    finally:
        engine.dispose()
    assert diffs == []


def test_settings_keep_defaults_for_bad_values(caplog):
    caplog.set_level(logging.WARNING)
    settings = from_mapping({"seats": "many", "phone_slots": 3, "battery_minutes": 0, "auto_close_at": "25:00",
                             "api_token": 12345,
                             "petition_categories": {"traffic": "traffic"}})
    assert settings.seats == 8 and settings.phone_slots == 3 and settings.battery_minutes == 120
    assert settings.auto_close_at == "23:30" and settings.api_token == "12345"
    assert settings.petition_categories["traffic"] == "traffic"
    assert settings.petition_categories["safety_hazard"] == "safety_hazard"
    assert settings.limit_minutes("seat") is None and settings.slot_count("battery") == 4
    assert "seats" in caplog.text and "auto_close_at" in caplog.text
    assert from_mapping({"auto_close_at": "3:05"}).auto_close_hour_minute == (3, 5)
