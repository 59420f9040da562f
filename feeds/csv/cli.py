"""``flask --app app csv-import KIND FILE --source NAME [--dry-run]`` (docs/csv-imports.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask

from data.runtime import current
from feeds.csv import kinds
from feeds.csv.importer import ImportError_, Result, run
from feeds.hl7.config import Hl7ConfigError, load_hl7_config


def report_lines(result: Result) -> list[str]:
    """What the CLI prints (and the upload page shows) about a preview or import."""
    lines = [
        f"{kinds.KIND_LABELS[result.kind]} from {result.source}: {result.filename}"
    ]
    if result.already:
        return [*lines, result.already]
    lines.append(f"rows: {result.rows}")
    if result.mapping:
        mapped = ", ".join(f"{k}={v!r}" for k, v in result.mapping.items())
        lines.append(f"columns: {mapped}; date format {result.date_format!r}")
    for e in result.errors:
        lines.append(f"error: {e.text()}")
    for w in result.warnings:
        lines.append(f"warning: {w.text()}")
    events = ", ".join(f"{k}={v}" for k, v in sorted(result.counts.items()))
    lines.append(f"events: {events or 'none'}")
    if result.outcomes:
        lines.append(
            "event layer: "
            + ", ".join(f"{k}={v}" for k, v in sorted(result.outcomes.items()))
        )
    if result.errors:
        lines.append(f"{len(result.errors)} error(s): nothing was applied")
    elif result.applied:
        lines.append(f"applied (import {result.import_id})")
    else:
        lines.append("preview only: nothing was applied")
    return lines


def _mapping(pairs: tuple[str, ...]) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, header = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: use FIELD=Header")
        out[name.strip()] = header.strip()
    return out


def register(server: Flask) -> None:
    @server.cli.command("csv-import")
    @click.argument("kind", type=click.Choice(sorted(kinds.KINDS)))
    @click.argument(
        "file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
    )
    @click.option("--source", required=True, help="the sending system (a-z 0-9 . _ -)")
    @click.option("--dry-run", is_flag=True, help="check and preview, apply nothing")
    @click.option(
        "--map", "pairs", multiple=True, help="FIELD=Header (saved on import)"
    )
    @click.option("--date-format", default=None, help="strptime format, local time")
    def csv_import_command(
        kind: str, file: Path, source: str, dry_run: bool, pairs: tuple[str, ...],
        date_format: str | None,
    ) -> None:  # fmt: skip
        """Import a CSV file (ed, theatre, sitrep, beds) through the event layer."""
        runtime = current()
        settings = runtime.settings
        try:
            key = load_hl7_config(settings.database_url, settings.demo).key
            result = run(
                runtime.factory, kind, file.read_bytes(), source=source,
                filename=file.name, key=key, tz=settings.timezone, now=runtime.now(),
                confirm=not dry_run, mapping=_mapping(pairs), date_format=date_format,
            )  # fmt: skip
        except (Hl7ConfigError, ImportError_) as exc:
            click.echo(f"command-centre: {exc}", err=True)
            sys.exit(2)
        for line in report_lines(result):
            click.echo(line)
        if result.errors:
            sys.exit(1)
