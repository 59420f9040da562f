"""Theatre events: sessions (planned lists) and cases, each the fold of its own events.

A case names its session by reference; a case listed before its session is known is
refused and re-judged when the session arrives. Late events rebuild the row from all
of its events, as for ED attendances.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from data.models.capacity import Theatre, TheatreCase, TheatreSession
from data.models.events import FlowEvent
from data.writes import events as ev
from data.writes.events import Event, LogRow, Outcome, parse_time

SESSION_FIELDS = ("theatre_id", "specialty", "planned_start", "planned_end",
                  "cancelled_reason")  # fmt: skip
CASE_FIELDS = (
    "session_ref",
    "procedure",
    "planned_start",
    "planned_minutes",
    "status",
    "sent_for_at",
    "anaesthetic_at",
    "in_theatre_at",
    "knife_to_skin_at",
    "procedure_end_at",
    "out_of_theatre_at",
    "recovery_done_at",
    "cancelled_at",
    "cancel_reason",
)
STAGES = {  # kind -> (column, status, rank)
    "case_sent_for": ("sent_for_at", "sent_for", 1),
    "case_in_anaesthetic": ("anaesthetic_at", "anaesthetic_room", 2),
    "case_in_theatre": ("in_theatre_at", "in_theatre", 3),
    "case_knife_to_skin": ("knife_to_skin_at", "in_theatre", 3),
    "case_procedure_end": ("procedure_end_at", "in_theatre", 3),
    "case_left_theatre": ("out_of_theatre_at", "recovery", 4),
    "case_recovered": ("recovery_done_at", "done", 5),
}
RANK = {"scheduled": 0, **{s: r for _, s, r in STAGES.values()}}


def session_subject(ref: str) -> str:
    return f"session:{ref}"


def case_subject(ref: str) -> str:
    return f"case:{ref}"


def fold_session(
    state: dict | None, row: LogRow, theatres: set[int]
) -> tuple[dict | None, str | None]:
    p = row.payload
    if row.kind == "session_planned":
        theatre_id = p.get("theatre_id")
        if theatre_id not in theatres:
            return state, f"unknown theatre {theatre_id!r}"
        start, end = (
            parse_time(p.get("planned_start")),
            parse_time(p.get("planned_end")),
        )
        if start is None or end is None or end <= start:
            return state, "a session needs a planned start before its planned end"
        return {
            "theatre_id": theatre_id,
            "specialty": str(p.get("specialty") or "")[:64],
            "planned_start": start,
            "planned_end": end,
            "cancelled_reason": (state or {}).get("cancelled_reason"),
        }, None
    if state is None:
        return state, f"unknown session {row.subject.removeprefix('session:')}"
    if state["cancelled_reason"]:
        return state, "the session is already cancelled"
    reason = str(p.get("reason") or "cancelled")[:64]
    return {**state, "cancelled_reason": reason}, None


def fold_case(
    state: dict | None, row: LogRow, sessions: set[str]
) -> tuple[dict | None, str | None]:
    p = row.payload
    if row.kind == "case_listed":
        session_ref = p.get("session_ref")
        if session_ref not in sessions:
            return state, f"unknown session {session_ref!r}"
        minutes = p.get("planned_minutes")
        start = parse_time(p.get("planned_start"))
        if not isinstance(minutes, int) or minutes <= 0 or start is None:
            return state, "a case needs a planned start and planned minutes"
        base = state or {**dict.fromkeys(CASE_FIELDS), "status": "scheduled"}
        return {
            **base,
            "session_ref": session_ref,
            "procedure": str(p.get("procedure") or "")[:120],
            "planned_start": start,
            "planned_minutes": minutes,
        }, None
    if state is None:
        return state, f"case {row.subject.removeprefix('case:')} is not listed"
    if state["status"] == "cancelled":
        return state, "the case is cancelled"
    if row.kind == "case_cancelled":
        if state["status"] == "done":
            return state, "the case is already done"
        return {
            **state,
            "status": "cancelled",
            "cancelled_at": row.at,
            "cancel_reason": str(row.payload.get("reason") or "cancelled")[:64],
        }, None
    column, status, rank = STAGES[row.kind]
    if state[column] is not None:
        return state, f"{column.removesuffix('_at').replace('_', ' ')} already recorded"
    new = {**state, column: row.at}
    if rank >= RANK[state["status"]]:
        new["status"] = status
    return new, None


def apply(
    session: Session, rows: list[LogRow], received_at: datetime
) -> dict[str, tuple[str, str | None]]:
    rows.sort(key=ev.order_key)
    first_new = ev.max_id(session) + 1
    ev.insert_rows(session, rows, received_at)
    theatres = set(session.scalars(select(Theatre.id)))
    # Sessions first: cases refer to them.
    session_rows = [r for r in rows if r.kind in ev.SESSION_KINDS]
    case_rows = [r for r in rows if r.kind in ev.CASE_KINDS]
    touched_sessions = _fold_subjects(
        session, session_rows, TheatreSession, SESSION_FIELDS, "session:",
        lambda st, r: fold_session(st, r, theatres), first_new,
    )  # fmt: skip
    if touched_sessions:
        # Cases listed before their session arrived are judged again.
        refs = [s.removeprefix("session:") for s in touched_sessions]
        waiting = []
        for chunk in ev.chunks(refs):
            waiting += ev.load_rows(
                session,
                FlowEvent.domain == "theatre",
                FlowEvent.kind == "case_listed",
                FlowEvent.related.in_(chunk),
                FlowEvent.status == "refused",
            )
        mine = {r.id for r in case_rows}
        case_rows += [r for r in waiting if r.id not in mine]
    known_sessions = _session_refs(session)
    _fold_subjects(
        session, case_rows, TheatreCase, CASE_FIELDS, "case:",
        lambda st, r: fold_case(st, r, known_sessions), first_new,
    )  # fmt: skip
    fresh = [r for r in session_rows + case_rows if r.id is None]
    ev.save_judgements(session, [r for r in fresh if r.status != "applied"])
    ev.save_statuses(session, [r for r in case_rows if r.id is not None], {})
    return {r.key: (r.status, r.reason) for r in rows}


def _session_refs(session: Session) -> set[str]:
    return set(session.scalars(select(TheatreSession.ref)))


def _fold_subjects(
    session: Session, rows: list[LogRow], model, fields: tuple[str, ...],
    prefix: str, fold, first_new: int,
) -> set[str]:  # fmt: skip  # noqa: ANN001
    """Fold each subject's events onto its row (or rebuild it when one is late)."""
    if not rows:
        return set()
    by_subject: dict[str, list[LogRow]] = defaultdict(list)
    for r in sorted(rows, key=ev.order_key):
        by_subject[r.subject].append(r)
    refs = [s.removeprefix(prefix) for s in by_subject]
    current: dict[str, dict] = {}
    ids: dict[str, int] = {}
    watermark: dict[str, datetime] = {}
    table_fields = [f for f in fields if f != "session_ref"]
    session_refs = {}
    if model is TheatreCase:
        session_refs = {
            ref: row_id
            for ref, row_id in session.execute(
                select(TheatreSession.ref, TheatreSession.id)
            )
        }
    by_session_id = {v: k for k, v in session_refs.items()}
    for chunk in ev.chunks(refs):
        for row_id, ref, *values in session.execute(
            select(model.id, model.ref, *[getattr(model, f) for f in table_fields]
                   + ([model.session_id] if model is TheatreCase else [])).where(
                model.ref.in_(chunk)
            )
        ):  # fmt: skip
            state = dict(zip(table_fields, values, strict=False))
            if model is TheatreCase:
                state["session_ref"] = by_session_id.get(values[-1])
            current[ref] = state
            ids[ref] = row_id
        subjects = [prefix + c for c in chunk]
        for subject, last in session.execute(
            select(FlowEvent.subject, func.max(FlowEvent.at))
            .where(
                FlowEvent.domain == "theatre",
                FlowEvent.subject.in_(subjects),
                FlowEvent.id < first_new,
            )
            .group_by(FlowEvent.subject)
        ):  # fmt: skip
            watermark[subject] = last
    touched: set[str] = set()
    new_rows, changed, gone = [], [], []
    for subject, items in by_subject.items():
        ref = subject.removeprefix(prefix)
        last = watermark.get(subject)
        replayed = any(r.status == "refused" and r.id is not None for r in items)
        if not replayed and (last is None or items[0].at > last):
            history, state = items, current.get(ref)
        else:
            history = ev.load_rows(
                session, FlowEvent.domain == "theatre", FlowEvent.subject == subject
            )
            state = None
        for r in history:
            state, why = fold(state, r)
            r.status, r.reason = ("refused", why) if why else ("applied", None)
        if history is not items:
            mine = {(r.source, r.key): r for r in history}
            for r in items:
                judged = mine[(r.source, r.key)]
                r.status, r.reason = judged.status, judged.reason
            ev.save_statuses(session, history, {})
        before = current.get(ref)
        if state == before:
            continue
        touched.add(subject)
        if state is None:
            gone.append(ids[ref])
            continue
        values = {f: state[f] for f in table_fields}
        if model is TheatreCase:
            values["session_id"] = session_refs[state["session_ref"]]
        if ref in ids:
            changed.append({"id": ids[ref], **values})
        else:
            new_rows.append({"ref": ref, **values})
    if gone:
        session.execute(delete(model).where(model.id.in_(gone)))
    ev.bulk_insert(session, model, new_rows)
    if changed:
        for group in _by_columns(changed):
            session.execute(
                update(model).execution_options(synchronize_session=False), group
            )
    return touched


def _by_columns(rows: list[dict]) -> list[list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(row))].append(row)
    return list(groups.values())


# ---------------------------------------------------------------------------
# One function per real-world event
# ---------------------------------------------------------------------------


def _one(session: Session, source: str, event: Event, received_at) -> Outcome:  # noqa: ANN001
    return ev.apply_event(session, event, source=source, received_at=received_at)


def session_planned(
    session: Session, *, at: datetime, source: str, key: str, session_ref: str,
    theatre_id: int, specialty: str, planned_start: datetime, planned_end: datetime,
    received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    """A theatre list was planned (or re-planned) for ``planned_start``-``planned_end``."""
    payload = {
        "theatre_id": theatre_id,
        "specialty": specialty,
        "planned_start": ev.iso(planned_start),
        "planned_end": ev.iso(planned_end),
    }
    event = Event("session_planned", at, key, session_subject(session_ref), payload)
    return _one(session, source, event, received_at)


def session_cancelled(
    session: Session, *, at: datetime, source: str, key: str, session_ref: str,
    reason: str, received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    event = Event(
        "session_cancelled", at, key, session_subject(session_ref), {"reason": reason}
    )
    return _one(session, source, event, received_at)


def case_listed(
    session: Session, *, at: datetime, source: str, key: str, case_ref: str,
    session_ref: str, procedure: str, planned_start: datetime, planned_minutes: int,
    received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    payload = {
        "session_ref": session_ref,
        "procedure": procedure,
        "planned_start": ev.iso(planned_start),
        "planned_minutes": planned_minutes,
    }
    event = Event(
        "case_listed", at, key, case_subject(case_ref), payload, related=session_ref
    )
    return _one(session, source, event, received_at)


def case_stage(
    session: Session, kind: str, *, at: datetime, source: str, key: str,
    case_ref: str, received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    """A case reached a stage: sent for, in anaesthetic, in theatre, knife to skin,
    procedure end, left theatre, recovered (``kind`` from ``STAGES``)."""
    if kind not in STAGES:
        raise ev.EventError(f"unknown case stage {kind!r}")
    return _one(
        session, source, Event(kind, at, key, case_subject(case_ref)), received_at
    )


def case_cancelled(
    session: Session, *, at: datetime, source: str, key: str, case_ref: str,
    reason: str, received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    """A case was cancelled on the day (with its reason)."""
    event = Event("case_cancelled", at, key, case_subject(case_ref), {"reason": reason})
    return _one(session, source, event, received_at)
