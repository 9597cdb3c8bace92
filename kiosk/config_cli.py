"""``kiosk config show``: the effective configuration, where each value came from, secrets masked."""

from __future__ import annotations

import click


@click.group("config")
def config_group():
    """The station's configuration."""


@config_group.command("show")
def config_show():
    """Print every setting's value and where it came from (default, station file:line, or KIOSK_* variable).

    Secret keys, tokens and database passwords are masked. Mistakes are listed at
    the end, as `kiosk serve` would refuse them; this command itself needs no
    database and no secret key.
    """
    from kiosk import config_schema

    sources = config_schema.read_sources()
    rows = config_schema.effective(sources)
    width = max(len(name) for name, _, _ in rows)
    for name, value, origin in rows:
        click.echo(f"{name:<{width}} = {config_schema.show_value(value)}    # {origin}")
    problems = config_schema.check(sources, server=True, deep=True)
    if problems:
        click.echo("")
        for problem in problems:
            click.echo(f"{'warning' if problem.warning else 'problem'}: {problem}")
