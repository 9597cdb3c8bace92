"""The district dashboard's JSON endpoint: ``GET /api/courier_rest/stats``.

The dashboard sends the station's token (``api_token`` in
``[plugins.courier_rest]``) as ``Authorization: Bearer <token>``. Without a
configured token the endpoint is off (403). Parameters: ``period=day|month``
and ``date=2024-05-01`` or ``2024-05`` (default: today / this month). On a
fleet server add ``station=<code>``. The answer holds counts only, never a
rider; ``now`` adds the live figures (riders in, free places).
"""

from __future__ import annotations

import hmac

from flask import Blueprint, jsonify, request

from kiosk import clock
from kiosk.db import get_session
from kiosk.stations import current_station
from kiosk_plugins.courier_rest import slots, stats
from kiosk_plugins.courier_rest.settings import get_settings
from kiosk_plugins.courier_rest.station_setup import prepare

bp = Blueprint("courier_rest_api", __name__)


def _token_ok() -> bool:
    expected = get_settings().api_token
    header = request.headers.get("Authorization", "")
    sent = header[7:].strip() if header.lower().startswith("bearer ") else ""
    return bool(expected) and bool(sent) and hmac.compare_digest(sent.encode(), expected.encode())


@bp.route("/stats")
def district_stats():
    """The day's or month's figures as JSON for the district dashboard (token required)."""
    if not get_settings().api_token:
        return jsonify(
            {"error": "the district API is off: set api_token in [plugins.courier_rest]", "status": 403}
        ), 403
    if not _token_ok():
        return jsonify({"error": "send the station's token as 'Authorization: Bearer <token>'", "status": 401}), 401
    station = current_station()
    prepare(station)
    try:
        data = stats.figures(
            get_session(), station, request.args.get("period", "day"), request.args.get("date") or None, clock.now()
        )
    except stats.BadPeriod:
        return jsonify({"error": "period must be day or month, date like 2024-05-01 or 2024-05", "status": 400}), 400
    data["now"] = slots.board(get_session(), station.id)
    return jsonify(data)
