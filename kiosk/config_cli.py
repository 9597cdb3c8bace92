"""``kiosk config``: the effective configuration (issue 21 point 2; being built)."""

from __future__ import annotations

import click


@click.group("config")
def config_group():
    """The station's configuration."""
