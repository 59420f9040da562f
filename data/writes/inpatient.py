"""Inpatient flow and bed events: the bed board, stays, bed history and hourly roll-up.

All inpatient and bed events of the trust form one history, folded in the canonical
order (``events.order_key``) by :class:`Fold`. Events newer than everything applied
are folded onto the current state; an older one (or a cancel) re-folds the history
from its time: the bed history after it is rewritten, stays and beds it touches are
recomputed, and the hourly roll-up of the hours after it is corrected.

Cancels undo from our own history: ``cancel_admit`` voids the stay's admission,
``cancel_transfer`` its latest transfer (into the named bed, when one is named),
``cancel_discharge`` its latest discharge; the voided event is left out of the fold,
so the stay is as if it never happened. Which event a cancel voids depends only on
that stay's own events, so the result never depends on arrival order.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from data.models.capacity import Bed, BedEvent, InpatientStay, Ward
from data.models.events import FlowEvent
from data.writes import events as ev
from data.writes import merge
from data.writes.events import Event, LogRow, Outcome, iso, parse_time

ORGANISATION_SOURCE = "organisation"
ATTRIBUTE_KINDS = ("set_expected_discharge", "set_criteria_to_reside")
CANCEL_TARGET = {
    "cancel_admit": "admit",
    "cancel_transfer": "transfer",
    "cancel_discharge": "discharge",
}


def bed_subject(bed_id: int) -> str:
    return f"bed:{bed_id}"


@dataclass
class BedInfo:
    id: int
    label: str
    ward_id: int
    site_id: int
    is_escalation: bool
    retired: bool


@dataclass
class BedState:
    state: str
    reason: str | None
    patient_ref: str | None
    since: datetime | None


@dataclass
class StayState:
    ref: str
    patient_ref: str
    bed_id: int | None
    admitted_at: datetime
    placed_at: datetime
    admission_source: str
    open: bool = True
    discharged_at: datetime | None = None
    on_leave_since: datetime | None = None
    ward_id: int | None = None  # the ward, also while no bed is assigned


@dataclass
class Fold:
    """The trust's beds and stays, advanced one event at a time."""

    beds_info: dict[int, BedInfo]
    beds: dict[int, BedState]
    stays: dict[str, StayState]
    wards_info: dict[int, int] = field(default_factory=dict)  # ward -> site
    closed_before: set[str] = field(default_factory=set)  # stays discharged before
    bed_rows: list[dict] = field(default_factory=list)
    touched_beds: set[int] = field(default_factory=set)
    touched_stays: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)  # merged patient refs
    merge_rows: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.patient_stay = {
            s.patient_ref: s.ref for s in self.stays.values() if s.open
        }

    # -- bed state changes -------------------------------------------------
    def _set(
        self,
        bed_id: int,
        state: str,
        at: datetime,
        source: str,
        patient_ref: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.beds[bed_id] = BedState(state, reason, patient_ref, at)
        self.touched_beds.add(bed_id)
        self.bed_rows.append(
            {
                "bed_id": bed_id,
                "at": at,
                "state": state,
                "patient_ref": patient_ref,
                "reason": reason,
                "source": source,
            }
        )

    def _label(self, bed_id: int) -> str:
        info = self.beds_info.get(bed_id)
        return info.label if info else f"#{bed_id}"

    def _bed(self, row: LogRow) -> tuple[int | None, str | None]:
        bed_id = row.payload.get("bed_id")
        if not isinstance(bed_id, int) or bed_id not in self.beds_info:
            return None, f"unknown bed {bed_id!r}"
        if self.beds_info[bed_id].retired:
            return None, f"bed {self._label(bed_id)} is retired"
        if bed_id not in self.beds:
            return None, f"bed {self._label(bed_id)} did not exist yet"
        return bed_id, None

    def _place(self, row: LogRow) -> tuple[int | None, int | None, str | None]:
        """Where an admission or transfer puts the patient: (bed, ward, why refused).
        A PAS may name a ward before a bed is assigned (``ward_id`` instead)."""
        if row.payload.get("bed_id") is None and row.payload.get("ward_id") is not None:
            ward_id = row.payload["ward_id"]
            if not isinstance(ward_id, int) or ward_id not in self.wards_info:
                return None, None, f"unknown ward {ward_id!r}"
            return None, ward_id, None
        bed_id, why = self._bed(row)
        if why:
            return None, None, why
        return bed_id, self.beds_info[bed_id].ward_id, None

    def _open_stay(self, ref: str) -> StayState | None:
        stay = self.stays.get(ref)
        return stay if stay is not None and stay.open else None

    # -- the rules -----------------------------------------------------------
    def apply(self, row: LogRow) -> str | None:
        """Fold one event; returns None if applied, else why it was refused."""
        handler = getattr(self, f"_on_{row.kind}")
        return handler(row)

    def _on_admit(self, row: LogRow) -> str | None:
        p = row.payload
        patient = merge.resolve(self.aliases, p.get("patient_ref"))
        if not patient:
            return "an admission needs a patient reference"
        bed_id, ward_id, why = self._place(row)
        if why:
            return why
        stay = self.stays.get(row.subject)
        if stay is not None and stay.open:
            return f"stay {row.subject} is already admitted"
        if stay is not None or row.subject in self.closed_before:
            return f"stay {row.subject} was discharged (a cancel discharge re-opens it)"
        other = self.patient_stay.get(patient)
        if other is not None:
            return f"the patient already has an open stay ({other})"
        if bed_id is not None and self.beds[bed_id].patient_ref is not None:
            return f"bed {self._label(bed_id)} is held by another patient"
        admitted = parse_time(p.get("admitted_at")) or row.at
        self.stays[row.subject] = StayState(
            row.subject,
            patient,
            bed_id,
            min(admitted, row.at),
            row.at,
            p.get("admission_source") or "ed",
            ward_id=ward_id,
        )
        self.patient_stay[patient] = row.subject
        self.touched_stays.add(row.subject)
        if bed_id is not None:
            self._set(bed_id, "occupied", row.at, row.source, patient_ref=patient)
        return None

    def _on_transfer(self, row: LogRow) -> str | None:
        stay = self._open_stay(row.subject)
        if stay is None:
            return f"stay {row.subject} is not admitted"
        bed_id, ward_id, why = self._place(row)
        if why:
            return why
        if bed_id is None:
            if stay.bed_id is None and ward_id == stay.ward_id:
                return "the patient is already on that ward"
        elif bed_id == stay.bed_id:
            return f"the patient is already in bed {self._label(bed_id)}"
        elif self.beds[bed_id].patient_ref not in (None, stay.patient_ref):
            return f"bed {self._label(bed_id)} is held by another patient"
        if stay.bed_id is not None:
            self._set(stay.bed_id, "awaiting_clean", row.at, row.source)
        stay.bed_id, stay.ward_id = bed_id, ward_id
        self.touched_stays.add(stay.ref)
        if bed_id is not None:
            self._set(
                bed_id, "occupied", row.at, row.source, patient_ref=stay.patient_ref
            )
        return None

    def _on_discharge(self, row: LogRow) -> str | None:
        stay = self._open_stay(row.subject)
        if stay is None:
            return f"stay {row.subject} is not admitted"
        if stay.bed_id is not None:
            self._set(stay.bed_id, "awaiting_clean", row.at, row.source)
        stay.open = False
        stay.discharged_at = row.at
        stay.on_leave_since = None
        self.patient_stay.pop(stay.patient_ref, None)
        self.touched_stays.add(stay.ref)
        return None

    def _on_merge_patients(self, row: LogRow) -> str | None:
        """From ``row.at`` the prior reference is the surviving patient's: its open
        stay and the bed it holds change hands (``data.writes.merge``)."""
        p = row.payload
        surviving = merge.resolve(self.aliases, p.get("patient_ref"))
        prior = merge.resolve(self.aliases, p.get("prior_patient_ref"))
        if not surviving or not prior:
            return "a merge needs both patient references"
        if surviving == prior:
            return merge.NOTHING_TO_MERGE
        kept, moved = self.patient_stay.get(surviving), self.patient_stay.get(prior)
        if kept is not None and moved is not None:
            return (
                f"both patient references have an open stay ({kept}, {moved}): "
                "one must be discharged or cancelled first"
            )
        self.aliases[prior] = surviving
        self.merge_rows.append(
            {"prior_ref": prior, "surviving_ref": surviving, "merged_at": row.at,
             "source": row.source, "event_key": row.key}
        )  # fmt: skip
        if moved is not None:
            stay = self.stays[moved]
            stay.patient_ref = surviving
            del self.patient_stay[prior]
            self.patient_stay[surviving] = moved
            self.touched_stays.add(moved)
            if stay.bed_id is not None:
                self._set(stay.bed_id, "occupied", row.at, row.source,
                          patient_ref=surviving)  # fmt: skip
        return None

    def _on_swap_beds(self, row: LogRow) -> str | None:
        a = self._open_stay(row.subject)
        b = self._open_stay(row.related or "")
        if a is None or b is None:
            return "both stays of a swap must be admitted"
        if a is b or a.bed_id is None or b.bed_id is None:
            return "a swap needs two patients in two beds"
        a.bed_id, b.bed_id = b.bed_id, a.bed_id
        a.ward_id, b.ward_id = b.ward_id, a.ward_id
        self.touched_stays.update((a.ref, b.ref))
        self._set(a.bed_id, "occupied", row.at, row.source, patient_ref=a.patient_ref)
        self._set(b.bed_id, "occupied", row.at, row.source, patient_ref=b.patient_ref)
        return None

    def _on_leave_start(self, row: LogRow) -> str | None:
        stay = self._open_stay(row.subject)
        if stay is None:
            return f"stay {row.subject} is not admitted"
        if stay.on_leave_since is not None:
            return "the patient is already on leave"
        stay.on_leave_since = row.at
        self.touched_stays.add(stay.ref)
        return None

    def _on_leave_end(self, row: LogRow) -> str | None:
        stay = self._open_stay(row.subject)
        if stay is None:
            return f"stay {row.subject} is not admitted"
        if stay.on_leave_since is None:
            return "the patient is not on leave"
        stay.on_leave_since = None
        self.touched_stays.add(stay.ref)
        return None

    def _bed_event(self, row: LogRow) -> tuple[int | None, BedState | None, str | None]:
        try:
            bed_id = int(row.subject.removeprefix("bed:"))
        except ValueError:
            return None, None, f"unknown bed {row.subject!r}"
        row.payload.setdefault("bed_id", bed_id)
        bed_id, why = self._bed(row)
        if why:
            return None, None, why
        return bed_id, self.beds[bed_id], None

    def _free_bed_change(
        self, row: LogRow, state: str, *, require: tuple[str, ...] | None = None,
        reason: str | None = None, escalation: bool = False,
    ) -> str | None:  # fmt: skip
        bed_id, bed, why = self._bed_event(row)
        if why:
            return why
        if escalation and not self.beds_info[bed_id].is_escalation:
            return f"bed {self._label(bed_id)} is not an escalation bed"
        if bed.patient_ref is not None:
            return f"bed {self._label(bed_id)} holds a patient"
        if require is not None and bed.state not in require:
            return f"bed {self._label(bed_id)} is {bed.state.replace('_', ' ')}"
        self._set(bed_id, state, row.at, row.source, reason=reason)
        return None

    def _on_cleaning_requested(self, row: LogRow) -> str | None:
        return self._free_bed_change(row, "awaiting_clean")

    def _on_cleaning_done(self, row: LogRow) -> str | None:
        return self._free_bed_change(row, "available", require=("awaiting_clean",))

    def _on_bed_blocked(self, row: LogRow) -> str | None:
        return self._free_bed_change(row, "blocked", reason=row.payload.get("reason"))

    def _on_bed_unblocked(self, row: LogRow) -> str | None:
        return self._free_bed_change(row, "available", require=("blocked",))

    def _on_bed_closed(self, row: LogRow) -> str | None:
        return self._free_bed_change(row, "closed", reason=row.payload.get("reason"))

    def _on_bed_opened(self, row: LogRow) -> str | None:
        return self._free_bed_change(row, "available", require=("closed",))

    def _on_escalation_opened(self, row: LogRow) -> str | None:
        return self._free_bed_change(
            row, "available", require=("closed",), escalation=True,
            reason=row.payload.get("reason") or "escalation opened",
        )  # fmt: skip

    def _on_escalation_closed(self, row: LogRow) -> str | None:
        return self._free_bed_change(
            row, "closed", escalation=True,
            reason=row.payload.get("reason") or "escalation stood down",
        )  # fmt: skip

    def _on_cancel(self, row: LogRow) -> str | None:  # judged by the void pass
        return None

    _on_cancel_admit = _on_cancel_transfer = _on_cancel_discharge = _on_cancel


def fold_rows(fold: Fold, rows: list[LogRow]) -> None:
    """Fold rows (in the canonical order) and judge each. Within one instant a refused
    event is tried again after the others of that instant (a discharge and the next
    admission to the same bed in the same second), until nothing more applies."""
    i = 0
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j].at == rows[i].at:
            j += 1
        pending = rows[i:j]
        while pending:
            refused = []
            for row in pending:
                why = fold.apply(row)
                if why:
                    refused.append((row, why))
                else:
                    row.status, row.reason = "applied", None
            if len(refused) == len(pending):
                for row, why in refused:
                    row.status, row.reason = "refused", why
                break
            pending = [row for row, _ in refused]
        i = j


# ---------------------------------------------------------------------------
# Applying a batch
# ---------------------------------------------------------------------------


def apply(
    session: Session, rows: list[LogRow], received_at: datetime
) -> dict[str, tuple[str, str | None]]:
    rows.sort(key=ev.order_key)
    watermark = session.scalar(
        select(func.max(FlowEvent.at)).where(FlowEvent.domain == "inpatient")
    )
    fast = (watermark is None or rows[0].at > watermark) and not any(
        r.kind in CANCEL_TARGET for r in rows
    )
    if fast:
        return _apply_in_order(session, rows, received_at)
    return _apply_with_replay(session, rows, received_at)


def _beds_info(session: Session) -> dict[int, BedInfo]:
    return {
        r.id: BedInfo(r.id, r.label, r.ward_id, r.site_id, r.is_escalation, r.retired)
        for r in session.execute(
            select(
                Bed.id,
                Bed.label,
                Bed.ward_id,
                Ward.site_id,
                Bed.is_escalation,
                _retired_expr().label("retired"),
            ).join(Ward, Ward.id == Bed.ward_id)
        )
    }


def _wards_info(session: Session) -> dict[int, int]:
    return {w: site for w, site in session.execute(select(Ward.id, Ward.site_id))}


def _retired_expr():  # noqa: ANN202
    """True for a retired bed (or a bed on a retired ward), where the schema has it."""
    from sqlalchemy import false

    cols = []
    for model in (Bed, Ward):
        col = getattr(model, "retired_at", None)
        if col is not None:
            cols.append(col.is_not(None))
    return or_(*cols) if cols else false()


def _apply_in_order(
    session: Session, rows: list[LogRow], received_at: datetime
) -> dict[str, tuple[str, str | None]]:
    """Every event is newer than the history: fold onto the current state."""
    info = _beds_info(session)
    beds = {
        r.id: BedState(r.state, r.state_reason, r.patient_ref, r.state_since)
        for r in session.execute(
            select(
                Bed.id, Bed.state, Bed.state_reason, Bed.patient_ref, Bed.state_since
            )
        )
    }
    stays = {}
    for s in session.scalars(
        select(InpatientStay).where(InpatientStay.discharged_at.is_(None))
    ):
        stays[s.stay_ref] = StayState(
            s.stay_ref,
            s.patient_ref,
            s.bed_id,
            s.admitted_at,
            s.admitted_at,
            s.admission_source,
            on_leave_since=s.on_leave_since,
            ward_id=s.ward_id,
        )
    admits = [r.subject for r in rows if r.kind == "admit" and r.subject not in stays]
    fold = Fold(
        info, beds, stays, _wards_info(session),
        closed_before=_existing_stays(session, admits),
        aliases=merge.load_aliases(session),
    )  # fmt: skip
    attributes: dict[str, list[LogRow]] = defaultdict(list)
    for row in rows:
        if row.kind in ATTRIBUTE_KINDS:
            attributes[row.subject].append(row)
    fold_rows(fold, [r for r in rows if r.kind not in ATTRIBUTE_KINDS])
    _judge_attributes(fold, attributes, set())
    merge.write_merges(session, fold.merge_rows)
    _write_stays(session, fold, attributes, replace=False)
    _write_beds(session, fold)
    ev.bulk_insert(session, BedEvent, fold.bed_rows)
    ev.insert_rows(session, rows, received_at)
    if fold.bed_rows:
        from data.writes.rollup import recompute_from

        # Hours already rolled up after these events (the roll-up follows the
        # newest event of any domain) are corrected.
        recompute_from(session, min(r["at"] for r in fold.bed_rows))
    return {r.key: (r.status, r.reason) for r in rows}


def _existing_stays(session: Session, refs: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in ev.chunks(refs):
        found.update(
            session.scalars(
                select(InpatientStay.stay_ref).where(InpatientStay.stay_ref.in_(chunk))
            )
        )
    return found


def _judge_attributes(
    fold: Fold, attributes: dict[str, list[LogRow]], known_stays: set[str]
) -> None:
    """Attribute updates apply to a stay that exists (admitted at some time)."""
    for ref, items in attributes.items():
        exists = ref in fold.stays or ref in fold.closed_before or ref in known_stays
        for row in items:
            if exists:
                row.status, row.reason = "applied", None
            else:
                row.status, row.reason = "refused", f"unknown stay {ref}"


def _attribute_values(rows: list[LogRow]) -> dict[str, object]:
    values: dict[str, object] = {}
    for row in sorted(rows, key=ev.order_key):
        if row.status != "applied":
            continue
        p = row.payload
        if row.kind == "set_expected_discharge":
            values["expected_discharge_at"] = parse_time(p.get("expected_discharge_at"))
        else:
            meets = bool(p.get("meets_criteria"))
            since = parse_time(p.get("since")) if p.get("since") else None
            values["medically_ready_at"] = None if meets else (since or row.at)
            values["discharge_pathway"] = None if meets else p.get("pathway")
            values["delay_reason"] = None if meets else p.get("delay_reason")
    return values


def _write_stays(
    session: Session,
    fold: Fold,
    attributes: dict[str, list[LogRow]],
    *,
    replace: bool,
    all_attributes: dict[str, list[LogRow]] | None = None,
) -> None:
    """Insert or update the stays the fold touched (and their attribute values)."""
    refs = set(fold.touched_stays) | set(attributes)
    if not refs:
        return
    existing = {}
    for chunk in ev.chunks(sorted(refs)):
        for row_id, ref in session.execute(
            select(InpatientStay.id, InpatientStay.stay_ref).where(
                InpatientStay.stay_ref.in_(chunk)
            )
        ):
            existing[ref] = row_id
    new, changed = [], []
    for ref in refs:
        stay = fold.stays.get(ref)
        attrs = _attribute_values((all_attributes or attributes).get(ref, []))
        if stay is None:
            if ref in existing and attrs:
                changed.append({"id": existing[ref], **attrs})
            continue
        values: dict[str, object] = {}
        if ref in fold.touched_stays:
            info = fold.beds_info.get(stay.bed_id) if stay.bed_id else None
            values.update(
                bed_id=stay.bed_id,
                discharged_at=stay.discharged_at,
                on_leave_since=stay.on_leave_since,
                patient_ref=stay.patient_ref,  # a merge may change it
            )
            if info is not None:
                values.update(ward_id=info.ward_id, site_id=info.site_id)
            elif stay.ward_id in fold.wards_info:
                values.update(
                    ward_id=stay.ward_id, site_id=fold.wards_info[stay.ward_id]
                )
        values.update(attrs)
        if ref in existing:
            if replace and ref in fold.touched_stays:
                values.update(
                    admitted_at=stay.admitted_at,
                    admission_source=stay.admission_source,
                    patient_ref=stay.patient_ref,
                )
            changed.append({"id": existing[ref], **values})
        else:
            values.update(
                stay_ref=ref,
                patient_ref=stay.patient_ref,
                admitted_at=stay.admitted_at,
                admission_source=stay.admission_source,
            )
            values.setdefault("expected_discharge_at", None)
            values.setdefault("medically_ready_at", None)
            values.setdefault("discharge_pathway", None)
            values.setdefault("delay_reason", None)
            new.append(values)
    ev.bulk_insert(session, InpatientStay, new)
    for group in _by_columns(changed):
        session.execute(
            update(InpatientStay).execution_options(synchronize_session=False), group
        )


def _by_columns(rows: list[dict]) -> list[list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(row))].append(row)
    return list(groups.values())


def _write_beds(session: Session, fold: Fold) -> None:
    """Current bed state of every bed the fold touched (clear holders first: unique)."""
    if not fold.touched_beds:
        return
    table = Bed.__table__
    ids = sorted(fold.touched_beds)
    session.execute(
        table.update().where(table.c.id == bindparam("b_id")).values(patient_ref=None),
        [{"b_id": i} for i in ids],
    )
    session.execute(
        table.update()
        .where(table.c.id == bindparam("b_id"))
        .values(
            state=bindparam("b_state"),
            state_since=bindparam("b_since"),
            state_reason=bindparam("b_reason"),
            patient_ref=bindparam("b_patient"),
            version=table.c.version + 1,
        ),
        [
            {
                "b_id": i,
                "b_state": fold.beds[i].state,
                "b_since": fold.beds[i].since,
                "b_reason": fold.beds[i].reason,
                "b_patient": fold.beds[i].patient_ref,
            }
            for i in ids
        ],
    )


# ---------------------------------------------------------------------------
# Out of order: re-fold the history from the earliest time affected
# ---------------------------------------------------------------------------


def _stay_refs(rows: list[LogRow]) -> set[str]:
    refs = set()
    for r in rows:
        if r.kind in CANCEL_TARGET or r.kind in INPATIENT_STAY_KINDS:
            refs.add(r.subject)
            if r.related:
                refs.add(r.related)
    return refs


INPATIENT_STAY_KINDS = set(ev.INPATIENT_KINDS)


def _voids(rows: list[LogRow]) -> dict[int, int]:
    """target event id -> id of the cancel that voids it, for one stay's events."""
    voided: dict[int, int] = {}
    ordered = sorted(rows, key=ev.order_key)
    for i, cancel in enumerate(ordered):
        target_kind = CANCEL_TARGET.get(cancel.kind)
        if target_kind is None:
            continue
        for target in reversed(ordered[:i]):
            if target.kind == target_kind and target.id not in voided:
                named = cancel.payload.get("bed_id")
                if (
                    target_kind == "transfer"
                    and named is not None
                    and (target.payload.get("bed_id") != named)
                ):
                    break
                voided[target.id] = cancel.id
                break
    return voided


def _apply_with_replay(
    session: Session, rows: list[LogRow], received_at: datetime
) -> dict[str, tuple[str, str | None]]:
    ev.insert_rows(session, rows, received_at)
    start = rows[0].at
    refs = _stay_refs(rows)
    if refs:
        history: dict[str, list[LogRow]] = defaultdict(list)
        for chunk in ev.chunks(sorted(refs)):
            for r in ev.load_rows(
                session,
                FlowEvent.domain == "inpatient",
                or_(FlowEvent.subject.in_(chunk), FlowEvent.related.in_(chunk)),
            ):
                history[r.subject].append(r)
        by_id = {}
        for items in history.values():
            for r in items:
                by_id[r.id] = r
        voided: dict[int, int] = {}
        for ref, items in history.items():
            if ref in refs:
                voided.update(_voids(items))
        changes = []
        for r in by_id.values():
            new = voided.get(r.id)
            if r.subject in refs and new != r.voided_by:
                changes.append({"id": r.id, "voided_by": new})
                start = min(start, r.at)
        if changes:
            session.execute(
                update(FlowEvent).execution_options(synchronize_session=False), changes
            )
    replay(session, start)
    keys = [r.key for r in rows]
    source = rows[0].source
    out = {}
    for chunk in ev.chunks(keys):
        for key, status, reason in session.execute(
            select(FlowEvent.key, FlowEvent.status, FlowEvent.reason).where(
                FlowEvent.source == source, FlowEvent.key.in_(chunk)
            )
        ):
            out[key] = (status, reason)
    return out


def replay(session: Session, start: datetime) -> None:
    """Re-fold every inpatient and bed event at or after ``start``."""
    log = ev.load_rows(session, FlowEvent.domain == "inpatient", FlowEvent.at >= start)
    before = {r.id: (r.status, r.reason, r.voided_by) for r in log}
    info = _beds_info(session)
    beds = _bed_states_before(session, start)
    aliases = merge.load_aliases(session, before=start)
    stays, closed_before = _stays_before(session, start, beds, log, info, aliases)
    fold = Fold(
        info, beds, stays, _wards_info(session), closed_before=closed_before,
        aliases=aliases,
    )  # fmt: skip
    attributes: dict[str, list[LogRow]] = defaultdict(list)
    judged_cancels: list[LogRow] = []
    foldable: list[LogRow] = []
    for row in log:
        if row.kind in ATTRIBUTE_KINDS:
            attributes[row.subject].append(row)
            continue
        if row.voided_by is not None:
            row.status, row.reason = "void", "cancelled by a later event"
            fold.touched_stays.add(row.subject)
            continue
        if row.kind in CANCEL_TARGET:
            judged_cancels.append(row)
            continue
        foldable.append(row)
    fold_rows(fold, foldable)
    voiders = {r.voided_by for r in log if r.voided_by is not None}
    voiders |= _voiders_before(session, [r.id for r in judged_cancels])
    for row in judged_cancels:
        if row.id in voiders:
            row.status, row.reason = "applied", None
        else:
            row.status = "refused"
            row.reason = f"nothing to cancel for stay {row.subject}"
    # Stays that an admission now refused or voided no longer exist.
    gone = {
        r.subject
        for r in log
        if r.kind == "admit" and r.status != "applied" and r.subject not in fold.stays
    }
    known = _existing_stays(session, sorted(attributes))
    _judge_attributes(fold, attributes, known - gone)
    all_attributes = _all_attributes(session, set(attributes) | fold.touched_stays)
    for items in all_attributes.values():  # this fold's judgement wins
        for r in items:
            for mine in attributes.get(r.subject, ()):
                if mine.id == r.id:
                    r.status = mine.status
    session.execute(
        delete(BedEvent).where(
            BedEvent.at >= start, BedEvent.source != ORGANISATION_SOURCE
        )
    )
    ev.bulk_insert(session, BedEvent, fold.bed_rows)
    merge.write_merges(session, fold.merge_rows, since=start)
    _reset_beds(session, fold, start)
    if gone:
        session.execute(
            delete(InpatientStay).where(InpatientStay.stay_ref.in_(sorted(gone)))
        )
    _write_stays(session, fold, attributes, replace=True, all_attributes=all_attributes)
    ev.save_statuses(session, log, before)
    from data.writes.rollup import recompute_from

    recompute_from(session, start)


def _voiders_before(session: Session, ids: list[int]) -> set[int]:
    found: set[int] = set()
    for chunk in ev.chunks(ids):
        found.update(
            session.scalars(
                select(FlowEvent.voided_by).where(FlowEvent.voided_by.in_(chunk))
            )
        )
    return found


def _all_attributes(session: Session, refs: set[str]) -> dict[str, list[LogRow]]:
    out: dict[str, list[LogRow]] = defaultdict(list)
    for chunk in ev.chunks(sorted(refs)):
        for r in ev.load_rows(
            session,
            FlowEvent.domain == "inpatient",
            FlowEvent.kind.in_(ATTRIBUTE_KINDS),
            FlowEvent.subject.in_(chunk),
        ):
            out[r.subject].append(r)
    return out


def _bed_states_before(session: Session, start: datetime) -> dict[int, BedState]:
    """Each bed's state just before ``start``, from its history (the latest row by
    time, then by id: rows of one instant are written in the canonical order)."""
    last = (
        select(BedEvent.bed_id, func.max(BedEvent.at).label("at"))
        .where(BedEvent.at < start)
        .group_by(BedEvent.bed_id)
        .subquery()
    )
    best: dict[int, tuple[int, BedState]] = {}
    for bed_id, row_id, at, state, reason, patient in session.execute(
        select(BedEvent.bed_id, BedEvent.id, BedEvent.at, BedEvent.state,
               BedEvent.reason, BedEvent.patient_ref)
        .join(last, (last.c.bed_id == BedEvent.bed_id) & (last.c.at == BedEvent.at))
    ):  # fmt: skip
        if bed_id not in best or row_id > best[bed_id][0]:
            best[bed_id] = (row_id, BedState(state, reason, patient, at))
    states = {bed_id: v[1] for bed_id, v in best.items()}
    # Beds created at or after ``start`` begin with their first (organisation) row.
    for bed_id, at, state, reason in session.execute(
        select(BedEvent.bed_id, BedEvent.at, BedEvent.state, BedEvent.reason)
        .where(BedEvent.source == ORGANISATION_SOURCE, BedEvent.at >= start)
        .order_by(BedEvent.at, BedEvent.id)
    ):
        states.setdefault(bed_id, BedState(state, reason, None, at))
    return states


def _stays_before(
    session: Session,
    start: datetime,
    beds: dict[int, BedState],
    log: list[LogRow],
    info: dict[int, BedInfo],
    aliases: dict[str, str] | None = None,
) -> tuple[dict[str, StayState], set[str]]:
    """Stays open just before ``start`` and the refs of stays closed before it. A
    stay's patient is the one its admission named, through the merges before
    ``start`` (a later merge may have renamed the row since)."""
    in_bed = {b.patient_ref: bed_id for bed_id, b in beds.items() if b.patient_ref}
    candidates = session.scalars(
        select(InpatientStay).where(
            or_(
                InpatientStay.discharged_at.is_(None),
                InpatientStay.discharged_at >= start,
            )
        )
    ).all()
    placed: dict[str, datetime] = {}
    ward_of: dict[str, int | None] = {}
    leave: dict[str, datetime | None] = {}
    named: dict[str, str | None] = {}
    refs = [s.stay_ref for s in candidates]
    for chunk in ev.chunks(refs):
        for subject, kind, at, payload in session.execute(
            select(FlowEvent.subject, FlowEvent.kind, FlowEvent.at, FlowEvent.payload)
            .where(
                FlowEvent.domain == "inpatient",
                FlowEvent.subject.in_(chunk),
                FlowEvent.kind.in_(("admit", "transfer", "leave_start", "leave_end")),
                FlowEvent.status == "applied",
                FlowEvent.at < start,
            )
            .order_by(FlowEvent.at)
        ):
            if kind in ("admit", "transfer"):
                if kind == "admit":
                    placed[subject] = at
                    named[subject] = (payload or {}).get("patient_ref")
                ward_of[subject] = (payload or {}).get("ward_id")
            else:
                leave[subject] = at if kind == "leave_start" else None
    stays = {}
    for s in candidates:
        if s.stay_ref not in placed:
            continue  # admitted at or after start: the replay admits it again
        patient = merge.resolve(aliases or {}, named.get(s.stay_ref)) or s.patient_ref
        bed_id = in_bed.get(patient)
        stays[s.stay_ref] = StayState(
            s.stay_ref,
            patient,
            bed_id,
            s.admitted_at,
            placed[s.stay_ref],
            s.admission_source,
            on_leave_since=leave.get(s.stay_ref),
            ward_id=info[bed_id].ward_id if bed_id in info else ward_of.get(s.stay_ref),
        )
    admits = [r.subject for r in log if r.kind == "admit" and r.subject not in stays]
    closed = _existing_stays(session, admits)
    closed_before = {
        ref for ref in closed if ref not in {s.stay_ref for s in candidates}
    }
    return stays, closed_before


def _reset_beds(session: Session, fold: Fold, start: datetime) -> None:
    """Beds whose history after ``start`` changed get their state from the fold."""
    changed = set(fold.touched_beds)
    changed.update(session.scalars(select(Bed.id).where(Bed.state_since >= start)))
    fold.touched_beds = {b for b in changed if b in fold.beds}
    _write_beds(session, fold)


# ---------------------------------------------------------------------------
# One function per real-world event
# ---------------------------------------------------------------------------


def _one(session: Session, source: str, event: Event, received_at) -> Outcome:  # noqa: ANN001
    return ev.apply_event(session, event, source=source, received_at=received_at)


def admit(
    session: Session, *, at: datetime, source: str, key: str, stay_ref: str,
    patient_ref: str, bed_id: int | None = None, ward_id: int | None = None,
    admission_source: str = "ed", admitted_at: datetime | None = None,
    received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    """The patient of ``stay_ref`` was admitted to bed ``bed_id`` (or to ward
    ``ward_id`` before a bed is assigned)."""
    payload = {
        "patient_ref": patient_ref,
        "bed_id": bed_id,
        "ward_id": ward_id,
        "admission_source": admission_source,
        "admitted_at": iso(admitted_at),
    }
    return _one(
        session, source, Event("admit", at, key, stay_ref, payload), received_at
    )


def transfer(
    session: Session, *, at: datetime, source: str, key: str, stay_ref: str,
    bed_id: int | None = None, ward_id: int | None = None,
    received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    """The patient moved to bed ``bed_id`` (or to ward ``ward_id``, no bed yet); the
    bed left waits for cleaning."""
    payload = {"bed_id": bed_id, "ward_id": ward_id}
    event = Event("transfer", at, key, stay_ref, payload)
    return _one(session, source, event, received_at)


def discharge(
    session: Session, *, at: datetime, source: str, key: str, stay_ref: str,
    received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    return _one(session, source, Event("discharge", at, key, stay_ref), received_at)


def cancel_admit(
    session: Session, *, at: datetime, source: str, key: str, stay_ref: str,
    received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    return _one(session, source, Event("cancel_admit", at, key, stay_ref), received_at)


def cancel_transfer(
    session: Session, *, at: datetime, source: str, key: str, stay_ref: str,
    bed_id: int | None = None, received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    """Undo the stay's latest transfer (into ``bed_id`` when given)."""
    payload = {} if bed_id is None else {"bed_id": bed_id}
    event = Event("cancel_transfer", at, key, stay_ref, payload)
    return _one(session, source, event, received_at)


def cancel_discharge(
    session: Session, *, at: datetime, source: str, key: str, stay_ref: str,
    received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    event = Event("cancel_discharge", at, key, stay_ref)
    return _one(session, source, event, received_at)


def swap_beds(
    session: Session, *, at: datetime, source: str, key: str, stay_ref: str,
    other_stay_ref: str, received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    event = Event("swap_beds", at, key, stay_ref, related=other_stay_ref)
    return _one(session, source, event, received_at)


def leave_start(
    session: Session, *, at: datetime, source: str, key: str, stay_ref: str,
    received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    """Leave of absence: the patient is away, the bed is held."""
    return _one(session, source, Event("leave_start", at, key, stay_ref), received_at)


def leave_end(
    session: Session, *, at: datetime, source: str, key: str, stay_ref: str,
    received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    return _one(session, source, Event("leave_end", at, key, stay_ref), received_at)


def set_expected_discharge(
    session: Session, *, at: datetime, source: str, key: str, stay_ref: str,
    expected_discharge_at: datetime | None, received_at: datetime | None = None,
    by: str | None = None,
) -> Outcome:  # fmt: skip
    """Expected discharge date set (``by``: who, when a person set it)."""
    payload = {"expected_discharge_at": iso(expected_discharge_at)}
    if by is not None:
        payload["by"] = by
    event = Event("set_expected_discharge", at, key, stay_ref, payload)
    return _one(session, source, event, received_at)


def set_criteria_to_reside(
    session: Session, *, at: datetime, source: str, key: str, stay_ref: str,
    meets_criteria: bool, pathway: str | None = None,
    received_at: datetime | None = None, delay_reason: str | None = None,
    by: str | None = None, since: datetime | None = None,
) -> Outcome:  # fmt: skip
    """Criteria to reside reviewed: not met means medically ready from ``at``, with
    the discharge pathway and the reason for delay (config/discharge.yaml)."""
    if pathway is not None and pathway not in ("P0", "P1", "P2", "P3"):
        raise ev.EventError(f"unknown discharge pathway {pathway!r}")
    if delay_reason is not None and not (0 < len(delay_reason) <= 64):
        raise ev.EventError("a delay reason is 1 to 64 characters")
    payload: dict = {"meets_criteria": meets_criteria, "pathway": pathway}
    if delay_reason is not None:
        payload["delay_reason"] = delay_reason
    if by is not None:
        payload["by"] = by
    if since is not None and not meets_criteria:
        payload["since"] = iso(since)  # no criteria to reside from an earlier review
    event = Event("set_criteria_to_reside", at, key, stay_ref, payload)
    return _one(session, source, event, received_at)


def bed_event(
    session: Session, kind: str, *, at: datetime, source: str, key: str, bed_id: int,
    reason: str | None = None, received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    """A bed's own event: cleaning requested/done, blocked/unblocked, closed/opened,
    escalation opened/closed (``kind`` from ``events.BED_KINDS``)."""
    if kind not in ev.BED_KINDS:
        raise ev.EventError(f"unknown bed event {kind!r}")
    payload = {} if reason is None else {"reason": reason}
    event = Event(kind, at, key, bed_subject(bed_id), payload)
    return _one(session, source, event, received_at)


def change_class_to_inpatient(
    session: Session, *, at: datetime, source: str, key: str, attendance_ref: str,
    stay_ref: str, patient_ref: str, bed_id: int | None = None,
    ward_id: int | None = None, received_at: datetime | None = None,
) -> list[Outcome]:  # fmt: skip
    """Patient class changed from ED to inpatient (HL7 A06): the attendance ends as
    admitted and the stay begins, at ``at``, in one call (keys ``key:ed``, ``key:admit``)."""
    events = [
        Event("ed_departure", at, f"{key}:ed", attendance_ref,
              {"disposition": "admitted"}),
        Event("admit", at, f"{key}:admit", stay_ref,
              {"patient_ref": patient_ref, "bed_id": bed_id, "ward_id": ward_id,
               "admission_source": "ed"}),
    ]  # fmt: skip
    return ev.apply_events(session, events, source=source, received_at=received_at)
