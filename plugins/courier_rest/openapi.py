"""What the rider station's JSON endpoints answer, for the kiosk's OpenAPI description."""

from __future__ import annotations

from kiosk_plugins.courier_rest.slots import SLOT_KINDS

ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _count() -> dict:
    return {"type": "integer", "minimum": 0}


PLACES = {
    "type": "object",
    "required": ["free", "total"],
    "properties": {"free": {"type": "integer"}, "total": _count()},
}

SCHEMAS = {
    "Board": {
        "type": "object",
        "description": "Free and total places of each kind, people waiting and riders in: no personal data.",
        "required": [*SLOT_KINDS, "waiting", "in_station"],
        "properties": {
            **{kind: PLACES for kind in SLOT_KINDS},
            "waiting": {
                "type": "object",
                "required": ["phone", "battery"],
                "properties": {"phone": _count(), "battery": _count()},
            },
            "in_station": _count(),
        },
    },
    "CheckInBoard": {
        "type": "object",
        "required": ["board", "ready"],
        "properties": {
            "board": {"$ref": "#/components/schemas/Board"},
            "ready": {
                "type": "array",
                "description": "Slots kept for waiting riders, by waiting number",
                "items": {
                    "type": "object",
                    "required": ["no", "kind", "slot", "until"],
                    "properties": {
                        "no": {"type": "string"},
                        "kind": {"type": "string"},
                        "slot": {"type": "integer"},
                        "until": {"type": "string"},
                    },
                },
            },
        },
    },
    "PrintStarted": {
        "type": "object",
        "required": ["job_id", "state", "poll"],
        "properties": {
            "job_id": {"type": "string"},
            "state": {"type": "string"},
            "poll": {"type": "string", "description": "GET it for the job's state"},
        },
    },
    "Figures": {
        "type": "object",
        "description": "Counts of one day or month, never a rider.",
        "required": [
            "station",
            "period",
            "label",
            "from",
            "to",
            "visits",
            "unique_riders",
            "new_riders",
            "auto_closed",
            "average_stay_minutes",
            "services",
            "hazard_reports",
            "visits_by_hour",
            "peak_hours",
            "peak_hour_visits",
            "series",
            "now",
        ],
        "properties": {
            "station": {"type": "string"},
            "station_name": {"type": "string"},
            "period": {"enum": ["day", "month"]},
            "label": {"type": "string"},
            "from": {"type": "string"},
            "to": {"type": "string"},
            "visits": _count(),
            "unique_riders": _count(),
            "new_riders": _count(),
            "auto_closed": _count(),
            "average_stay_minutes": {"type": ["number", "null"]},
            "services": {"type": "object"},
            "hazard_reports": _count(),
            "visits_by_hour": {"type": "array", "items": _count(), "minItems": 24, "maxItems": 24},
            "peak_hours": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 23}},
            "peak_hour_visits": _count(),
            "series": {"type": "array", "items": {"type": "object", "required": ["bucket"]}},
            "now": {"$ref": "#/components/schemas/Board"},
        },
    },
}


def describe() -> dict:
    """The ``api_description`` answer: the check-in board, the print button and the district figures."""
    return {
        "schemas": SCHEMAS,
        "endpoints": {
            "courier_rest.board_json": {
                "get": {
                    "summary": "Free places and slots kept for waiting riders (the check-in screen refreshes it)",
                    "responses": {"200": _json({"$ref": "#/components/schemas/CheckInBoard"}, "The board")},
                }
            },
            "courier_rest.print_note": {
                "post": {
                    "summary": "Print the identified rider's code or charging-slot note at the kiosk (no body)",
                    "security": [{"csrf": []}],
                    "parameters": [
                        {"name": "what", "in": "path", "required": True, "schema": {"enum": ["pass", "slot"]}}
                    ],
                    "responses": {
                        "200": _json(
                            {"$ref": "#/components/schemas/PrintStarted"}, "The note is on its way to the printer"
                        ),
                        "400": _json(
                            ERROR,
                            "No rider is identified on this kiosk, the rider holds no slot, "
                            "or the page's CSRF token is missing",
                        ),
                        "404": _json(ERROR, "Nothing of that name to print"),
                        "503": _json(ERROR, "The printer is not available"),
                    },
                }
            },
            "courier_rest_api.district_stats": {
                "get": {
                    "summary": "The day's or month's figures for the district dashboard",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {"name": "period", "in": "query", "schema": {"enum": ["day", "month"]}},
                        {
                            "name": "date",
                            "in": "query",
                            "description": "2024-05-01 for a day, 2024-05 for a month",
                            "schema": {"type": "string", "pattern": "^([0-9]{4}-[0-9]{2}(-[0-9]{2})?)?$"},
                        },
                        {
                            "name": "station",
                            "in": "query",
                            "description": "A station's code, on a fleet server",
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Figures"}, "The figures"),
                        "400": _json(ERROR, "period or date is not acceptable"),
                        "401": _json(ERROR, "The token is missing or wrong"),
                        "403": _json(ERROR, "The station has no api_token: the endpoint is off"),
                    },
                }
            },
        },
    }
