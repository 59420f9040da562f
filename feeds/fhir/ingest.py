"""One request, start to finish: validate -> map -> apply -> store -> answer.

Mirrors the HL7 feed's ``feeds.hl7.ingest``: the events, the stored resource
versions and the request's record are written in one transaction, and the answer is
built only after it has committed. A refused request (or a failed transaction
bundle) is rolled back whole and then recorded on its own, so the feeds page sees
every request (``fhir_request``, and the feed's ``feed_status`` row ``fhir:<name>``
is touched by every request its token authenticates).

- ``PUT Encounter/{id}``, ``PUT Location/{id}``: update-as-create; ``If-Match``
  (``W/"<version>"``) is honoured (412 when it is not the current version).
- ``POST`` a Bundle: ``transaction`` is all or nothing (one database transaction;
  the first failing entry's status, every problem of every entry named);
  ``batch`` applies each entry in its own transaction and answers per entry.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from data.db import write_session
from data.queries.feed_tokens import FeedAccess
from data.queries.fhir import stored_resource
from data.writes import fhir as store
from data.writes.events import EventError, apply_events, touch_feed
from feeds.fhir.mapping import Context, content_hash, map_encounter, map_location
from feeds.fhir.outcome import FhirError, Issue, operation_outcome, status_line

log = logging.getLogger("command_centre.fhir")
RESOURCE_TYPES = ("Encounter", "Location")
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# Refusals that change nothing (a repeated cancel): the history stands, not an error.
UNCHANGED_REASONS = ("nothing to cancel", "nothing to merge")


def _models() -> dict[str, type]:
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.encounter import Encounter
    from fhir.resources.R4B.location import Location

    return {"Encounter": Encounter, "Location": Location, "Bundle": Bundle}


@dataclass
class Reply:
    status: int
    body: dict | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Done:
    """One resource taken: 200 or 201, its version, notes for the outcome."""

    status: int
    resource_type: str
    resource_id: str
    version: int
    updated_at: datetime
    notes: list[Issue]
    applied: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


def validation_issues(exc: ValidationError, prefix: str) -> list[Issue]:
    """Pydantic's errors as issues with FHIRPath-like expressions."""
    out = []
    for err in exc.errors()[:50]:
        path = prefix
        for part in err.get("loc", ()):
            if part == "__root__":
                continue
            if isinstance(part, int):
                path += f"[{part}]"
            else:
                path += "." + ("class" if part == "class_fhir" else str(part))
        kind = err.get("type", "")
        code = (
            "required" if kind == "missing" or "required" in err.get("msg", "")
            else "structure" if kind == "extra_forbidden" else "value"
        )  # fmt: skip
        msg = err.get("msg", "invalid").split("\n")[0].strip()
        out.append(Issue(code, msg, path))
    return out


def parse_resource(body: object, resource_type: str, prefix: str | None = None):  # noqa: ANN201
    """A validated R4 resource of ``resource_type`` or FhirError(400)."""
    prefix = prefix or resource_type
    if not isinstance(body, dict):
        raise FhirError(
            400, Issue("structure", "the body is not a JSON object", prefix)
        )
    found = body.get("resourceType")
    if found != resource_type:
        raise FhirError(400, Issue(
            "invalid", f"resourceType is {found!r}, expected {resource_type!r}",
            f"{prefix}.resourceType",
        ))  # fmt: skip
    try:
        return _models()[resource_type].model_validate(body)
    except ValidationError as exc:
        raise FhirError(400, validation_issues(exc, prefix)) from None


def check_id(rid: str, where: str) -> None:
    if not FHIR_ID.match(rid or ""):
        raise FhirError(400, Issue("value", f"{rid!r} is not a FHIR id "
                                   "(A-Z a-z 0-9 - ., 1-64 characters)", where))  # fmt: skip


def take(ctx: Context, resource_type: str, rid: str, body: dict,
         if_match: str | None = None, where: str | None = None) -> Done:  # fmt: skip
    """Validate, map and apply one resource in the caller's transaction."""
    where = where or resource_type
    if resource_type not in RESOURCE_TYPES:
        raise FhirError(404, Issue("not-supported", f"resource type {resource_type} "
                                   "is not supported (Encounter, Location)", where))  # fmt: skip
    check_id(rid, where)
    resource = parse_resource(body, resource_type, where)
    if resource.id is not None and resource.id != rid:
        raise FhirError(400, Issue("invalid", f"the resource id {resource.id!r} is "
                                   f"not the id in the URL {rid!r}", f"{where}.id"))  # fmt: skip
    session = ctx.session
    stored = stored_resource(session, ctx.feed, resource_type, rid)
    if if_match is not None:
        current = f'W/"{stored.version}"' if stored is not None else None
        if current is None or if_match.strip() not in (current, current[2:]):
            raise FhirError(412, Issue("conflict", f"If-Match {if_match} is not the "
                                       f"current version ({current or 'none'})", where))  # fmt: skip
    applied = 0
    if resource_type == "Location":
        plan = map_location(ctx, resource, rid)
        notes, status, detail = plan.notes, None, plan.detail
        if plan.events:
            where_of = dict.fromkeys(
                (e.key for e in plan.events), "Location.operationalStatus"
            )
            applied = _apply(ctx, plan.events, where_of, where, "Location")
        if plan.proposal is not None:
            row = store.propose_location(
                session, ctx.feed, ctx.trust_id, rid, now=ctx.received_at,
                **plan.proposal,
            )  # fmt: skip
            notes = [Issue(n.code, f"{n.text} (proposal {row.id})", n.expression,
                           n.severity) for n in notes]  # fmt: skip
    else:
        eplan = map_encounter(ctx, resource, rid, stored)
        notes, status, detail = eplan.notes, eplan.status, eplan.detail
        if eplan.events:
            applied = _apply(ctx, eplan.events, eplan.where, where)
        notes = [*notes, Issue("informational", f"{applied} event(s) applied, "
                               f"{len(eplan.events) - applied} already known or "
                               "unchanged", None, "information")]  # fmt: skip
    row, created = store.save_resource(
        session, ctx.feed, resource_type, rid, content_hash=content_hash(body),
        status=status, detail=detail, now=ctx.received_at, row=stored,
    )  # fmt: skip
    session.flush()
    return Done(201 if created else 200, resource_type, rid, row.version,
                row.updated_at, notes, applied)  # fmt: skip


def _apply(ctx: Context, events, where: dict[str, str], prefix: str,  # noqa: ANN001
           resource_type: str = "Encounter") -> int:  # fmt: skip
    try:
        outcomes = apply_events(ctx.session, events, source=ctx.feed,
                                received_at=ctx.received_at)  # fmt: skip
    except EventError as exc:
        raise FhirError(
            422, Issue("processing", f"cannot apply: {exc}", prefix)
        ) from None
    problems = []
    for o in outcomes:
        if o.status == "refused" and not (o.reason or "").startswith(UNCHANGED_REASONS):
            expr = where.get(o.key, resource_type).replace(resource_type, prefix, 1)
            problems.append(Issue("business-rule", f"refused: {o.reason}", expr))
    if problems:
        raise FhirError(422, problems)
    return sum(1 for o in outcomes if o.status == "applied")


# -- answers ---------------------------------------------------------------------


def _etag(version: int) -> str:
    return f'W/"{version}"'


def _location(done: Done) -> str:
    return f"{done.resource_type}/{done.resource_id}/_history/{done.version}"


def _modified(at: datetime) -> str:
    from email.utils import format_datetime

    return format_datetime(at.astimezone(UTC), usegmt=True)


def _refused(
    factory: sessionmaker[Session], access: FeedAccess, at: datetime,
    interaction: str, error: FhirError, entries: int = 1,
) -> Reply:  # fmt: skip
    text = "; ".join(i.text for i in error.issues)[:400]
    log.info("fhir: %s %s refused %s: %s", access.feed, interaction, error.status, text)
    try:
        with write_session(factory) as session:
            store.record_request(
                session, access.feed, at, interaction=interaction,
                status_code=error.status, outcome="refused", entries=entries,
                detail=text,
            )  # fmt: skip
            touch_feed(session, access.feed, at, detail=f"refused {error.status}")
    except Exception as exc:  # bookkeeping only: the answer stands
        log.warning("fhir: refusal not recorded: %s", exc.__class__.__name__)
    return Reply(error.status, operation_outcome(error.issues))


def _failed(exc: Exception) -> Reply:
    if isinstance(exc, IntegrityError):
        return Reply(409, operation_outcome([Issue(
            "conflict", "another request changed the same resource at the same "
            "time; send it again")]))  # fmt: skip
    status = 503 if isinstance(exc, OperationalError) else 500
    return Reply(
        status,
        operation_outcome(
            [Issue("exception", "the request could not be stored; send it again")]
        ),  # fmt: skip
        {"Retry-After": "30"} if status == 503 else {},
    )


def _context(session: Session, access: FeedAccess, key: bytes, at: datetime) -> Context:
    return Context(session, access.feed, access.trust_id, key, at)


def handle_update(
    factory: sessionmaker[Session], access: FeedAccess, resource_type: str,
    rid: str, body: object, *, key: bytes, if_match: str | None = None,
    prefer: str = "", clock: Callable[[], datetime] = _now,
) -> Reply:  # fmt: skip
    at = clock()
    interaction = f"PUT {resource_type}/{rid}"[:64]
    try:
        with write_session(factory) as session:
            done = take(_context(session, access, key, at), resource_type, rid,
                        body, if_match)  # fmt: skip
            store.record_request(
                session, access.feed, at, interaction=interaction,
                status_code=done.status, outcome="applied" if done.applied else "recorded",
                detail="; ".join(n.text for n in done.notes),
            )  # fmt: skip
            touch_feed(session, access.feed, at, detail=f"{interaction} {done.status}")
    except FhirError as exc:
        return _refused(factory, access, at, interaction, exc)
    except Exception as exc:
        log.error("fhir: %s %s failed: %s", access.feed, interaction,
                  exc.__class__.__name__)  # fmt: skip
        return _failed(exc)
    headers = {
        "ETag": _etag(done.version),
        "Location": _location(done),
        "Last-Modified": _modified(done.updated_at),
    }
    if "return=minimal" in prefer:
        return Reply(done.status, None, headers)
    return Reply(done.status, operation_outcome(done.notes), headers)


@dataclass
class Entry:
    index: int
    resource_type: str
    rid: str
    body: dict
    if_match: str | None

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}].resource"


def _entries(bundle: dict) -> tuple[str, list[Entry], list[tuple[int, FhirError]]]:
    """The Bundle's type and its entries, each checked on its own; entry problems
    come back with the entry's index."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        found = bundle.get("resourceType") if isinstance(bundle, dict) else None
        raise FhirError(400, Issue("invalid", f"POST [base] takes a Bundle, not "
                                   f"{found!r}", "Bundle.resourceType"))  # fmt: skip
    raw = bundle.get("entry") or []
    if not isinstance(raw, list):
        raise FhirError(400, Issue("structure", "entry must be a list", "Bundle.entry"))
    skeleton = dict(bundle)
    skeleton["entry"] = [
        {k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
        for e in raw
    ]
    try:
        _models()["Bundle"].model_validate(skeleton)
    except ValidationError as exc:
        raise FhirError(400, validation_issues(exc, "Bundle")) from None
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise FhirError(400, Issue("not-supported", f"Bundle type {kind!r}: POST "
                                   "[base] takes batch or transaction", "Bundle.type"))  # fmt: skip
    entries, problems = [], []
    for n, e in enumerate(raw):
        where = f"Bundle.entry[{n}]"
        request = e.get("request") or {}
        method, url = request.get("method"), (request.get("url") or "").strip("/")
        path = url.split("?")[0].split("/")
        if method != "PUT" or len(path) != 2:
            problems.append((n, FhirError(400 if method == "PUT" else 405, Issue(
                "not-supported", f"entry {n}: {method} {url or '(no url)'} — only "
                "PUT Encounter/{id} and PUT Location/{id} are supported",
                f"{where}.request",
            ))))  # fmt: skip
            continue
        if not isinstance(e.get("resource"), dict):
            problems.append((n, FhirError(400, Issue(
                "required", f"entry {n}: a PUT needs its resource", f"{where}.resource",
            ))))  # fmt: skip
            continue
        entries.append(Entry(n, path[0], path[1], e["resource"],
                             request.get("ifMatch")))  # fmt: skip
    return kind, entries, problems


def _order(entries: list[Entry]) -> list[Entry]:
    """Locations before Encounters (an Encounter may name a Location of the same
    bundle), otherwise in the order sent."""
    return sorted(entries, key=lambda e: (e.resource_type != "Location", e.index))


def _response_entry(done: Done) -> dict:
    return {
        "response": {
            "status": status_line(done.status),
            "location": _location(done),
            "etag": _etag(done.version),
            "lastModified": done.updated_at.astimezone(UTC).isoformat(),
            "outcome": operation_outcome(done.notes),
        }
    }


def _error_entry(exc: FhirError) -> dict:
    return {"response": {"status": status_line(exc.status),
                         "outcome": operation_outcome(exc.issues)}}  # fmt: skip


def handle_bundle(
    factory: sessionmaker[Session], access: FeedAccess, body: object, *,
    key: bytes, clock: Callable[[], datetime] = _now,
) -> Reply:  # fmt: skip
    at = clock()
    try:
        kind, entries, problems = _entries(body)  # type: ignore[arg-type]
    except FhirError as exc:
        return _refused(factory, access, at, "POST Bundle", exc)
    interaction = f"{kind} of {len(entries) + len(problems)}"
    full_urls = {}
    for e in body.get("entry") or []:  # type: ignore[union-attr]
        res = e.get("resource") if isinstance(e, dict) else None
        if isinstance(e, dict) and e.get("fullUrl") and isinstance(res, dict):
            full_urls[e["fullUrl"]] = f"{res.get('resourceType')}/{res.get('id')}"
    if kind == "transaction":
        return _transaction(factory, access, at, key, entries, problems, full_urls,
                            interaction)  # fmt: skip
    return _batch(factory, access, at, key, entries, problems, full_urls, interaction)


def _label(e: Entry) -> str:
    return f"{e.resource_type}/{e.rid}"


def _named(e: Entry, exc: FhirError) -> FhirError:
    issues = []
    for i in exc.issues:
        expr = i.expression or e.where
        if not expr.startswith("Bundle."):
            head, _, rest = expr.partition(".")
            expr = e.where + (f".{rest}" if rest else "")
        issues.append(Issue(i.code, f"entry {e.index} ({_label(e)}): {i.text}", expr,
                            i.severity))  # fmt: skip
    return FhirError(exc.status, issues)


def _transaction(factory, access, at, key, entries, problems, full_urls,
                 interaction) -> Reply:  # noqa: ANN001  # fmt: skip
    total = len(entries) + len(problems)
    if problems:
        issues = [i for _, p in problems for i in p.issues]
        status = problems[0][1].status
        return _refused(factory, access, at, interaction,
                        FhirError(status, issues), total)  # fmt: skip
    # Every entry is validated before anything is applied, so the client hears of
    # every structural problem at once.
    invalid: list[FhirError] = []
    for e in entries:
        try:
            if e.resource_type in RESOURCE_TYPES:
                check_id(e.rid, e.where)
                parse_resource(e.body, e.resource_type, e.where)
        except FhirError as exc:
            invalid.append(_named(e, exc))
    if invalid:
        return _refused(factory, access, at, interaction, FhirError(
            invalid[0].status, [i for x in invalid for i in x.issues]), total)  # fmt: skip
    done: dict[int, Done] = {}
    try:
        with write_session(factory) as session:
            ctx = _context(session, access, key, at)
            ctx.full_urls = full_urls
            for e in _order(entries):
                try:
                    done[e.index] = take(ctx, e.resource_type, e.rid, e.body,
                                         e.if_match, e.where)  # fmt: skip
                except FhirError as exc:
                    raise _named(e, exc) from None
            applied = sum(d.applied for d in done.values())
            store.record_request(
                session, access.feed, at, interaction=interaction, status_code=200,
                outcome="applied" if applied else "recorded", entries=total,
                detail=f"{applied} event(s) applied",
            )  # fmt: skip
            touch_feed(session, access.feed, at, detail=f"{interaction} 200")
    except FhirError as exc:
        return _refused(factory, access, at, interaction, exc, total)
    except Exception as exc:
        log.error(
            "fhir: %s transaction failed: %s", access.feed, exc.__class__.__name__
        )
        return _failed(exc)
    return Reply(200, {
        "resourceType": "Bundle", "type": "transaction-response",
        "entry": [_response_entry(done[e.index]) for e in entries],
    })  # fmt: skip


def _batch(factory, access, at, key, entries, problems, full_urls,
           interaction) -> Reply:  # noqa: ANN001  # fmt: skip
    answers: dict[int, dict] = {n: _error_entry(p) for n, p in problems}
    refused, applied = len(problems), 0
    for e in _order(entries):
        try:
            with write_session(factory) as session:
                ctx = _context(session, access, key, at)
                ctx.full_urls = full_urls
                d = take(ctx, e.resource_type, e.rid, e.body, e.if_match, e.where)
            answers[e.index] = _response_entry(d)
            applied += d.applied
        except FhirError as exc:
            answers[e.index] = _error_entry(_named(e, exc))
            refused += 1
        except Exception as exc:
            log.error("fhir: %s batch entry %d failed: %s", access.feed, e.index,
                      exc.__class__.__name__)  # fmt: skip
            reply = _failed(exc)
            answers[e.index] = {"response": {"status": status_line(reply.status),
                                             "outcome": reply.body}}  # fmt: skip
            refused += 1
    total = len(entries) + len(problems)
    try:
        with write_session(factory) as session:
            store.record_request(
                session, access.feed, at, interaction=interaction, status_code=200,
                outcome="refused" if refused == total and total else
                ("applied" if applied else "recorded"), entries=total,
                detail=f"{applied} event(s) applied, {refused} entr(y/ies) refused",
            )  # fmt: skip
            touch_feed(session, access.feed, at, detail=f"{interaction} 200")
    except Exception as exc:
        log.warning("fhir: batch not recorded: %s", exc.__class__.__name__)
    return Reply(200, {
        "resourceType": "Bundle", "type": "batch-response",
        "entry": [answers[n] for n in sorted(answers)],
    })  # fmt: skip
