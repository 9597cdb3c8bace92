"""Where plugin blueprints are mounted (``/k``, ``/m``, ``/api``, ``/staff``, ``/admin``) and who may open them.

Its own module so that the app factory and the OpenAPI description both read it
without importing each other.
"""

from __future__ import annotations

#: Area name → (URL prefix, role required; ``None`` for anyone).
AREAS: dict[str, tuple[str, str | None]] = {
    "kiosk": ("/k", None),
    "mobile": ("/m", None),
    "api": ("/api", None),
    "staff": ("/staff", "staff"),
    "admin": ("/admin", "admin"),
}
