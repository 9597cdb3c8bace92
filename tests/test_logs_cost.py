"""What the station's log costs per request: access lines masked once per message, event lines built when written."""

import io
import json
import logging

from kiosk import events, logs


def _access(method: str, route: str) -> logging.LogRecord:
    atoms = {"m": method, "U": "/x", "s": "302", "D": "4321", "{kiosk.route}e": route, "{kiosk.request_id}e": "r1"}
    return logging.LogRecord("gunicorn.access", logging.INFO, "x", 1, "%(m)s", (atoms,), None)


def test_an_access_line_seen_before_is_not_masked_again_and_personal_data_is_still_masked(monkeypatch):
    masked = []

    real = logs.mask_in_text

    def counting(text, names=()):
        masked.append(text)
        return real(text, names)

    monkeypatch.setattr(logs, "mask_in_text", counting)
    logs._scrubbed_access.cache_clear()
    stream = io.StringIO()
    handler = logs.kiosk_handler("INFO", stream)
    for _ in range(3):
        handler.handle(_access("POST", "/k/legal/take/<service_key>"))
    handler.handle(_access("13812345678", "/k/legal/take/<service_key>"))  # a forged method: still masked
    logs._scrubbed_access.cache_clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["msg"] for line in lines[:3]] == ["POST /k/legal/take/<service_key> 302"] * 3
    assert len(masked) == 2  # the repeated line once, the other once (the old filter masked all four)
    assert "13812345678" not in lines[3]["msg"]
    assert "1381234" not in json.dumps(lines[3], ensure_ascii=False)  # nor in the method field
    assert lines[0]["method"] == "POST"


def test_an_event_below_the_log_level_is_not_put_in_json(app, monkeypatch):
    dumped = []
    real = json.dumps
    monkeypatch.setattr(events.json, "dumps", lambda *a, **k: dumped.append(a) or real(*a, **k))
    logger = logging.getLogger("kiosk.events")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with app.app_context():
            events._published(app, events.Event(name="legal.ticket", station_id=1, payload={"n": 1}, channel="legal"))
    finally:
        logger.setLevel(level)
    assert dumped == []
