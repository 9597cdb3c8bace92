"""Use figures for staff: a day by hour or a month by day, as a page with charts and as CSV."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from kiosk import clock
from kiosk.db import get_session
from kiosk.errors import fail
from kiosk.i18n import _, current_locale
from kiosk.stations import current_station
from kiosk_plugins.courier_rest import advanced, messages, services, stats
from kiosk_plugins.courier_rest.chart import bar_chart
from kiosk_plugins.courier_rest.station_setup import prepare

bp = Blueprint("courier_rest_stats", __name__)


@bp.before_request
def _prepare_station():
    prepare(current_station())


def _figures():
    period = request.args.get("period", "day")
    try:
        return stats.figures(get_session(), current_station(), period, request.args.get("date") or None, clock.now())
    except stats.BadPeriod:
        fail(_("Please choose a day like 2024-05-01 or a month like 2024-05."), 400)


@bp.route("/stats")
def page():
    """The figures of a day or month with two charts."""
    data = _figures()
    labels = [row["bucket"][-2:] for row in data["series"]]
    peaks = set(data["peak_hours"])
    series_title = _("Visits by hour") if data["period"] == "day" else _("Visits by day")
    series_chart = bar_chart(
        labels,
        [row["visits"] for row in data["series"]],
        title=series_title,
        highlight={i for i, _row in enumerate(data["series"]) if data["period"] == "day" and i in peaks},
    )
    hours_chart = bar_chart(
        [f"{h:02d}" for h in range(24)],
        data["visits_by_hour"],
        title=_("Check-ins by hour of day (darker: peak hours)"),
        highlight=peaks,
    )
    return render_template(
        "courier_rest/staff_stats.html",
        d=data,
        series_chart=series_chart,
        hours_chart=hours_chart,
        kind_label=messages.kind_label,
        advanced_labels=advanced.LABELS,
        service_names={
            s.key: services.name_of(s, current_locale())
            for s in services.listed(get_session(), current_station().id, True)
        },
    )


@bp.route("/stats.csv")
def csv():
    """The same figures as CSV, one row per hour or day."""
    data = _figures()
    filename = f"courier_rest-{data['station']}-{data['label']}.csv"
    # A BOM so that Excel, which district staff open these with, reads the file as UTF-8.
    return Response(
        "\ufeff" + stats.to_csv(data),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
