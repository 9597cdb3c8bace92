"""``kiosk backup PATH`` and ``kiosk restore PATH`` (issue 21 point 7; being built)."""

from __future__ import annotations

import click


@click.command("backup")
@click.argument("path")
def backup_command(path):
    """Back up the station's database, photos and settings to PATH."""
    raise click.ClickException("kiosk backup is not built yet")


@click.command("restore")
@click.argument("path")
def restore_command(path):
    """Restore a backup made by ``kiosk backup``."""
    raise click.ClickException("kiosk restore is not built yet")
