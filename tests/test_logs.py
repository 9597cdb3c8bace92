"""Structured logs: one JSON object a line, the station id, no personal data."""

import io
import json
import logging

from kiosk import logs


def test_lines_are_json_with_the_station_and_masked_personal_data(app):
    stream = io.StringIO()
    logs.configure("INFO", stream)
    try:
        with app.test_request_context("/"):
            from kiosk.stations import current_station

            current_station()
            logging.getLogger("kiosk.test").warning(
                "rider %s with plate %s and id %s", "13812345678", "粤B12345", "440301199001011234"
            )
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_kiosk", False):
                root.removeHandler(handler)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["station"] == "shuibei" and line["level"] == "WARNING" and line["logger"] == "kiosk.test"
    assert "13812345678" not in line["msg"] and "138****5678" in line["msg"]
    assert "粤B12345" not in line["msg"] and "粤B***45" in line["msg"]
    assert "440301199001011234" not in line["msg"] and "4403**********1234" in line["msg"]


def test_scrub_leaves_ordinary_numbers_alone():
    assert logs.scrub("ticket A012 served in 300 s, job 8d4e84f9") == "ticket A012 served in 300 s, job 8d4e84f9"


def test_printer_library_chatter_stays_out_of_the_station_log_but_its_warnings_do_not():
    import escpos.printer

    stream = io.StringIO()
    logs.configure("INFO", stream)
    root = logging.getLogger()
    try:
        # python-escpos logs on the root logger from its own modules.
        for level, message in (
            (logging.INFO, "Closing Network connection to printer 127.0.0.1"),
            (logging.WARNING, "paper out"),
        ):
            root.handle(logging.LogRecord("root", level, escpos.printer.__file__, 1, message, None, None))
        logging.getLogger("kiosk.test").info("legal.ticket_issued")
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_kiosk", False):
                root.removeHandler(handler)
    messages = [json.loads(line)["msg"] for line in stream.getvalue().splitlines()]
    assert messages == ["paper out", "legal.ticket_issued"]
