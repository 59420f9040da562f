"""FHIR R4 Encounter and Location -> event-layer events (docs/fhir.md has the table).

Each Encounter is the whole story of one visit, so every update is mapped in full
and the event layer's idempotency keys (derived from the Encounter id and the part
of the story: arrival, the n-th move, discharge …) make a resend change nothing.

- Which locations an Encounter names decides the domain: ``location[]`` entries
  resolving to an ED area or space are the ED attendance (arrival, then area
  moves), entries resolving to a ward or bed the inpatient stay (admission, then
  transfers); ED locations followed by a ward is an admission from ED. ``class``
  (EMER; IMP, ACUTE, NONAC, SS, OBSENC) says which part must be there; other
  classes (AMB, PRENC, HH, VR …) take no bed and are recorded.
- ``status``: planned / unknown are recorded; arrived, triaged, in-progress,
  onleave, finished apply the locations (``finished`` also departs or discharges
  at ``period.end``); ``cancelled`` and ``entered-in-error`` undo from our own
  history with the cancel kinds (``cancel_admit``, ``ed_cancel_arrival``,
  ``ed_cancel_departure``). A finished Encounter sent again as not finished
  re-opens it (``cancel_discharge`` / ``ed_cancel_departure``).
- ``statusHistory`` gives the times: the first ``in-progress`` of an ED encounter
  is the time seen; ``onleave`` periods are leave of absence.
- References are keyed HMAC digests like the HL7 feed's (``feeds.hl7.mapping.digest``):
  the patient of ``subject`` (identifier system + value, else the reference), the
  attendance and stay of the Encounter id within its feed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from data.queries.fhir import (
    applied_kinds,
    location_of,
    proposal_for,
    site_trusts,
    stored_resource,
)
from data.queries.hl7 import open_attendance
from data.queries.organisation import LocationMatch, resolve_fhir_location
from data.writes.events import Event, iso
from feeds.fhir.outcome import FhirError, Issue
from feeds.hl7.mapping import digest

ENCOUNTER_STATUSES = (
    "planned", "arrived", "triaged", "in-progress", "onleave", "finished",
    "cancelled", "entered-in-error", "unknown",
)  # fmt: skip
ACTIVE = ("arrived", "triaged", "in-progress", "onleave", "finished")
UNDO = ("cancelled", "entered-in-error")
LOCATION_STATUSES = ("planned", "active", "reserved", "completed")
ED_CLASSES = frozenset({"EMER"})
INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC", "SS", "OBSENC"})
# hospitalization.admitSource (http://terminology.hl7.org/CodeSystem/admit-source)
ED_ADMIT_SOURCES = frozenset({"emd"})
TRANSFER_ADMIT_SOURCES = frozenset({"hosp-trans", "nursing", "psych", "rehab"})
# hospitalization.dischargeDisposition (.../CodeSystem/discharge-disposition)
DISPOSITIONS = {
    "home": "discharged", "alt-home": "discharged", "oth": "discharged",
    "exp": "discharged", "other-hcf": "transferred", "hosp": "transferred",
    "long": "transferred", "psy": "transferred", "rehab": "transferred",
    "snf": "transferred", "aadvice": "left",
}  # fmt: skip
PHYSICAL_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/location-physical-type"
PROPOSED_TYPES = {"wa": "ward", "bd": "bed"}
# Location.operationalStatus: HL7 v2 table 0116 (bed status), the R4 binding
# (https://hl7.org/fhir/R4/valueset-bed-status.html) -> the bed state it asks for
# and the reason kept with it. Occupancy is the patient feeds' (O changes nothing).
BED_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0116"
BED_STATUSES = {
    "C": ("closed", "Closed"),
    "H": ("awaiting_clean", ""),
    "O": ("occupied", ""),
    "U": ("available", ""),
    "K": ("blocked", "Contaminated"),
    "I": ("blocked", "Isolated"),
}


def short(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


@dataclass
class Context:
    """What mapping one request needs: the session, the feed (the event source),
    the token's trust, the pseudonymisation key and when it was received."""

    session: Session
    feed: str
    trust_id: int
    key: bytes
    received_at: datetime
    full_urls: dict[str, str] = field(default_factory=dict)  # fullUrl -> Type/id
    _trusts: dict[int, int] | None = None

    def in_trust(self, match: LocationMatch | None) -> LocationMatch | None:
        if match is None:
            return None
        if self._trusts is None:
            self._trusts = site_trusts(self.session)
        return match if self._trusts.get(match.site_id) == self.trust_id else None

    def match_identifiers(
        self, identifiers: list[tuple[str, str]]
    ) -> LocationMatch | None:
        for system, value in identifiers:
            found = self.in_trust(resolve_fhir_location(self.session, system, value))
            if found is not None:
                return found
        return None


@dataclass
class Plan:
    """The events a resource stands for, notes for the answer, what to store."""

    events: list[Event] = field(default_factory=list)
    where: dict[str, str] = field(default_factory=dict)  # event key -> expression
    notes: list[Issue] = field(default_factory=list)
    status: str | None = None
    detail: dict = field(default_factory=dict)


def instant(value: object) -> datetime | None:
    """A FHIR dateTime with a time and zone as UTC; None for a date without a time."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return None
        return value.astimezone(UTC)
    return None


def _codes(concept) -> list[tuple[str, str]]:  # noqa: ANN001
    if concept is None:
        return []
    return [(c.system or "", c.code or "") for c in concept.coding or [] if c.code]


def _texts(concept) -> list[str]:  # noqa: ANN001
    if concept is None:
        return []
    out = [concept.text or ""]
    out += [f"{c.code or ''} {c.display or ''}" for c in concept.coding or []]
    return [t.lower() for t in out if t]


def identifiers_of(resource) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(i.system or "", i.value) for i in resource.identifier or [] if i.value]


def _ref_id(reference: str, resource_type: str) -> str | None:
    """``Location/abc`` (or a full URL ending so, with or without _history)."""
    parts = reference.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2] == resource_type and parts[-1]:
        return parts[-1]
    return None


@dataclass(frozen=True)
class Placement:
    index: int
    kind: str  # ed, ward
    match: LocationMatch
    start: datetime | None
    end: datetime | None

    def place(self) -> dict:
        if self.match.bed_id is not None:
            return {"bed_id": self.match.bed_id}
        return {"ward_id": self.match.ward_id}

    def label(self) -> str:
        m = self.match
        if self.kind == "ed":
            return f"ED {m.ed_area_code} ({m.site_code})"
        return f"{m.ward_code} {m.bed_label or ''}".strip() + f" ({m.site_code})"


class EncounterMapper:
    def __init__(self, ctx: Context, enc, rid: str, stored) -> None:  # noqa: ANN001
        self.ctx, self.enc, self.rid, self.stored = ctx, enc, rid, stored
        self.prior = dict(stored.detail or {}) if stored is not None else {}
        self.errors: list[Issue] = []
        self.plan = Plan(status=enc.status)

    # -- helpers -------------------------------------------------------------
    def error(self, code: str, text: str, expression: str | None = None) -> None:
        self.errors.append(Issue(code, text, expression))

    def note(self, text: str, expression: str | None = None) -> None:
        self.plan.notes.append(Issue("informational", text, expression, "information"))

    def warn(self, text: str, expression: str | None = None) -> None:
        self.plan.notes.append(Issue("incomplete", text, expression, "warning"))

    def add(self, kind: str, subject: str, at: datetime, key: str,
            payload: dict | None = None, where: str = "Encounter") -> None:  # fmt: skip
        self.plan.events.append(Event(kind, at, key, subject, payload or {}))
        self.plan.where[key] = where

    def patient_ref(self) -> str | None:
        subject = self.enc.subject
        if subject is None:
            return None
        ident = subject.identifier
        if ident is not None and ident.value:
            value = f"{ident.value}^{ident.system or ''}"
        elif subject.reference:
            value = f"{self.ctx.feed}|{subject.reference}"
        else:
            return None
        return "P" + digest(self.ctx.key, "patient", value)[:24]

    def history_start(self, status: str) -> datetime | None:
        starts = [
            instant(h.period.start)
            for h in self.enc.statusHistory or []
            if h.status == status and h.period is not None
        ]
        starts = [s for s in starts if s is not None]
        return min(starts) if starts else None

    # -- locations -----------------------------------------------------------
    def resolve(self, ref, where: str) -> LocationMatch | None:  # noqa: ANN001
        ctx = self.ctx
        if ref is None:
            self.error("required", "the location reference is missing", where)
            return None
        if ref.identifier is not None and ref.identifier.value:
            ident = (ref.identifier.system or "", ref.identifier.value)
            found = ctx.match_identifiers([ident])
            if found is None:
                self.error("not-found", f"no location of this trust has the identifier "
                           f"{ident[0]}|{ident[1]}", where)  # fmt: skip
            return found
        text = ref.reference or ""
        if text.startswith("#"):
            contained = {
                c.id: c for c in self.enc.contained or []
                if getattr(c, "get_resource_type", lambda: "")() == "Location"
            }  # fmt: skip
            loc = contained.get(text[1:])
            found = ctx.match_identifiers(identifiers_of(loc)) if loc else None
            if found is None:
                self.error("not-found", f"contained location {text} matches no "
                           "location of this trust", where)  # fmt: skip
            return found
        text = ctx.full_urls.get(text, text)
        rid = _ref_id(text, "Location")
        if rid is None:
            self.error("invalid", f"{text or '(empty)'} is not a Location reference",
                       where)  # fmt: skip
            return None
        stored = stored_resource(ctx.session, ctx.feed, "Location", rid)
        if stored is not None:
            found = ctx.match_identifiers(
                [tuple(i) for i in stored.detail.get("identifiers", [])]
            )
            if found is not None:
                return found
        proposal = proposal_for(ctx.session, ctx.feed, rid)
        if proposal is not None and proposal.status == "confirmed":
            found = ctx.in_trust(location_of(ctx.session, proposal.ward_id,
                                             proposal.bed_id))  # fmt: skip
            if found is not None:
                return found
        if proposal is not None and proposal.status == "pending":
            self.error("business-rule", f"Location/{rid} is waiting for an "
                       f"administrator to confirm it (proposal {proposal.id})", where)  # fmt: skip
        elif stored is not None or proposal is not None:
            self.error("not-found", f"Location/{rid} matches no location of this "
                       "trust", where)  # fmt: skip
        else:
            self.error("not-found", f"Location/{rid} is unknown: send the Location "
                       "first, or name it by identifier", where)  # fmt: skip
        return None

    def placements(self, start: datetime | None) -> list[Placement]:
        out: list[Placement] = []
        for n, loc in enumerate(self.enc.location or []):
            where = f"Encounter.location[{n}]"
            status = loc.status or "active"
            if status not in LOCATION_STATUSES:
                self.error("code-invalid", f"location status {status!r} is not one of "
                           + ", ".join(LOCATION_STATUSES), f"{where}.status")  # fmt: skip
                continue
            if status in ("planned", "reserved"):
                continue
            match = self.resolve(loc.location, f"{where}.location")
            if match is None:
                continue
            if match.ed_area_code is not None:
                kind = "ed"
            elif match.kind in ("bed", "ward"):
                kind = "ward"
            else:
                self.error("business-rule", f"the location names a "
                           f"{match.kind.replace('_', ' ')}, not a ward, bed or ED "
                           "area", f"{where}.location")  # fmt: skip
                continue
            period = loc.period
            lstart = instant(period.start) if period and period.start else None
            lend = instant(period.end) if period and period.end else None
            if period and period.start and lstart is None:
                self.error("value", "period.start needs a time and a time zone",
                           f"{where}.period.start")  # fmt: skip
                continue
            if lstart is None:
                if out or start is None:
                    self.error("required", "the location's period.start is needed "
                               "to place the patient", f"{where}.period.start")  # fmt: skip
                    continue
                lstart = start
            out.append(Placement(n, kind, match, lstart, lend))
        out.sort(key=lambda p: (p.start, p.index))
        return out

    # -- the mapping ---------------------------------------------------------
    def map(self) -> Plan:
        enc, ctx = self.enc, self.ctx
        status = enc.status or ""
        if status not in ENCOUNTER_STATUSES:
            self.error("code-invalid", f"status {status!r} is not one of "
                       + ", ".join(ENCOUNTER_STATUSES), "Encounter.status")  # fmt: skip
            raise FhirError(422, self.errors)
        cls = (enc.class_fhir.code or "").upper() if enc.class_fhir else ""
        gen = int(self.prior.get("gen", 0))
        if (
            self.stored is not None
            and self.stored.status in UNDO
            and status not in UNDO
        ):
            gen += 1  # the same id sent again after a cancel: a new story
        prefix = f"Encounter/{self.rid}" + (f"~{gen}" if gen else "")
        visit = digest(ctx.key, "fhir-encounter", f"{ctx.feed}|{self.rid}|{gen}")[:24]
        self.att, self.stay = "E" + visit, "S" + visit
        same_story = gen == int(self.prior.get("gen", 0))
        self.reopened = int(self.prior.get("reopened", 0)) if same_story else 0
        self.prefix = prefix
        self.plan.detail = {
            "gen": gen, "prefix": prefix, "attendance": self.att, "stay": self.stay,
            "class": cls, "reopened": self.reopened,
        }  # fmt: skip
        if same_story and self.prior.get("from_ed"):
            self.plan.detail["from_ed"] = self.prior["from_ed"]
        if status in UNDO:
            self._undo(status)
        elif status in ACTIVE:
            if (
                same_story
                and self.stored is not None
                and (self.stored.status == "finished" and status != "finished")
            ):
                self._reopen()
            self._active(status, cls)
        else:
            self.note(f"status {status}: recorded, nothing is taken yet")
        if self.errors:
            raise FhirError(422, self.errors)
        self.plan.detail["reopened"] = self.reopened
        return self.plan

    def _undo(self, status: str) -> None:
        ctx = self.ctx
        from_ed = self.plan.detail.get("from_ed")
        done = applied_kinds(ctx.session, ctx.feed, [self.att, self.stay])
        at = ctx.received_at
        if ("admit", self.stay) in done:
            self.add("cancel_admit", self.stay, at, f"{self.prefix}:cancel-admit")
        if ("ed_arrival", self.att) in done:
            self.add("ed_cancel_arrival", self.att, at, f"{self.prefix}:cancel-arrival")
        if from_ed and ("admit", self.stay) in done:
            # the ED attendance this stay came from is open again
            self.add("ed_cancel_departure", from_ed, at,
                     f"{self.prefix}:cancel-ed-departure")  # fmt: skip
        if not self.plan.events:
            self.note(f"{status}: nothing had been applied for this encounter")
        else:
            self.note(f"{status}: undone from the recorded history")

    def _reopen(self) -> None:
        ctx = self.ctx
        done = applied_kinds(ctx.session, ctx.feed, [self.att, self.stay])
        at, r = ctx.received_at, self.reopened
        if ("discharge", self.stay) in done:
            self.add("cancel_discharge", self.stay, at,
                     f"{self.prefix}:cancel-discharge{r}")  # fmt: skip
        elif ("ed_departure", self.att) in done:
            self.add("ed_cancel_departure", self.att, at,
                     f"{self.prefix}:cancel-departure{r}")  # fmt: skip
        else:
            return
        self.reopened += 1
        self.note("no longer finished: the discharge is undone")

    def _active(self, status: str, cls: str) -> None:
        enc = self.enc
        period = enc.period
        start = instant(period.start) if period and period.start else None
        end = instant(period.end) if period and period.end else None
        if period and period.start and start is None:
            self.error("value", "period.start needs a time and a time zone",
                       "Encounter.period.start")  # fmt: skip
        if period and period.end and end is None:
            self.error("value", "period.end needs a time and a time zone",
                       "Encounter.period.end")  # fmt: skip
        placed = self.placements(start)
        ed = [p for p in placed if p.kind == "ed"]
        ward = [p for p in placed if p.kind == "ward"]
        if ed and ward and max(p.start for p in ed) > min(p.start for p in ward):
            self.error("business-rule", "an ED location after a ward location: a "
                       "return to ED is a new encounter", "Encounter.location")  # fmt: skip
        if len({p.match.site_id for p in ed}) > 1:
            self.error("business-rule", "the ED locations are at different sites",
                       "Encounter.location")  # fmt: skip
        if self.errors:
            return
        is_ed = cls in ED_CLASSES or bool(ed)
        is_inpatient = cls in INPATIENT_CLASSES or bool(ward)
        if not is_ed and not is_inpatient:
            self.note(f"class {cls or '(none)'}: no bed or ED space is taken; recorded")
            return
        if cls in ED_CLASSES and not ed and not ward:
            self.error("required", "an ED encounter needs a location naming an ED "
                       "area or space", "Encounter.location")  # fmt: skip
            return
        if cls in INPATIENT_CLASSES and not ward:
            self.error("required", "an inpatient encounter needs a location naming "
                       "a ward or bed", "Encounter.location")  # fmt: skip
            return
        if ed:
            self._ed(status, start, end, ed, ward)
        if ward:
            self._inpatient(status, start, end, ed, ward)

    def _ed(self, status, start, end, ed, ward) -> None:  # noqa: ANN001
        enc, p = self.enc, self.prefix
        first = ed[0]
        arrival = min(x for x in (start, first.start) if x is not None)
        mode = "walk_in"
        for ext in enc.extension or []:
            named = "arrivalmode" in (ext.url or "").lower().replace("-", "")
            if named and any(
                "ambulance" in t for t in _texts(ext.valueCodeableConcept)
            ):
                mode = "ambulance"
        self.add("ed_arrival", self.att, arrival, f"{p}:arrival", {
            "site_id": first.match.site_id, "area": first.match.ed_area_code,
            "mode": mode,
        }, f"Encounter.location[{first.index}]")  # fmt: skip
        triage = next(
            (int(code) for _, code in _codes(enc.priority) if code in "12345" and
             len(code) == 1), None,
        )  # fmt: skip
        if triage is not None:
            at = self.history_start("triaged") or arrival
            self.add("ed_triage", self.att, max(at, arrival), f"{p}:triage{triage}",
                     {"triage": triage}, "Encounter.priority")  # fmt: skip
        area, moves = first.match.ed_area_code, 0
        for x in ed[1:]:
            if x.match.ed_area_code != area:
                moves += 1
                area = x.match.ed_area_code
                self.add("ed_area_move", self.att, x.start,
                         f"{p}:ed-move{moves}:{area}", {"area": area},
                         f"Encounter.location[{x.index}]")  # fmt: skip
        seen = self.history_start("in-progress")
        if seen is not None:
            self.add("ed_seen", self.att, max(seen, arrival), f"{p}:seen", {},
                     "Encounter.statusHistory")  # fmt: skip
        elif status in ("in-progress", "finished") and not ward:
            self.warn("no statusHistory entry for in-progress: the time seen is "
                      "not known", "Encounter.statusHistory")  # fmt: skip
        key = f"{p}:departure{self.reopened}"
        if ward:
            at = ed[-1].end or ward[0].start
            self.add("ed_departure", self.att, at, key, {"disposition": "admitted"},
                     f"Encounter.location[{ward[0].index}]")  # fmt: skip
        elif status == "finished":
            at = end or ed[-1].end
            if at is None:
                self.error("required", "a finished encounter needs period.end",
                           "Encounter.period.end")  # fmt: skip
                return
            self.add("ed_departure", self.att, at, key,
                     {"disposition": self._disposition()},
                     "Encounter.hospitalization.dischargeDisposition")  # fmt: skip

    def _disposition(self) -> str:
        hosp = self.enc.hospitalization
        codes = _codes(hosp.dischargeDisposition) if hosp else []
        for _, code in codes:
            if code in DISPOSITIONS:
                return DISPOSITIONS[code]
        if codes:
            self.warn(f"discharge disposition {codes[0][1]!r} is not in the R4 value "
                      "set: taken as discharged",
                      "Encounter.hospitalization.dischargeDisposition")  # fmt: skip
        return "discharged"

    def _inpatient(self, status, start, end, ed, ward) -> None:  # noqa: ANN001
        enc, ctx, p = self.enc, self.ctx, self.prefix
        patient = self.patient_ref()
        if patient is None:
            self.error("required", "an inpatient stay needs the patient (subject "
                       "identifier or reference)", "Encounter.subject")  # fmt: skip
            return
        hosp = enc.hospitalization
        sources = {code for _, code in _codes(hosp.admitSource)} if hosp else set()
        from_ed = self._part_of_ed() if not ed else None
        if ed or from_ed or sources & ED_ADMIT_SOURCES:
            admission_source = "ed"
        elif sources & TRANSFER_ADMIT_SOURCES:
            admission_source = "transfer"
        else:
            admission_source = "elective"
        first = ward[0]
        if from_ed is not None:
            attendance, key = from_ed
            if open_attendance(ctx.session, [attendance]):
                self.add("ed_departure", attendance, first.start, key,
                         {"disposition": "admitted"}, "Encounter.partOf")  # fmt: skip
            self.plan.detail["from_ed"] = attendance
        admitted_at = start if (start and not ed and start < first.start) else None
        self.add("admit", self.stay, first.start, f"{p}:admit", {
            "patient_ref": patient, **first.place(),
            "admission_source": admission_source,
            "admitted_at": iso(admitted_at) if admitted_at else None,
        }, f"Encounter.location[{first.index}]")  # fmt: skip
        here, moves = first.place(), 0
        for x in ward[1:]:
            if x.place() != here:
                moves += 1
                here = x.place()
                target = here.get("bed_id") or f"w{here.get('ward_id')}"
                self.add("transfer", self.stay, x.start, f"{p}:move{moves}:{target}",
                         here, f"Encounter.location[{x.index}]")  # fmt: skip
        leaves = 0
        for n, h in enumerate(enc.statusHistory or []):
            if h.status != "onleave" or h.period is None:
                continue
            hs, he = instant(h.period.start), instant(h.period.end)
            if hs is None:
                continue
            leaves += 1
            where = f"Encounter.statusHistory[{n}]"
            self.add("leave_start", self.stay, hs, f"{p}:leave{leaves}", {}, where)
            if he is not None:
                self.add("leave_end", self.stay, he, f"{p}:back{leaves}", {}, where)
        if status == "finished":
            at = end or ward[-1].end
            if at is None:
                self.error("required", "a finished encounter needs period.end",
                           "Encounter.period.end")  # fmt: skip
                return
            self.add("discharge", self.stay, at, f"{p}:discharge{self.reopened}", {},
                     "Encounter.period.end")  # fmt: skip

    def _part_of_ed(self) -> tuple[str, str] | None:
        """The ED attendance (and its departure key) of the ED Encounter this one
        is ``partOf``, when this feed sent it."""
        part = self.enc.partOf
        rid = _ref_id(part.reference or "", "Encounter") if part else None
        if rid is None:
            return None
        other = stored_resource(self.ctx.session, self.ctx.feed, "Encounter", rid)
        if other is None or not other.detail.get("attendance"):
            return None
        d = other.detail
        if ("ed_arrival", d["attendance"]) not in applied_kinds(
            self.ctx.session, self.ctx.feed, [d["attendance"]]
        ):
            return None
        return d["attendance"], f"{d['prefix']}:departure{d.get('reopened', 0)}"


def map_encounter(ctx: Context, enc, rid: str, stored=None) -> Plan:  # noqa: ANN001
    """``stored``: this Encounter's ``fhir_resource`` row, when the caller has it."""
    if stored is None:
        stored = stored_resource(ctx.session, ctx.feed, "Encounter", rid)
    return EncounterMapper(ctx, enc, rid, stored).map()


@dataclass
class LocationPlan:
    detail: dict
    notes: list[Issue]
    proposal: dict | None = None  # what to propose (physical type, name, …)
    events: list[Event] = field(default_factory=list)  # operationalStatus


def bed_status(loc) -> tuple[str, str, str] | None:  # noqa: ANN001
    """(code, state, reason) of ``operationalStatus``; 422 for a code outside
    HL7 v2 table 0116."""
    coding = loc.operationalStatus
    if coding is None:
        return None
    system, code = coding.system or "", coding.code or ""
    if system not in ("", BED_STATUS_SYSTEM) or code not in BED_STATUSES:
        shown = f"{system}|{code}" if system else code or "(no code)"
        raise FhirError(422, Issue(
            "code-invalid", f"operationalStatus {shown} is not a bed status of HL7 v2 "
            f"table 0116 ({BED_STATUS_SYSTEM}: C, H, O, U, K, I)",
            "Location.operationalStatus",
        ))  # fmt: skip
    state, reason = BED_STATUSES[code]
    if reason and coding.display and coding.display.strip():
        reason = coding.display.strip()[:64]
    return code, state, reason


def _bed_status_events(ctx: Context, loc, rid: str, bed_id: int, label: str,
                       status: tuple[str, str, str], notes: list[Issue]) -> list[Event]:  # noqa: ANN001  # fmt: skip
    """The bed event that takes the bed to what ``operationalStatus`` says, at
    ``meta.lastUpdated`` (else when it was received); none when it is so already."""
    from data.models.capacity import Bed
    from data.queries.imports import bed_states_at
    from feeds.csv.kinds import bed_change

    code, state, reason = status
    updated = loc.meta.lastUpdated if loc.meta is not None else None
    at = instant(updated) or ctx.received_at
    known = bed_states_at(ctx.session, [(bed_id, at)])[(bed_id, at)]
    now = known.state if known else None
    where = "Location.operationalStatus"
    if now == "occupied" and state != "occupied":
        if state == "blocked":  # an isolated / contaminated patient's bed
            notes.append(Issue("informational", f"operationalStatus {code}: bed {label} "
                               "holds a patient; only a free bed is blocked, so nothing "
                               "changed", where, "warning"))  # fmt: skip
            return []
        raise FhirError(422, Issue("business-rule", f"operationalStatus {code}: bed "
                                   f"{label} holds a patient (the patient feed's); send it "
                                   "again once the patient has left", where))  # fmt: skip
    if state == "occupied":
        if now != "occupied":
            notes.append(Issue("informational", f"operationalStatus O: bed {label} is "
                               f"{(now or 'without history').replace('_', ' ')} by the "
                               "patient feed; occupancy comes from the patient feed, so "
                               "nothing changed", where, "warning"))  # fmt: skip
        return []
    bed = ctx.session.get(Bed, bed_id)
    change = bed_change(
        known, state, reason, escalation=bool(bed and bed.is_escalation)
    )
    if change is None:
        notes.append(Issue("informational", f"operationalStatus {code}: bed {label} is "
                           f"{state.replace('_', ' ')} already", where, "information"))  # fmt: skip
        return []
    kind, payload = change
    if kind is None:
        raise FhirError(422, Issue("business-rule", f"operationalStatus {code}: bed "
                                   f"{label} has no known state to change from", where))  # fmt: skip
    notes.append(Issue("informational", f"operationalStatus {code}: bed {label} "
                       f"{kind.replace('_', ' ')}", where, "information"))  # fmt: skip
    key = f"Location/{short(ctx.feed + rid)}:{code}:{iso(at)}"[:128]
    return [Event(kind, at, key, f"bed:{bed_id}", payload)]


def map_location(ctx: Context, loc, rid: str) -> LocationPlan:  # noqa: ANN001
    identifiers = identifiers_of(loc)
    detail = {"identifiers": [list(i) for i in identifiers]}
    match = ctx.match_identifiers(identifiers)
    info = "information"
    status = bed_status(loc)
    if status is not None:
        detail["operational_status"] = status[0]
    if match is not None:
        what = (
            f"bed {match.bed_label} on ward {match.ward_code}" if match.kind == "bed"
            else f"ward {match.ward_code}" if match.kind == "ward"
            else f"ED area {match.ed_area_code}" if match.ed_area_code
            else match.kind.replace("_", " ")
        )  # fmt: skip
        detail["matched"] = what
        notes = [Issue("informational", f"matched to {what} at {match.site_code}",
                       None, info)]  # fmt: skip
        events = []
        if status is not None and match.kind == "bed":
            events = _bed_status_events(ctx, loc, rid, match.bed_id, match.bed_label,
                                        status, notes)  # fmt: skip
        elif status is not None:
            notes.append(_not_a_bed(what))
        return LocationPlan(detail, notes, events=events)
    proposal = proposal_for(ctx.session, ctx.feed, rid)
    if proposal is not None and proposal.status == "confirmed":
        notes = [Issue("informational", "linked by an administrator's confirmation",
                       None, info)]  # fmt: skip
        events = []
        linked = location_of(ctx.session, proposal.ward_id, proposal.bed_id)
        if status is not None and linked is not None and linked.kind == "bed":
            events = _bed_status_events(ctx, loc, rid, linked.bed_id, linked.bed_label,
                                        status, notes)  # fmt: skip
        elif status is not None:
            notes.append(_not_a_bed("a ward" if linked else "no location in service"))
        return LocationPlan(detail, notes, events=events)
    ptype = next(
        (PROPOSED_TYPES[c] for s, c in _codes(loc.physicalType)
         if c in PROPOSED_TYPES and s in ("", PHYSICAL_TYPE_SYSTEM)), None,
    )  # fmt: skip
    if ptype is None:
        shown = ", ".join(f"{s}|{v}" for s, v in identifiers) or "none"
        raise FhirError(422, Issue(
            "not-found", f"no location of this trust has the identifier(s) {shown}; "
            "only ward and bed Locations are proposed to an administrator",
            "Location.identifier",
        ))  # fmt: skip
    part_of = loc.partOf.reference if loc.partOf is not None else None
    notes = [
        Issue(
            "informational",
            f"unknown {ptype}: proposed as an organisation change "
            "for an administrator to confirm",
            "Location.identifier",
            info,
        )
    ]
    if status is not None:
        notes.append(Issue("informational", "operationalStatus is not applied while the "
                           "bed awaits confirmation; send the Location again once it is "
                           "confirmed", "Location.operationalStatus", "warning"))  # fmt: skip
    return LocationPlan(
        detail,
        notes,
        {
            "physical_type": ptype,
            "name": loc.name or "",
            "part_of": part_of,
            "identifiers": [list(i) for i in identifiers],
        },  # fmt: skip
    )


def _not_a_bed(what: str) -> Issue:
    return Issue("informational", f"operationalStatus is a bed's status; {what} is not "
                 "a bed, so it is not applied", "Location.operationalStatus", "warning")  # fmt: skip


def content_hash(body: dict) -> str:
    import json

    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
