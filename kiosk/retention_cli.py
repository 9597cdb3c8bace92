"""``kiosk purge``: delete personal data past its period now, or (``--dry-run``) count what would go.

The daily job ``kiosk.retention`` does the same at 03:20; this is for an
operator who shortened a period in the station file, or who wants to see what
the next run will take. Only counts are printed, never the data itself.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


def _label(kind) -> str:
    label = kind.label
    if isinstance(label, dict):
        return str(label.get("zh_Hans") or label.get("en") or kind.name)
    return str(label)


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
@click.option("--only", default=None, help="One plugin (petitions) or one kind (petitions.photos).")
@with_appcontext
def purge_command(dry_run, only):
    """Delete personal data older than its retention period ([retention] in the station file)."""
    from kiosk import retention

    app = current_app._get_current_object()
    known = {k.plugin for k in retention.kinds(app)} | {k.key for k in retention.kinds(app)}
    if only and only not in known:
        raise click.ClickException(f"no kind or plugin {only}; the kinds are {', '.join(sorted(known))}")
    for key in retention.unknown_settings(app):
        click.echo(f"warning: {key} names no kind of personal data a running plugin keeps; it is ignored", err=True)
    outcomes = retention.purge(app, dry_run=dry_run, only=only)
    verb = "would go" if dry_run else "deleted"
    width = max((len(o.kind.key) for o in outcomes), default=10)
    failed = False
    for o in outcomes:
        if o.error:
            failed = True
            click.echo(f"{o.kind.key:<{width}}  {o.days:>5} days  failed: {o.error}")
            continue
        click.echo(
            f"{o.kind.key:<{width}}  {o.days:>5} days  {o.records:>6} records  {o.files:>5} files {verb}"
            f"  ({_label(o.kind)})"
        )
    total_records, total_files = sum(o.records for o in outcomes), sum(o.files for o in outcomes)
    click.echo(f"{'total':<{width}}              {total_records:>6} records  {total_files:>5} files {verb}")
    if failed:
        raise click.ClickException("some kinds could not be purged (see above); the others were")
