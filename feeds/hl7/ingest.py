"""One message, start to finish: parse -> archive -> map -> apply -> commit -> ACK.

:func:`handle` is the only path: the listener, ``hl7-replay`` and the tests all call
it. The archive row, the events and any quarantine entry are written in one
transaction; the ACK is built only after it has committed, so a message that was not
stored is never acknowledged (the sender resends it, and the resend of a stored one
is recognised by its message key and answered AA without applying it again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from data.db import write_session
from data.models.hl7 import Hl7Message, Hl7Quarantine
from data.queries.hl7 import event_statuses, message_by_key, unresolved_quarantine
from data.writes import hl7 as store
from data.writes.events import EventError, apply_events
from feeds.hl7.ack import build_ack, control_id_guess
from feeds.hl7.mapping import Problem, map_message, source_of
from feeds.hl7.parse import Hl7ParseError, Message, parse, redact

log = logging.getLogger("command_centre.hl7")
REJUDGED = ("unknown_patient", "refused")
UNCHANGED = ("nothing to cancel", "nothing to merge")


@dataclass(frozen=True)
class Result:
    """What happened to one message and the ACK to send (segments joined by CR)."""

    outcome: str  # applied, recorded, duplicate, quarantined, rejected, failed
    ack_code: str  # AA, AE, AR
    ack: str
    reason_code: str | None = None
    reason: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def classify(reason: str) -> str:
    """A refusal by the event layer, as a quarantine reason code."""
    if "is not admitted" in reason or "no arrival recorded" in reason:
        return "unknown_patient"
    return "refused"


def handle(
    factory: sessionmaker[Session],
    raw: bytes | str,
    *,
    key: bytes,
    clock: Callable[[], datetime] = _now,
) -> Result:
    """Take one message (without MLLP framing) and return the ACK to send."""
    try:
        msg = parse(raw)
    except Hl7ParseError as exc:
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "replace")
        return _reject(None, str(exc), "102", "MSH", control_id_guess(data))
    received_at = clock()
    try:
        with write_session(factory) as session:
            result = _store_and_apply(session, msg, key, received_at)
    except IntegrityError:
        # The same message committed by another connection a moment ago?
        with factory() as session:
            existing = message_by_key(session, msg.message_key)
            if existing is not None:
                return _duplicate(msg, existing)
        log.error("hl7: storing %s failed: integrity error", msg.control_id)
        return _failed(msg)
    except EventError as exc:
        log.warning("hl7: %s %s: %s", msg.sender, msg.control_id, exc)
        return _reject(msg, f"cannot apply: {exc}", "207", "")
    except Exception as exc:  # the database: not stored, so not acknowledged as done
        log.error("hl7: storing %s failed: %s", msg.control_id, exc.__class__.__name__)
        return _failed(msg)
    return result


def _failed(msg: Message) -> Result:
    text = "the message could not be stored; send it again"
    return Result("failed", "AR", build_ack(msg, "AR", text, error_code="207"))


def _duplicate(msg: Message, existing: Hl7Message) -> Result:
    """A resend of a stored message: not applied again. A rejected one is rejected
    again (with its reason); everything else (applied, recorded, quarantined) was
    taken, and is acknowledged AA."""
    if existing.outcome == "rejected":
        text = existing.error or "rejected"
        ack = build_ack(msg, "AR", text, error_code="207")
        return Result("rejected", "AR", ack, "duplicate", text)
    return _ok(msg, "duplicate", "duplicate of a message already received")


def _ok(msg: Message, outcome: str, text: str = "") -> Result:
    return Result(outcome, "AA", build_ack(msg, "AA", text))


def _reject(
    msg: Message | None, text: str, code: str, where: str, control_id: str = ""
) -> Result:
    ack = build_ack(
        msg, "AR", text, error_code=code, where=where, control_id=control_id
    )
    return Result("rejected", "AR", ack, "unparseable" if msg is None else None, text)


def _store_and_apply(
    session: Session, msg: Message, key: bytes, received_at: datetime
) -> Result:
    existing = message_by_key(session, msg.message_key)
    if existing is not None:
        return _duplicate(msg, existing)
    row = store.archive_message(
        session,
        message_key=msg.message_key,
        sender=msg.sender,
        control_id=msg.control_id,
        content_hash=msg.content_hash,
        message_type=f"{msg.message_type}^{msg.trigger}",
        event_at=msg.event_time(),
        received_at=received_at,
        redacted=redact(msg.text),
    )
    return _map_and_apply(session, msg, row, key, received_at)


def _map_and_apply(
    session: Session, msg: Message, row: Hl7Message, key: bytes,
    received_at: datetime,
) -> Result:  # fmt: skip
    mapped = map_message(session, msg, key)
    if mapped.problem is not None:
        return _problem(session, msg, row, mapped.problem, received_at)
    if not mapped.events:
        store.set_outcome(row, "recorded", "AA", mapped.note)
        return _ok(msg, "recorded", mapped.note or "")
    source = source_of(msg)
    outcomes = apply_events(
        session, mapped.events, source=source, received_at=received_at
    )
    keys = [e.key for e in mapped.events]
    store.set_outcome(row, "applied", "AA", event_keys=keys)
    refused = [o for o in outcomes if o.status == "refused"]
    if not refused:
        stale = [o for o in outcomes if o.status == "duplicate"]
        if stale:  # events known from before (the archive lost the message)
            statuses = event_statuses(session, source, keys)
            if any(s == "refused" for s in statuses.values()):
                reason = next(o.reason for o in stale) or "refused"
                return _problem(
                    session, msg, row, Problem(classify(reason), reason), received_at
                )
        resolve_rejudged(session, received_at)
        return _ok(msg, "applied")
    reason = refused[0].reason or "refused by the event layer"
    if all((o.reason or "").startswith(UNCHANGED) for o in refused):
        # A cancel or merge repeated (or a cancel of something never applied)
        # changes nothing; the event layer keeps it and re-judges it if its target
        # arrives late.
        note = f"{refused[0].reason}: the history is unchanged"
        store.set_outcome(row, "recorded", "AA", note, event_keys=keys)
        return _ok(msg, "recorded", note)
    problem = Problem(
        classify(reason),
        reason,
        hl7_code="204" if classify(reason) == "unknown_patient" else "207",
        where="PV1^1^19",
    )
    return _problem(session, msg, row, problem, received_at)


def _problem(
    session: Session, msg: Message, row: Hl7Message, problem: Problem,
    at: datetime,
) -> Result:  # fmt: skip
    if problem.ack == "AR":
        store.set_outcome(row, "rejected", "AR", problem.text)
    else:
        store.set_outcome(row, "quarantined", "AE", problem.text)
        store.quarantine(
            session, row, reason_code=problem.code, reason=problem.text,
            raw=msg.text, at=at,
        )  # fmt: skip
    log.info("hl7: %s %s %s: %s", msg.sender, msg.control_id, problem.ack, problem.text)
    ack = build_ack(
        msg, problem.ack, problem.text, error_code=problem.hl7_code,
        where=problem.where,
    )  # fmt: skip
    return Result(
        "rejected" if problem.ack == "AR" else "quarantined",
        problem.ack,
        ack,
        problem.code,
        problem.text,
    )


def resolve_rejudged(session: Session, at: datetime) -> int:
    """Quarantined messages the event layer has since applied (a late admission
    made an earlier transfer possible): resolved. Returns how many."""
    items = unresolved_quarantine(session, REJUDGED)
    done = 0
    for item in items:
        message = session.get(Hl7Message, item.message_id)
        keys = list(message.event_keys or [])
        app, _, facility = message.sender.partition("^")
        source = f"hl7:{facility or app or 'unknown'}"[:32]
        statuses = event_statuses(session, source, keys) if keys else {}
        if (
            keys
            and statuses
            and all(statuses.get(k) in ("applied", "void") for k in keys)
        ):
            store.resolve(session.get(Hl7Quarantine, item.id), at)
            store.set_outcome(message, "applied", "AA", None)
            done += 1
    return done


def replay_quarantine(
    factory: sessionmaker[Session], *, key: bytes,
    clock: Callable[[], datetime] = _now,
) -> dict[str, int]:  # fmt: skip
    """Run every unresolved quarantined message again (after the organisation or
    the mapping was fixed); returns counts of applied and still-quarantined by
    reason."""
    with factory() as session:
        ids = [i.id for i in unresolved_quarantine(session)]
    counts: dict[str, int] = {}
    for qid in ids:
        at = clock()
        with write_session(factory) as session:
            entry = session.get(Hl7Quarantine, qid)
            if entry is None or entry.resolved_at is not None:
                continue
            if entry.raw is None:  # past the retention limit: cannot be re-run
                counts["expired (raw original purged)"] = (
                    counts.get("expired (raw original purged)", 0) + 1
                )
                continue
            row = session.get(Hl7Message, entry.message_id)
            msg = parse(entry.raw)
            result = _map_and_apply(session, msg, row, key, at)
            if result.outcome == "applied" or (
                result.outcome == "recorded" and entry.resolved_at is None
            ):
                store.resolve(entry, at)
                label = "applied"
            else:
                label = f"quarantined: {result.reason_code}"
        counts[label] = counts.get(label, 0) + 1
    return counts


def purge_expired(
    factory: sessionmaker[Session], days: int, now: datetime | None = None
) -> int:
    """Drop raw originals of quarantine entries older than ``days``."""
    from datetime import timedelta

    now = now or _now()
    with write_session(factory) as session:
        return store.purge_raw(session, now - timedelta(days=days))
