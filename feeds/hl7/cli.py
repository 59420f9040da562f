"""``flask hl7-listen`` and ``flask hl7-replay PATH | --quarantine`` (docs/hl7.md)."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import click
from flask import Flask

from data.runtime import current
from feeds.hl7.config import Hl7Config, Hl7ConfigError, load_hl7_config
from feeds.hl7.ingest import handle, replay_quarantine

START, END = b"\x0b", b"\x1c"


def _config() -> Hl7Config:
    settings = current().settings
    try:
        return load_hl7_config(settings.database_url, settings.demo)
    except Hl7ConfigError as exc:
        click.echo(f"command-centre: {exc}", err=True)
        sys.exit(2)


def split_messages(data: bytes) -> list[bytes]:
    """The messages of a file: MLLP frames, or plain text where each message
    starts with a line beginning ``MSH``."""
    if START in data:
        out = []
        for part in data.split(START)[1:]:
            body = part.split(END, 1)[0]
            if body.strip():
                out.append(body)
        return out
    messages: list[list[bytes]] = []
    for line in data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
        if line.lstrip(b"\xef\xbb\xbf").startswith(b"MSH"):
            messages.append([line])
        elif messages and line.strip():
            messages[-1].append(line)
    return [b"\r".join(m) for m in messages]


def message_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path]


def replay_files(factory, paths: list[Path], key: bytes) -> Counter:  # noqa: ANN001
    counts: Counter = Counter()
    for file in paths:
        for raw in split_messages(file.read_bytes()):
            result = handle(factory, raw, key=key)
            if result.outcome in ("quarantined", "rejected"):
                counts[f"{result.outcome}: {result.reason_code}"] += 1
            else:
                counts[result.outcome] += 1
    return counts


def register(server: Flask) -> None:
    """Add ``hl7-listen`` and ``hl7-replay`` to the app's CLI."""

    @server.cli.command("hl7-listen")
    def listen_command() -> None:
        """Receive HL7 v2 ADT over MLLP (COMMAND_CENTRE_HL7_HOST / _PORT)."""
        from feeds.hl7.listener import Hl7Listener

        listener = Hl7Listener(current().factory, _config())
        try:
            asyncio.run(listener.serve_forever())
        except KeyboardInterrupt:
            pass
        except OSError as exc:
            click.echo(f"command-centre: cannot listen: {exc}", err=True)
            sys.exit(2)

    @server.cli.command("hl7-replay")
    @click.argument(
        "path", required=False, type=click.Path(exists=True, path_type=Path)
    )
    @click.option(
        "--quarantine", is_flag=True, help="re-run unresolved quarantined messages"
    )
    def replay_command(path: Path | None, quarantine: bool) -> None:
        """Run messages from PATH (a file or a folder) through the listener's path,
        or re-run the quarantine; prints what happened."""
        if (path is None) == (not quarantine):
            click.echo("command-centre: give a PATH or --quarantine", err=True)
            sys.exit(2)
        key = _config().key
        factory = current().factory
        if quarantine:
            counts = Counter(replay_quarantine(factory, key=key))
        else:
            counts = replay_files(factory, message_files(path), key)
        if not counts:
            click.echo("nothing to replay")
        for label, n in sorted(counts.items()):
            click.echo(f"{label}: {n}")
