"""The event layer's core: one entry point for every real-world event from any feed.

Each event carries the time it happened (which may be in the past and may arrive out
of order), the feed it came from (``source``) and an idempotency key unique within that
feed. :func:`apply_events` keeps every event in ``flow_event`` and brings the
operational tables up to date as if all the events had arrived in event-time order:

- the same ``(source, key)`` twice changes nothing (``duplicate``);
- an event older than what is already applied is put in its place in the history and
  the projections after it are recomputed (``data.writes.inpatient``,
  ``data.writes.ed``, ``data.writes.theatres``);
- an impossible event is kept with status ``refused`` and a reason (returned to the
  caller), never applied over what is there; it is re-judged whenever the history
  before it changes, so a late event that makes it possible applies it.

Every call marks the feed's freshness (``feed_status``). The domain modules hold one
function per event kind (``admit``, ``transfer``, ``ed_arrival`` …) on top of this.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models.events import FlowEvent
from data.models.system import FeedStatus

# kind -> domain
INPATIENT_KINDS = (
    "admit",
    "transfer",
    "discharge",
    "cancel_admit",
    "cancel_transfer",
    "cancel_discharge",
    "swap_beds",
    "leave_start",
    "leave_end",
    "set_expected_discharge",
    "set_criteria_to_reside",
    "merge_patients",
)
BED_KINDS = (
    "cleaning_requested",
    "cleaning_done",
    "bed_blocked",
    "bed_unblocked",
    "bed_closed",
    "bed_opened",
    "escalation_opened",
    "escalation_closed",
)
ED_KINDS = (
    "ed_arrival",
    "ed_triage",
    "ed_seen",
    "ed_decision_to_admit",
    "ed_handover",
    "ed_area_move",
    "ed_departure",
    "ed_cancel_arrival",
    "ed_cancel_area_move",
    "ed_cancel_departure",
)
SESSION_KINDS = ("session_planned", "session_cancelled")
CASE_KINDS = (
    "case_listed",
    "case_sent_for",
    "case_in_anaesthetic",
    "case_in_theatre",
    "case_knife_to_skin",
    "case_procedure_end",
    "case_left_theatre",
    "case_recovered",
    "case_cancelled",
)
DOMAIN_OF: dict[str, str] = {
    **dict.fromkeys(INPATIENT_KINDS + BED_KINDS, "inpatient"),
    **dict.fromkeys(ED_KINDS, "ed"),
    **dict.fromkeys(SESSION_KINDS + CASE_KINDS, "theatre"),
}
DOMAINS = ("inpatient", "ed", "theatre")
FEED_DOMAIN = {"inpatient": "beds", "ed": "ed", "theatre": "theatres"}
IN_CHUNK = 900  # bound on an IN (...) list (SQLite's variable limit)


class EventError(ValueError):
    """An event the layer cannot take at all (malformed: no time zone, unknown kind…)."""


@dataclass(frozen=True)
class Event:
    """One real-world event. ``subject`` names what it is about (a stay, a bed
    ``bed:<id>``, an attendance, ``session:<ref>`` or ``case:<ref>``)."""

    kind: str
    at: datetime
    key: str
    subject: str
    payload: dict = field(default_factory=dict)
    related: str | None = None


@dataclass(frozen=True)
class Outcome:
    key: str
    status: str  # applied, refused, void (cancelled later), duplicate
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("applied", "duplicate")


@dataclass
class LogRow:
    """An event as the folds see it (from this call or from ``flow_event``)."""

    id: int | None
    source: str
    key: str
    kind: str
    at: datetime
    subject: str
    related: str | None
    payload: dict
    status: str = "applied"
    reason: str | None = None
    voided_by: int | None = None


# Within one instant a stay's story runs admission, moves, details, discharge, then
# cancels (feeds stamp to the second; an A01 and its A02 often share one).
SAME_INSTANT_RANK = {
    "admit": 0,
    "ed_arrival": 0,
    "session_planned": 0,
    "case_listed": 1,
    "discharge": 3,
    "ed_departure": 3,
    "cancel_admit": 4,
    "cancel_transfer": 4,
    "cancel_discharge": 4,
    "ed_cancel_arrival": 4,
    "ed_cancel_area_move": 4,
    "ed_cancel_departure": 4,
}


def order_key(row: LogRow) -> tuple:
    """The canonical order of the history: event time, then the kind's place within an
    instant, then feed and key (so the order never depends on when events arrived)."""
    return (row.at, SAME_INSTANT_RANK.get(row.kind, 2), row.source, row.key)


def _check(event: Event) -> None:
    if event.kind not in DOMAIN_OF:
        raise EventError(f"unknown event kind {event.kind!r}")
    if not isinstance(event.at, datetime) or event.at.tzinfo is None:
        raise EventError(f"event {event.key!r}: time must be a timezone-aware datetime")
    if not event.key or len(event.key) > 128:
        raise EventError("an event needs an idempotency key of 1-128 characters")
    if not event.subject or len(event.subject) > 64:
        raise EventError(f"event {event.key!r}: subject must be 1-64 characters")
    if event.related is not None and len(event.related) > 64:
        raise EventError(f"event {event.key!r}: related must be at most 64 characters")


def apply_events(
    session: Session,
    events: Sequence[Event],
    *,
    source: str,
    received_at: datetime | None = None,
) -> list[Outcome]:
    """Apply a batch of events from one feed, in the caller's transaction.

    Returns one outcome per event, in the order given. A batch may hold events of
    every domain and in any order.
    """
    if not source or len(source) > 32:
        raise EventError("source must be 1-32 characters")
    for event in events:
        _check(event)
    if received_at is None:
        received_at = max((e.at for e in events), default=None) or datetime.now(UTC)
    first: dict[str, Event] = {}
    for event in events:
        first.setdefault(event.key, event)
    known = _known(session, source, list(first))
    rows: dict[str, list[LogRow]] = {d: [] for d in DOMAINS}
    for key, event in first.items():
        if key in known:
            continue
        rows[DOMAIN_OF[event.kind]].append(
            LogRow(
                None,
                source,
                key,
                event.kind,
                event.at.astimezone(UTC),
                event.subject,
                event.related,
                dict(event.payload),
            )
        )
    from data.writes import ed, inpatient, theatres

    results: dict[str, tuple[str, str | None]] = {}
    for domain, module in (("theatre", theatres), ("ed", ed), ("inpatient", inpatient)):
        if rows[domain]:
            results.update(module.apply(session, rows[domain], received_at))
    touch_feed(session, source, received_at, detail=_detail(results))
    # One row per domain the feed reported (``data.queries.feeds``: "no data yet"
    # lasts until some feed has reported a domain).
    for domain, domain_rows in rows.items():
        applied = [r for r in domain_rows if results.get(r.key, ("",))[0] == "applied"]
        if applied:
            name = f"{source[:23]}:{FEED_DOMAIN[domain]}"
            touch_feed(session, name, received_at, detail=f"applied={len(applied)}")
    out = []
    for event in events:
        if event.key in known:
            status, reason = known[event.key]
            out.append(Outcome(event.key, "duplicate", reason or status))
        elif event.key in results and first[event.key] is event:
            status, reason = results[event.key]
            out.append(Outcome(event.key, status, reason))
        else:  # the same key twice in one batch
            out.append(Outcome(event.key, "duplicate", "repeated in the same batch"))
    return out


def apply_event(
    session: Session, event: Event, *, source: str, received_at: datetime | None = None
) -> Outcome:
    return apply_events(session, [event], source=source, received_at=received_at)[0]


def _known(
    session: Session, source: str, keys: list[str]
) -> dict[str, tuple[str, str | None]]:
    if not keys:
        return {}
    if (
        session.scalar(select(FlowEvent.id).where(FlowEvent.source == source).limit(1))
        is None
    ):
        return {}
    found: dict[str, tuple[str, str | None]] = {}
    for chunk in chunks(keys):
        for key, status, reason in session.execute(
            select(FlowEvent.key, FlowEvent.status, FlowEvent.reason).where(
                FlowEvent.source == source, FlowEvent.key.in_(chunk)
            )
        ):
            found[key] = (status, reason)
    return found


def _detail(results: dict[str, tuple[str, str | None]]) -> str:
    counts: dict[str, int] = {}
    for status, _ in results.values():
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))


def chunks(items: Iterable, size: int = IN_CHUNK):  # noqa: ANN201
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def bulk_insert(session: Session, model, rows: list[dict]) -> None:  # noqa: ANN001
    """Plain multi-row insert (no ORM bookkeeping, no RETURNING): the fast path."""
    if not rows:
        return
    table = model.__table__
    conn = session.connection()
    for start in range(0, len(rows), 20000):
        conn.execute(table.insert(), rows[start : start + 20000])


def insert_rows(session: Session, rows: list[LogRow], received_at: datetime) -> None:
    """Write new log rows (their ids are not read back: match them by key)."""
    bulk_insert(
        session,
        FlowEvent,
        [
            {
                "source": r.source,
                "key": r.key,
                "domain": DOMAIN_OF[r.kind],
                "kind": r.kind,
                "at": r.at,
                "received_at": received_at,
                "subject": r.subject,
                "related": r.related,
                "payload": r.payload,
                "status": r.status,
                "reason": r.reason,
                "voided_by": r.voided_by,
            }
            for r in rows
        ],
    )


def max_id(session: Session) -> int:
    from sqlalchemy import func

    return session.scalar(select(func.max(FlowEvent.id))) or 0


def save_judgements(session: Session, rows: Iterable[LogRow]) -> None:
    """Write status and reason of rows by their key (rows inserted by this call)."""
    from sqlalchemy import bindparam

    table = FlowEvent.__table__
    values = [
        {
            "k_source": r.source,
            "k_key": r.key,
            "k_status": r.status,
            "k_reason": r.reason,
        }
        for r in rows
    ]
    if values:
        session.connection().execute(
            table.update()
            .where(table.c.source == bindparam("k_source"))
            .where(table.c.key == bindparam("k_key"))
            .values(status=bindparam("k_status"), reason=bindparam("k_reason")),
            values,
        )


def save_statuses(session: Session, rows: Iterable[LogRow], before: dict) -> None:
    """Write the status, reason and void mark of rows whose judgement changed."""
    from sqlalchemy import update

    changed = [
        {"id": r.id, "status": r.status, "reason": r.reason, "voided_by": r.voided_by}
        for r in rows
        if before.get(r.id) != (r.status, r.reason, r.voided_by)
    ]
    if changed:
        session.execute(
            update(FlowEvent).execution_options(synchronize_session=False), changed
        )


def load_rows(session: Session, *conditions) -> list[LogRow]:  # noqa: ANN002
    """Log rows matching ``conditions``, in the canonical order."""
    rows = [
        LogRow(
            r.id,
            r.source,
            r.key,
            r.kind,
            r.at,
            r.subject,
            r.related,
            r.payload or {},
            r.status,
            r.reason,
            r.voided_by,
        )
        for r in session.execute(
            select(
                FlowEvent.id,
                FlowEvent.source,
                FlowEvent.key,
                FlowEvent.kind,
                FlowEvent.at,
                FlowEvent.subject,
                FlowEvent.related,
                FlowEvent.payload,
                FlowEvent.status,
                FlowEvent.reason,
                FlowEvent.voided_by,
            ).where(*conditions)
        )
    ]
    rows.sort(key=order_key)
    return rows


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise EventError(f"naive datetime {value!r} in an event")
    return value.astimezone(UTC).isoformat()


def touch_feed(
    session: Session, feed: str, at: datetime, detail: str | None = None
) -> None:
    """Mark that ``feed`` wrote at ``at`` (freshness, read caches, /healthz)."""
    row = session.get(FeedStatus, feed)
    if row is None:
        session.add(
            FeedStatus(feed=feed, last_write_at=at, detail=(detail or "")[:200])
        )
    else:
        row.last_write_at = at
        row.detail = (detail or "")[:200]
