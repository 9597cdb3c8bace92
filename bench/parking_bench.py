"""Server time to issue a parking voucher (``POST /k/parking/issue``), in-process.

Run ``python bench/parking_bench.py [iterations]`` (default 1,000). Each
iteration is a different registered household with its own car, identified
and with its plate chosen beforehand (not timed); the timed request does the
whole issue: quota and overlap checks, the locked capacity check, the insert,
the HMAC code, the event, and handing the receipt to the print queue (a
preview printer, so rendering runs in the queue's thread as on a kiosk).

SQLite always; PostgreSQL too when ``KIOSK_BENCH_DATABASE_URL`` or
``KIOSK_TEST_DATABASE_URL`` is set (the database's tables are emptied first).
``--profile`` prints a pyinstrument profile of 200 issues on SQLite.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time

HOUSEHOLD_CSV_HEADER = "unit,name,phone,plates\n"
PROVINCE_PLATES = "粤B"


def _plate(i: int) -> str:
    return f"{PROVINCE_PLATES}{i:05d}"


def _pct(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def _empty_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"))]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()


def _app(database_url: str | None):
    from kiosk.app import create_app

    instance = tempfile.mkdtemp(prefix="kiosk-bench-parking-")
    config = {"SECRET_KEY": "bench-0123456789abcdef", "INSTANCE_PATH": instance, "STATION_FILE": "",
              "TESTING": True, "IME_PRELOAD": False, "RUN_JOBS": False, "START_DEVICES": False,
              "TESTING_NO_LISTENER": True,
              "DEVICES": {"printer": {"type": "preview", "folder": os.path.join(instance, "receipts")},
                          "readers": {}}}
    if database_url:
        _empty_postgres(database_url)
        config["DATABASE_URL"] = database_url
    return create_app(config)


def _setup(app, households: int) -> tuple[int, str]:
    """One big lot with a nightly window, and ``households`` registered households."""
    from kiosk.models import Station
    from kiosk_plugins.parking import schedule
    from kiosk_plugins.parking.households import import_csv
    from kiosk_plugins.parking.models import Lot, Window
    from kiosk_plugins.parking.settings import station_tz

    rows = [f"贝丽花园{i // 100}栋{i % 100:04d},住户{i},139{i:08d},{_plate(i)}" for i in range(households)]
    with app.app_context():
        session = app.extensions["db"].WriteSession()
        station = session.get(Station, app.extensions["kiosk_station_id"])
        report = import_csv(session, station.id, HOUSEHOLD_CSV_HEADER + "\n".join(rows) + "\n")
        assert report.ok, report.errors[:3]
        lot = Lot(station_id=station.id, name="水贝万山珠宝产业园停车场", address="罗湖区翠竹街道水贝社区",
                  spaces=households + 10, price_cents=1000, quota_per_month=0, reserve_days=1, hold_minutes=0,
                  active=True)
        session.add(lot)
        session.flush()
        window = Window(station_id=station.id, lot_id=lot.id, label="夜间", start_time="19:00", end_time="08:00",
                        weekdays="0123456", active=True)
        session.add(window)
        session.commit()
        from kiosk.db import utcnow

        occ = schedule.bookable(window, utcnow(), station_tz(station), lot.reserve_days)[-1]
        session.close()
    return occ.window_id, occ.day.isoformat()


def _csrf(client) -> str:
    with client.session_transaction() as sess:
        return sess["_csrf"]


def issue_times(database_url: str | None, iterations: int, warmup: int = 30) -> list[float]:
    """Seconds per issue request, for ``iterations`` different households."""
    app = _app(database_url)
    try:
        window_id, day = _setup(app, iterations + warmup)
        client = app.test_client()
        client.get("/k/parking/")
        token = _csrf(client)
        times = []
        for i in range(iterations + warmup):
            client.post("/k/parking/identify", data={"phone": f"139{i:08d}", "csrf_token": token})
            client.post("/k/parking/plate", data={"plate": _plate(i), "csrf_token": token})
            t0 = time.perf_counter()
            response = client.post("/k/parking/issue", data={"window": str(window_id), "day": day,
                                                             "csrf_token": token})
            elapsed = time.perf_counter() - t0
            assert response.status_code == 302 and re.search(r"/voucher/\d+", response.headers["Location"]), \
                (response.status_code, response.get_data(as_text=True)[:300])
            if i >= warmup:
                times.append(elapsed)
        return times
    finally:
        app.extensions["kiosk_printing"].shutdown()
        app.extensions["db"].dispose()


def _summary(times: list[float]) -> dict:
    return {"requests": len(times), "median_ms": round(statistics.median(times) * 1000, 2),
            "p99_ms": round(_pct(times, 99) * 1000, 2)}


def run(iterations: int = 1000) -> dict:
    """Median and p99 server time of issuing a voucher, per database."""
    out = {"issue voucher (sqlite)": _summary(issue_times(None, iterations))}
    pg = os.environ.get("KIOSK_BENCH_DATABASE_URL") or os.environ.get("KIOSK_TEST_DATABASE_URL")
    if pg:
        out["issue voucher (postgresql)"] = _summary(issue_times(pg, iterations))
    return out


def profile(iterations: int = 200) -> None:
    """Print where the time of an issue goes (pyinstrument), SQLite."""
    from pyinstrument import Profiler

    profiler = Profiler()
    profiler.start()
    issue_times(None, iterations, warmup=0)
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if "--profile" in sys.argv:
        profile()
    else:
        count = int(next((a for a in sys.argv[1:] if a.isdigit()), 1000))
        for name, figures in run(count).items():
            print(f"{name}: {figures['requests']} requests, median {figures['median_ms']} ms, "
                  f"p99 {figures['p99_ms']} ms")
