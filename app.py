"""Hospital operations command centre: app factory, health check and command line.

python app.py                      embedded demo on SQLite (seeds, simulates, serves)
gunicorn app:server                production; DATABASE_URL points at PostgreSQL
flask --app app upgrade-db         bring the database schema up to date
flask --app app seed-demo          create the demo trust with simulated history
flask --app app worker             simulator and evaluators, once per deployment
flask --app app scenario surge     switch the simulator's scenario
"""

from __future__ import annotations

import gc
import itertools
import logging
import sys
import threading
import time
from datetime import timedelta

import click
from dash import Dash
from flask import Flask, jsonify

from components.shell import root_layout
from components.theme import register_plotly_template
from data.db import (
    DatabaseConfigError,
    check_connection,
    create_db_engine,
    make_session_factory,
    upgrade,
    write_session,
)
from data.runtime import Runtime, current, install
from data.security import demo_secret_key
from ops.config_errors import ConfigError
from ops.settings import Settings, SettingsError, load_settings

__version__ = "0.1.0"
PAGE_LANGUAGE = "en-GB"
log = logging.getLogger("command_centre")


def create_app(settings: Settings | None = None, *, prepare: bool = True) -> Dash:
    """Build the Dash app for ``settings`` (default: from the environment).

    With ``prepare`` the database is checked, upgraded and (in demo mode) seeded.
    """
    settings = settings or load_settings()
    from ops.alerting import load_and_validate_config

    load_and_validate_config()  # a bad rule/OPEL file stops start-up, naming file and entry
    engine = create_db_engine(settings.database_url)
    runtime = Runtime(settings, engine, make_session_factory(engine))
    if prepare:
        prepare_database(runtime)
        if settings.sim_speed != 1.0 and settings.run_background:
            runtime.settings = settings = speed_up(runtime)
    register_plotly_template()
    server = Flask(__name__)
    # ops.settings refuses a missing or weak key outside the embedded SQLite demo; the
    # demo signs with a random key kept beside its database, never a published value.
    server.config["SECRET_KEY"] = settings.secret_key or demo_secret_key(
        settings.database_url
    )
    server.config["COMMAND_CENTRE_VERSION"] = __version__
    server.config["SESSION_COOKIE_SECURE"] = settings.secure_cookies
    install(server, runtime)
    from callbacks.identity import init_auth

    init_auth(server)
    app = Dash(
        __name__,
        server=server,
        title="Command Centre",
        update_title=None,
        suppress_callback_exceptions=True,
        serve_locally=True,
        external_stylesheets=[],
        meta_tags=[
            {"name": "viewport", "content": "width=device-width, initial-scale=1"}
        ],
    )
    # Dash has no option for <html> attributes (plotly/dash#2563): the page's
    # language is set in its own index template (WCAG 3.1.1).
    lang = app.index_string.replace("<html>", f'<html lang="{PAGE_LANGUAGE}">', 1)
    if lang == app.index_string:
        raise RuntimeError("Dash's index template has no <html> tag to set lang on")
    app.index_string = lang
    app.layout = lambda: root_layout(settings.poll_seconds, __version__)
    from callbacks import register_all

    register_all(app)
    from callbacks.hardening import init_hardening

    init_hardening(server, app, debug=settings.debug)
    server.add_url_rule("/healthz", "healthz", healthz)
    from feeds.fhir.api import register as register_fhir

    register_fhir(server)  # /fhir/r4: FHIR clients with feed bearer tokens
    return app


def prepare_database(runtime: Runtime) -> None:
    check_connection(runtime.engine)
    upgrade(runtime.engine)
    from data.roles import warn_if_audit_exposed

    warn_if_audit_exposed(runtime.engine)  # one line if this account can change it
    settings = runtime.settings
    if settings.demo:
        from feeds.seed import is_seeded, seed_demo

        with runtime.factory() as session:
            seeded = is_seeded(session)
        if not seeded:
            started = time.monotonic()
            log.info(
                "seeding the demo trust with %d days of history", settings.history_days
            )
            seed_demo(
                runtime.factory,
                seed=settings.seed,
                now=runtime.now(),
                history_days=settings.history_days,
                tz=settings.timezone,
            )
            log.info("demo trust seeded in %.1f s", time.monotonic() - started)
        create_demo_users(runtime)
        return
    from data.queries.feeds import organisation_loaded

    with runtime.factory() as session:
        loaded = organisation_loaded(session)
    if not loaded:
        log.warning(
            "no organisation is loaded: every page says so until an administrator "
            "runs 'flask --app app organisation load FILE' (docs/organisation.md)"
        )


def credentials_path(database_url: str):  # noqa: ANN201
    """Demo credentials live beside the SQLite file they belong to (the sign-in
    page of the embedded demo says where)."""
    from callbacks.identity import demo_credentials_path

    return demo_credentials_path(database_url)


def freeze_gc_after_warm_up(server: Flask, after: int = 50) -> None:
    """Keep poll latency even: once this process has served ``after`` requests (its
    imports, layouts and figure machinery are loaded), move every live object into
    the permanent generation, so full garbage collections walk only what came later.
    Measured at ICS scale: a full collection over the ~400k long-lived objects took
    ~200 ms and set the p95 of polls (docs/performance.md)."""
    served = itertools.count(1)
    done = threading.Event()

    @server.after_request
    def _maybe_freeze(response):  # noqa: ANN001, ANN202
        if not done.is_set() and next(served) >= after:
            done.set()
            gc.collect()
            gc.freeze()
            log.info("garbage collector: %d objects frozen", gc.get_freeze_count())
        return response


def speed_up(runtime: Runtime) -> Settings:
    """Embedded demo only: run the app clock and the simulator faster than real time.

    Both read the same clock in this one process; the demo time starts where the
    simulator last stopped, so a restart never goes back in time.
    """
    from data.models.system import SimulationState
    from ops.timeutil import ScaledClock, system_clock

    with runtime.factory() as session:
        state = session.get(SimulationState, 1)
    real = system_clock()
    start = max(real, state.simulated_until) if state else real
    log.info(
        "demo clock runs %.1fx real time from %s", runtime.settings.sim_speed, start
    )
    return runtime.settings.with_(
        clock=ScaledClock(
            real_anchor=real, sim_anchor=start, speed=runtime.settings.sim_speed
        )
    )


def create_demo_users(runtime: Runtime) -> None:
    """Embedded demo only: one account per role, random passwords written to var/."""
    import secrets

    from sqlalchemy import func, select

    from data.models.security import AppUser
    from data.security import create_user
    from ops.permissions import Role

    with write_session(runtime.factory) as session:
        if session.scalar(select(func.count(AppUser.id))):
            return
        lines = []
        for role in Role:
            password = secrets.token_urlsafe(12)
            username = f"demo-{role.value.replace('_', '-')}"
            create_user(
                session,
                username,
                password,
                role.value,
                f"Demo {role.label}",
                runtime.now(),
            )
            lines.append(f"{username}\t{password}\t{role.value}")
    path = credentials_path(runtime.settings.database_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("user\tpassword\trole\n" + "\n".join(lines) + "\n")
    path.chmod(0o600)
    log.info("demo accounts created; user names and passwords are in %s", path)


def healthz():  # noqa: ANN201
    """Database reachable, age of the newest data, app version; 503 when unreachable.

    Also whether an organisation is loaded, each feed with its last write and the
    domains it reports, and the domains no feed has ever reported ("never_reported").
    """
    runtime = current()
    body: dict[str, object] = {"version": __version__}
    try:
        from data.queries.common import newest_feed_write
        from data.queries.feeds import feed_report, organisation_loaded

        with runtime.factory() as session:
            newest = newest_feed_write(session)
            loaded = organisation_loaded(session)
            report = feed_report(session)
        body["database"] = "ok"
        body["organisation"] = "loaded" if loaded else "not loaded"
        body["feeds"] = [
            {
                "feed": f.feed,
                "domains": list(f.domains),
                "last_write_at": f.last_write_at.isoformat(),
                "age_seconds": round(
                    (runtime.now() - f.last_write_at).total_seconds(), 1
                ),
            }
            for f in report.feeds
        ]
        body["never_reported"] = report.never_reported
        from jobs.worker import heartbeat_age

        with runtime.factory() as session:
            age = heartbeat_age(session, runtime.now())
        body["worker"] = {
            "heartbeat_age_seconds": None if age is None else round(age, 1),
            "state": "never ran"
            if age is None
            else (
                "running"
                if age <= max(60.0, runtime.settings.sim_tick_seconds * 4)
                else "silent"
            ),
        }
        body["newest_data_at"] = newest.isoformat() if newest else None
        body["newest_data_age_seconds"] = (
            round((runtime.now() - newest).total_seconds(), 1) if newest else None
        )
        stale = newest is None or (runtime.now() - newest) > timedelta(
            seconds=runtime.settings.stale_after_seconds
        )
        body["data"] = "stale" if stale else "fresh"
        return jsonify(body), 200
    except Exception as exc:
        log.error("healthz: database unreachable: %s", exc.__class__.__name__)
        body["database"] = "unreachable"
        return jsonify(body), 503


def _configure_logging() -> None:
    """Our INFO lines, without one line per HTTP request (werkzeug) or per migration
    step (alembic): they bury the few lines that matter, such as where the demo
    passwords are. ``COMMAND_CENTRE_LOG_REQUESTS=1`` shows the request lines again."""
    import os

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    requests = os.environ.get("COMMAND_CENTRE_LOG_REQUESTS", "").strip().lower()
    if requests not in {"1", "true", "yes", "on"}:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _fail(message: str) -> None:
    click.echo(f"command-centre: {message}", err=True)
    sys.exit(2)


def _app_or_exit(**kwargs: object) -> Dash:
    try:
        return create_app(**kwargs)  # type: ignore[arg-type]
    except (SettingsError, DatabaseConfigError, ConfigError) as exc:
        _fail(str(exc))
        raise


# ---------------------------------------------------------------------------
# Module-level app for gunicorn (``gunicorn app:server``) and ``flask --app app``.
# Importing this module does not start background work: production runs the
# worker command once per deployment.
# ---------------------------------------------------------------------------
_configure_logging()
if __name__ != "__main__":
    try:
        app = create_app()
    except (SettingsError, DatabaseConfigError, ConfigError) as _exc:
        print(f"command-centre: {_exc}", file=sys.stderr)
        raise SystemExit(2) from None
    server = app.server
    freeze_gc_after_warm_up(server)

    from feeds.organisation_cli import register as register_organisation_cli

    register_organisation_cli(server)  # flask organisation load FILE / export

    from feeds.hl7.cli import register as register_hl7_cli

    register_hl7_cli(server)  # flask hl7-listen / hl7-replay PATH | --quarantine

    from feeds.csv.cli import register as register_csv_cli

    register_csv_cli(server)  # flask csv-import KIND FILE --source NAME [--dry-run]

    from feeds.fhir.cli import register as register_fhir_cli

    register_fhir_cli(server)  # flask feed-token issue|list|revoke, fhir-location …

    @server.cli.command("upgrade-db")
    def upgrade_db_command() -> None:
        """Bring the database schema up to date (as the migration owner; grants
        COMMAND_CENTRE_APP_ROLE the app's privileges on PostgreSQL)."""
        try:
            upgrade(current().engine)
        except DatabaseConfigError as exc:
            _fail(str(exc))
        click.echo("database schema is up to date")

    @server.cli.command("seed-demo")
    @click.option("--days", type=int, default=None, help="days of history")
    def seed_demo_command(days: int | None) -> None:
        """Create the demo trust with simulated history (empty database only)."""
        from feeds.seed import is_seeded, seed_demo

        runtime = current()
        with runtime.factory() as session:
            if is_seeded(session):
                click.echo("the database already holds a trust; nothing to do")
                return
        counts = seed_demo(
            runtime.factory,
            seed=runtime.settings.seed,
            now=runtime.now(),
            history_days=days or runtime.settings.history_days,
            tz=runtime.settings.timezone,
        )
        click.echo(f"seeded: {counts}")

    @server.cli.command("worker")
    @click.option("--once", is_flag=True, help="run one cycle and exit")
    def worker_command(once: bool) -> None:
        """Run the simulator and evaluators (one process per deployment)."""
        from jobs.worker import holder_id, run_cycle, run_forever

        runtime = current()
        holder = holder_id()
        if once:
            ran = run_cycle(runtime, holder)
            click.echo("cycle ran" if ran else "another worker holds the lease")
            return
        run_forever(runtime, holder)

    @server.cli.command("create-user")
    @click.argument("username")
    @click.option(
        "--role",
        required=True,
        help="viewer, bed_manager, site_lead, incident_commander, admin",
    )
    @click.option("--name", "display_name", default="", help="display name")
    @click.password_option()
    def create_user_command(
        username: str, role: str, display_name: str, password: str
    ) -> None:
        """Create a user (the first admin is created this way; there are no default accounts)."""
        from data.security import UserError, create_user

        runtime = current()
        try:
            with write_session(runtime.factory) as session:
                create_user(
                    session, username, password, role, display_name, runtime.now()
                )
        except UserError as exc:
            _fail(str(exc))
        click.echo(f"created {role} {username}")

    @server.cli.command("issue-display-token")
    @click.argument("profile")
    @click.option(
        "--label", default="", help="where the screen is, e.g. 'Bed bureau TV'"
    )
    @click.option(
        "--base-url",
        envvar="COMMAND_CENTRE_PUBLIC_URL",
        default=None,
        help="the address screens open the app at, e.g. https://cc.trust.nhs.uk "
        "(default: $COMMAND_CENTRE_PUBLIC_URL, else http://localhost:PORT)",
    )
    def issue_display_token_command(
        profile: str, label: str, base_url: str | None
    ) -> None:
        """Issue a read-only display token for a wall profile; prints the wall's full
        address once (nothing else on standard output)."""
        from data.writes.display import issue_display_token_cli
        from ops.display import DisplayStoreError

        runtime = current()
        try:
            token = issue_display_token_cli(
                runtime.factory, profile, runtime.now(), label
            )
        except DisplayStoreError as exc:
            _fail(str(exc))
        base = (base_url or f"http://localhost:{runtime.settings.port}").rstrip("/")
        click.echo(f"{base}/wall?token={token}")

    @server.cli.command("scenario")
    @click.argument("name")
    def scenario_command(name: str) -> None:
        """Switch the simulator's scenario (normal, surge, winter-surge-norovirus, ...)."""
        from data.writes import set_scenario
        from feeds.seed import scenario_by_name

        try:
            scenario = scenario_by_name(name)
        except KeyError as exc:
            _fail(str(exc.args[0]))
        with write_session(current().factory) as session:
            set_scenario(session, scenario)
        click.echo(f"scenario set to {name}")


def main() -> None:
    """Embedded demo: SQLite, seeded trust, simulator in a thread, dev server."""
    from jobs.worker import BackgroundThread

    dash_app = _app_or_exit()
    runtime = dash_app.server.extensions["command_centre"]
    settings = runtime.settings
    if settings.run_background:
        BackgroundThread(runtime).start()
    freeze_gc_after_warm_up(dash_app.server)
    log.info("serving on http://%s:%d", settings.host, settings.port)
    dash_app.run(host=settings.host, port=settings.port, debug=settings.debug)


if __name__ == "__main__":
    main()
