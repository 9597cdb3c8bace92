"""What the Open311 GeoReport v2 endpoints answer, for the kiosk's OpenAPI description.

Field names and error bodies follow the GeoReport v2 specification; see
:mod:`kiosk_plugins.petitions.open311`. Reading requests needs no key; what a
read key's scopes add is described with the Request schema.
"""

from __future__ import annotations

from kiosk_plugins.petitions.vocabulary import TYPES

ERRORS = {"$ref": "#/components/schemas/Errors"}
NULLABLE_TEXT = {"type": ["string", "null"]}
FIELDS = (
    "api_key",
    "service_code",
    "description",
    "lat",
    "long",
    "address_string",
    "address_id",
    "first_name",
    "last_name",
    "phone",
    "email",
    "media_url",
)
# What a JSON body may hold in a field (a form holds text anyway).
SCALAR = {"type": ["string", "number"]}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(description: str) -> dict:
    return _json(ERRORS, description)


SCHEMAS = {
    "Errors": {
        "type": "array",
        "minItems": 1,
        "description": "Open311's error body: what was wrong, with the HTTP status as code.",
        "items": {
            "type": "object",
            "required": ["code", "description"],
            "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        },
    },
    "Discovery": {
        "type": "object",
        "required": ["changeset", "contact", "key_service", "endpoints"],
        "properties": {
            "changeset": {"type": "string"},
            "contact": {"type": "string"},
            "key_service": {"type": "string"},
            "endpoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["specification", "url", "type", "formats"],
                    "properties": {
                        "specification": {"type": "string"},
                        "url": {"type": "string"},
                        "type": {"type": "string"},
                        "formats": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
    "Service": {
        "type": "object",
        "required": ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"],
        "properties": {
            "service_code": {"type": "string"},
            "service_name": {"type": "string"},
            "description": {"type": "string"},
            "metadata": {"type": "boolean"},
            "type": {"enum": ["realtime", "batch", "blackbox"]},
            "keywords": {"type": "string"},
            "group": {"type": "string"},
        },
    },
    "ServiceDefinition": {
        "type": "object",
        "required": ["service_code", "attributes"],
        "properties": {
            "service_code": {"type": "string"},
            "attributes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["variable", "code", "datatype", "required", "order", "description", "values"],
                    "properties": {
                        "code": {"type": "string"},
                        "datatype": {"type": "string"},
                        "required": {"type": "boolean"},
                        "order": {"type": "integer"},
                        "values": {"type": "array", "items": {"type": "object", "required": ["key", "name"]}},
                    },
                },
            },
        },
    },
    "Request": {
        "type": "object",
        "description": "Without a read key: an opaque service_request_id, category, department, the place from the "
        "station's list, a position rounded to about 500 m, status and dates; description, status_notes and "
        "media_url are null. read:details: the tracking number as service_request_id, the description and the "
        "latest staff note with personal data masked. read:location: the exact position and the address as given. "
        "read:photos: media_url, which needs the key too.",
        "required": ["service_request_id", "status", "service_code", "description", "requested_datetime"],
        "properties": {
            "service_request_id": {"type": "string"},
            "status": {"enum": ["open", "closed"]},
            "status_notes": NULLABLE_TEXT,
            "service_name": {"type": "string"},
            "service_code": {"type": "string"},
            "description": NULLABLE_TEXT,
            "agency_responsible": NULLABLE_TEXT,
            "service_notice": NULLABLE_TEXT,
            "requested_datetime": NULLABLE_TEXT,
            "updated_datetime": NULLABLE_TEXT,
            "expected_datetime": NULLABLE_TEXT,
            "address": NULLABLE_TEXT,
            "address_id": NULLABLE_TEXT,
            "zipcode": NULLABLE_TEXT,
            "lat": {"type": ["number", "null"]},
            "long": {"type": ["number", "null"]},
            "media_url": NULLABLE_TEXT,
        },
    },
    "NewRequest": {
        "type": "object",
        "description": "A request to file. api_key may also be sent in the query string. A location is "
        "required: lat and long, address_string, or a known address_id. In a JSON body every "
        "field is a string or a number, and attribute an object of those.",
        "required": ["api_key", "service_code"],
        "properties": {
            "api_key": SCALAR,
            "service_code": SCALAR,
            "description": SCALAR,
            "lat": {"type": ["string", "number"], "description": "Decimal degrees, -90..90"},
            "long": {"type": ["string", "number"], "description": "Decimal degrees, -180..180"},
            "address_string": SCALAR,
            "address_id": SCALAR,
            "attribute[type]": {"enum": list(TYPES)},
            "attribute": {
                "type": "object",
                "description": 'JSON only: {"type": ...} as attribute[type]',
                "properties": {"type": {"enum": list(TYPES)}},
                "additionalProperties": SCALAR,
            },
            "first_name": SCALAR,
            "last_name": SCALAR,
            "phone": SCALAR,
            "email": SCALAR,
            "media_url": SCALAR,
        },
        "additionalProperties": SCALAR,
    },
    "NewRequestForm": {
        "type": "object",
        "description": "The same fields as a form (attribute[type] for the kind of request).",
        "required": ["api_key", "service_code"],
        "properties": {name: {"type": "string"} for name in FIELDS} | {"attribute[type]": {"enum": list(TYPES)}},
    },
    "Filed": {
        "type": "array",
        "minItems": 1,
        "maxItems": 1,
        "items": {
            "type": "object",
            "required": ["service_request_id", "service_notice", "account_id"],
            "properties": {
                "service_request_id": {"type": "string"},
                "service_notice": {"type": "string"},
                "account_id": {"type": "null"},
            },
        },
    },
}


# A request as a district app files it (with its own key in place of this one).
EXAMPLE = {
    "api_key": "the-key-from-the-station-settings",
    "service_code": "environment",
    "description": "贝丽北路人行道垃圾堆积",
    "lat": "22.5580",
    "long": "114.1302",
    "attribute[type]": "complaint",
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _csv_query(name: str, description: str) -> dict:
    return {"name": name, "in": "query", "description": description, "schema": {"type": "string"}}


def _date_query(name: str) -> dict:
    # Not "format": "date-time": the endpoint also reads a bare date (as midnight UTC), as many clients send.
    return {
        "name": name,
        "in": "query",
        "schema": {"type": "string"},
        "description": "A W3C date-time such as 2024-05-12T08:00:00+08:00",
    }


#: A read key, in the Open311 query parameter or a header.
READ_KEY = [
    {
        "name": "api_key",
        "in": "query",
        "required": False,
        "description": "A read key; without one the answer holds no personal data",
        "schema": {"type": "string"},
    },
    {
        "name": "X-Api-Key",
        "in": "header",
        "required": False,
        "description": "A read key, as a header",
        "schema": {"type": "string"},
    },
]


def describe() -> dict:
    """The ``api_description`` answer: Open311 discovery, services, and filing and reading requests."""
    requests_list = {"type": "array", "items": _ref("Request")}
    return {
        "schemas": SCHEMAS,
        "endpoints": {
            "petitions_api.discovery": {
                "get": {
                    "summary": "Open311 service discovery",
                    "responses": {"200": _json(_ref("Discovery"), "Where the endpoint is and what it speaks")},
                }
            },
            "petitions_api.services": {
                "get": {
                    "summary": "The station's categories as Open311 services",
                    "responses": {"200": _json({"type": "array", "items": _ref("Service")}, "The services")},
                }
            },
            "petitions_api.service_definition": {
                "get": {
                    "summary": "The extra attribute every service takes: the kind of request",
                    "responses": {
                        "200": _json(_ref("ServiceDefinition"), "The definition"),
                        "404": _errors("No such service_code"),
                    },
                }
            },
            "petitions_api.create_request": {
                "post": {
                    "summary": "File a request (needs an api_key from the station's settings)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/x-www-form-urlencoded": {"schema": _ref("NewRequestForm"), "example": EXAMPLE},
                            "application/json": {"schema": _ref("NewRequest"), "example": EXAMPLE},
                        },
                    },
                    "responses": {
                        "201": _json(_ref("Filed"), "Filed; service_request_id is the tracking number"),
                        "400": _errors("A field is missing or not acceptable; nothing was filed"),
                        "403": _errors("The api_key is missing or wrong, or the station takes no Open311 requests"),
                        "429": _errors("Too many requests from this key and address for now"),
                    },
                }
            },
            "petitions_api.list_requests": {
                "get": {
                    "summary": "Requests of the last 90 days by default, newest first, at most 1000",
                    "parameters": [
                        _csv_query(
                            "service_request_id",
                            "Ids as listed, comma-separated (tracking numbers with a read:details key); "
                            "other filters are then ignored",
                        ),
                        _csv_query("service_code", "Service codes, comma-separated"),
                        _date_query("start_date"),
                        _date_query("end_date"),
                        _csv_query("status", "open, closed, or both comma-separated; anything else is refused"),
                        *READ_KEY,
                    ],
                    "responses": {
                        "200": _json(requests_list, "The requests"),
                        "400": _errors("A filter is not acceptable"),
                        "403": _errors("A key was given that is neither a read key nor a filing key of this station"),
                        "429": _errors("Too many wrong keys from this address for now: wait Retry-After seconds"),
                    },
                }
            },
            "petitions_api.get_request": {
                "get": {
                    "summary": "One request by its id as listed (its tracking number with a read:details key)",
                    "parameters": READ_KEY,
                    "responses": {
                        "200": _json(requests_list, "A one-element array"),
                        "403": _errors("A key was given that is neither a read key nor a filing key of this station"),
                        "429": _errors("Too many wrong keys from this address for now: wait Retry-After seconds"),
                        "404": _errors("No such request at this station"),
                    },
                }
            },
        },
    }
