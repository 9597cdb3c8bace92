"""Use figures for the station and the district: visits, unique riders, services, peak hours.

Figures are counted in the station's local time for one day (by hour) or one
month (by day). Rows are read once and bucketed in Python: a station sees tens
of visits a day, and this keeps SQLite and PostgreSQL giving the same answer
without database-specific time-zone functions.
"""

from __future__ import annotations

import calendar
import csv
import io
import re
from datetime import date

from sqlalchemy import func, select

from kiosk import clock
from kiosk_plugins.courier_rest.models import Hazard, Rider, ServiceRequest, ServiceUse, Use, Visit

PERIODS = ("day", "month")
USE_COLUMNS = {"seat": "seat", "phone": "phone_charging", "battery": "battery_charging"}
CSV_COLUMNS = [
    "bucket",
    "visits",
    "unique_riders",
    "seat",
    "phone_charging",
    "battery_charging",
    "basic_services",
    "advanced_requests",
    "hazard_reports",
]


class BadPeriod(ValueError):
    """The asked period is not a day (2024-05-01) or a month (2024-05)."""


# Figures start with the kiosk; year 9999 has no next day or month to end a period with.
YEARS = range(2000, 9999)


def parse_period(period: str, value: str | None, now, tz) -> tuple[str, str, object, object, list]:
    """(period, label, start UTC, end UTC, bucket labels) for a day or a month."""
    today = clock.today(tz, now)
    if period == "day":
        if value:
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
                raise BadPeriod(value)
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise BadPeriod(value) from None
            if day.year not in YEARS:
                raise BadPeriod(value)
        else:
            day = today
        start, end = clock.day_bounds(tz, day)
        return "day", day.isoformat(), start, end, [f"{h:02d}" for h in range(24)]
    if period == "month":
        if value:
            match = re.fullmatch(r"([0-9]{4})-([0-9]{2})", value)
            if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) not in YEARS:
                raise BadPeriod(value)
            year, month = int(match.group(1)), int(match.group(2))
        else:
            year, month = today.year, today.month
        start, end = clock.month_bounds(tz, year, month)
        days = calendar.monthrange(year, month)[1]
        return (
            "month",
            f"{year:04d}-{month:02d}",
            start,
            end,
            [f"{year:04d}-{month:02d}-{d:02d}" for d in range(1, days + 1)],
        )
    raise BadPeriod(period)


def figures(session, station, period: str, value: str | None, now) -> dict:
    """Every figure of one period, JSON-ready (no personal data)."""
    tz = clock.zone(station)
    period, label, start, end, buckets = parse_period(period, value, now, tz)

    def bucket_of(moment) -> str:
        local = moment.astimezone(tz)
        return f"{local.hour:02d}" if period == "day" else local.date().isoformat()

    per = {b: {c: 0 for c in CSV_COLUMNS[1:]} for b in buckets}
    riders_per = {b: set() for b in buckets}
    by_hour = [0] * 24
    visits = session.execute(
        select(Visit.rider_id, Visit.checked_in_at, Visit.checked_out_at, Visit.auto_closed).where(
            Visit.station_id == station.id, Visit.checked_in_at >= start, Visit.checked_in_at < end
        )
    ).all()
    stays, riders, auto_closed = [], set(), 0
    for rider_id, came, left, auto in visits:
        b = bucket_of(came)
        per[b]["visits"] += 1
        riders_per[b].add(rider_id)
        riders.add(rider_id)
        by_hour[came.astimezone(tz).hour] += 1
        if auto:
            auto_closed += 1
        elif left is not None:
            stays.append((left - came).total_seconds() / 60)
    for b, ids in riders_per.items():
        per[b]["unique_riders"] = len(ids)

    services: dict[str, int] = {v: 0 for v in USE_COLUMNS.values()}
    for kind, started in session.execute(
        select(Use.kind, Use.started_at).where(
            Use.station_id == station.id, Use.started_at.is_not(None), Use.started_at >= start, Use.started_at < end
        )
    ).all():
        column = USE_COLUMNS[kind]
        services[column] += 1
        per[bucket_of(started)][column] += 1
    basic: dict[str, int] = {}
    for key, at in session.execute(
        select(ServiceUse.service_key, ServiceUse.at).where(
            ServiceUse.station_id == station.id, ServiceUse.at >= start, ServiceUse.at < end
        )
    ).all():
        basic[key] = basic.get(key, 0) + 1
        per[bucket_of(at)]["basic_services"] += 1
    advanced: dict[str, int] = {}
    for key, at in session.execute(
        select(ServiceRequest.service, ServiceRequest.created_at).where(
            ServiceRequest.station_id == station.id, ServiceRequest.created_at >= start, ServiceRequest.created_at < end
        )
    ).all():
        advanced[key] = advanced.get(key, 0) + 1
        per[bucket_of(at)]["advanced_requests"] += 1
    for (at,) in session.execute(
        select(Hazard.created_at).where(
            Hazard.station_id == station.id, Hazard.created_at >= start, Hazard.created_at < end
        )
    ).all():
        per[bucket_of(at)]["hazard_reports"] += 1
    new_riders = (
        session.scalar(
            select(func.count(Rider.id)).where(
                Rider.station_id == station.id, Rider.created_at >= start, Rider.created_at < end
            )
        )
        or 0
    )

    top = max(by_hour) if visits else 0
    return {
        "station": station.code,
        "station_name": station.name,
        "period": period,
        "label": label,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "visits": len(visits),
        "unique_riders": len(riders),
        "new_riders": int(new_riders),
        "auto_closed": auto_closed,
        "average_stay_minutes": round(sum(stays) / len(stays), 1) if stays else None,
        "services": {**services, "basic": dict(sorted(basic.items())), "advanced": dict(sorted(advanced.items()))},
        "hazard_reports": sum(row["hazard_reports"] for row in per.values()),
        "visits_by_hour": by_hour,
        "peak_hours": [h for h in sorted(range(24), key=lambda h: (-by_hour[h], h)) if by_hour[h]][:3],
        "peak_hour_visits": top,
        "series": [{"bucket": b, **per[b]} for b in buckets],
    }


def to_csv(data: dict) -> str:
    """The period's figures as CSV: one row per hour or day, then the totals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    totals = {c: 0 for c in CSV_COLUMNS[1:]}
    for row in data["series"]:
        writer.writerow([row[c] for c in CSV_COLUMNS])
        for c in CSV_COLUMNS[1:]:
            totals[c] += row[c]
    # Unique riders do not add up across buckets: the period's own count is used.
    totals["unique_riders"] = data["unique_riders"]
    writer.writerow(["total"] + [totals[c] for c in CSV_COLUMNS[1:]])
    return out.getvalue()
