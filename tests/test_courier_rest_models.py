"""The tables match their migration exactly, and the settings refuse bad values by name."""

from __future__ import annotations

from datetime import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from kiosk.db import Base
from kiosk.settings import SettingError
from kiosk_plugins.courier_rest import models  # noqa: F401  (registers the tables)
from kiosk_plugins.courier_rest.settings import SCHEMA, from_mapping


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


def test_settings_refuse_bad_values_naming_each():
    settings = from_mapping({"phone_slots": 3, "api_token": "t0ken", "petition_categories": {"traffic": "traffic"}})
    assert settings.seats == 8 and settings.phone_slots == 3 and settings.battery_minutes == 120
    assert settings.auto_close_at == time(23, 30) and settings.api_token == "t0ken"
    assert settings.petition_categories["traffic"] == "traffic"
    assert settings.petition_categories["safety_hazard"] == "safety_hazard"
    assert settings.limit_minutes("seat") is None and settings.slot_count("battery") == 4
    assert from_mapping({"auto_close_at": "3:05"}).auto_close_hour_minute == (3, 5)
    # A typo no longer runs quietly on the default: each mistake is named.
    values, errors = SCHEMA.check(
        {
            "seats": "many",
            "battery_minutes": 0,
            "auto_close_at": "25:00",
            "api_token": 12345,
            "public_url": "https://kiosk.example",
        }
    )
    assert values is None
    assert [e.key for e in errors] == ["public_url", "seats", "battery_minutes", "auto_close_at", "api_token"]
    with pytest.raises(SettingError, match="seats: must be a whole number from 0 to 200"):
        from_mapping({"seats": "many"})
