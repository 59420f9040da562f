"""One parser/validator per kind of file: mapped rows -> events or row errors.

Pure: each is given the organisation's codes (``OrgCodes``) and, where the file is
checked against what is known (bed snapshot, sitrep), those facts as values. Patient,
visit and case identifiers are pseudonymised with the feeds' key exactly as the HL7
feed does (``feeds.hl7.mapping.digest``), so a spell number in a sitrep names the
stay an ADT admission created.

Event keys are built from what the event says (subject, kind, time and details): the
same row in a later file is a duplicate for the event layer, and a row whose times
changed is a new event that the layer judges (a second arrival for one attendance is
refused, and then the whole file is).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from data.queries.imports import BedAt, OrgCodes, norm
from data.writes.events import Event, iso
from feeds.csv.parse import Cells, Field, RowError, Rows, choices, duplicates, shown
from feeds.hl7.mapping import digest


@dataclass
class Plan:
    events: list[Event] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    event_rows: dict[str, int] = field(default_factory=dict)  # event key -> row

    def add(self, row: int, kind: str, at: datetime, subject: str,
            payload: dict | None = None, related: str | None = None) -> None:  # fmt: skip
        payload = payload or {}
        body = json.dumps([at.isoformat(), payload, related], sort_keys=True)
        key = f"{subject}:{kind}:{hashlib.sha256(body.encode()).hexdigest()[:16]}"
        self.events.append(Event(kind, at, key, subject, payload, related))
        self.event_rows[key] = row
        self.counts[kind] = self.counts.get(kind, 0) + 1


@dataclass(frozen=True)
class Context:
    org: OrgCodes
    tz: ZoneInfo
    fmt: str
    key: bytes
    reasons: tuple[str, ...] = ()  # the sitrep's delay reasons (config/discharge.yaml)


def _site(cells: Cells, ctx: Context) -> int | None:
    code = cells.code("site")
    if not code:
        return ctx.org.only_site
    sid = ctx.org.sites.get(norm(code))
    if sid is None:
        cells.error("site", f"unknown site {shown(code)}")
    return sid


def _pick(
    cells: Cells, name: str, found: list[tuple[int, object]], site_id: int | None,
    what: str, code: str,
) -> object | None:  # fmt: skip
    options = [v for sid, v in found if site_id is None or sid == site_id]
    if not options:
        cells.error(name, f"unknown {what} {shown(code)}")
        return None
    if len(options) > 1:
        cells.error(
            name, f"{what} {shown(code)} exists at several sites: add a site column"
        )
        return None
    return options[0]


def _ward(cells: Cells, ctx: Context, site_id: int | None) -> int | None:
    code = cells.code("ward", required=True)
    if not code:
        return None
    return _pick(
        cells, "ward", ctx.org.wards.get(norm(code), []), site_id, "ward", code
    )  # type: ignore[return-value]


def _bed(
    cells: Cells, ctx: Context, ward_id: int | None, *, required: bool
) -> tuple[int, bool, str] | None:
    label = cells.code("bed", required=required)
    if not label or ward_id is None:
        return None
    found = ctx.org.beds.get((ward_id, norm(label)))
    if found is None:
        cells.error("bed", f"unknown bed {shown(label)} on this ward")
    return found


# ---------------------------------------------------------------------------
# ED attendances
# ---------------------------------------------------------------------------
ED_FIELDS = (
    Field("attendance_id", ("Attendance ID", "Attendance", "Attendance number", "Visit number"), True,
          "the ED system's attendance (visit) number; pseudonymised"),
    Field("site", ("Site", "Site code"), help="site code (needed when the trust has several sites)"),
    Field("arrival", ("Arrival", "Arrival time", "Arrival date time"), True, "arrival date and time"),
    Field("mode", ("Mode", "Arrival mode"), True, "ambulance or walk-in"),
    Field("area", ("Area", "ED area"), True, "ED area code (resus, majors, minors …)"),
    Field("triage", ("Triage", "Triage category"), help="Manchester triage category 1-5"),
    Field("handover", ("Handover", "Handover time"), help="ambulance handover time"),
    Field("seen", ("Seen", "Seen time", "Time seen", "First assessment"), help="seen by a clinician"),
    Field("decision_to_admit", ("Decision to admit", "DTA", "DTA time"), help="decision to admit time"),
    Field("departure", ("Departure", "Departure time", "Left department"), help="departure time"),
    Field("disposition", ("Disposition", "Outcome"), help="admitted, discharged, transferred or left"),
)  # fmt: skip
MODES = choices(
    ambulance=("amb", "a", "ambulance arrival"),
    walk_in=("walk in", "walkin", "w", "self", "walk-in"),
)
DISPOSITIONS = choices(
    admitted=("admit", "adm"), discharged=("discharge", "home", "dis"),
    transferred=("transfer", "trans"), left=("left without being seen", "lwbs", "did not wait", "dnw"),
)  # fmt: skip


def plan_ed(rows: Rows, ctx: Context) -> Plan:
    plan = Plan(rows=len(rows.items), errors=list(rows.errors))
    seen_ids = []
    good: list[tuple[int, dict]] = []
    for n, values in rows.items:
        c = Cells(n, values, ctx.fmt, ctx.tz)
        ident = c.code("attendance_id", required=True)
        site_id = _site(c, ctx)
        arrival = c.time("arrival", required=True)
        mode = c.choice("mode", MODES, required=True)
        area_code = c.code("area", required=True)
        area = None
        if area_code:
            area = _pick(c, "area", ctx.org.ed_areas.get(norm(area_code), []), site_id,
                         "ED area", area_code)  # fmt: skip
            if area is not None and site_id is None:
                site_id = next(
                    s for s, a in ctx.org.ed_areas[norm(area_code)] if a == area
                )
        triage = c.integer("triage", 1, 5)
        times = {
            k: c.time(k) for k in ("handover", "seen", "decision_to_admit", "departure")
        }
        disposition = c.choice("disposition", DISPOSITIONS)
        if times["departure"] and not disposition:
            c.error("disposition", "a departure needs a disposition")
        if disposition and not times["departure"]:
            c.error("departure", "a disposition needs a departure time")
        if times["handover"] and mode == "walk_in":
            c.error("handover", "only an ambulance arrival is handed over")
        if arrival:
            for k, t in times.items():
                if t and t < arrival:
                    c.error(k, f"is before the arrival ({k.replace('_', ' ')} {_local(t, ctx)}, "
                               f"arrival {_local(arrival, ctx)})")  # fmt: skip
            dep = times["departure"]
            for k in ("seen", "decision_to_admit", "handover"):
                if dep and times[k] and times[k] > dep:
                    c.error(k, "is after the departure")
        plan.errors += c.errors
        if ident:
            seen_ids.append((n, ident.upper(), values))
        if not c.errors:
            good.append((n, {"ref": "E" + digest(ctx.key, "visit", ident)[:24], "site_id": site_id,
                             "area": area, "mode": mode, "triage": triage, "arrival": arrival,
                             "disposition": disposition, **times}))  # fmt: skip
    dup_errors, dup_rows = duplicates(seen_ids, "attendance")
    plan.errors += dup_errors
    for n, r in good:
        if n in dup_rows:
            continue
        ref = r["ref"]
        plan.add(n, "ed_arrival", r["arrival"], ref, {"site_id": r["site_id"], "area": r["area"],
                 "mode": r["mode"], "triage": r["triage"]})  # fmt: skip
        for k, kind in (("handover", "ed_handover"), ("seen", "ed_seen"),
                        ("decision_to_admit", "ed_decision_to_admit")):  # fmt: skip
            if r[k]:
                plan.add(n, kind, r[k], ref)
        if r["departure"]:
            plan.add(
                n,
                "ed_departure",
                r["departure"],
                ref,
                {"disposition": r["disposition"]},
            )
    return plan


def _local(at: datetime, ctx: Context) -> str:
    return at.astimezone(ctx.tz).strftime("%d/%m/%Y %H:%M")


# ---------------------------------------------------------------------------
# Theatre lists: one row per case (a session without cases: a row without a case)
# ---------------------------------------------------------------------------
THEATRE_FIELDS = (
    Field("session_id", ("Session ID", "Session", "List ID"),
          help="the theatre system's session id (else theatre + planned start)"),
    Field("site", ("Site", "Site code")),
    Field("theatre", ("Theatre", "Theatre code"), True, "theatre code"),
    Field("specialty", ("Specialty", "Speciality"), True),
    Field("session_start", ("Session start", "Planned session start", "List start"), True),
    Field("session_end", ("Session end", "Planned session end", "List end"), True),
    Field("session_cancel_reason", ("Session cancellation reason", "Session cancelled reason", "List cancelled")),
    Field("case_id", ("Case ID", "Case", "Operation ID"), help="pseudonymised"),
    Field("procedure", ("Procedure", "Operation")),
    Field("case_planned_start", ("Case planned start", "Planned start", "Scheduled start")),
    Field("planned_minutes", ("Planned minutes", "Planned duration", "Estimated duration")),
    Field("sent_for", ("Sent for", "Sent for time")),
    Field("anaesthetic_start", ("Anaesthetic start", "Anaesthesia start", "Into anaesthetic")),
    Field("in_theatre", ("In theatre", "Into theatre")),
    Field("knife_to_skin", ("Knife to skin", "Incision")),
    Field("procedure_end", ("Procedure end", "Surgery end")),
    Field("left_theatre", ("Left theatre", "Out of theatre", "Into recovery")),
    Field("recovered", ("Recovered", "Left recovery", "Recovery discharge")),
    Field("cancelled_at", ("Cancelled at", "Cancellation time", "Case cancelled at")),
    Field("cancel_reason", ("Cancellation reason", "Cancel reason", "Case cancellation reason")),
)  # fmt: skip
STAGES = (
    ("sent_for", "case_sent_for"), ("anaesthetic_start", "case_in_anaesthetic"),
    ("in_theatre", "case_in_theatre"), ("knife_to_skin", "case_knife_to_skin"),
    ("procedure_end", "case_procedure_end"), ("left_theatre", "case_left_theatre"),
    ("recovered", "case_recovered"),
)  # fmt: skip


def plan_theatre(rows: Rows, ctx: Context) -> Plan:
    plan = Plan(rows=len(rows.items), errors=list(rows.errors))
    sessions: dict[str, tuple[int, dict]] = {}
    cases: list[tuple[int, dict]] = []
    case_ids = []
    for n, values in rows.items:
        c = Cells(n, values, ctx.fmt, ctx.tz)
        site_id = _site(c, ctx)
        code = c.code("theatre", required=True)
        theatre_id = None
        if code:
            theatre_id = _pick(c, "theatre", ctx.org.theatres.get(norm(code), []), site_id,
                               "theatre", code)  # fmt: skip
        specialty = c.text("specialty", required=True, limit=64)
        start, end = (
            c.time("session_start", required=True),
            c.time("session_end", required=True),
        )
        if start and end and end <= start:
            c.error("session_end", "is not after the session start")
        sid = c.code("session_id", limit=48)
        if not sid and code and start:
            sid = f"{norm(code)}-{start.astimezone(ctx.tz):%Y%m%d-%H%M}"
        s_values = {"theatre_id": theatre_id, "specialty": specialty, "start": start, "end": end,
                    "cancel": c.text("session_cancel_reason", limit=64)}  # fmt: skip
        case_id = c.code("case_id", limit=64)
        case = None
        if case_id:
            case_ids.append((n, case_id.upper(), values))
            planned = c.time("case_planned_start", required=True)
            minutes = c.integer("planned_minutes", 1, 24 * 60, required=True)
            stage_times = {k: c.time(k) for k, _ in STAGES}
            cancelled_at = c.time("cancelled_at")
            reason = c.text("cancel_reason", limit=64)
            if reason and not cancelled_at:
                c.error(
                    "cancelled_at",
                    "a cancellation reason needs the time it was cancelled",
                )
            if cancelled_at and not reason:
                c.error("cancel_reason", "a cancelled case needs a reason")
            last = None
            for k, _ in STAGES:
                t = stage_times[k]
                if t and last and t < last[1]:
                    c.error(k, f"is before {last[0].replace('_', ' ')}")
                if t:
                    last = (k, t)
            case = {"ref": "C" + digest(ctx.key, "case", case_id)[:24],
                    "procedure": c.text("procedure", required=True), "planned": planned,
                    "minutes": minutes, "stages": stage_times, "cancelled_at": cancelled_at,
                    "reason": reason}  # fmt: skip
        else:
            for k in (
                "procedure",
                "case_planned_start",
                "planned_minutes",
                *(s for s, _ in STAGES),
            ):
                if c.raw(k):
                    c.error(
                        "case_id", f"a row with {k.replace('_', ' ')} needs a case id"
                    )
                    break
        if sid and sid in sessions and not c.errors:
            first_row, first = sessions[sid]
            if first != s_values:
                c.error(
                    "session_id", f"session {shown(sid)} differs from row {first_row}"
                )
        plan.errors += c.errors
        if c.errors:
            continue
        sessions.setdefault(sid, (n, s_values))
        if case:
            cases.append((n, {**case, "session": sid}))
    dup_errors, dup_rows = duplicates(case_ids, "case")
    plan.errors += dup_errors
    if plan.errors:
        return plan
    listed_at: dict[str, datetime] = {}
    for sid, (_, s) in sessions.items():
        listed_at[sid] = s["start"]
    for _n, case in cases:
        times = [
            case["planned"],
            *(t for t in case["stages"].values() if t),
            case["cancelled_at"],
        ]
        listed_at[case["session"]] = min(
            [listed_at[case["session"]], *(t for t in times if t)]
        )
    for sid, (n, s) in sessions.items():
        at = listed_at[sid]
        plan.add(n, "session_planned", at, f"session:{sid}", {
            "theatre_id": s["theatre_id"], "specialty": s["specialty"],
            "planned_start": iso(s["start"]), "planned_end": iso(s["end"])})  # fmt: skip
        if s["cancel"]:
            plan.add(
                n,
                "session_cancelled",
                s["start"],
                f"session:{sid}",
                {"reason": s["cancel"]},
            )
    for n, case in cases:
        subject = f"case:{case['ref']}"
        plan.add(n, "case_listed", listed_at[case["session"]], subject, {
            "session_ref": case["session"], "procedure": case["procedure"],
            "planned_start": iso(case["planned"]), "planned_minutes": case["minutes"],
        }, related=case["session"])  # fmt: skip
        for k, kind in STAGES:
            if case["stages"][k]:
                plan.add(n, kind, case["stages"][k], subject)
        if case["cancelled_at"]:
            plan.add(
                n,
                "case_cancelled",
                case["cancelled_at"],
                subject,
                {"reason": case["reason"]},
            )
    return plan


# ---------------------------------------------------------------------------
# Daily discharge sitrep: patients with no criteria to reside
# ---------------------------------------------------------------------------
SITREP_FIELDS = (
    Field("report_time", ("Report time", "Report date", "Sitrep date", "As at"), True,
          "when the list was taken"),
    Field("spell", ("Spell", "Spell number", "Visit number", "Encounter"),
          help="the PAS spell (visit) number: names the stay the ADT feed admitted"),
    Field("site", ("Site", "Site code")),
    Field("ward", ("Ward", "Ward code"), True),
    Field("bed", ("Bed", "Bed label"), help="names the stay in that bed when there is no spell"),
    Field("pathway", ("Pathway", "Discharge pathway"), True, "P0, P1, P2 or P3"),
    Field("delay_reason", ("Delay reason", "Reason for delay", "Reason"),
          help="why the patient is still in hospital"),
    Field("nctr_since", ("NCTR since", "Medically optimised", "Date no longer meets criteria",
                         "Medically ready"), help="from when the patient had no criteria to reside"),
)  # fmt: skip
PATHWAYS = choices(
    P0=("0", "pathway 0"),
    P1=("1", "pathway 1"),
    P2=("2", "pathway 2"),
    P3=("3", "pathway 3"),
)


@dataclass(frozen=True)
class SitrepFacts:
    """What the store knows: stays that exist, and each bed's occupant at a time."""

    stays: set[str]
    occupant: Callable[[int, datetime], BedAt | None]
    stay_of_patient: dict[str, str]


@dataclass(frozen=True)
class SitrepRow:
    row: int
    at: datetime
    spell_ref: str | None
    ward_id: int | None
    bed: tuple[int, bool, str] | None
    pathway: str
    delay_reason: str
    since: datetime | None


def parse_sitrep(rows: Rows, ctx: Context) -> tuple[list[SitrepRow], list[RowError]]:
    errors = list(rows.errors)
    out: list[SitrepRow] = []
    for n, values in rows.items:
        c = Cells(n, values, ctx.fmt, ctx.tz)
        at = c.time("report_time", required=True)
        spell = c.code("spell")
        site_id = _site(c, ctx)
        ward_id = _ward(c, ctx, site_id)
        bed = _bed(c, ctx, ward_id, required=False)
        if not spell and not c.raw("bed"):
            c.error("spell", "give the spell number or the bed")
        pathway = c.choice("pathway", PATHWAYS, required=True)
        reason = _delay_reason(c, ctx.reasons)
        since = c.time("nctr_since")
        if since and at and since > at:
            c.error("nctr_since", "is after the report time")
        errors += c.errors
        if not c.errors:
            ref = "S" + digest(ctx.key, "visit", spell)[:24] if spell else None
            out.append(SitrepRow(n, at, ref, ward_id, bed, pathway, reason, since))
    return out, errors


def _delay_reason(c: Cells, reasons: tuple[str, ...]) -> str:
    """One of the configured delay reasons (case and spacing ignored), stored as
    configured, so the Flow page groups a sitrep's patients with the board round's."""
    value = c.text("delay_reason", limit=200)
    if not value:
        return ""

    def fold(text: str) -> str:
        return " ".join(text.split()).casefold()

    found = {fold(r): r for r in reasons}.get(fold(value))
    if found is None:
        c.error("delay_reason", f"unknown delay reason {shown(value)} (the reasons are "
                "listed in config/discharge.yaml)")  # fmt: skip
        return ""
    return found


def plan_sitrep(parsed: list[SitrepRow], errors: list[RowError], facts: SitrepFacts,
                total: int) -> Plan:  # fmt: skip
    plan = Plan(rows=total, errors=list(errors))
    subjects = []
    for r in parsed:
        ref = r.spell_ref
        if ref is not None and ref not in facts.stays:
            plan.errors.append(
                RowError(r.row, "spell", "no stay with this spell number is known")
            )
            continue
        if r.bed is not None:
            held = facts.occupant(r.bed[0], r.at)
            patient = held.patient_ref if held else None
            in_bed = facts.stay_of_patient.get(patient) if patient else None
            if ref is None:
                if in_bed is None:
                    plan.errors.append(RowError(
                        r.row, "bed", f"bed {r.bed[2]} holds no admitted patient at the report time"))  # fmt: skip
                    continue
                ref = in_bed
            elif in_bed is not None and in_bed != ref:
                plan.errors.append(
                    RowError(r.row, "bed", "the spell's patient is not in this bed")
                )
                continue
        subjects.append((r.row, ref, {"p": r.pathway}))
        r_at = r.since or r.at
        payload = {"meets_criteria": False, "pathway": r.pathway}
        if r.delay_reason:
            payload["delay_reason"] = r.delay_reason
        plan.add(r.row, "set_criteria_to_reside", r_at, ref, payload)
    dup_errors, _ = duplicates(subjects, "patient")
    plan.errors += dup_errors
    return plan


# ---------------------------------------------------------------------------
# Bed state snapshot
# ---------------------------------------------------------------------------
BED_FIELDS = (
    Field("as_at", ("As at", "Snapshot time", "Time"), True, "when the states were read"),
    Field("site", ("Site", "Site code")),
    Field("ward", ("Ward", "Ward code"), True),
    Field("bed", ("Bed", "Bed label"), True),
    Field("state", ("State", "Status", "Bed state"), True,
          "available, occupied, awaiting clean, blocked or closed"),
    Field("reason", ("Reason", "Block reason", "Closure reason")),
)  # fmt: skip
BED_STATES = choices(
    available=("clean", "ready", "free", "empty"), occupied=("occ",),
    awaiting_clean=("dirty", "awaiting cleaning", "cleaning"),
    blocked=("block",), closed=("close",),
)  # fmt: skip


@dataclass(frozen=True)
class BedRow:
    row: int
    at: datetime
    bed_id: int
    escalation: bool
    label: str
    state: str
    reason: str


def parse_beds(rows: Rows, ctx: Context) -> tuple[list[BedRow], list[RowError]]:
    errors = list(rows.errors)
    out: list[BedRow] = []
    ids = []
    for n, values in rows.items:
        c = Cells(n, values, ctx.fmt, ctx.tz)
        at = c.time("as_at", required=True)
        site_id = _site(c, ctx)
        ward_id = _ward(c, ctx, site_id)
        bed = _bed(c, ctx, ward_id, required=True)
        state = c.choice("state", BED_STATES, required=True)
        reason = c.text("reason", limit=64)
        if state in ("blocked", "closed") and not reason:
            c.error("reason", f"a {state} bed needs a reason")
        if bed is not None:
            ids.append((n, str(bed[0]), values))
        errors += c.errors
        if not c.errors:
            out.append(BedRow(n, at, bed[0], bed[1], bed[2], state, reason))
    dup_errors, dup_rows = duplicates(ids, "bed")
    return [r for r in out if r.row not in dup_rows], errors + dup_errors


def plan_beds(parsed: list[BedRow], errors: list[RowError],
              state_at: Callable[[int, datetime], BedAt | None], total: int) -> Plan:  # fmt: skip
    """The events that take each bed from its known state at the snapshot time to
    the state the snapshot gives. Occupancy is the patient feed's: a snapshot that
    disagrees about a patient is listed as a warning and changes nothing."""
    plan = Plan(rows=total, errors=list(errors))
    for r in parsed:
        known = state_at(r.bed_id, r.at)
        now = known.state if known else None
        subject = f"bed:{r.bed_id}"
        if r.state == "occupied" or now == "occupied":
            if r.state != now:
                plan.warnings.append(RowError(r.row, "state", (
                    f"bed {r.label}: the snapshot says {r.state.replace('_', ' ')}, the patient "
                    f"feed says {(now or 'no history').replace('_', ' ')}; occupancy comes from "
                    "the patient feed, so this row changes nothing")))  # fmt: skip
            continue
        change = bed_change(known, r.state, r.reason, escalation=r.escalation)
        if change is None:
            continue  # already so
        kind, payload = change
        if kind is None:
            plan.warnings.append(
                RowError(
                    r.row, "state", f"bed {r.label} has no known state to change from"
                )
            )
            continue
        plan.add(r.row, kind, r.at, subject, payload)
    return plan


def bed_change(
    known: BedAt | None, state: str, reason: str, *, escalation: bool
) -> tuple[str | None, dict] | None:
    """The bed event (kind, payload) that takes a free bed from its known state to
    ``state`` (available, awaiting_clean, blocked, closed); ``None`` when it is so
    already, kind ``None`` when there is no known state to leave for available.
    Shared by the bed snapshot import and FHIR Location.operationalStatus."""
    now = known.state if known else None
    if state == now and (
        state not in ("blocked", "closed") or (known.reason or "") == reason
    ):
        return None
    kind = {
        "available": {"awaiting_clean": "cleaning_done", "blocked": "bed_unblocked",
                      "closed": "escalation_opened" if escalation else "bed_opened"}.get(now or ""),
        "awaiting_clean": "cleaning_requested",
        "blocked": "bed_blocked",
        "closed": "escalation_closed" if escalation else "bed_closed",
    }[state]  # fmt: skip
    payload = {"reason": reason} if reason and kind in ("bed_blocked", "bed_closed",
                                                         "escalation_closed") else {}  # fmt: skip
    return kind, payload


KINDS: dict[str, tuple[Field, ...]] = {
    "ed": ED_FIELDS,
    "theatre": THEATRE_FIELDS,
    "sitrep": SITREP_FIELDS,
    "beds": BED_FIELDS,
}
KIND_LABELS = {
    "ed": "ED attendances",
    "theatre": "Theatre lists",
    "sitrep": "Discharge sitrep (no criteria to reside)",
    "beds": "Bed state snapshot",
}
