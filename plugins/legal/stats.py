"""Statistics for the admin: tickets per service per day, waits, service times, no-shows.

Grouped by the queue a ticket was issued in. Wait = issue (or booked time) to
first call; service time = last call to finished; no-show rate = no-shows
out of tickets that reached a counter (served + no-show).

At the district hub the same page reads the tickets the station synced
(``?station=<code>``), with the station's own names for its queues.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import Blueprint, Response, g, render_template, request
from sqlalchemy import select

from kiosk import clock, sync
from kiosk.db import get_session
from kiosk.i18n import _, current_locale
from kiosk.stations import current_station
from kiosk_plugins.legal import hub
from kiosk_plugins.legal.models import HubQueue, HubTicket, Ticket
from kiosk_plugins.legal.runtime import settings

bp = Blueprint("legal_admin", __name__)

MAX_DAYS = 366


@dataclass
class DayStats:
    """One service on one day."""

    day: date
    service: str
    issued: int = 0
    served: int = 0
    no_show: int = 0
    transferred: int = 0
    waits: list = field(default_factory=list)
    services: list = field(default_factory=list)

    @property
    def avg_wait(self) -> float | None:
        """Average minutes from taking the ticket to the first call."""
        return round(sum(self.waits) / len(self.waits), 1) if self.waits else None

    @property
    def avg_service(self) -> float | None:
        """Average minutes at the counter."""
        return round(sum(self.services) / len(self.services), 1) if self.services else None

    @property
    def no_show_rate(self) -> float | None:
        """Share of called residents who did not come, in percent."""
        reached = self.served + self.no_show
        return round(100 * self.no_show / reached, 1) if reached else None


def compute(session, station_id: int, start: date, end: date) -> list[DayStats]:
    """Statistics per day and service from ``start`` to ``end`` (inclusive); at the hub, of synced tickets."""
    model = HubTicket if sync.is_hub() else Ticket
    rows = session.execute(
        select(
            model.day,
            model.numbered_service,
            model.status,
            model.transferred_from,
            model.issued_at,
            model.queue_at,
            model.first_called_at,
            model.called_at,
            model.finished_at,
        ).where(model.station_id == station_id, model.day >= start, model.day <= end)
    )
    table: dict[tuple, DayStats] = {}
    for day, service, status, moved, issued_at, queue_at, first_called, called, finished in rows:
        entry = table.setdefault((day, service), DayStats(day, service))
        entry.issued += 1
        entry.served += status == "served"
        entry.no_show += status == "no_show"
        entry.transferred += bool(moved)
        if first_called is not None:
            entry.waits.append(max((first_called - max(issued_at, queue_at)).total_seconds(), 0) / 60)
        if status == "served" and called is not None and finished is not None:
            entry.services.append(max((finished - called).total_seconds(), 0) / 60)
    if sync.is_hub():
        queues = session.scalars(select(HubQueue).where(HubQueue.station_id == station_id))
        order = {q.service: (q.data or {}).get("order", 99) for q in queues}
    else:
        order = {s.key: i for i, s in enumerate(settings().services)}
    return sorted(table.values(), key=lambda e: (e.day, order.get(e.service, 99), e.service))


def _range() -> tuple[date, date, str | None]:
    station = current_station()
    today = clock.today(station)
    try:
        start = date.fromisoformat(request.args.get("start") or (today - timedelta(days=6)).isoformat())
        end = date.fromisoformat(request.args.get("end") or today.isoformat())
    except ValueError:
        return today - timedelta(days=6), today, _("Enter the dates as YYYY-MM-DD.")
    if end < start:
        return today - timedelta(days=6), today, _("The end date must not be before the start date.")
    if (end - start).days >= MAX_DAYS:
        return today - timedelta(days=6), today, _("Choose at most one year at a time.")
    return start, end, None


def _label(key: str) -> str:
    if sync.is_hub():
        # One query per queue and request, not per row of a year's table.
        known = g.setdefault("legal_hub_labels", {})
        if key not in known:
            known[key] = hub.service_text(hub.queue_of(get_session(), current_station(), key), key, current_locale())
        return known[key]
    service = settings().service(key)
    return service.text(current_locale()) if service else key


def _fmt(value) -> str:
    return "" if value is None else str(value)


@bp.route("/")
def overview():
    """The statistics table with a date range and the CSV link."""
    start, end, error = _range()
    rows = compute(get_session(), current_station().id, start, end)
    return render_template(
        "legal/admin_stats.html", rows=rows, start=start, end=end, error=error, label=_label, fmt=_fmt
    ), (400 if error else 200)


@bp.route("/stats.csv")
def export():
    """The same figures as CSV (UTF-8 with BOM so spreadsheet programs read the Chinese)."""
    start, end, error = _range()
    if error:
        return Response(error, status=400, mimetype="text/plain")
    rows = compute(get_session(), current_station().id, start, end)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "date",
            "service_key",
            _("Service"),
            _("Tickets"),
            _("Served"),
            _("No-shows"),
            _("Transferred"),
            _("Average wait (min)"),
            _("Average service (min)"),
            _("No-show rate (percent)"),
        ]
    )
    for r in rows:
        writer.writerow(
            [
                r.day.isoformat(),
                r.service,
                _label(r.service),
                r.issued,
                r.served,
                r.no_show,
                r.transferred,
                _fmt(r.avg_wait),
                _fmt(r.avg_service),
                _fmt(r.no_show_rate),
            ]
        )
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f"attachment; filename=legal-stats-{start}-{end}.csv"
    return response
