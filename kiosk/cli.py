"""The ``kiosk`` command: run, serve, db upgrade, users, plugins, demo, printer, doctor, purge."""

from __future__ import annotations

import gc

# Importing this module imports Flask and click (the command groups of other
# modules are imported when asked for: LAZY_COMMANDS), a few hundred modules whose
# objects live as long as the process. The cyclic collector would walk them over
# and over while they are made. At the end of the module they are frozen out of
# later collections (the first one after switching it back on would walk all of
# them once more) and the collector is back on.
_COLLECTOR_WAS_ON = gc.isenabled()
gc.disable()

import os  # noqa: E402
import secrets  # noqa: E402
import sys  # noqa: E402

import click  # noqa: E402
from flask import current_app  # noqa: E402
from flask.cli import FlaskGroup, with_appcontext  # noqa: E402

from kiosk.config import ConfigError  # noqa: E402


def _build_app():
    """The app as commands see it; ``kiosk db upgrade`` builds it migrating (whatever ``auto_migrate`` says)."""
    from kiosk.app import create_app

    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.command_path.split()[-2:] == ["db", "upgrade"]:
        # auto_migrate = false must not stop the one command that migrates: with it off the
        # app would refuse to build on a fresh database ("run `kiosk db upgrade`").
        return create_app({"AUTO_MIGRATE": True})
    return create_app()


def _create_app():
    try:
        return _build_app()
    except ConfigError as exc:
        click.echo(f"kiosk: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:
        from kiosk.db import error_line, unavailable

        if not unavailable(exc):
            raise
        # A command, unlike `kiosk serve`, does not wait: say so in one line, not a traceback.
        click.echo(
            f"kiosk: the database cannot be reached ({error_line(exc)}): check that it runs and "
            "KIOSK_DATABASE_URL, then try again",
            err=True,
        )
        sys.exit(3)


SERVER_COMMANDS = ("run", "serve")

#: Commands defined in other modules, imported the first time they are asked for (to
#: run them, or for ``kiosk --help``). Importing them with this module made `kiosk
#: serve`'s master import SQLAlchemy, the models and kiosk.sync (about 190 ms of its
#: 0.36 s of CPU at start, issue 22), none of which it uses: each worker imports what
#: its app needs.
LAZY_COMMANDS = {
    "users": "kiosk.accounts_cli:users",  # accounts
    "backup": "kiosk.backup:backup_command",
    "restore": "kiosk.backup:restore_command",
    "config": "kiosk.config_cli:config_group",  # kiosk config show
    "stations": "kiosk.sync.cli:stations",
    "sync": "kiosk.sync.cli:sync_group",
    "agent": "kiosk.agent:agent_cli",  # a terminal PC's printer and readers
    "terminals": "kiosk.terminals_cli:terminals",
    "purge": "kiosk.retention_cli:purge_command",  # kiosk purge [--dry-run]: personal data past its period
}


class KioskGroup(FlaskGroup):
    """Flask's command group, plus the commands plugins register."""

    def __init__(self, **kwargs):
        super().__init__(create_app=_create_app, add_version_option=False, **kwargs)
        self._plugin_commands_loaded = False

    def _load_kiosk_plugin_commands(self):
        # Not named _load_plugin_commands: that is FlaskGroup's own (``flask.commands``
        # entry points), which Flask calls for every command.
        if self._plugin_commands_loaded:
            return
        self._plugin_commands_loaded = True
        from kiosk.plugins import KioskPlugins

        try:
            plugins = KioskPlugins()
            plugins.call_startup("register_commands", cli=self)
        except Exception as exc:  # a broken plugin must not take the CLI down
            click.echo(f"kiosk: could not load plugin commands: {exc}", err=True)

    def _load_lazy_command(self, name: str) -> None:
        if name in self.commands or name not in LAZY_COMMANDS:
            return
        import importlib

        module, attribute = LAZY_COMMANDS[name].split(":")
        self.add_command(getattr(importlib.import_module(module), attribute), name)

    def list_commands(self, ctx):
        self._load_kiosk_plugin_commands()
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx, name):
        if name in SERVER_COMMANDS:
            # A server process opens the station's devices and runs its jobs.
            os.environ.setdefault("KIOSK_START_DEVICES", "true")
            os.environ.setdefault("KIOSK_RUN_JOBS", "true")
            # Nothing else to look up: importing the plugins here would cost
            # `kiosk serve`'s master process half a second and 30 MB it never
            # uses (each worker builds its own app).
            return click.Group.get_command(self, ctx, name)
        self._load_lazy_command(name)
        if name not in self.commands:
            self._load_kiosk_plugin_commands()
        return super().get_command(ctx, name)


@click.group(cls=KioskGroup)
@click.pass_context
def cli(ctx):
    """Service-station kiosk (党群服务中心 / 暖蜂驿站)."""
    from kiosk import logs

    logs.configure()
    if ctx.invoked_subcommand in SERVER_COMMANDS and not ctx.resilient_parsing:
        # `kiosk run` too: it serves on the network like `kiosk serve` when given --host
        # (a developer's station is `kiosk demo`'s, whose station file has a generated key).
        _refuse_to_serve_with_mistakes()


def _refuse_to_serve_with_mistakes() -> None:
    """A server never starts on a configuration with mistakes or a secret key anyone could know.

    Checked here, before any worker is forked: one line per problem, exit 2.
    """
    from kiosk import config_schema

    problems = config_schema.check(config_schema.read_sources(), server=True, deep=True)
    for problem in problems:
        click.echo(f"kiosk: {'warning: ' if problem.warning else ''}{problem}", err=True)
    if any(not p.warning for p in problems):
        click.echo("kiosk: not starting: fix the above (`kiosk config show` shows every setting)", err=True)
        sys.exit(2)


# -- database -----------------------------------------------------------------
@cli.group()
def db():
    """Database migrations."""


@db.command("upgrade")
@with_appcontext
def db_upgrade():
    """Apply every pending migration of the core and the plugins (keeps data).

    Safe to run on several machines at once (PostgreSQL: one migrates, the others
    wait for it). On a database newer than this code it changes nothing.
    """
    from kiosk import migrate

    newer = migrate.upgrade(current_app)
    if newer:
        click.echo(
            f"database is newer than this code: nothing to do (it has {', '.join(newer)}, "
            "which this version does not know; upgrade this node's kiosk package)"
        )
        _echo_unknown(migrate.unknown_revisions(current_app))
        return
    left = migrate.pending(current_app)
    click.echo("database is up to date" if not left else f"still pending: {', '.join(left)}")
    _echo_unknown(migrate.unknown_revisions(current_app))


def _echo_unknown(unknown: dict) -> None:
    """Say which uninstalled plugins still have revisions (and tables) in the database."""
    for plugin, revisions in unknown.items():
        click.echo(
            f"warning: plugin {plugin} is not installed but the database has its revision "
            f"{', '.join(revisions)} (its tables are kept); run `kiosk plugins forget {plugin}` "
            "to retire it",
            err=True,
        )


@db.command("revision")
@click.argument("name", metavar="PLUGIN")
@click.option("-m", "--message", required=True, help='What the revision changes, e.g. "add wish.note".')
@click.option(
    "--into",
    type=click.Path(file_okay=False),
    default=None,
    help="Write the file here instead of the plugin's migrations/ folder.",
)
@with_appcontext
def db_revision(name, message, into):
    """Write a new revision of PLUGIN (or `core`) from its models' changes."""
    from kiosk import migrate

    try:
        path = migrate.new_revision(current_app, name, message, into=into)
    except migrate.MigrationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {path}: read it, then `kiosk db upgrade`")


@db.command("downgrade")
@click.argument("name", metavar="PLUGIN")
@click.option("--to", "to", default=None, metavar="REV|base", help="Revision to go back to (default: one back).")
@click.option("--yes", is_flag=True, help="Do not ask before dropping data.")
@with_appcontext
def db_downgrade(name, to, yes):
    """Undo PLUGIN's (or `core`'s) newest revision, or go back to --to REV or base.

    An installed plugin's branch is applied again by the next start or `kiosk db upgrade`.
    """
    from kiosk import migrate

    if not yes:
        click.confirm(
            f"downgrade {name} to {to or 'its previous revision'}? Its dropped tables and columns lose their data",
            abort=True,
        )
    try:
        left = migrate.downgrade(current_app, name, to)
    except migrate.MigrationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{name} is now at {', '.join(left) or 'base'}")


@db.command("current")
@with_appcontext
def db_current():
    """Show each branch's applied revision."""
    from kiosk import migrate

    for label, revisions in migrate.current(current_app).items():
        click.echo(f"{label:<24} {', '.join(revisions)}")
    left = migrate.pending(current_app)
    if left:
        click.echo(f"pending: {', '.join(left)}: run `kiosk db upgrade`")


@db.command("history")
@click.argument("name", metavar="[PLUGIN]", required=False)
@with_appcontext
def db_history(name):
    """List the revisions, newest first (of one PLUGIN or `core` if given)."""
    from alembic.script import ScriptDirectory

    from kiosk import migrate

    script = ScriptDirectory.from_config(migrate.alembic_config(current_app))
    try:
        label = migrate._branch(current_app, name)[0] if name else None
    except migrate.MigrationError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        revisions = migrate.walk_branch(script, label) if label else script.walk_revisions()
    except migrate.MigrationError as exc:
        raise click.ClickException(str(exc)) from exc
    for revision in revisions:
        click.echo(f"{revision.revision:<24} {revision.doc}")


# -- plugins ------------------------------------------------------------------
@cli.group()
def plugins():
    """Installed plugins."""


@plugins.command("list")
@with_appcontext
def plugins_list():
    """Show every installed plugin, its version and state."""
    manager = current_app.extensions["kiosk_plugins"]
    for info in manager.infos.values():
        line = f"{info.name:<16} {info.version or '-':<10} {info.state:<12} {info.module}"
        if info.error:
            line += f"  ({info.error})"
        click.echo(line)
    from kiosk import migrate

    for name, revisions in migrate.unknown_revisions(current_app).items():
        click.echo(
            f"{name:<16} {'-':<10} {'uninstalled':<12} tables kept, revision {', '.join(revisions)} "
            f"in the database: `kiosk plugins forget {name}` retires it"
        )


@plugins.command("forget")
@click.argument("name")
@click.option("--drop-tables", is_flag=True, help="Also drop its tables (named NAME_...); their data is lost.")
@click.option("--yes", is_flag=True, help="Do not ask before dropping tables.")
@with_appcontext
def plugins_forget(name, drop_tables, yes):
    """Retire an uninstalled plugin: remove its revisions from the database's history.

    Its tables are kept unless --drop-tables is given.
    """
    from kiosk import migrate

    tables = migrate.plugin_tables(current_app, name)
    if drop_tables and tables and not yes:
        click.confirm(f"drop {', '.join(tables)} and their data?", abort=True)
    try:
        revisions, dropped = migrate.forget(current_app, name, drop_tables=drop_tables)
    except migrate.MigrationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"forgot plugin {name} (revision {', '.join(revisions)})")
    if dropped:
        click.echo(f"dropped {', '.join(dropped)}")
    elif tables:
        click.echo(
            f"kept {', '.join(tables)}: drop them with `kiosk plugins forget {name} --drop-tables` "
            "before reinstalling it, or keep them for the record"
        )


@plugins.command("new", with_appcontext=False)
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder in which to create kiosk-NAME/.",
)
@click.option("--label-zh-hans", default=None, help="Tile label in Simplified Chinese, e.g. 场地预约.")
@click.option("--label-zh-hant", default=None, help="Tile label in Traditional Chinese, e.g. 場地預約.")
@click.option("--label-en", default=None, help='Tile label in English, e.g. "Venue booking" (the message id).')
def plugins_new(name, directory, label_zh_hans, label_zh_hant, label_en):
    """Create kiosk-NAME/: a plugin package that shows its tile once pip-installed."""
    from kiosk.scaffold import DEFAULT_ZH_HANS, ScaffoldError, create_plugin

    try:
        created = create_plugin(
            name, directory, label_en=label_en, label_zh_hans=label_zh_hans, label_zh_hant=label_zh_hant
        )
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in created.files:
        click.echo(f"created {path}")
    if label_zh_hans is None or label_zh_hant is None:
        click.echo(
            f"note: the Chinese tile labels are placeholders ({DEFAULT_ZH_HANS}); pass --label-zh-hans and "
            f"--label-zh-hant, or edit {created.package}/translations/*/LC_MESSAGES/messages.po"
        )
    click.echo(
        f"next: pip install ./{created.folder.name} && kiosk db upgrade, then restart the kiosk "
        f"(tests: cd {created.folder} && pip install -e . && python -m pytest)"
    )


# -- serving ------------------------------------------------------------------
@cli.command("serve", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=int,
    help="Processes. More than one needs PostgreSQL; devices are opened only with one.",
)
@click.option(
    "--threads",
    default=16,
    show_default=True,
    type=int,
    help="Request threads per worker (push streams hold none; see kiosk.streams).",
)
def serve(host, port, workers, threads):
    """Run the production server (gunicorn, threaded keep-alive workers)."""
    from kiosk.server import run_server

    if workers > 1:
        # Several workers share what the master imported (until a page is written): the
        # app's modules (SQLAlchemy, the models) once here rather than once in each worker.
        # One worker gains nothing from it (LAZY_COMMANDS), so the master does not wait for them.
        was_on = gc.isenabled()
        gc.disable()
        try:
            import kiosk.app  # noqa: F401
        finally:
            if was_on:
                gc.enable()
    # What the master made since the imports (options, the configuration check) is left
    # out of later collections too: a worker's collections would otherwise write to the
    # headers of objects it shares with the master, copying their pages.
    gc.freeze()
    run_server(host=host, port=port, workers=workers, threads=threads)


# -- demo -----------------------------------------------------------------------
DEMO_STATION = """# Written by `kiosk demo`: a demonstration station. Edit freely.
demo = true
secret_key = "{secret}"

[station]
code = "shuibei-demo"
name = "水贝社区党群服务中心"
kind = "party_service"
languages = ["zh_Hans", "zh_Hant", "en"]
timezone = "Asia/Shanghai"
hours = ["mon-fri 09:00-12:00,14:00-18:00", "sat 09:00-12:00", "sun closed"]

[devices.printer]
type = "preview"
profile = "80mm"
"""

DEMO_USERS = (
    ("staff", "kiosk-staff-demo", "staff", "前台工作人员"),
    ("admin", "kiosk-admin-demo", "admin", "站点管理员"),
)


@cli.command("demo", with_appcontext=False)
@click.pass_context
def demo(ctx):
    """Set up a demo station with sample data and demo accounts (then run `kiosk run`)."""
    from kiosk.config import instance_path_default

    instance = instance_path_default()
    os.makedirs(instance, exist_ok=True)
    station_file = os.environ.get("KIOSK_STATION_FILE") or os.path.join(instance, "station.toml")
    if not os.path.exists(station_file):
        with open(station_file, "w", encoding="utf-8") as fh:
            fh.write(DEMO_STATION.format(secret=secrets.token_hex(32)))
        click.echo(f"wrote {station_file}")
    app = _create_app()
    with app.app_context():
        from kiosk.demo import load_demo

        created = load_demo(app, DEMO_USERS)
    from kiosk.ime import PinyinDictionary

    # Build the on-screen keyboard's pinyin dictionary now, not for the first user.
    PinyinDictionary.load(app.config.get("IME_CACHE_DIR") or app.instance_path)
    for username, password, role, _ in DEMO_USERS:
        state = "created" if username in created else "exists"
        click.echo(f"demo {role} account: {username} / {password} ({state})")
    from kiosk.demo import enrol_demo_terminal

    link = enrol_demo_terminal(app)
    # The first page opened makes this browser the demo's kiosk terminal, so card taps reach it.
    # tools/run-demo passes its address on in KIOSK_HOST / KIOSK_PORT; `kiosk run` alone serves 127.0.0.1:5000.
    where = f"{os.environ.get('KIOSK_HOST') or '127.0.0.1'}:{os.environ.get('KIOSK_PORT') or '5000'}"
    click.echo(f"demo station ready: run `kiosk run` and open http://{where}{link} (once; then /)")


# -- printer ------------------------------------------------------------------
@cli.group()
def printer():
    """The receipt printer."""


_SENT_NOT_CONFIRMED = (
    "sent to the printer, which did not confirm it: check that the page came out (a printer that never "
    "answers status is reported this way; set status = false only for one that cannot answer)"
)


@printer.command("test")
@click.option("--terminal", "terminal", default=None, help="Print on this terminal's printer (e.g. hall-1).")
@click.option("--printer", "printer_name", default=None, help="Print on this printer: default, or a terminal's name.")
@click.option("--wait", default=15.0, show_default=True, help="Seconds to wait for the printer.")
@with_appcontext
def printer_test(terminal, printer_name, wait):
    """Print a test page (station name, Chinese sample text, QR code, time).

    Without an option on the station's printer ([devices.printer]); a
    terminal's printer behind a `kiosk agent` gets the page queued for that
    agent, which prints it when it next asks for work.
    """
    from kiosk import printing

    if terminal is not None and printer_name is not None:
        raise click.UsageError("give --terminal or --printer, not both")
    if current_app.config.get("ROLE") == "hub":
        raise click.ClickException("the district hub has no printers: run this at the station node")
    name = _test_printer(terminal, printer_name)
    state = current_app.extensions["kiosk_printing"]
    job = printing.print_test_page(printer=name)
    where = printing.describe_printer(name)
    if name in state.agent_printers:
        click.echo(f"test page queued for the kiosk agent of terminal {name} ({where})")
        from kiosk.doctor import agent_state_of

        agent, _seen = agent_state_of(current_app, name)
        if agent == "not enrolled":
            click.echo(f"note: no kiosk agent is enrolled for {name} yet: kiosk agent token {name}", err=True)
        elif agent != "online":
            click.echo(f"note: the kiosk agent of {name} is {agent} (see kiosk doctor)", err=True)
        if wait <= 0:
            return
        outcome = printing.wait_for(job, wait)
        if outcome["state"] == "done":
            click.echo(f"test page printed by the kiosk agent of terminal {name}")
            return
        if outcome["state"] == "sent":
            raise click.ClickException(_SENT_NOT_CONFIRMED)
        if outcome["state"] in ("queued", "printing"):
            raise click.ClickException(
                f"the kiosk agent of terminal {name} has not printed it within {wait:g} s: is `kiosk agent` running "
                f"on that PC (see kiosk doctor)? The page stays queued for {printing.AGENT_PICKUP_SECONDS // 60} "
                "minutes, then is left for staff"
            )
        raise click.ClickException(f"the test page did not print: {outcome['error'] or outcome['state']}")
    outcome = printing.wait_for(job, wait)
    click.echo(f"printer: {where}")
    if outcome["state"] == "sent":
        raise click.ClickException(_SENT_NOT_CONFIRMED)
    if outcome["state"] != "done":
        raise click.ClickException(f"the test page did not print: {outcome['error'] or outcome['state']}")
    click.echo(f"test page printed ({outcome.get('where', '')})")


def _test_printer(terminal: str | None, printer_name: str | None) -> str:
    """The printer ``kiosk printer test`` prints on; an unknown name is a ClickException naming the valid ones."""
    from kiosk import printing

    state = current_app.extensions["kiosk_printing"]
    names = printing.printer_names()
    if printer_name is not None:
        if printer_name not in names:
            raise click.ClickException(f"no printer {printer_name!r} at this station; printers: {', '.join(names)}")
        return printer_name
    if terminal is None:
        return "default"
    if terminal in names and terminal != "default":
        return terminal
    from kiosk.db import session_for
    from kiosk.terminals import local_terminal_name, terminals_of

    with session_for(current_app) as session:
        enrolled = [t.name for t in terminals_of(session, current_app.extensions["kiosk_station_id"]) if t.active]
    # The station file's [devices] belong to the local terminal; a terminal without a printer of its own prints there.
    if terminal == local_terminal_name() or terminal in enrolled or terminal in state.terminals:
        click.echo(f"terminal {terminal} has no printer of its own: it prints on the station's printer", err=True)
        return "default"
    known = sorted(set(enrolled) | set(state.terminals) | {local_terminal_name()})
    raise click.ClickException(f"no terminal {terminal!r} at this station; terminals: {', '.join(known)}")


@cli.command("doctor", with_appcontext=False)
@click.pass_context
def doctor(ctx):
    """Check the configuration, database, migrations, CJK font, devices and disk; say what to fix.

    The configuration is checked first, without building the app, so a mistake
    there (or a database that does not answer) is a line to fix, never a traceback.
    """
    from flask.cli import ScriptInfo

    from kiosk import config_schema

    problems = 0

    def report(check: dict) -> None:
        nonlocal problems
        # A warning is worth reading but does not make the station unfit to run.
        warning = not check["ok"] and check.get("warning")
        mark = "ok " if check["ok"] else ("!  " if warning else "FIX")
        click.echo(f"[{mark}] {check['name']}: {check['detail']}")
        problems += 0 if check["ok"] or warning else 1

    info = ctx.ensure_object(ScriptInfo)
    own = info.create_app is _create_app  # the real command, not a test's runner of a given app
    sources = config_schema.read_sources()
    found = config_schema.check(sources, server=False, deep=True) if own else []
    for problem in found:
        report({"name": "configuration", "ok": False, "warning": problem.warning, "detail": str(problem)})
    if own and not found:
        where = sources.station_file or "no station file"
        report({"name": "configuration", "ok": True, "detail": f"{where}; instance folder {sources.instance_path}"})
    secret = config_schema.check_secret(sources) if own else None
    if secret is not None:
        # Commands run with it; `kiosk serve` will not.
        report({"name": "secret key", "ok": False, "detail": f"{secret} (kiosk serve refuses to start with it)"})
    try:
        app = _build_app() if own else info.load_app()
    except ConfigError as exc:
        if not found:  # else the lines above already say it
            report({"name": "configuration", "ok": False, "detail": str(exc)})
        raise click.ClickException(f"{problems} problem(s) to fix") from None
    except Exception as exc:
        from kiosk.db import error_line, unavailable

        if unavailable(exc):
            detail = f"unreachable ({error_line(exc)}): check that it runs and KIOSK_DATABASE_URL"
            report({"name": "database", "ok": False, "detail": detail})
        else:  # still a line to act on, not a traceback
            report({"name": "start", "ok": False, "detail": f"the app cannot start: {type(exc).__name__}: {exc}"})
        raise click.ClickException(f"{problems} problem(s) to fix") from None
    from kiosk.doctor import run_checks

    with app.app_context():
        for check in run_checks(app):
            report(check)
    if problems:
        raise click.ClickException(f"{problems} problem(s) to fix")


if _COLLECTOR_WAS_ON:
    gc.freeze()
    gc.enable()


def main():
    cli(prog_name="kiosk")


if __name__ == "__main__":
    main()
