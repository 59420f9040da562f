"""ED events: one attendance's row is the fold of its own events in event-time order.

An attendance's events arriving in order extend its row; one arriving late rebuilds
the row from all of that attendance's events, so the row never depends on arrival
order. Events before the arrival is known are refused and re-judged when it comes.

Cancels undo from the attendance's own history: ``ed_cancel_arrival`` voids its
arrival (the attendance disappears), ``ed_cancel_area_move`` its latest area move
(into the named area, when one is named), ``ed_cancel_departure`` its latest
departure (the attendance is open again). An attendance with a cancel is always
rebuilt from all its events; a cancel with nothing left to cancel is refused and
changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from data.models.capacity import ARRIVAL_MODES, DISPOSITIONS, EdArea, EdAttendance
from data.models.events import FlowEvent
from data.writes import events as ev
from data.writes.events import Event, LogRow, Outcome

FIELDS = (
    "site_id",
    "area_id",
    "arrival_at",
    "mode",
    "triage",
    "handover_at",
    "seen_at",
    "decision_to_admit_at",
    "departure_at",
    "disposition",
)


CANCEL_TARGET = {
    "ed_cancel_arrival": "ed_arrival",
    "ed_cancel_area_move": "ed_area_move",
    "ed_cancel_departure": "ed_departure",
}


def _voids(history: list[LogRow]) -> dict[int, int]:
    """target event id -> id of the cancel voiding it (history in canonical order):
    each cancel voids the latest not yet voided event of its target kind before it."""
    voided: dict[int, int] = {}
    for i, cancel in enumerate(history):
        target_kind = CANCEL_TARGET.get(cancel.kind)
        if target_kind is None:
            continue
        named = cancel.payload.get("area")
        for target in reversed(history[:i]):
            if target.kind == target_kind and target.id not in voided:
                if named is not None and target.payload.get("area") != named:
                    break
                voided[target.id] = cancel.id
                break
    return voided


def fold_history(
    history: list[LogRow], areas: dict[tuple[int, str], int]
) -> dict | None:
    """One attendance's row from all its events (canonical order), judging each."""
    voided = _voids(history)
    voiders = set(voided.values())
    state = None
    for r in history:
        if r.id in voided:
            r.status, r.reason, r.voided_by = (
                "void",
                "cancelled by a later event",
                (voided[r.id]),
            )
            continue
        r.voided_by = None
        if r.kind in CANCEL_TARGET:
            if r.id in voiders:
                r.status, r.reason = "applied", None
            else:
                r.status = "refused"
                r.reason = f"nothing to cancel for attendance {r.subject}"
            continue
        state, why = fold_one(state, r, areas)
        r.status, r.reason = ("refused", why) if why else ("applied", None)
    return state


def _areas(session: Session) -> dict[tuple[int, str], int]:
    return {
        (site_id, code): area_id
        for area_id, site_id, code in session.execute(
            select(EdArea.id, EdArea.site_id, EdArea.code)
        )
    }


def _triage(value: object) -> int | None | str:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        return "triage category must be 1 to 5"
    return value


def fold_one(
    state: dict | None, row: LogRow, areas: dict[tuple[int, str], int]
) -> tuple[dict | None, str | None]:
    """One event on one attendance: (new state, None) or (state, why refused)."""
    p = row.payload
    if row.kind == "ed_arrival":
        if state is not None:
            return state, "the attendance has already arrived"
        site_id = p.get("site_id")
        area_id = areas.get((site_id, p.get("area")))
        if area_id is None:
            return state, f"unknown ED area {p.get('area')!r} at site {site_id!r}"
        mode = p.get("mode")
        if mode not in ARRIVAL_MODES:
            return state, f"unknown arrival mode {mode!r}"
        triage = _triage(p.get("triage"))
        if isinstance(triage, str):
            return state, triage
        return {
            **dict.fromkeys(FIELDS),
            "site_id": site_id,
            "area_id": area_id,
            "arrival_at": row.at,
            "mode": mode,
            "triage": triage,
        }, None
    if state is None:
        return state, f"no arrival recorded for attendance {row.subject}"
    if row.at < state["arrival_at"]:
        return state, "the event is before the arrival"
    if state["departure_at"] is not None:
        return state, "the patient has already left the department"
    new = dict(state)
    if row.kind == "ed_triage":
        triage = _triage(p.get("triage"))
        if isinstance(triage, str) or triage is None:
            return state, triage or "triage category must be 1 to 5"
        new["triage"] = triage
    elif row.kind == "ed_seen":
        if state["seen_at"] is not None:
            return state, "the patient has already been seen"
        new["seen_at"] = row.at
    elif row.kind == "ed_decision_to_admit":
        if state["decision_to_admit_at"] is not None:
            return state, "a decision to admit is already recorded"
        new["decision_to_admit_at"] = row.at
    elif row.kind == "ed_handover":
        if state["mode"] != "ambulance":
            return state, "only an ambulance arrival is handed over"
        if state["handover_at"] is not None:
            return state, "the handover is already recorded"
        new["handover_at"] = row.at
    elif row.kind == "ed_area_move":
        area_id = areas.get((state["site_id"], p.get("area")))
        if area_id is None:
            return state, f"unknown ED area {p.get('area')!r}"
        new["area_id"] = area_id
    elif row.kind == "ed_departure":
        disposition = p.get("disposition")
        if disposition not in DISPOSITIONS:
            return state, f"unknown disposition {disposition!r}"
        new["departure_at"] = row.at
        new["disposition"] = disposition
    return new, None


def apply(
    session: Session, rows: list[LogRow], received_at: datetime
) -> dict[str, tuple[str, str | None]]:
    rows.sort(key=ev.order_key)
    by_subject: dict[str, list[LogRow]] = defaultdict(list)
    for r in rows:
        by_subject[r.subject].append(r)
    refs = sorted(by_subject)
    current: dict[str, dict] = {}
    ids: dict[str, int] = {}
    watermark: dict[str, datetime] = {}
    cols = [getattr(EdAttendance, f) for f in FIELDS]
    has_rows = session.scalar(select(EdAttendance.id).limit(1)) is not None
    has_log = (
        session.scalar(select(FlowEvent.id).where(FlowEvent.domain == "ed").limit(1))
        is not None
    )
    if has_rows or has_log:
        for chunk in ev.chunks(refs):
            for row_id, ref, *values in session.execute(
                select(EdAttendance.id, EdAttendance.ref, *cols).where(
                    EdAttendance.ref.in_(chunk)
                )
            ):
                current[ref] = dict(zip(FIELDS, values, strict=True))
                ids[ref] = row_id
            if not has_log:
                continue
            for ref, last in session.execute(
                select(FlowEvent.subject, func.max(FlowEvent.at))
                .where(FlowEvent.domain == "ed", FlowEvent.subject.in_(chunk))
                .group_by(FlowEvent.subject)
            ):
                watermark[ref] = last
    areas = _areas(session)
    ev.insert_rows(session, rows, received_at)
    new_rows, changed, gone = [], [], []
    for ref, items in by_subject.items():
        last = watermark.get(ref)
        cancels = any(r.kind in CANCEL_TARGET for r in items)
        if not cancels and (last is None or items[0].at > last):
            state = current.get(ref)
            for r in items:
                state, why = fold_one(state, r, areas)
                r.status, r.reason = ("refused", why) if why else ("applied", None)
            history = items
        else:
            history = ev.load_rows(
                session, FlowEvent.domain == "ed", FlowEvent.subject == ref
            )
            before = {r.id: (r.status, r.reason, r.voided_by) for r in history}
            state = fold_history(history, areas)
            ev.save_statuses(session, history, before)
            mine = {(r.source, r.key): r for r in history}
            for r in items:
                judged = mine[(r.source, r.key)]
                r.status, r.reason = judged.status, judged.reason
        if state is None:
            if ref in ids:
                gone.append(ids[ref])
        elif ref in ids:
            if state != current.get(ref):
                changed.append({"id": ids[ref], **state})
        else:
            new_rows.append({"ref": ref, **state})
        del history
    if gone:
        session.execute(delete(EdAttendance).where(EdAttendance.id.in_(gone)))
    ev.bulk_insert(session, EdAttendance, new_rows)
    if changed:
        session.execute(
            update(EdAttendance).execution_options(synchronize_session=False), changed
        )
    ev.save_judgements(session, [r for r in rows if r.status != "applied"])
    return {r.key: (r.status, r.reason) for r in rows}


# ---------------------------------------------------------------------------
# One function per real-world event
# ---------------------------------------------------------------------------


def _one(session: Session, source: str, event: Event, received_at) -> Outcome:  # noqa: ANN001
    return ev.apply_event(session, event, source=source, received_at=received_at)


def ed_arrival(
    session: Session, *, at: datetime, source: str, key: str, attendance_ref: str,
    site_id: int, area: str, mode: str, triage: int | None = None,
    received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    """A patient arrived in the ED (``mode``: ambulance or walk_in; ``area`` code)."""
    payload = {"site_id": site_id, "area": area, "mode": mode, "triage": triage}
    event = Event("ed_arrival", at, key, attendance_ref, payload)
    return _one(session, source, event, received_at)


def ed_triage(
    session: Session, *, at: datetime, source: str, key: str, attendance_ref: str,
    triage: int, received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    event = Event("ed_triage", at, key, attendance_ref, {"triage": triage})
    return _one(session, source, event, received_at)


def _stamp(kind: str):  # noqa: ANN202
    def record(
        session: Session, *, at: datetime, source: str, key: str,
        attendance_ref: str, received_at: datetime | None = None,
    ) -> Outcome:  # fmt: skip
        return _one(session, source, Event(kind, at, key, attendance_ref), received_at)

    record.__name__ = kind
    record.__doc__ = f"Record ``{kind}`` for an attendance at ``at``."
    return record


ed_seen = _stamp("ed_seen")
ed_decision_to_admit = _stamp("ed_decision_to_admit")
ed_handover = _stamp("ed_handover")


def ed_area_move(
    session: Session, *, at: datetime, source: str, key: str, attendance_ref: str,
    area: str, received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    event = Event("ed_area_move", at, key, attendance_ref, {"area": area})
    return _one(session, source, event, received_at)


def ed_cancel(
    session: Session, kind: str, *, at: datetime, source: str, key: str,
    attendance_ref: str, area: str | None = None,
    received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    """Cancel the attendance's arrival, latest area move (into ``area`` when given)
    or departure (``kind`` one of ``CANCEL_TARGET``)."""
    if kind not in CANCEL_TARGET:
        raise ev.EventError(f"unknown ED cancel {kind!r}")
    payload = {} if area is None else {"area": area}
    return _one(session, source, Event(kind, at, key, attendance_ref, payload),
                received_at)  # fmt: skip


def ed_departure(
    session: Session, *, at: datetime, source: str, key: str, attendance_ref: str,
    disposition: str, received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    """The patient left the department (admitted, discharged, transferred, left)."""
    payload = {"disposition": disposition}
    event = Event("ed_departure", at, key, attendance_ref, payload)
    return _one(session, source, event, received_at)
