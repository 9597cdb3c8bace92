"""Asking another plugin for a service without importing it.

Plugins never import each other: the courier station that wants a legal-queue
ticket for a rider asks for ``kind="queue_ticket"`` and whichever enabled plugin
offers it answers (the ``request_service`` hook, first answer wins). A plugin
that raises is recorded against its name and the asker gets ``None``, as if no
plugin offered the service.
"""

from __future__ import annotations

from flask import current_app

__all__ = ["request_service"]


def request_service(kind: str, payload: dict, station=None, *, app=None) -> dict | None:
    """Ask the plugins for service ``kind``; the first answer, or ``None`` when none offers it.

    :param kind: the service, e.g. ``"queue_ticket"`` or ``"civic_request"``.
    :param payload: a dict of arguments the answering plugin documents.
    :param station: the station asking (plugins switched off there are not asked);
        defaults to the request's station.
    :param app: the app, for code running outside an app context (a job's thread).
    """
    app = app or current_app
    if station is None:
        from kiosk.stations import current_station

        station = current_station()
    answer = app.extensions["kiosk_plugins"].call(
        "request_service", firstresult=True, kind=kind, payload=payload, station=station
    )
    return answer if isinstance(answer, dict) else None
