"""Prometheus metrics (issue 21 point 6; being built)."""

from __future__ import annotations


def init_app(app) -> None:
    """Register the metrics endpoint and request timing (not built yet)."""
    return None
