"""ADT message -> event-layer events (docs/hl7.md has the table).

Patient class (PV1-2) decides the domain: ``E`` is an ED attendance, every other
class that takes a bed (``I``) is an inpatient stay; registrations of other classes
are recorded without an event. References are keyed HMAC-SHA256 digests: the patient
of PID-3 (first repetition, ID ^ assigning authority), the stay and the attendance of
the visit number PV1-19 (else of the patient and the admit time PV1-44).
Cancels name the stay (class E: the attendance); the event layer undoes from its
own history, so PV1-3 of a cancel is not trusted (A12 passes the bed or ED area it
cancels, from PV1-6, when it resolves). A40 merges the MRG-1 patient into the PID-3
patient (one event per PID/MRG pair; ``data.writes.merge``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from data.queries.hl7 import (
    ed_departure_of_admission,
    merged_patients,
    open_attendance,
    stay_exists,
)
from data.queries.organisation import LocationMatch, resolve_hl7_location
from data.writes.events import Event, iso
from feeds.hl7.parse import Message, parse_date, parse_ts

SUPPORTED_TRIGGERS = (
    "A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A11", "A12", "A13",
    "A17", "A21", "A22", "A40",
)  # fmt: skip
AMBULANCE_ARRIVAL = ("A", "H")  # PV2-38 mode of arrival (HL7 table 0430)
TRANSFER_SOURCES = ("4", "5", "6")  # PV1-14 admit source (HL7 table 0023)
ED_SOURCE = "7"
# PV1-36 discharge disposition (HL7 table 0112) of an ED departure: transferred to
# another hospital (02, 03, 05, 43), left against advice (07); anything else (01
# home, none) is a discharge.
ED_DISPOSITIONS = {"02": "transferred", "03": "transferred", "05": "transferred",
                   "43": "transferred", "07": "left"}  # fmt: skip


@dataclass(frozen=True)
class Problem:
    """Why a message cannot be applied: ``ack`` AE (quarantined) or AR (rejected);
    ``hl7_code`` from HL7 table 0357, ``where`` an ERR location (``PV1^1^3``)."""

    code: str
    text: str
    ack: str = "AE"
    hl7_code: str = "207"
    where: str = ""


@dataclass
class Mapping:
    events: list[Event] = field(default_factory=list)
    note: str | None = None  # recorded without an event: why
    problem: Problem | None = None


def digest(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def source_of(msg: Message) -> str:
    name = msg.sending_facility or msg.sending_application or "unknown"
    return f"hl7:{name}"[:32]


class _Mapper:
    def __init__(self, session: Session, msg: Message, key: bytes) -> None:
        self.session, self.msg, self.key = session, msg, key
        self.base_key = msg.message_key
        self.events: list[Event] = []
        self.at: datetime | None = msg.event_time()

    # -- references ----------------------------------------------------------
    def patient_ref(self, pid) -> str | None:  # noqa: ANN001
        ident = self.msg.field(pid, 3, 1)
        if not ident:
            return None
        authority = self.msg.field(pid, 3, 4)
        return "P" + digest(self.key, "patient", f"{ident}^{authority}")[:24]

    def visit_digest(self, pid, pv1) -> str | None:  # noqa: ANN001
        visit = self.msg.field(pv1, 19, 1)
        if visit:
            return digest(self.key, "visit", visit)[:24]
        admitted = self.msg.field(pv1, 44, 1)
        patient = self.patient_ref(pid)
        if not (patient and admitted):
            return None
        own = digest(self.key, "stay", f"{patient}|{admitted}")[:24]
        if stay_exists(self.session, "S" + own):
            return own
        # Keyed by patient + admit time: after a merge (A40) the stay may have been
        # admitted under another of the patient's numbers.
        for other in merged_patients(self.session, patient)[1:]:
            candidate = digest(self.key, "stay", f"{other}|{admitted}")[:24]
            if stay_exists(self.session, "S" + candidate):
                return candidate
        return own

    def prior_visit_digest(self) -> str | None:
        visit = self.msg.get("MRG", 5) or self.msg.get("PV1", 50)
        return digest(self.key, "visit", visit)[:24] if visit else None

    # -- locations -----------------------------------------------------------
    def location(self, pv1, position: int) -> LocationMatch | None:  # noqa: ANN001
        parts = [self.msg.field(pv1, position, c) for c in (1, 2, 3, 4)]
        if not parts[0]:
            return None
        return resolve_hl7_location(self.session, *parts)

    def _pl_text(self, pv1, position: int) -> str:  # noqa: ANN001
        parts = [self.msg.field(pv1, position, c) for c in (1, 2, 3, 4)]
        return "/".join(parts).rstrip("/") or "(empty)"

    def placement(self, pv1, position: int = 3) -> tuple[dict | None, Problem | None]:  # noqa: ANN001
        """Where PV1-3 puts the patient: ``{"bed_id": …}``, or ``{"ward_id": …}`` when
        it names a ward (a bed not yet assigned)."""
        where = f"PV1^1^{position}"
        match = self.location(pv1, position)
        if match is None:
            return None, Problem(
                "unknown_location",
                f"unknown location {self._pl_text(pv1, position)} (PV1-{position})",
                hl7_code="103",
                where=where,
            )
        if match.kind == "bed" and match.bed_id is not None:
            return {"bed_id": match.bed_id}, None
        if match.kind == "ward" and match.ward_id is not None:
            return {"ward_id": match.ward_id}, None  # on the ward, no bed yet
        return None, Problem(
            "unknown_location",
            f"location {self._pl_text(pv1, position)} (PV1-{position}) names "
            f"a {match.kind.replace('_', ' ')}, not a ward or bed",
            hl7_code="103",
            where=where,
        )

    def ed_area(self, pv1) -> tuple[LocationMatch | None, Problem | None]:  # noqa: ANN001
        match = self.location(pv1, 3)
        if match is None or match.ed_area_code is None:
            what = (
                "unknown ED location"
                if match is None
                else f"location names a {match.kind.replace('_', ' ')}, not an ED area"
            )
            return None, Problem(
                "unknown_location",
                f"{what} {self._pl_text(pv1, 3)} (PV1-3)",
                hl7_code="103",
                where="PV1^1^3",
            )
        return match, None

    # -- events --------------------------------------------------------------
    def add(self, kind: str, subject: str, payload: dict | None = None,
            related: str | None = None) -> None:  # fmt: skip
        n = len(self.events)
        key = self.base_key if n == 0 else f"{self.base_key}:{n}"
        assert self.at is not None
        self.events.append(Event(kind, self.at, key, subject, payload or {}, related))

    def map(self) -> Mapping:
        msg = self.msg
        if msg.message_type != "ADT":
            return Mapping(problem=Problem(
                "unsupported", f"message type {msg.message_type or '(none)'} is not "
                "supported (ADT only)", ack="AR", hl7_code="200", where="MSH^1^9",
            ))  # fmt: skip
        trigger = msg.trigger
        if trigger not in SUPPORTED_TRIGGERS:
            return Mapping(problem=Problem(
                "unsupported", f"ADT event {trigger or '(none)'} is not supported",
                ack="AR", hl7_code="201", where="MSH^1^9",
            ))  # fmt: skip
        if self.at is None:
            return Mapping(problem=Problem(
                "missing_field", "no event time (EVN-6, EVN-2 or MSH-7)", ack="AR",
                hl7_code="101", where="EVN^1^2",
            ))  # fmt: skip
        if trigger == "A40":
            return self._merge()
        if trigger == "A05":
            return Mapping(note="pre-admission recorded (no bed is taken)")
        pids, pv1s = msg.segments("PID"), msg.segments("PV1")
        if not pids or not self.patient_ref(pids[0]):
            return Mapping(problem=Problem(
                "missing_field", "PID-3 (patient identifier) is missing", ack="AR",
                hl7_code="101", where="PID^1^3",
            ))  # fmt: skip
        if not pv1s:
            return Mapping(problem=Problem(
                "missing_field", "PV1 segment is missing", ack="AR", hl7_code="100",
                where="PV1",
            ))  # fmt: skip
        pid, pv1 = pids[0], pv1s[0]
        visit = self.visit_digest(pid, pv1)
        if visit is None:
            return Mapping(problem=Problem(
                "missing_field", "PV1-19 (visit number) is missing and PV1-44 "
                "(admit time) too", ack="AR", hl7_code="101", where="PV1^1^19",
            ))  # fmt: skip
        patient_class = msg.field(pv1, 2).upper()
        handler = getattr(self, f"_{trigger.lower()}")
        problem_or_note = handler(pid, pv1, patient_class, visit)
        if isinstance(problem_or_note, Problem):
            return Mapping(problem=problem_or_note)
        return Mapping(events=self.events, note=problem_or_note)

    # -- one method per trigger (return a Problem, a note, or None) ----------
    def _stay(self, visit: str) -> str:
        return "S" + visit

    def _attendance(self, visit: str) -> str:
        return "E" + visit

    def _arrival(self, pv1, visit: str):  # noqa: ANN001, ANN202
        match, problem = self.ed_area(pv1)
        if problem:
            return problem
        mode_code = self.msg.get("PV2", 38).upper()
        mode = "ambulance" if mode_code in AMBULANCE_ARRIVAL else "walk_in"
        self.add(
            "ed_arrival",
            self._attendance(visit),
            {"site_id": match.site_id, "area": match.ed_area_code, "mode": mode},
        )
        return None

    def _admit(self, pid, pv1, visit: str, from_ed: str | None):  # noqa: ANN001, ANN202
        place, problem = self.placement(pv1)
        if problem:
            return problem
        source = self.msg.field(pv1, 14)
        if from_ed or source == ED_SOURCE or self.msg.field(pv1, 4).upper() == "E":
            admission_source = "ed"
        elif source in TRANSFER_SOURCES:
            admission_source = "transfer"
        else:
            admission_source = "elective"
        if from_ed:
            self.add("ed_departure", from_ed, {"disposition": "admitted"})
        admitted_at = parse_ts(self.msg.field(pv1, 44))
        self.add("admit", self._stay(visit), {
            "patient_ref": self.patient_ref(pid),
            **place,
            "admission_source": admission_source,
            "admitted_at": iso(admitted_at) if admitted_at else None,
        })  # fmt: skip
        return None

    def _a01(self, pid, pv1, cls: str, visit: str):  # noqa: ANN001, ANN202
        if cls == "E":
            return self._arrival(pv1, visit)
        if cls not in ("I", ""):
            return f"patient class {cls} registered (no bed is taken)"
        prior = self.prior_visit_digest()
        ed = open_attendance(
            self.session,
            [self._attendance(visit), self._attendance(prior) if prior else ""],
        )
        return self._admit(pid, pv1, visit, ed)

    def _a04(self, pid, pv1, cls: str, visit: str):  # noqa: ANN001, ANN202
        if cls == "E":
            return self._arrival(pv1, visit)
        return f"registration of patient class {cls or '(none)'} recorded"

    def _a06(self, pid, pv1, cls: str, visit: str):  # noqa: ANN001, ANN202
        prior = self.prior_visit_digest()
        ed = open_attendance(
            self.session,
            [self._attendance(prior) if prior else "", self._attendance(visit)],
        )
        return self._admit(pid, pv1, visit, ed)

    def _a02(self, pid, pv1, cls: str, visit: str):  # noqa: ANN001, ANN202
        if cls == "E":
            match, problem = self.ed_area(pv1)
            if problem:
                return problem
            self.add("ed_area_move", self._attendance(visit),
                     {"area": match.ed_area_code})  # fmt: skip
            return None
        place, problem = self.placement(pv1)
        if problem:
            return problem
        self.add("transfer", self._stay(visit), place)
        return None

    def _a03(self, pid, pv1, cls: str, visit: str):  # noqa: ANN001, ANN202
        if cls == "E":
            code = self.msg.field(pv1, 36).strip()
            disposition = ED_DISPOSITIONS.get(code, "discharged")
            self.add("ed_departure", self._attendance(visit),
                     {"disposition": disposition})  # fmt: skip
        else:
            self.add("discharge", self._stay(visit))
        return None

    def _a07(self, pid, pv1, cls: str, visit: str):  # noqa: ANN001, ANN202
        self.add("discharge", self._stay(visit))  # inpatient becomes outpatient
        return None

    def _a08(self, pid, pv1, cls: str, visit: str):  # noqa: ANN001, ANN202
        expected = parse_date(self.msg.get("PV2", 9))
        if cls == "E" or expected is None:
            return "patient information update recorded (no operational change)"
        self.add("set_expected_discharge", self._stay(visit),
                 {"expected_discharge_at": iso(expected)})  # fmt: skip
        return None

    def _a11(self, pid, pv1, cls: str, visit: str):  # noqa: ANN001, ANN202
        if cls == "E":
            self.add("ed_cancel_arrival", self._attendance(visit))
            return None
        stay = self._stay(visit)
        # An admission from ED closed its attendance as admitted in the same
        # message: cancelling the admission puts the patient back in the department.
        attendance = ed_departure_of_admission(self.session, source_of(self.msg), stay)
        self.add("cancel_admit", stay)
        if attendance is not None:
            self.add("ed_cancel_departure", attendance)
        return None

    def _a12(self, pid, pv1, cls: str, visit: str):  # noqa: ANN001, ANN202
        if cls == "E":
            cancelled = self.location(pv1, 6)
            payload = {}
            if cancelled is not None and cancelled.ed_area_code is not None:
                payload["area"] = cancelled.ed_area_code
            self.add("ed_cancel_area_move", self._attendance(visit), payload)
            return None
        cancelled = self.location(pv1, 6)
        payload = {}
        if cancelled is not None and cancelled.bed_id is not None:
            payload["bed_id"] = cancelled.bed_id
        self.add("cancel_transfer", self._stay(visit), payload)
        return None

    def _a13(self, pid, pv1, cls: str, visit: str):  # noqa: ANN001, ANN202
        if cls == "E":
            self.add("ed_cancel_departure", self._attendance(visit))
            return None
        self.add("cancel_discharge", self._stay(visit))
        return None

    def _merge(self) -> Mapping:
        """A40 (ADT_A39): each PID (the surviving patient) with its MRG (MRG-1, the
        prior patient identifier) becomes one ``merge_patients`` event; PV1 is
        optional and not read."""
        msg = self.msg
        pids, mrgs = msg.segments("PID"), msg.segments("MRG")
        if not pids or len(pids) != len(mrgs):
            return Mapping(problem=Problem(
                "missing_field", "a merge (A40) needs a PID and an MRG segment for "
                "each patient", ack="AR", hl7_code="100", where="MRG",
            ))  # fmt: skip
        for n, (pid, mrg) in enumerate(zip(pids, mrgs, strict=True), start=1):
            surviving = self.patient_ref(pid)
            ident = msg.field(mrg, 1, 1)
            if not surviving or not ident:
                what, where = (
                    ("PID-3", f"PID^{n}^3")
                    if not surviving
                    else ("MRG-1", f"MRG^{n}^1")
                )
                return Mapping(problem=Problem(
                    "missing_field", f"{what} (patient identifier) is missing",
                    ack="AR", hl7_code="101", where=where,
                ))  # fmt: skip
            authority = msg.field(mrg, 1, 4)
            prior = "P" + digest(self.key, "patient", f"{ident}^{authority}")[:24]
            if prior == surviving:
                continue
            self.add(
                "merge_patients",
                f"patient:{surviving}",
                {"patient_ref": surviving, "prior_patient_ref": prior},
                related=f"patient:{prior}",
            )
        if not self.events:
            return Mapping(note="merge of a patient into itself recorded")
        return Mapping(events=self.events)

    def _a17(self, pid, pv1, cls: str, visit: str):  # noqa: ANN001, ANN202
        pids, pv1s = self.msg.segments("PID"), self.msg.segments("PV1")
        if len(pids) < 2 or len(pv1s) < 2:
            return Problem(
                "missing_field", "a swap (A17) needs two PID/PV1 groups",
                hl7_code="100", where="PID^2",
            )  # fmt: skip
        other = self.visit_digest(pids[1], pv1s[1])
        if other is None:
            return Problem(
                "missing_field", "the second patient's visit number is missing",
                hl7_code="101", where="PV1^2^19",
            )  # fmt: skip
        self.add("swap_beds", self._stay(visit), related=self._stay(other))
        return None

    def _a21(self, pid, pv1, cls: str, visit: str):  # noqa: ANN001, ANN202
        self.add("leave_start", self._stay(visit))
        return None

    def _a22(self, pid, pv1, cls: str, visit: str):  # noqa: ANN001, ANN202
        self.add("leave_end", self._stay(visit))
        return None


def map_message(session: Session, msg: Message, key: bytes) -> Mapping:
    """The events one message stands for, a note (recorded, nothing to apply) or
    the problem that stops it."""
    return _Mapper(session, msg, key).map()
