"""``GET /api/openapi.json``: an OpenAPI 3.1 description of the kiosk's JSON endpoints.

The core describes its own JSON endpoints here; each plugin describes its own
through the ``api_description`` hook, by Flask endpoint name, and the core
turns the names into the mounted URLs, so a description cannot name a route
that does not exist. The whole description is built once per app at start;
each request is given the part its caller can reach: plugins switched on for
the station, and login-only endpoints only for a user holding that role.

The same list tells the error handlers which endpoints answer their errors as
JSON, so a client of ``/print-jobs/<id>`` gets ``{"error": ...}`` and not an
HTML page whatever its ``Accept`` header says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import Blueprint, Flask, current_app, g, jsonify, request

from kiosk import __version__
from kiosk.areas import AREAS
from kiosk.plugins import PluginError

bp = Blueprint("openapi", __name__)

OPENAPI_VERSION = "3.1.0"
SCHEMA_REF = "#/components/schemas/"
METHODS = ("get", "put", "post", "delete", "patch")
# <converter(args):name> or <name> in a Werkzeug rule.
RULE_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
#: What each Werkzeug converter accepts, as a JSON Schema for a path parameter.
CONVERTER_SCHEMAS = {
    "int": {"type": "integer", "minimum": 0},
    "float": {"type": "number", "minimum": 0},
    "path": {"type": "string", "minLength": 1},
}
# The default converter: anything but a slash.
SEGMENT_SCHEMA = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}

#: Core endpoints that need a login, by the role they need.
CORE_ROLES = {"district.summary_json": "district"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict:
    return {"$ref": SCHEMA_REF + name}


def error_response(description: str) -> dict:
    """A response answered with the core's ``Error`` body."""
    return _json(_ref("Error"), description)


CORE_SCHEMAS = {
    "Error": {
        "type": "object",
        "description": "An error. ``error`` is a sentence for a person, in the caller's language.",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
    },
    "PrintJob": {
        "type": "object",
        "required": ["state", "error", "attempts", "printed"],
        "properties": {
            "state": {
                "enum": ["queued", "printing", "done", "sent", "failed"],
                "description": "done: the printer confirmed it; sent: every byte went out, never confirmed",
            },
            "error": {"type": "string"},
            "attempts": {"type": "integer", "minimum": 0},
            "printed": {"type": "boolean", "description": "True only when the printer confirmed the job"},
        },
    },
    "Health": {
        "type": "object",
        "description": "Anonymous callers from elsewhere get ok, status and version only; staff and "
        "callers on the kiosk's own machine get the details.",
        "required": ["ok", "status", "version"],
        "properties": {
            "ok": {"type": "boolean"},
            "version": {"type": "string"},
            "status": {"enum": ["ok", "degraded", "down"]},
            "printer_faults": {"type": "array", "items": {"type": "string"}},
            "station": {"type": ["string", "null"]},
            "database": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}},
            "plugins": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["state", "ok", "faults"],
                    "properties": {
                        "state": {"type": "string"},
                        "ok": {"type": "boolean"},
                        "faults": {"type": "integer"},
                        "version": {"type": "string"},
                    },
                },
            },
            "devices": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["kind", "state", "ok"],
                    "properties": {"kind": {"type": "string"}, "state": {"type": "string"}, "ok": {"type": "boolean"}},
                },
            },
        },
    },
    "Candidates": {
        "type": "object",
        "required": ["q", "candidates"],
        "properties": {
            "q": {"type": "string"},
            "candidates": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["text", "consumed"],
                    "properties": {"text": {"type": "string"}, "consumed": {"type": "integer", "minimum": 1}},
                },
            },
        },
    },
    "DistrictSummary": {
        "type": "object",
        "required": ["generated_at", "stale_after_seconds", "stations"],
        "properties": {
            "generated_at": {"type": "string"},
            "stale_after_seconds": {"type": "integer"},
            "stations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "name", "kind", "day", "figures", "devices", "faults", "alert"],
                    "properties": {
                        "code": {"type": "string"},
                        "name": {"type": "string"},
                        "kind": {"type": "string"},
                        "day": {"type": "string", "format": "date"},
                        "figures": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["plugin", "key", "label", "value", "alert"],
                                "properties": {
                                    "plugin": {"type": "string"},
                                    "key": {"type": "string"},
                                    "label": {"type": "string"},
                                    "value": {"type": "number"},
                                    "alert": {"type": "boolean"},
                                },
                            },
                        },
                        "devices": {"type": "array", "items": {"type": "object"}},
                        "faults": {"type": "array", "items": {"type": "object"}},
                        "alert": {"type": "boolean"},
                    },
                },
            },
        },
    },
}


def core_description() -> dict:
    """The core's own JSON endpoints, in the shape a plugin's ``api_description`` returns."""
    from kiosk.agent import api_description as agent_endpoints
    from kiosk.handwriting import api_description as handwriting_endpoints
    from kiosk.ime import MAX_LIMIT, MAX_QUERY
    from kiosk.sync.views import api_description as sync_endpoints

    return {
        "endpoints": {
            **sync_endpoints()["endpoints"],
            **agent_endpoints()["endpoints"],
            **handwriting_endpoints()["endpoints"],
            "openapi.document_json": {
                "get": {
                    "summary": "This description: the JSON endpoints the caller can reach",
                    "responses": {
                        "200": _json(
                            {"type": "object", "required": ["openapi", "info", "paths"]}, "An OpenAPI 3.1 document"
                        )
                    },
                }
            },
            "health.healthz": {
                "get": {
                    "summary": "Whether the database, each plugin and each device are well",
                    "responses": {
                        "200": _json(_ref("Health"), "The database answers and every printer can print"),
                        "503": _json(
                            _ref("Health"),
                            "The database does not answer, or a printer cannot print (status down/degraded)",
                        ),
                    },
                }
            },
            "printing.job_status": {
                "get": {
                    "summary": "Whether a receipt came out (the kiosk page polls this after printing)",
                    "parameters": [
                        {
                            "name": "job_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                            "description": "The id a print answer gave; only this station's jobs are found",
                        }
                    ],
                    "responses": {
                        "200": _json(_ref("PrintJob"), "The job's state"),
                        "404": error_response("No such job at this station"),
                    },
                }
            },
            "ime.candidates": {
                "get": {
                    "summary": "Chinese characters and words for typed pinyin (the on-screen keyboard)",
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "schema": {"type": "string", "maxLength": MAX_QUERY, "pattern": "^[A-Za-z]*$"},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                        },
                    ],
                    "responses": {
                        "200": _json(_ref("Candidates"), "Candidates, most likely first"),
                        "400": error_response("q or limit is not acceptable"),
                    },
                }
            },
            "notices.call_staff": {
                "post": {
                    "summary": "A resident asks for staff here (呼叫工作人员); a second press joins the open call",
                    "requestBody": {
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "screen": {
                                            "type": "string",
                                            "description": "The screen's key (legal.take); kept to 100 characters",
                                        }
                                    },
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["ok", "call", "joined", "message"],
                                "properties": {
                                    "ok": {"type": "boolean"},
                                    "call": {"type": "integer"},
                                    "joined": {"type": "boolean"},
                                    "message": {"type": "string"},
                                },
                            },
                            "The call is recorded (or joined) and staff are alerted; the message is for the resident",
                        ),
                        "302": {"description": "The same, for a form post: back to the page the resident was on"},
                        "429": error_response("Too many calls from this kiosk: staff already know"),
                    },
                }
            },
            "notices.call_staff_state": {
                "get": {
                    "summary": "How many calls for staff wait for an answer (a count only, for wall displays)",
                    "responses": {
                        "200": _json(
                            {"type": "object", "required": ["open"], "properties": {"open": {"type": "integer"}}},
                            "Open calls at this station",
                        )
                    },
                }
            },
            "district.summary_json": {
                "get": {
                    "summary": "Every station's figures of the day and devices in fault (district admins)",
                    "responses": {"200": _json(_ref("DistrictSummary"), "The dashboard's data")},
                }
            },
        },
        "schemas": CORE_SCHEMAS,
    }


@dataclass(frozen=True)
class Operation:
    """One described operation: its URL, who may call it, and its OpenAPI text."""

    owner: str  # "" for the core, else the plugin's name
    endpoint: str
    path: str
    method: str
    role: str | None
    spec: dict


@dataclass
class Description:
    """Everything described, before it is cut to what a caller can reach."""

    operations: list[Operation] = field(default_factory=list)
    schemas: dict[str, dict] = field(default_factory=dict)  # owner → published name → schema

    @property
    def json_endpoints(self) -> frozenset:
        return frozenset(op.endpoint for op in self.operations)


def openapi_path(rule: str) -> str:
    """``/m/legal/t/<token>.json`` → ``/m/legal/t/{token}.json``."""
    return RULE_PARAM.sub(lambda m: "{" + m.group(2) + "}", rule)


def path_parameters(rule: str) -> list[dict]:
    """The path parameters of a Werkzeug rule, typed by their converters."""
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": dict(CONVERTER_SCHEMAS.get(converter or "", SEGMENT_SCHEMA)),
        }
        for converter, name in RULE_PARAM.findall(rule)
    ]


def _with_path_parameters(spec: dict, rule: str) -> dict:
    declared = {p.get("name") for p in spec.get("parameters", []) if isinstance(p, dict) and p.get("in") == "path"}
    missing = [p for p in path_parameters(rule) if p["name"] not in declared]
    if not missing:
        return spec
    return dict(spec, parameters=[*spec.get("parameters", []), *missing])


def _rename_refs(value, renames: dict[str, str]):
    """A copy of ``value`` with ``#/components/schemas/<old>`` references renamed."""
    if isinstance(value, dict):
        out = {k: _rename_refs(v, renames) for k, v in value.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF) and ref[len(SCHEMA_REF) :] in renames:
            out["$ref"] = SCHEMA_REF + renames[ref[len(SCHEMA_REF) :]]
        return out
    if isinstance(value, list):
        return [_rename_refs(v, renames) for v in value]
    return value


def _owner_and_role(app: Flask, owner: str, endpoint: str) -> str | None:
    """The role ``endpoint`` needs; raises PluginError when it is not ``owner``'s to describe."""
    if not owner:
        return CORE_ROLES.get(endpoint)
    found = app.extensions["blueprint_areas"].get(endpoint.split(".")[0])
    if found is None or found[0] != owner:
        raise PluginError(f"endpoint {endpoint!r} is not one of plugin {owner}'s")
    return AREAS[found[1]][1]


def _operations(app: Flask, owner: str, endpoint: str, methods, role: str | None) -> list[Operation]:
    """The operations of one described endpoint; raises PluginError when they are malformed."""
    rules = list(app.url_map.iter_rules(endpoint)) if endpoint in app.view_functions else []
    if not rules:
        raise PluginError(f"endpoint {endpoint!r} does not exist")
    if not isinstance(methods, dict) or not methods:
        raise PluginError(f"endpoint {endpoint!r} must map HTTP methods to operations")
    out = []
    for method, spec in methods.items():
        if (
            method not in METHODS
            or not isinstance(spec, dict)
            or not isinstance(spec.get("responses"), dict)
            or not spec["responses"]
        ):
            raise PluginError(f"{endpoint} {method}: an operation is a dict with responses, under a lower-case method")
        for rule in rules:
            if method.upper() not in (rule.methods or ()):
                raise PluginError(f"{endpoint} does not answer {method.upper()}")
            described = _with_path_parameters(spec, rule.rule)
            if role is not None:
                described = dict(described, security=[{"login": []}])
            out.append(Operation(owner, endpoint, openapi_path(rule.rule), method, role, described))
    return out


def _add(app: Flask, description: Description, owner: str, given) -> None:
    """Add one contributor's description, dropping (and charging) what is malformed."""
    plugins = app.extensions["kiosk_plugins"]

    def fault(message: str) -> None:
        plugins.record_fault(owner, "api_description", PluginError(message))

    if (
        not isinstance(given, dict)
        or not isinstance(given.get("endpoints", {}), dict)
        or not isinstance(given.get("schemas", {}), dict)
    ):
        fault("api_description must return a dict with an 'endpoints' dict and an optional 'schemas' dict")
        return
    schemas = {name: s for name, s in given.get("schemas", {}).items() if isinstance(s, dict)}
    renames = {name: f"{owner}.{name}" for name in schemas} if owner else {}
    description.schemas[owner] = {renames.get(n, n): _rename_refs(s, renames) for n, s in schemas.items()}
    for endpoint, methods in given.get("endpoints", {}).items():
        try:
            role = _owner_and_role(app, owner, str(endpoint))
            description.operations.extend(_operations(app, owner, str(endpoint), _rename_refs(methods, renames), role))
        except PluginError as exc:
            if not owner:
                raise
            fault(str(exc))


def build(app: Flask) -> Description:
    """The core's and every enabled plugin's descriptions, checked against the URL map."""
    description = Description()
    _add(app, description, "", core_description())
    for name, given in app.extensions["kiosk_plugins"].call("api_description"):
        _add(app, description, name, given)
    return description


def init_app(app: Flask) -> None:
    """Build the description once, after every plugin has registered its blueprints."""
    with app.app_context():
        app.extensions["kiosk_api_description"] = build(app)


def description_of(app: Flask) -> Description:
    return app.extensions.get("kiosk_api_description") or Description()


def answers_json() -> bool:
    """Whether this request's errors are answered as JSON rather than as an HTML page."""
    if request.path.startswith("/api/") or request.path.endswith(".json"):
        return True
    if request.accept_mimetypes.best == "application/json":
        return True
    return request.endpoint is not None and request.endpoint in description_of(current_app).json_endpoints


def security_schemes() -> dict:
    return {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from the station's settings, as 'Authorization: Bearer <token>'",
        },
        "login": {
            "type": "apiKey",
            "in": "cookie",
            "name": current_app.session_interface.get_cookie_name(current_app),
            "description": "The session cookie of a staff login (POST /staff/login)",
        },
        "csrf": {
            "type": "apiKey",
            "in": "header",
            "name": "X-CSRF-Token",
            "description": "The CSRF token of the kiosk page that sends it, with that page's session cookie",
        },
    }


def document() -> dict:
    """The description cut to what this request's caller can reach."""
    from kiosk.stations import current_station

    station = current_station()
    plugins = current_app.extensions["kiosk_plugins"]
    user = g.get("user")
    described = description_of(current_app)

    def reachable(op: Operation) -> bool:
        if op.owner:
            info = plugins.infos.get(op.owner)
            if info is None or info.state != "enabled" or not station.plugin_enabled(op.owner):
                return False
        return op.role is None or (user is not None and user.can(op.role))

    paths: dict[str, dict] = {}
    owners = {""}
    for op in described.operations:
        if reachable(op):
            paths.setdefault(op.path, {})[op.method] = op.spec
            owners.add(op.owner)
    schemas = {name: schema for owner in sorted(owners) for name, schema in described.schemas.get(owner, {}).items()}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"{station.name} · station kiosk JSON API",
            "version": __version__,
            "description": "The JSON endpoints this caller can reach at this station. "
            "Endpoints that need a login are listed only to a logged-in caller.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas, "securitySchemes": security_schemes()},
    }


@bp.get("/api/openapi.json")
def document_json():
    """The OpenAPI description of the JSON endpoints the caller can reach (no login needed)."""
    return jsonify(document())
