"""``flask --app app feed-token issue FEED | list | revoke ID`` and
``flask --app app fhir-location list | confirm ID --site S --ward W [--bed B] |
reject ID`` (docs/fhir.md). Every change is audited as the CLI user."""

from __future__ import annotations

import getpass
import sys

import click
from flask import Flask

from data.db import read_session, write_session
from data.runtime import current

CLI_ROLE = "admin"


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


def _fail(message: str) -> None:
    click.echo(f"command-centre: {message}", err=True)
    sys.exit(2)


def _when(value) -> str:  # noqa: ANN001
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def register(server: Flask) -> None:
    @server.cli.group("feed-token")
    def feed_token() -> None:
        """Bearer tokens for feeds (FHIR clients): issue, list, revoke."""

    @feed_token.command("issue")
    @click.argument("feed")
    @click.option(
        "--label", default="", help="who holds it, e.g. 'PAS integration engine'"
    )
    @click.option(
        "--trust", "trust_code", default=None, help="trust code (several trusts)"
    )
    def issue(feed: str, label: str, trust_code: str | None) -> None:
        """Issue a token for FEED (fhir:<name>); it is shown once, only its hash is kept."""
        from data.writes.feed_tokens import FeedTokenError, issue_feed_token

        runtime = current()
        try:
            with write_session(runtime.factory) as session:
                row, token = issue_feed_token(
                    session, feed, actor=_actor(), actor_role=CLI_ROLE,
                    now=runtime.now(), label=label, trust_code=trust_code,
                )  # fmt: skip
                token_id, name = row.id, row.feed
        except FeedTokenError as exc:
            _fail(str(exc))
        click.echo(f"token {token_id} for {name} (shown once, keep it secret):")
        click.echo(token)

    @feed_token.command("list")
    def list_tokens() -> None:
        """Every token: id, feed, trust, label, issued, last used, revoked."""
        from data.queries.feed_tokens import list_feed_tokens

        with read_session(current().factory) as session:
            rows = list_feed_tokens(session)
        if not rows:
            click.echo("no feed tokens")
            return
        click.echo("id\tfeed\ttrust\tlabel\tissued\tby\tlast used\trevoked")
        for r in rows:
            revoked = (
                f"{_when(r.revoked_at)} by {r.revoked_by}" if r.revoked_at else "-"
            )
            click.echo(
                f"{r.id}\t{r.feed}\t{r.trust}\t{r.label or '-'}\t{_when(r.created_at)}"
                f"\t{r.created_by}\t{_when(r.last_used_at)}\t{revoked}"
            )

    @feed_token.command("revoke")
    @click.argument("token_id", type=int)
    def revoke(token_id: int) -> None:
        """Revoke token ID: its next request is refused (401)."""
        from data.writes.feed_tokens import FeedTokenError, revoke_feed_token

        runtime = current()
        try:
            with write_session(runtime.factory) as session:
                row = revoke_feed_token(session, token_id, actor=_actor(),
                                        actor_role=CLI_ROLE, now=runtime.now())  # fmt: skip
                feed = row.feed
        except FeedTokenError as exc:
            _fail(str(exc))
        click.echo(f"token {token_id} for {feed} revoked")

    @server.cli.group("fhir-location")
    def fhir_location() -> None:
        """Ward and bed Locations a FHIR client sent that match no code."""

    @fhir_location.command("list")
    @click.option("--all", "show_all", is_flag=True, help="also decided proposals")
    def list_proposals(show_all: bool) -> None:
        from data.queries.fhir import list_proposals as rows_of

        with read_session(current().factory) as session:
            rows = rows_of(session, None if show_all else "pending")
        if not rows:
            click.echo("no location proposals" if show_all else "nothing to confirm")
            return
        click.echo("id\tfeed\tLocation\ttype\tname\tidentifiers\tpart of\tstatus")
        for p in rows:
            idents = ", ".join(f"{s}|{v}" for s, v in p.identifiers) or "-"
            click.echo(f"{p.id}\t{p.feed}\tLocation/{p.resource_id}\t{p.physical_type}"
                       f"\t{p.name or '-'}\t{idents}\t{p.part_of or '-'}\t{p.status}")  # fmt: skip

    @fhir_location.command("confirm")
    @click.argument("proposal_id", type=int)
    @click.option("--site", required=True, help="site code")
    @click.option("--ward", required=True, help="ward code")
    @click.option("--bed", default=None, help="bed label (a bed Location)")
    def confirm(proposal_id: int, site: str, ward: str, bed: str | None) -> None:
        """Link proposal ID to a ward (or bed) of the organisation: Encounters
        naming that Location are placed there from now on."""
        from data.models.feeds import FhirLocationProposal
        from data.queries.fhir import find_ward_or_bed
        from data.writes.fhir import ProposalError, decide_proposal

        runtime = current()
        try:
            with write_session(runtime.factory) as session:
                match = find_ward_or_bed(session, site, ward, bed)
                if match is None:
                    raise ProposalError(
                        f"no ward {ward} at {site}"
                        + (f" with bed {bed}" if bed else "")
                        + " in service: add it to the organisation file first "
                        "(docs/organisation.md)"
                    )
                proposal = session.get(FhirLocationProposal, proposal_id)
                if proposal is not None and proposal.physical_type == "bed" and not bed:
                    raise ProposalError("this Location is a bed: name it with --bed")
                decide_proposal(
                    session, proposal_id, confirm=True, ward_id=match.ward_id,
                    bed_id=match.bed_id, actor=_actor(), actor_role=CLI_ROLE,
                    now=runtime.now(),
                )  # fmt: skip
        except ProposalError as exc:
            _fail(str(exc))
        click.echo(
            f"proposal {proposal_id} confirmed: {site} {ward} {bed or ''}".rstrip()
        )

    @fhir_location.command("reject")
    @click.argument("proposal_id", type=int)
    def reject(proposal_id: int) -> None:
        """Reject proposal ID: Encounters naming it stay refused."""
        from data.writes.fhir import ProposalError, decide_proposal

        runtime = current()
        try:
            with write_session(runtime.factory) as session:
                decide_proposal(session, proposal_id, confirm=False, ward_id=None,
                                bed_id=None, actor=_actor(), actor_role=CLI_ROLE,
                                now=runtime.now())  # fmt: skip
        except ProposalError as exc:
            _fail(str(exc))
        click.echo(f"proposal {proposal_id} rejected")
