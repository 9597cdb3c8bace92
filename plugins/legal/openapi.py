"""What the legal queue's JSON endpoints answer, for the kiosk's OpenAPI description."""

from __future__ import annotations

ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


SCHEMAS = {
    "Board": {
        "type": "object",
        "description": "What the calling display shows: ticket numbers and counters only, never a person.",
        "required": ["calls", "waiting"],
        "properties": {
            "calls": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["ticket", "counter", "service", "at"],
                    "properties": {
                        "ticket": {"type": "string"},
                        "counter": {"type": "integer"},
                        "service": {"type": "string"},
                        "at": {"type": "string", "pattern": "^\\d{2}:\\d{2}$"},
                    },
                },
            },
            "waiting": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["service", "key", "count"],
                    "properties": {
                        "service": {"type": "string"},
                        "key": {"type": "string"},
                        "count": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
    },
    "TicketState": {
        "type": "object",
        "description": "One ticket's place in the queue, texts in the phone's language; no phone number.",
        "required": ["ticket", "service", "status", "status_text", "ahead", "wait", "counter", "call_text"],
        "properties": {
            "ticket": {"type": "string"},
            "service": {"type": "string"},
            "status": {"enum": ["waiting", "called", "served", "no_show", "expired"]},
            "status_text": {"type": "string"},
            "ahead": {"type": ["integer", "null"], "minimum": 0},
            "wait": {"type": "string"},
            "counter": {"type": ["integer", "null"]},
            "call_text": {"type": "string"},
            "notice": {
                "type": "string",
                "description": "At the district hub: since when the station has not been heard from "
                "(empty while it syncs)",
            },
        },
    },
}


def describe() -> dict:
    """The ``api_description`` answer: the display's state and a ticket's live status."""
    return {
        "schemas": SCHEMAS,
        "endpoints": {
            "legal_display.state": {
                "get": {
                    "summary": "The calling display's recent calls and how many wait per queue",
                    "responses": {"200": _json({"$ref": "#/components/schemas/Board"}, "The board")},
                }
            },
            "legal_mobile.status_json": {
                "get": {
                    "summary": "A ticket's live place in the queue (the phone page from the ticket's QR code); "
                    "at the district hub, as the station last synced it (``?station=<code>``)",
                    "parameters": [
                        {
                            "name": "token",
                            "in": "path",
                            "required": True,
                            "description": "The random token printed in the ticket's QR code",
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"},
                        }
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/TicketState"}, "The ticket's state"),
                        "404": _json(
                            ERROR,
                            "No such ticket at this station; at the hub also a ticket not synced yet "
                            '(then ``"pending": true``)',
                        ),
                    },
                }
            },
        },
    }
