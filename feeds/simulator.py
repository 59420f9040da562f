"""Live-ish simulator of a two-site acute trust.

A discrete-event model of ED flow, bed flow and theatre lists. Planned durations are
drawn from a random generator seeded by the entity's reference, so the state in the
database is all the simulator needs to carry on: nothing about the future is stored,
and a restarted simulator picks up where the database says things stand.

The same model writes the seeded history (``feeds.seed``) and advances the trust live
(``run_tick``). It is a client of the event layer like any other feed: what it decides
is recorded as events (``World.events``: admit, transfer, ED arrival, case sent for …)
and written with ``data.writes.events.apply_events``; the model keeps only the
in-memory view it needs to decide what happens next.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import random
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from data.writes.events import Event
from data.writes.inpatient import bed_subject
from data.writes.theatres import case_subject, session_subject
from feeds.demo_layout import PROCEDURES, THEATRE_SPECIALTIES

STEP = timedelta(minutes=5)
HOUR = timedelta(hours=1)
WARD_CLOSED = "ward closed (infection)"
# Theatre lists: planned this many days ahead; each day's lists start at 06:00 local
# (cancellations drawn, first patients sent for).
PLAN_AHEAD_DAYS = 14
THEATRE_DAY_STARTS = 6
OUTLIER_GROUP = {"medicine": "surgery", "surgery": "medicine"}
SOURCE = "simulator"

# Relative ED arrivals by local hour (low 03:00-07:00, peaks late morning and early evening).
HOUR_PROFILE = (
    0.55, 0.45, 0.38, 0.32, 0.30, 0.33, 0.45, 0.70, 1.05, 1.35, 1.50, 1.55,
    1.50, 1.42, 1.35, 1.32, 1.35, 1.42, 1.45, 1.35, 1.20, 1.02, 0.85, 0.68,
)  # fmt: skip
_HOUR_NORM = sum(HOUR_PROFILE) / 24.0
# Monday busiest.
WEEKDAY_FACTOR = (1.12, 1.03, 1.00, 0.99, 1.00, 0.93, 0.93)

DEFAULT_SCENARIO: dict = {
    "arrivals_factor": 1.0,
    "discharge_delay_factor": 1.0,
    "closed_wards": [],  # ward ids closed to admissions (e.g. norovirus)
    "electives_cancelled": False,
    "admit_factor": 1.0,  # scales the chance that an ED attendance is admitted
}

SCENARIOS: dict[str, dict] = {
    "normal": {},
    "surge": {"arrivals_factor": 1.4, "discharge_delay_factor": 1.6},
    "winter-surge-norovirus": {
        "arrivals_factor": 1.4,
        "discharge_delay_factor": 1.6,
        "close_ward_codes": ["RGH-COE2"],
    },
    "electives-stood-down": {"electives_cancelled": True},
}


# Why a patient with no criteria to reside is still in, by discharge pathway: the
# national discharge sitrep's categories (config/discharge.yaml), weighted as the
# published returns run (P0: medicines and transport; P1: care at home and
# assessment; P2: bedded rehabilitation; P3: care home placement and funding).
DELAY_REASONS: dict[str, tuple[tuple[str, float], ...]] = {
    "P0": (
        ("Awaiting medicines to take home", 0.40),
        ("Awaiting transport", 0.25),
        ("Awaiting further non-acute NHS care", 0.10),
        ("Patient or family choice", 0.10),
        ("Housing (homeless, unsuitable or awaiting adaptation)", 0.05),
        ("Other", 0.10),
    ),
    "P1": (
        ("Awaiting care package in own home", 0.45),
        ("Awaiting assessment (health or social care)", 0.25),
        ("Awaiting community equipment or adaptations", 0.15),
        ("Patient or family choice", 0.05),
        ("Awaiting transport", 0.05),
        ("Other", 0.05),
    ),
    "P2": (
        ("Awaiting bedded rehabilitation or intermediate care", 0.60),
        ("Awaiting assessment (health or social care)", 0.20),
        ("Patient or family choice", 0.10),
        ("Repatriation to another trust", 0.05),
        ("Other", 0.05),
    ),
    "P3": (
        ("Awaiting residential or nursing home placement", 0.50),
        ("Awaiting public funding decision", 0.20),
        ("Awaiting assessment (health or social care)", 0.15),
        ("Patient or family choice", 0.08),
        ("Safeguarding or legal process", 0.04),
        ("Disputes", 0.03),
    ),
}


def delay_reason_for(seed: int, ref: str, pathway: str) -> str:
    """The delay reason of a stay with no criteria to reside (drawn once per stay)."""
    reasons, weights = zip(*DELAY_REASONS[pathway], strict=True)
    return stable_rng(seed, "reason", ref).choices(reasons, weights)[0]


def stable_rng(seed: int, *parts: object) -> random.Random:
    digest = hashlib.blake2b(
        "|".join(str(p) for p in (seed, *parts)).encode(), digest_size=8
    ).digest()
    return random.Random(int.from_bytes(digest, "big"))


def arrival_rate_per_hour(daily: float, local: datetime, factor: float = 1.0) -> float:
    return (
        daily
        / 24.0
        * HOUR_PROFILE[local.hour]
        / _HOUR_NORM
        * WEEKDAY_FACTOR[local.weekday()]
    ) * factor


# ---------------------------------------------------------------------------
# In-memory world
# ---------------------------------------------------------------------------


@dataclass
class WardInfo:
    id: int
    site_id: int
    code: str
    ward_type: str
    group: str


@dataclass
class BedSim:
    id: int
    ward_id: int
    is_escalation: bool
    state: str
    since: datetime
    patient_ref: str | None = None
    reason: str | None = None


@dataclass
class StaySim:
    ref: str
    site_id: int
    ward_id: int
    bed_id: int | None
    admitted_at: datetime
    source: str
    group: str
    expected_discharge_at: datetime | None = None
    medically_ready_at: datetime | None = None
    pathway: str | None = None
    discharged_at: datetime | None = None


@dataclass
class AttSim:
    ref: str
    site_id: int
    area: str
    arrival_at: datetime
    mode: str
    triage: int
    handover_at: datetime | None = None
    seen_at: datetime | None = None
    decision_to_admit_at: datetime | None = None
    departure_at: datetime | None = None
    disposition: str | None = None


@dataclass
class CaseSim:
    ref: str
    session_id: int | None
    session_key: str
    site_id: int
    procedure: str
    planned_start: datetime
    planned_minutes: int
    order: int
    inpatient: bool
    status: str = "scheduled"
    sent_for_at: datetime | None = None
    anaesthetic_at: datetime | None = None
    in_theatre_at: datetime | None = None
    out_of_theatre_at: datetime | None = None
    recovery_done_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None


@dataclass
class SessionSim:
    key: str
    theatre_id: int
    site_id: int
    specialty: str
    planned_start: datetime
    planned_end: datetime
    cancelled_reason: str | None = None
    case_refs: list[str] = field(default_factory=list)


@dataclass
class Layout:
    tz: ZoneInfo
    sites: dict[int, tuple[str, float]]  # site id -> (code, daily ED arrivals)
    wards: dict[int, WardInfo]
    areas: dict[tuple[int, str], int]  # (site id, area code) -> area id
    area_spaces: dict[tuple[int, str], int]
    theatres: dict[int, tuple[int, str]]  # theatre id -> (site id, code)


class World:
    """The trust's operational state, advanced in time by :meth:`advance`."""

    def __init__(
        self, layout: Layout, seed: int, now: datetime, scenario: dict | None = None
    ):
        self.layout = layout
        self.seed = seed
        self.now = now
        self.scenario = {**DEFAULT_SCENARIO, **(scenario or {})}
        self.beds: dict[int, BedSim] = {}
        self.stays: dict[str, StaySim] = {}
        self.atts: dict[str, AttSim] = {}
        self.cases: dict[str, CaseSim] = {}
        self.sessions: dict[str, SessionSim] = {}
        # What happened, as events for the event layer; drained by the caller.
        self.events: list[Event] = []
        self._key_prefix = f"{now.astimezone(UTC):%Y%m%dT%H%M%S}-"
        self._key_seq = itertools.count()
        self._heap: list[tuple[datetime, int, str, str]] = []
        self._current = now  # time of the event being handled
        self._seq = itertools.count()
        self.handover_queue: dict[int, deque[str]] = defaultdict(deque)
        self.bed_queue: dict[int, list[str]] = defaultdict(list)  # DTA refs by site
        self.transfer_queue: dict[int, list[str]] = defaultdict(
            list
        )  # stay refs by site
        self.session_days_planned: set[str] = set()
        self.sessions_started: set[str] = set()  # lists whose day has begun
        self.open_atts: dict[int, set[str]] = defaultdict(
            set
        )  # refs in department by site
        self.available: dict[tuple[int, str], set[int]] = defaultdict(
            set
        )  # (site, group)
        # Memos of pure per-reference draws (each is a function of the seed and the
        # reference only), so a patient waiting many steps is not re-drawn each step.
        self._group_of: dict[str, str] = {}
        self._handover_times: dict[str, tuple[datetime, datetime]] = {}
        self._escalation_beds: dict[int, list[BedSim]] | None = None

    def add_bed(self, bed: BedSim) -> None:
        self.beds[bed.id] = bed
        self._escalation_beds = None
        if bed.state == "available":
            self.available[self._bed_key(bed)].add(bed.id)

    def add_attendance(self, att: AttSim) -> None:
        self.atts[att.ref] = att
        if att.departure_at is None:
            self.open_atts[att.site_id].add(att.ref)

    def _bed_key(self, bed: BedSim) -> tuple[int, str]:
        ward = self.layout.wards[bed.ward_id]
        return ward.site_id, ward.group

    # -- helpers -----------------------------------------------------------
    def rng(self, *parts: object) -> random.Random:
        return stable_rng(self.seed, *parts)

    def schedule(self, at: datetime, kind: str, key: str) -> None:
        """Plan an event; nothing is planned before the model's current time."""
        heapq.heappush(self._heap, (max(at, self._current), next(self._seq), kind, key))

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.layout.tz)

    def emit(
        self,
        kind: str,
        at: datetime,
        subject: str,
        payload: dict | None = None,
        related: str | None = None,
    ) -> None:
        """Record an event; keys follow the order the model decided things in."""
        key = f"{self._key_prefix}{next(self._key_seq):09d}"
        self.events.append(Event(kind, at, key, subject, payload or {}, related))

    def set_bed(
        self,
        bed: BedSim,
        state: str,
        at: datetime,
        patient_ref: str | None = None,
        reason: str | None = None,
        kind: str | None = None,
    ) -> None:
        """Change the model's bed; ``kind`` names the bed event to record (occupancy
        changes are recorded by their admit, transfer or discharge instead)."""
        if bed.state == "available":
            self.available[self._bed_key(bed)].discard(bed.id)
        if state == "available":
            self.available[self._bed_key(bed)].add(bed.id)
        bed.state = state
        bed.since = at
        bed.patient_ref = patient_ref
        bed.reason = reason
        if kind is not None:
            self.emit(
                kind,
                at,
                bed_subject(bed.id),
                {} if reason is None else {"reason": reason},
            )

    def closed_wards(self) -> set[int]:
        return set(self.scenario.get("closed_wards") or [])

    def resume(self) -> None:
        """Rebuild pending events for a world loaded from the database.

        Every planned time is derived from the entity's reference and its stored
        timestamps, exactly as when it was first planned.
        """
        for site_refs in self.open_atts.values():
            for ref in sorted(site_refs, key=lambda r: self.atts[r].arrival_at):
                att = self.atts[ref]
                if att.mode == "ambulance" and att.handover_at is None:
                    self.handover_queue[att.site_id].append(ref)
                elif att.seen_at is None:
                    self._schedule_seen(att, att.handover_at or att.arrival_at)
                elif att.decision_to_admit_at is None:
                    self._plan_outcome(att)
                else:
                    self.bed_queue[att.site_id].append(ref)
        for stay in sorted(self.stays.values(), key=lambda x: x.admitted_at):
            if stay.discharged_at is not None or stay.bed_id is None:
                continue
            bed = self.beds[stay.bed_id]
            ward = self.layout.wards[stay.ward_id]
            if stay.medically_ready_at is not None:
                self._plan_discharge(stay)
            elif ward.ward_type == "assessment":
                hours = self.rng("stay", stay.ref, ward.id).uniform(6, 30)
                assessed = bed.since + timedelta(hours=hours)
                if assessed <= self.now:
                    self.transfer_queue[stay.site_id].append(stay.ref)
                else:
                    self.schedule(assessed, "assessed", stay.ref)
            else:
                self._plan_stay(stay, bed.since)
        for bed in self.beds.values():
            if bed.state == "awaiting_clean":
                minutes = self.rng("clean", bed.id, bed.since.isoformat()).uniform(
                    35, 130
                )
                self.schedule(
                    bed.since + timedelta(minutes=minutes), "cleaned", str(bed.id)
                )
            elif bed.state == "blocked" and bed.reason != WARD_CLOSED:
                self._plan_unblock(bed)
        for session in self.sessions.values():
            self.session_days_planned.add(
                self.local(session.planned_start).date().isoformat()
            )
            if session.cancelled_reason:
                self.sessions_started.add(session.key)
                continue
            if self._list_day(session) > self.local(self.now).date() or (
                self._list_day(session) == self.local(self.now).date()
                and self.local(self.now).hour < THEATRE_DAY_STARTS
            ):
                continue  # planned ahead: started by the hourly step on its day
            self.sessions_started.add(session.key)
            cases = [self.cases[r] for r in session.case_refs]
            started = [c for c in cases if c.sent_for_at is not None]
            if not started:
                first = next((c for c in cases if c.status == "scheduled"), None)
                if first is not None:
                    late = max(0.0, self.rng("late", session.key).gauss(8, 14))
                    self._schedule_case(
                        first, first.planned_start + timedelta(minutes=late)
                    )
                continue
            last = max(started, key=lambda c: c.order)
            if last.status == "sent_for":
                self.schedule(
                    last.sent_for_at + timedelta(minutes=30),
                    "case_anaesthetic",
                    last.ref,
                )
            elif last.status == "anaesthetic_room":
                minutes = self.rng("anaes", last.ref).uniform(8, 20)
                self.schedule(
                    last.anaesthetic_at + timedelta(minutes=minutes),
                    "case_in_theatre",
                    last.ref,
                )
            elif last.status == "in_theatre":
                factor = self.rng("dur", last.ref).lognormvariate(0, 0.2)
                self.schedule(
                    last.in_theatre_at
                    + timedelta(minutes=last.planned_minutes * factor),
                    "case_out",
                    last.ref,
                )
            else:
                if last.status == "recovery":
                    minutes = self.rng("rec", last.ref).uniform(25, 70)
                    self.schedule(
                        last.out_of_theatre_at + timedelta(minutes=minutes),
                        "case_done",
                        last.ref,
                    )
                if last.out_of_theatre_at is not None:
                    turnaround = self.rng("turn", last.ref).uniform(12, 35)
                    self._next_case(
                        last, last.out_of_theatre_at + timedelta(minutes=turnaround)
                    )

    def forget_finished(self) -> None:
        """Drop written, finished entities (departed, discharged, past lists)."""
        self.atts = {r: a for r, a in self.atts.items() if a.departure_at is None}
        self._group_of = {r: g for r, g in self._group_of.items() if r in self.atts}
        self._handover_times = {
            r: v for r, v in self._handover_times.items() if r in self.atts
        }
        self.stays = {r: s for r, s in self.stays.items() if s.discharged_at is None}
        horizon = self.now - timedelta(days=2)
        old = [k for k, s in self.sessions.items() if s.planned_end < horizon]
        for key in old:
            session = self.sessions.pop(key)
            for ref in session.case_refs:
                self.cases.pop(ref, None)

    # -- main loop -----------------------------------------------------------
    def advance(self, until: datetime) -> None:
        """Run the model from ``self.now`` to ``until`` in steps on a 5-minute grid."""
        t = self.now
        while t < until:
            step_end = min(until, _floor(t, STEP) + STEP)
            self._arrivals(t, step_end)
            self._run_events(step_end)
            self._handovers(step_end)
            self._placements(step_end)
            if step_end == _floor(step_end, HOUR):
                self._hourly(step_end)
            t = step_end
            self.now = t

    def _run_events(self, until: datetime) -> None:
        heap = self._heap
        while heap and heap[0][0] <= until:
            at, _, kind, key = heapq.heappop(heap)
            self._current = at
            getattr(self, f"_on_{kind}")(at, key)
        self._current = until

    # -- ED ----------------------------------------------------------------
    def _arrivals(self, start: datetime, end: datetime) -> None:
        """Arrivals in (start, end]: drawn per 5-minute bucket, deterministic per bucket."""
        bucket = _floor(start, STEP)
        while bucket < end:
            local = self.local(bucket)
            for site_id, (code, daily) in self.layout.sites.items():
                for att in self._bucket_arrivals(site_id, code, daily, bucket, local):
                    if start < att.arrival_at <= end and att.ref not in self.atts:
                        self._arrive(att)
            bucket += STEP

    def _bucket_arrivals(
        self,
        site_id: int,
        code: str,
        daily: float,
        bucket: datetime,
        local: datetime | None = None,
    ):  # noqa: ANN202
        rate = arrival_rate_per_hour(
            daily,
            self.local(bucket) if local is None else local,
            float(self.scenario.get("arrivals_factor", 1.0)),
        ) * (STEP.total_seconds() / 3600)
        rng = self.rng("arr", code, bucket.isoformat())
        n = _poisson(rng, rate)
        out = []
        for i in range(n):
            at = bucket + timedelta(seconds=rng.uniform(1, STEP.total_seconds()))
            ambulance = rng.random() < 0.30
            if ambulance:
                area = "resus" if rng.random() < 0.10 else "majors"
            else:
                area = rng.choices(
                    ("minors", "majors", "paediatrics", "sdec"),
                    (0.45, 0.25, 0.20, 0.10),
                )[0]
            triage = {
                "resus": rng.choices((1, 2), (0.6, 0.4))[0],
                "majors": rng.choices((2, 3, 4), (0.3, 0.6, 0.1))[0],
                "minors": rng.choices((3, 4, 5), (0.15, 0.6, 0.25))[0],
                "paediatrics": rng.choices((2, 3, 4, 5), (0.1, 0.4, 0.4, 0.1))[0],
                "sdec": rng.choices((3, 4), (0.6, 0.4))[0],
            }[area]
            out.append(
                AttSim(
                    ref=f"{code}{bucket:%y%m%d%H%M}{i:02d}",
                    site_id=site_id,
                    area=area,
                    arrival_at=at.replace(microsecond=0),
                    mode="ambulance" if ambulance else "walk_in",
                    triage=triage,
                )
            )
        return out

    def _arrive(self, att: AttSim) -> None:
        self.add_attendance(att)
        self.emit(
            "ed_arrival",
            att.arrival_at,
            att.ref,
            {
                "site_id": att.site_id,
                "area": att.area,
                "mode": att.mode,
                "triage": att.triage,
            },
        )
        if att.mode == "ambulance":
            self.handover_queue[att.site_id].append(att.ref)
        else:
            self._schedule_seen(att, att.arrival_at)

    def _dept_load(self, site_id: int) -> float:
        spaces = sum(v for (s, _), v in self.layout.area_spaces.items() if s == site_id)
        inside = len(self.open_atts[site_id])
        return inside / max(1, spaces)

    def _schedule_seen(self, att: AttSim, base: datetime) -> None:
        rng = self.rng("seen", att.ref)
        mean = {1: 2, 2: 12, 3: 55, 4: 85, 5: 100}[att.triage]
        crowd = max(0.6, min(2.5, self._dept_load(att.site_id)))
        wait = rng.expovariate(1 / mean) * crowd if mean > 2 else rng.uniform(0, 3)
        self.schedule(base + timedelta(minutes=min(wait, 600)), "seen", att.ref)

    def _handovers(self, t: datetime) -> None:
        for site_id, queue in self.handover_queue.items():
            if not queue:
                continue
            free: int | None = None  # counted when first needed
            keep: deque[str] = deque()
            while queue:
                ref = queue.popleft()
                att = self.atts[ref]
                if att.departure_at is not None or att.handover_at is not None:
                    continue
                earliest, release = self._handover_window(att)
                if earliest > t:
                    keep.append(ref)
                    continue
                if free is None:
                    free = self._free_spaces(site_id)
                if free > 0 or att.triage == 1 or release <= t:
                    at = (
                        max(earliest, min(t, release))
                        if release <= t
                        else max(earliest, t - STEP)
                    )
                    att.handover_at = min(at, t).replace(microsecond=0)
                    self.emit("ed_handover", att.handover_at, att.ref)
                    free -= 1
                    self._schedule_seen(att, att.handover_at)
                else:
                    keep.append(ref)
            self.handover_queue[site_id] = keep

    def _handover_window(self, att: AttSim) -> tuple[datetime, datetime]:
        """Earliest handover and the release time of an ambulance (drawn once)."""
        found = self._handover_times.get(att.ref)
        if found is None:
            rng = self.rng("handover", att.ref)
            earliest = att.arrival_at + timedelta(minutes=rng.uniform(7, 24))
            # Corridor care: beyond this wait a crew is released regardless of space.
            release = att.arrival_at + timedelta(minutes=rng.uniform(50, 150))
            found = self._handover_times[att.ref] = (earliest, release)
        return found

    def _free_spaces(self, site_id: int) -> int:
        """Majors + resus spaces not taken by a patient (handed over or walked in)."""
        spaces = self.layout.area_spaces.get(
            (site_id, "majors"), 0
        ) + self.layout.area_spaces.get((site_id, "resus"), 0)
        in_space = 0
        for ref in self.open_atts[site_id]:
            a = self.atts[ref]
            if a.area in ("majors", "resus") and (a.mode == "walk_in" or a.handover_at):
                in_space += 1
        return spaces - in_space

    def _on_seen(self, at: datetime, ref: str) -> None:
        att = self.atts.get(ref)
        if att is None or att.departure_at is not None or att.seen_at is not None:
            return
        att.seen_at = max(at, att.handover_at or att.arrival_at).replace(microsecond=0)
        self.emit("ed_seen", att.seen_at, att.ref)
        self._plan_outcome(att)

    def _plan_outcome(self, att: AttSim) -> None:
        assert att.seen_at is not None
        rng = self.rng("outcome", att.ref)
        p_admit = {
            "resus": 0.8,
            "majors": 0.42,
            "minors": 0.04,
            "paediatrics": 0.12,
            "sdec": 0.15,
        }[att.area]
        # A regional layout with a larger bed base per arrival scales admissions
        # (``bench/ics_layout.py``); the demo leaves the factor at 1.
        p_admit *= float(self.scenario.get("admit_factor", 1.0))
        if rng.random() < p_admit:
            minutes = rng.lognormvariate(math.log(110), 0.5)
            self.schedule(att.seen_at + timedelta(minutes=minutes), "dta", att.ref)
        else:
            minutes = rng.lognormvariate(math.log(95), 0.6)
            end = att.seen_at + timedelta(minutes=minutes)
            breach = att.arrival_at + timedelta(hours=4)
            if (
                end > breach
                and att.seen_at < breach - timedelta(minutes=20)
                and rng.random() < 0.5
            ):
                end = breach - timedelta(minutes=rng.uniform(2, 20))
            self.schedule(end, "ed_discharge", att.ref)

    def _on_dta(self, at: datetime, ref: str) -> None:
        att = self.atts.get(ref)
        if att is None or att.departure_at is not None:
            return
        att.decision_to_admit_at = at.replace(microsecond=0)
        self.emit("ed_decision_to_admit", att.decision_to_admit_at, att.ref)
        self.bed_queue[att.site_id].append(ref)

    def _on_ed_discharge(self, at: datetime, ref: str) -> None:
        att = self.atts.get(ref)
        if att is None or att.departure_at is not None:
            return
        rng = self.rng("disp", ref)
        disposition = rng.choices(
            ("discharged", "left", "transferred"), (0.93, 0.05, 0.02)
        )[0]
        self._depart(att, at.replace(microsecond=0), disposition)

    def _depart(self, att: AttSim, at: datetime, disposition: str) -> None:
        att.departure_at = at
        att.disposition = disposition
        self.emit("ed_departure", at, att.ref, {"disposition": disposition})
        self.open_atts[att.site_id].discard(att.ref)

    def admit_group(self, att: AttSim) -> str:
        found = self._group_of.get(att.ref)
        if found is None:
            found = self._group_of[att.ref] = self._draw_group(att)
        return found

    def _draw_group(self, att: AttSim) -> str:
        if att.area == "paediatrics":
            return "paediatric"
        rng = self.rng("group", att.ref)
        if att.area == "resus" and rng.random() < 0.25:
            return "critical_care"
        return "surgery" if rng.random() < 0.25 else "medicine"

    # -- beds --------------------------------------------------------------
    def _free_bed(
        self,
        site_id: int,
        group: str,
        *,
        assessment_first: bool,
        closed: set[int] | None = None,
        misses: set[tuple[int, str, bool]] | None = None,
    ) -> BedSim | None:
        """The best bed for a placement group, else an outlier bed in the other adult group.

        ``misses`` remembers searches that found nothing during one placement round
        (no bed becomes available within a round, so they would find nothing again).
        """
        bed = self._free_bed_in(
            site_id, group, assessment_first=assessment_first, closed=closed,
            misses=misses,
        )  # fmt: skip
        if bed is None and group in OUTLIER_GROUP:
            bed = self._free_bed_in(
                site_id, OUTLIER_GROUP[group], assessment_first=False, closed=closed,
                misses=misses,
            )  # fmt: skip
        return bed

    def _free_bed_in(
        self,
        site_id: int,
        group: str,
        *,
        assessment_first: bool,
        closed: set[int] | None = None,
        misses: set[tuple[int, str, bool]] | None = None,
    ) -> BedSim | None:
        """The best available bed of a placement group at a site, or None."""
        key = (site_id, group, assessment_first)
        if misses is not None and key in misses:
            return None
        if closed is None:
            closed = self.closed_wards()
        best: tuple[int, int] | None = None
        for bed_id in self.available.get((site_id, group), ()):
            ward = self.layout.wards[self.beds[bed_id].ward_id]
            if ward.id in closed:
                continue
            if ward.ward_type == "assessment":
                if not assessment_first:
                    continue
                rank = 0
            elif ward.ward_type == "escalation":
                rank = 5
            else:
                rank = 1
            if best is None or (rank, bed_id) < best:
                best = (rank, bed_id)
        if best is None:
            if misses is not None:
                misses.add(key)
            return None
        return self.beds[best[1]]

    def _placements(self, t: datetime) -> None:
        # Placements only take beds (a move leaves the old bed awaiting clean), so a
        # search that found no bed finds none for the rest of this round.
        closed = self.closed_wards()
        misses: set[tuple[int, str, bool]] = set()
        for site_id in list(self.transfer_queue):
            waiting = []
            for ref in self.transfer_queue[site_id]:
                stay = self.stays[ref]
                bed = self._free_bed(
                    site_id, stay.group, assessment_first=False, closed=closed,
                    misses=misses,
                )  # fmt: skip
                if bed is None:
                    waiting.append(ref)
                    continue
                self._move(stay, bed, t)
            self.transfer_queue[site_id] = waiting
        for site_id in list(self.bed_queue):
            waiting = []
            for ref in self.bed_queue[site_id]:
                att = self.atts[ref]
                if att.departure_at is not None:
                    continue
                group = self.admit_group(att)
                bed = self._free_bed(
                    site_id, group, assessment_first=True, closed=closed, misses=misses
                )
                if bed is None:
                    waiting.append(ref)
                    continue
                self._depart(att, t, "admitted")
                self._admit(f"S{ref}", site_id, bed, t, "ed", group)
            self.bed_queue[site_id] = waiting

    def _admit(
        self, ref: str, site_id: int, bed: BedSim, t: datetime, source: str, group: str
    ) -> StaySim:
        ward = self.layout.wards[bed.ward_id]
        stay = StaySim(
            ref=ref,
            site_id=site_id,
            ward_id=ward.id,
            bed_id=bed.id,
            admitted_at=t,
            source=source,
            group=group,
        )
        self.stays[ref] = stay
        self.set_bed(bed, "occupied", t, patient_ref=ref)
        self.emit(
            "admit",
            t,
            ref,
            {"patient_ref": ref, "bed_id": bed.id, "admission_source": source},
        )
        self._plan_stay(stay, t)
        return stay

    def _plan_stay(self, stay: StaySim, t: datetime) -> None:
        """Schedule the next step of a stay that arrived on its current ward at ``t``."""
        ward = self.layout.wards[stay.ward_id]
        rng = self.rng("stay", stay.ref, ward.id)
        if ward.ward_type == "assessment":
            hours = rng.uniform(6, 30)
            self.schedule(t + timedelta(hours=hours), "assessed", stay.ref)
            if stay.expected_discharge_at is None:
                stay.expected_discharge_at = t + timedelta(hours=hours + 24)
                self._emit_edd(stay, t)
            return
        median = (
            2.2
            if stay.source == "elective" and stay.ward_id == ward.id
            else {
                "medicine": 6.0,
                "surgery": 4.2,
                "critical_care": 4.0,
                "paediatric": 1.6,
            }[stay.group]
        )
        planned_los_days = rng.lognormvariate(math.log(median), 0.75)
        ready = t + timedelta(days=min(planned_los_days, 60))
        if stay.expected_discharge_at is None or stay.expected_discharge_at < t:
            stay.expected_discharge_at = max(
                t + timedelta(hours=4), ready + timedelta(hours=rng.gauss(0, 18))
            )
            self._emit_edd(stay, t)
        self.schedule(ready, "ready", stay.ref)

    def _on_assessed(self, at: datetime, ref: str) -> None:
        stay = self.stays.get(ref)
        if stay is None or stay.discharged_at is not None:
            return
        if self.rng("assess", ref).random() < 0.45:
            self._on_ready(at, ref, pathway="P0")
        else:
            self.transfer_queue[stay.site_id].append(ref)

    def _emit_edd(self, stay: StaySim, at: datetime) -> None:
        when = stay.expected_discharge_at
        self.emit(
            "set_expected_discharge",
            at,
            stay.ref,
            {"expected_discharge_at": None if when is None else when.isoformat()},
        )

    def _move(self, stay: StaySim, bed: BedSim, t: datetime) -> None:
        old = self.beds.get(stay.bed_id) if stay.bed_id is not None else None
        if old is not None:
            self._vacate(old, t)
        stay.ward_id = bed.ward_id
        stay.bed_id = bed.id
        self.emit("transfer", t, stay.ref, {"bed_id": bed.id})
        self.set_bed(bed, "occupied", t, patient_ref=stay.ref)
        self._plan_stay(stay, t)

    def _vacate(self, bed: BedSim, t: datetime, kind: str | None = None) -> None:
        self.set_bed(bed, "awaiting_clean", t, kind=kind)
        minutes = self.rng("clean", bed.id, t.isoformat()).uniform(35, 130)
        self.schedule(t + timedelta(minutes=minutes), "cleaned", str(bed.id))

    def _on_cleaned(self, at: datetime, key: str) -> None:
        bed = self.beds[int(key)]
        if bed.state != "awaiting_clean":
            return
        ward = self.layout.wards[bed.ward_id]
        if ward.id in self.closed_wards():
            self.set_bed(bed, "blocked", at, reason=WARD_CLOSED, kind="bed_blocked")
        elif bed.is_escalation and not self._under_pressure(ward.site_id):
            self.set_bed(
                bed, "closed", at, reason="escalation stood down",
                kind="escalation_closed",
            )  # fmt: skip
        else:
            self.set_bed(bed, "available", at, kind="cleaning_done")

    def _on_ready(self, at: datetime, ref: str, pathway: str | None = None) -> None:
        stay = self.stays.get(ref)
        if (
            stay is None
            or stay.discharged_at is not None
            or stay.medically_ready_at is not None
        ):
            return
        if pathway is None:
            pathway = self.rng("pathway", ref).choices(
                ("P0", "P1", "P2", "P3"), (0.66, 0.19, 0.10, 0.05)
            )[0]
        stay.medically_ready_at = at
        stay.pathway = pathway
        self.emit(
            "set_criteria_to_reside",
            at,
            ref,
            {
                "meets_criteria": False,
                "pathway": pathway,
                "delay_reason": delay_reason_for(self.seed, ref, pathway),
            },
        )
        self._plan_discharge(stay)

    def _plan_discharge(self, stay: StaySim) -> None:
        assert stay.medically_ready_at is not None and stay.pathway is not None
        rng = self.rng("delay", stay.ref)
        low, high = {"P0": (1, 8), "P1": (8, 36), "P2": (24, 96), "P3": (48, 168)}[
            stay.pathway
        ]
        delay_h = rng.uniform(low, high) * float(
            self.scenario.get("discharge_delay_factor", 1.0)
        )
        when = self.local(stay.medically_ready_at + timedelta(hours=delay_h))
        self.schedule(_discharge_window(when, rng), "discharge", stay.ref)

    def _on_discharge(self, at: datetime, ref: str) -> None:
        stay = self.stays.get(ref)
        if stay is None or stay.discharged_at is not None:
            return
        stay.discharged_at = at
        self.emit("discharge", at, ref)
        if stay.bed_id is not None:
            self._vacate(self.beds[stay.bed_id], at)

    def _under_pressure(self, site_id: int) -> bool:
        return len(self.bed_queue.get(site_id, ())) >= 4

    def _hourly(self, hour: datetime) -> None:
        self._escalation(hour)
        self._random_blocks(hour)
        local = self.local(hour)
        if local.hour == THEATRE_DAY_STARTS:
            self.theatre_day(local.date(), hour)

    def theatre_day(self, day, at: datetime) -> None:  # noqa: ANN001
        """Lists are planned weeks ahead (``PLAN_AHEAD_DAYS``); ``day``'s lists start."""
        for ahead in range(PLAN_AHEAD_DAYS + 1):
            self._plan_theatre_day(day + timedelta(days=ahead), at)
        for key in sorted(self.sessions):
            session = self.sessions[key]
            if self._list_day(session) == day and key not in self.sessions_started:
                self._start_session(session, at)

    def _escalation(self, t: datetime) -> None:
        if self._escalation_beds is None:  # the beds are fixed once the world is built
            by_site: dict[int, list[BedSim]] = defaultdict(list)
            for bed in self.beds.values():
                if bed.is_escalation:
                    by_site[self.layout.wards[bed.ward_id].site_id].append(bed)
            self._escalation_beds = dict(by_site)
        for site_id, beds in self._escalation_beds.items():
            if self._under_pressure(site_id):
                opened = 0
                for bed in sorted(beds, key=lambda b: b.id):
                    if bed.state == "closed" and opened < 4:
                        self.set_bed(
                            bed, "available", t, reason="escalation opened",
                            kind="escalation_opened",
                        )  # fmt: skip
                        opened += 1
            elif not self.bed_queue.get(site_id):
                for bed in beds:
                    if bed.state == "available":
                        self.set_bed(
                            bed, "closed", t, reason="escalation stood down",
                            kind="escalation_closed",
                        )  # fmt: skip

    def _random_blocks(self, t: datetime) -> None:
        rng = self.rng("block", t.isoformat())
        if rng.random() < 0.12:
            candidates = sorted(
                b.id
                for b in self.beds.values()
                if b.state == "available" and not b.is_escalation
            )
            if candidates:
                bed = self.beds[rng.choice(candidates)]
                reason = rng.choice(("maintenance", "infection control", "staffing"))
                self.set_bed(bed, "blocked", t, reason=reason, kind="bed_blocked")
                self._plan_unblock(bed)

    def _plan_unblock(self, bed: BedSim) -> None:
        hours = self.rng("unblock", bed.id, bed.since.isoformat()).uniform(3, 30)
        self.schedule(bed.since + timedelta(hours=hours), "unblock", str(bed.id))

    def _on_unblock(self, at: datetime, key: str) -> None:
        bed = self.beds[int(key)]
        if bed.state == "blocked" and bed.reason != WARD_CLOSED:
            self.set_bed(bed, "available", at, kind="bed_unblocked")

    def apply_closures(self, t: datetime) -> None:
        """Make bed states agree with the scenario's ward closures."""
        closed = self.closed_wards()
        for bed in self.beds.values():
            if bed.ward_id in closed and bed.state == "available":
                self.set_bed(bed, "blocked", t, reason=WARD_CLOSED, kind="bed_blocked")
            elif (
                bed.ward_id not in closed
                and bed.state == "blocked"
                and bed.reason == WARD_CLOSED
            ):
                self._vacate(bed, t, kind="cleaning_requested")  # deep clean first

    # -- theatres ----------------------------------------------------------
    def _plan_theatre_day(self, day, at: datetime) -> None:  # noqa: ANN001
        key = day.isoformat()
        if key in self.session_days_planned:
            return
        self.session_days_planned.add(key)
        for theatre_id, (site_id, code) in sorted(self.layout.theatres.items()):
            for session in plan_sessions(
                self.seed, self.layout.tz, theatre_id, site_id, code, day
            ):
                if session.key in self.sessions:
                    continue
                self.sessions[session.key] = session
                self.emit(
                    "session_planned",
                    at,
                    session_subject(session.key),
                    {
                        "theatre_id": session.theatre_id,
                        "specialty": session.specialty,
                        "planned_start": session.planned_start.isoformat(),
                        "planned_end": session.planned_end.isoformat(),
                    },
                )
                for case in plan_cases(self.seed, session):
                    self.cases[case.ref] = case
                    session.case_refs.append(case.ref)
                    self.emit(
                        "case_listed",
                        at,
                        case_subject(case.ref),
                        {
                            "session_ref": session.key,
                            "procedure": case.procedure,
                            "planned_start": case.planned_start.isoformat(),
                            "planned_minutes": case.planned_minutes,
                        },
                        related=session.key,
                    )

    def _list_day(self, session: SessionSim):  # noqa: ANN202
        """The local day a list belongs to (a night list belongs to its evening)."""
        return self.local(session.planned_start).date()

    def _start_session(self, session: SessionSim, at: datetime) -> None:
        self.sessions_started.add(session.key)
        if self.scenario.get(
            "electives_cancelled"
        ) and not session.specialty.startswith("Emergency"):
            session.cancelled_reason = "electives stood down (surge)"
            self.emit(
                "session_cancelled",
                at,
                session_subject(session.key),
                {"reason": session.cancelled_reason},
            )
            for ref in session.case_refs:
                self._cancel(self.cases[ref], at, "surge: electives stood down")
            return
        for ref in session.case_refs:
            case = self.cases[ref]
            rng = self.rng("cancel", ref)
            if rng.random() < 0.04:
                reason = rng.choices(
                    ("patient unfit", "did not attend", "no surgeon", "equipment"),
                    (0.45, 0.35, 0.1, 0.1),
                )[0]
                self._cancel(case, at + timedelta(minutes=rng.uniform(30, 90)), reason)
        first = next(
            (
                self.cases[r]
                for r in session.case_refs
                if self.cases[r].status == "scheduled"
            ),
            None,
        )
        if first is not None:
            late = max(0.0, self.rng("late", session.key).gauss(8, 14))
            self._schedule_case(first, first.planned_start + timedelta(minutes=late))

    def _schedule_case(self, case: CaseSim, anaesthetic_at: datetime) -> None:
        self.schedule(anaesthetic_at - timedelta(minutes=30), "case_sent_for", case.ref)

    def _cancel(self, case: CaseSim, at: datetime, reason: str) -> None:
        if case.status in ("done", "cancelled"):
            return
        case.status = "cancelled"
        case.cancelled_at = at
        case.cancel_reason = reason
        self.emit("case_cancelled", at, case_subject(case.ref), {"reason": reason})

    def _on_case_sent_for(self, at: datetime, ref: str) -> None:
        case = self.cases[ref]
        if case.status != "scheduled":
            self._next_case(case, at)
            return
        session = self.sessions[case.session_key]
        if at + timedelta(
            minutes=30 + case.planned_minutes
        ) > session.planned_end + timedelta(minutes=45):
            self._cancel(case, at, "list over-run")
            self._next_case(case, at)
            return
        if case.inpatient:
            bed = self._free_bed(case.site_id, "surgery", assessment_first=False)
            if bed is None:
                self._cancel(case, at, "no bed")
                self._next_case(case, at)
                return
            self._admit(f"S{ref}", case.site_id, bed, at, "elective", "surgery")
        case.status = "sent_for"
        case.sent_for_at = at
        self.emit("case_sent_for", at, case_subject(ref))
        self.schedule(at + timedelta(minutes=30), "case_anaesthetic", ref)

    def _on_case_anaesthetic(self, at: datetime, ref: str) -> None:
        case = self.cases[ref]
        case.status = "anaesthetic_room"
        case.anaesthetic_at = at
        self.emit("case_in_anaesthetic", at, case_subject(ref))
        minutes = self.rng("anaes", ref).uniform(8, 20)
        self.schedule(at + timedelta(minutes=minutes), "case_in_theatre", ref)

    def _on_case_in_theatre(self, at: datetime, ref: str) -> None:
        case = self.cases[ref]
        case.status = "in_theatre"
        case.in_theatre_at = at
        self.emit("case_in_theatre", at, case_subject(ref))
        factor = self.rng("dur", ref).lognormvariate(0, 0.2)
        self.schedule(
            at + timedelta(minutes=case.planned_minutes * factor), "case_out", ref
        )

    def _on_case_out(self, at: datetime, ref: str) -> None:
        case = self.cases[ref]
        case.status = "recovery"
        case.out_of_theatre_at = at
        self.emit("case_left_theatre", at, case_subject(ref))
        self.schedule(
            at + timedelta(minutes=self.rng("rec", ref).uniform(25, 70)),
            "case_done",
            ref,
        )
        turnaround = self.rng("turn", ref).uniform(12, 35)
        self._next_case(case, at + timedelta(minutes=turnaround))

    def _next_case(self, case: CaseSim, ready_at: datetime) -> None:
        session = self.sessions[case.session_key]
        refs = session.case_refs
        idx = refs.index(case.ref)
        for ref in refs[idx + 1 :]:
            nxt = self.cases[ref]
            if nxt.status == "scheduled":
                start = max(ready_at, nxt.planned_start - timedelta(minutes=10))
                self._schedule_case(nxt, start)
                return

    def _on_case_done(self, at: datetime, ref: str) -> None:
        case = self.cases[ref]
        case.status = "done"
        case.recovery_done_at = at
        self.emit("case_recovered", at, case_subject(ref))


def plan_sessions(
    seed: int, tz: ZoneInfo, theatre_id: int, site_id: int, code: str, day
) -> list[SessionSim]:  # noqa: ANN001
    """The planned sessions of one theatre on one local day: weekday morning and
    afternoon lists; the emergency theatre every day and night (08:00-20:00, then
    20:00-08:00 the next morning), as it is always staffed."""
    specialty = THEATRE_SPECIALTIES.get(code, "General surgery")
    emergency = specialty.startswith("Emergency")
    if day.weekday() >= 5 and not emergency:
        return []
    blocks = (
        [((8, 0), (20, 0), 0), ((20, 0), (8, 0), 1)]
        if emergency
        else [((8, 0), (12, 30), 0), ((13, 30), (18, 0), 0)]
    )
    out = []
    for (h1, m1), (h2, m2), next_day in blocks:
        start = datetime(day.year, day.month, day.day, h1, m1, tzinfo=tz).astimezone(
            UTC
        )
        ends = day + timedelta(days=next_day)
        end = datetime(ends.year, ends.month, ends.day, h2, m2, tzinfo=tz).astimezone(
            UTC
        )
        out.append(
            SessionSim(
                key=f"{site_id}-{code}-{day:%Y%m%d}-{h1:02d}",
                theatre_id=theatre_id,
                site_id=site_id,
                specialty=specialty,
                planned_start=start,
                planned_end=end,
            )
        )
    return out


def plan_cases(seed: int, session: SessionSim) -> list[CaseSim]:
    rng = stable_rng(seed, "cases", session.key)
    menu = PROCEDURES.get(session.specialty, PROCEDURES["General surgery"])
    emergency = session.specialty.startswith("Emergency")
    day_case = "Day surgery" in session.specialty or session.specialty in (
        "Ophthalmology",
        "ENT",
    )
    t = session.planned_start
    cases = []
    order = 0
    budget = (session.planned_end - session.planned_start).total_seconds() / 60
    used = 0.0
    while True:
        name, minutes = rng.choice(menu)
        if used + minutes + (20 if order else 0) > budget * 0.95:
            break
        if emergency and order >= 3:
            break
        if order:
            t += timedelta(minutes=20)
            used += 20
        cases.append(
            CaseSim(
                ref=f"C{session.key}-{order}",
                session_id=None,
                session_key=session.key,
                site_id=session.site_id,
                procedure=name,
                planned_start=t,
                planned_minutes=minutes,
                order=order,
                inpatient=(not day_case) and rng.random() < 0.6,
            )
        )
        t += timedelta(minutes=minutes)
        used += minutes
        order += 1
    return cases


def _discharge_window(local: datetime, rng: random.Random) -> datetime:
    """Move a discharge into the day: most between 11:00 and 19:00, peaking mid-afternoon."""
    if local.hour < 9 or local.hour >= 20:
        day = local.date() if local.hour >= 9 else local.date() - timedelta(days=1)
        day = day + timedelta(days=1)
        hour = min(19.9, max(9.0, rng.gauss(15.0, 2.3)))
        local = datetime(day.year, day.month, day.day, tzinfo=local.tzinfo) + timedelta(
            hours=hour
        )
    return local.astimezone(UTC)


def _floor(t: datetime, step: timedelta) -> datetime:
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    n = (t - epoch) // step
    return epoch + n * step


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    threshold = math.exp(-lam)
    k, p = 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1
