"""``flask organisation load FILE [--dry-run]`` and ``flask organisation export``.

Loading checks the whole file first (every problem is listed, exit status 2), prints
what changes, and applies it in one transaction unless ``--dry-run``. Export writes
the trust's current organisation in the same format (stdout or ``--output FILE``).
See docs/organisation.md.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click
import yaml
from flask import Flask

from data.db import read_session, write_session
from data.runtime import current
from data.writes.organisation import (
    OrganisationApplyError,
    apply_organisation,
    diff_organisation,
    export_organisation,
)
from ops.organisation import OrganisationFileError, load_organisation_file

CLI_ROLE = "admin"


def _fail(lines: list[str]) -> None:
    for line in lines:
        click.echo(line, err=True)
    sys.exit(2)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


def register(server: Flask) -> None:
    """Add the ``organisation`` command group to the app's CLI."""

    @server.cli.group("organisation")
    def organisation() -> None:
        """Load or export the trust's organisation (sites, wards, beds ...)."""

    @organisation.command("load")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option(
        "--dry-run", is_flag=True, help="show what would change; change nothing"
    )
    def load_command(file: Path, dry_run: bool) -> None:
        """Check FILE and change the database to match it (locations that left the
        file are retired, never deleted)."""
        try:
            org = load_organisation_file(file)
        except OrganisationFileError as exc:
            _fail([f"{file}: not loaded, {len(exc.errors)} problem(s):"] + exc.errors)
        runtime = current()
        if dry_run:
            with read_session(runtime.factory) as session:
                diff = diff_organisation(session, org)
            click.echo("\n".join(diff.lines()))
            click.echo("dry run: nothing was changed")
            if diff.problems:
                sys.exit(2)
            return
        try:
            with write_session(runtime.factory) as session:
                diff = apply_organisation(
                    session,
                    org,
                    at=runtime.now(),
                    actor_username=_actor(),
                    actor_role=CLI_ROLE,
                )
        except OrganisationApplyError as exc:
            _fail([f"{file}: not loaded:"] + [f"  {e}" for e in exc.errors])
        click.echo("\n".join(diff.lines()))
        click.echo("loaded")

    @organisation.command("export")
    @click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="write to this file instead of the terminal",
    )
    @click.option("--trust", "trust_code", default=None, help="trust code (if several)")
    def export_command(output: Path | None, trust_code: str | None) -> None:
        """Write the current organisation in the organisation-file format."""
        with read_session(current().factory) as session:
            try:
                doc = export_organisation(session, trust_code)
            except LookupError as exc:
                _fail([str(exc)])
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=88)
        if output is None:
            click.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            click.echo(f"written to {output}")
