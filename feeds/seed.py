"""Demo trust seed and the simulator's live tick.

``seed_demo`` builds the organisation and simulates ``history_days`` of history up to
``now``; the result depends only on the seed and ``now``. ``run_tick`` advances the
seeded trust to the present. Both write what the simulator decides as events through
the event layer (``data.writes.events.apply_events``), the path every feed uses.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from data.db import write_session
from data.models.capacity import (
    Bed,
    BedEvent,
    EdArea,
    EdAttendance,
    InpatientStay,
    Site,
    Theatre,
    TheatreCase,
    TheatreSession,
    Trust,
    Ward,
)
from data.models.system import SimulationState
from data.writes.events import apply_events
from data.writes.inpatient import ORGANISATION_SOURCE
from data.writes.organisation import apply_organisation
from data.writes.rollup import roll_up
from feeds import demo_layout
from feeds.demo_layout import SITES, SiteSpec
from feeds.simulator import (
    SCENARIOS,
    SOURCE,
    AttSim,
    BedSim,
    CaseSim,
    Layout,
    SessionSim,
    StaySim,
    WardInfo,
    World,
    _floor,
    plan_cases,
)
from ops.organisation import load_organisation_file

log = logging.getLogger(__name__)
DEMO_ORGANISATION = (
    Path(__file__).resolve().parent.parent / "config/organisation/demo.yaml"
)
MAX_CATCH_UP = timedelta(hours=6)


def is_seeded(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(Site)) or 0) > 0


def write_world(session: Session, world: World, until: datetime) -> dict[str, int]:
    """Send what the model decided since the last call through the event layer."""
    events, world.events = world.events, []
    counts: dict[str, int] = defaultdict(int)
    if not events:
        return {}
    for outcome in apply_events(session, events, source=SOURCE, received_at=until):
        counts[outcome.status] += 1
        if outcome.status == "refused":
            log.warning("simulator event %s refused: %s", outcome.key, outcome.reason)
    counts["events"] = len(events)
    return dict(counts)


def _add(total: dict[str, int], counts: dict[str, int]) -> None:
    for key, n in counts.items():
        total[key] = total.get(key, 0) + n


def seed_demo(
    factory: sessionmaker[Session],
    *,
    seed: int,
    now: datetime,
    history_days: int,
    tz: str,
    sites: tuple[SiteSpec, ...] = SITES,
    scenario: dict | None = None,
    chunk_days: int | None = None,
    progress=None,  # noqa: ANN001
    organisation: str | Path | None = None,
) -> dict[str, int]:
    """Create a trust with ``history_days`` of simulated history ending at ``now``.

    The trust is loaded from an organisation file (``config/organisation/demo.yaml`` by
    default) exactly as a real trust's is; ``sites`` gives the simulator its model
    parameters per site and ward code (``feeds/demo_layout.py``). ``bench/`` passes the
    regional file and layout. With ``chunk_days``
    the history is written every chunk and finished patients are let go, so a year of a
    whole region fits in memory.
    """
    zone = ZoneInfo(tz)
    start = _floor(now - timedelta(days=history_days), timedelta(hours=1))
    with write_session(factory) as session:
        if is_seeded(session):
            raise RuntimeError(
                "the database already holds a trust; refusing to seed over it"
            )
        apply_organisation(
            session,
            load_organisation_file(organisation or DEMO_ORGANISATION),
            at=start,
            actor_username="demo-seed",
            actor_role="system",
        )
        session.flush()
        layout = load_layout(session, zone, sites)
        world = World(layout, seed, start, scenario)
        for b in session.scalars(select(Bed).order_by(Bed.id)):
            world.add_bed(BedSim(b.id, b.ward_id, b.is_escalation, b.state, start))
        _initial_occupancy(world, start)
        local_start = start.astimezone(zone)
        world.theatre_day(local_start.date(), start)
        counts: dict[str, int] = {}
        step = timedelta(days=chunk_days) if chunk_days else now - start
        t = start
        while t < now:
            t = min(now, t + step)
            world.advance(t)
            _add(counts, write_world(session, world, t))
            roll_up(session, t)
            if chunk_days:
                world.forget_finished()
            if progress:
                progress(t, counts)
        session.add(
            SimulationState(
                id=1, seed=seed, simulated_until=now, scenario=scenario or {}
            )
        )
    log.info("seeded demo trust: %s", counts)
    return counts


def _initial_occupancy(world: World, start: datetime) -> None:
    """Fill about 90% of core beds with stays admitted over the previous days."""
    rng = world.rng("initial")
    for bed in sorted(world.beds.values(), key=lambda b: b.id):
        ward = world.layout.wards[bed.ward_id]
        if bed.is_escalation or rng.random() > 0.9:
            continue
        ref = f"SINIT{bed.id:05d}"
        admitted = start - timedelta(hours=rng.uniform(2, 24 * 8))
        stay = StaySim(
            ref=ref,
            site_id=ward.site_id,
            ward_id=ward.id,
            bed_id=bed.id,
            admitted_at=admitted,
            source="ed",
            group=ward.group,
        )
        world.stays[ref] = stay
        world.set_bed(bed, "occupied", start, patient_ref=ref)
        world.emit(
            "admit",
            start,
            ref,
            {
                "patient_ref": ref,
                "bed_id": bed.id,
                "admission_source": "ed",
                "admitted_at": admitted.isoformat(),
            },
        )
        if ward.ward_type == "assessment":
            world.schedule(start + timedelta(hours=rng.uniform(1, 20)), "assessed", ref)
            stay.expected_discharge_at = start + timedelta(days=1)
        else:
            remaining = rng.lognormvariate(math.log(2.5), 0.8)
            ready = start + timedelta(days=remaining)
            stay.expected_discharge_at = ready
            world.schedule(ready, "ready", ref)
        world._emit_edd(stay, start)


def run_tick(
    factory: sessionmaker[Session],
    *,
    now: datetime,
    tz: str,
    hl7=None,  # noqa: ANN001
) -> dict[str, int] | None:
    """Advance the seeded trust to ``now`` (at most MAX_CATCH_UP per call).

    With ``hl7`` (a :class:`feeds.hl7.sender.DemoSender`) the inpatient and ED
    events go to the HL7 listener as ADT messages, delivered after this tick has
    committed; the model waits while earlier ones are still undelivered."""
    if hl7 is not None:
        if not hl7.flush(factory, now):
            return {"pending": hl7.pending(factory)}
        counts = _tick(factory, now=now, tz=tz, hl7=hl7)
        if counts and hl7.flush(factory, now):
            with write_session(factory) as session:
                state = session.get(SimulationState, 1)
                roll_up(session, state.simulated_until)
        return counts
    return _tick(factory, now=now, tz=tz)


def _tick(
    factory: sessionmaker[Session],
    *,
    now: datetime,
    tz: str,
    hl7=None,  # noqa: ANN001
) -> dict[str, int] | None:
    zone = ZoneInfo(tz)
    with write_session(factory) as session:
        state = session.get(SimulationState, 1)
        if state is None:
            return None
        start = state.simulated_until
        if now <= start:
            return {}
        until = min(now, start + MAX_CATCH_UP)
        layout = load_layout(session, zone)
        scenario = resolve_scenario(session, state.scenario or {})
        alias = hl7.aliases(session) if hl7 is not None else None
        world = load_world(session, layout, state.seed, start, scenario, alias)
        world.apply_closures(start)
        world.advance(until)
        if hl7 is not None:
            events, world.events = world.events, []
            counts = hl7.enqueue(session, events, until)
        else:
            counts = write_world(session, world, until)
            roll_up(session, until)
        state.simulated_until = until
        return counts


def resolve_scenario(session: Session, scenario: dict) -> dict:
    """Turn ward codes ("RGH-COE2") in a scenario into ward ids for the model."""
    out = dict(scenario)
    codes = out.pop("close_ward_codes", None) or []
    if codes:
        rows = session.execute(
            select(Ward.id, Site.code, Ward.code).join(Site, Site.id == Ward.site_id)
        ).all()
        ids = {f"{s}-{w}": i for i, s, w in rows}
        out["closed_wards"] = sorted(ids[c] for c in codes if c in ids)
    return out


def scenario_by_name(name: str) -> dict:
    if name not in SCENARIOS:
        raise KeyError(
            f"unknown scenario {name!r}; choose from {', '.join(sorted(SCENARIOS))}"
        )
    return dict(SCENARIOS[name], name=name)


# ---------------------------------------------------------------------------
# The demo organisation and the model's view of the store
# ---------------------------------------------------------------------------


def create_organisation(
    session: Session,
    at: datetime,
    sites: tuple[demo_layout.SiteSpec, ...] = demo_layout.SITES,
    trust_code: str = demo_layout.TRUST_CODE,
    trust_name: str = demo_layout.TRUST_NAME,
) -> None:
    """Create a trust's structure straight from ``feeds.demo_layout`` specs.

    The demo seed loads ``config/organisation/demo.yaml`` instead; this builds the
    same structure from the simulator's parameters, so tests can keep the two in step
    and make small trusts of their own.

    Each bed starts its history with one ``bed_event`` row at ``at`` (source
    "organisation")."""
    trust = Trust(code=trust_code, name=trust_name)
    session.add(trust)
    session.flush()
    for spec in sites:
        site = Site(trust_id=trust.id, code=spec.code, name=spec.name)
        session.add(site)
        session.flush()
        for w in spec.wards:
            ward = Ward(
                site_id=site.id,
                code=w.code,
                name=w.name,
                specialty=w.specialty,
                ward_type=w.ward_type,
                core_beds=w.core_beds,
            )
            session.add(ward)
            session.flush()
            beds = [
                {
                    "ward_id": ward.id,
                    "label": f"{w.code}-{i + 1:02d}",
                    "is_escalation": False,
                    "state": "available",
                    "state_since": at,
                    "version": 1,
                }
                for i in range(w.core_beds)
            ] + [
                {
                    "ward_id": ward.id,
                    "label": f"{w.code}-E{i + 1}",
                    "is_escalation": True,
                    "state": "closed",
                    "state_since": at,
                    "version": 1,
                }
                for i in range(w.escalation_beds)
            ]
            session.execute(insert(Bed), beds)
            session.flush()
            session.execute(
                insert(BedEvent),
                [
                    {
                        "bed_id": bed_id,
                        "at": at,
                        "state": state,
                        "patient_ref": None,
                        "reason": None,
                        "source": ORGANISATION_SOURCE,
                    }
                    for bed_id, state in session.execute(
                        select(Bed.id, Bed.state).where(Bed.ward_id == ward.id)
                    )
                ],
            )
        session.execute(
            insert(EdArea),
            [
                {
                    "site_id": site.id,
                    "code": code,
                    "name": demo_layout.ED_AREA_NAMES[code],
                    "spaces": spaces,
                }
                for code, spaces in spec.ed_spaces.items()
            ],
        )
        session.execute(
            insert(Theatre),
            [
                {"site_id": site.id, "code": code, "name": name, "suite": suite}
                for code, name, suite in spec.theatres
            ],
        )


def load_layout(
    session: Session,
    tz,
    sites: tuple[SiteSpec, ...] = SITES,  # noqa: ANN001
) -> Layout:
    daily = {s.code: s.daily_ed_arrivals for s in sites}
    groups = {(s.code, w.code): w.group for s in sites for w in s.wards}
    sites = {s.id: s for s in session.scalars(select(Site))}
    wards = {}
    for w in session.scalars(select(Ward)):
        code = sites[w.site_id].code
        group = groups.get((code, w.code)) or _group_for(w)
        wards[w.id] = WardInfo(w.id, w.site_id, w.code, w.ward_type, group)
    areas = {}
    spaces = {}
    for a in session.scalars(select(EdArea)):
        areas[(a.site_id, a.code)] = a.id
        spaces[(a.site_id, a.code)] = a.spaces
    theatres = {t.id: (t.site_id, t.code) for t in session.scalars(select(Theatre))}
    return Layout(
        tz=tz,
        sites={sid: (s.code, daily.get(s.code, 150.0)) for sid, s in sites.items()},
        wards=wards,
        areas=areas,
        area_spaces=spaces,
        theatres=theatres,
    )


def _group_for(ward: Ward) -> str:
    if ward.ward_type == "critical_care":
        return "critical_care"
    if ward.ward_type == "paediatric":
        return "paediatric"
    surgical = ("surg", "orthop", "urolog")
    return (
        "surgery" if any(k in ward.specialty.lower() for k in surgical) else "medicine"
    )


def load_world(
    session: Session,
    layout: Layout,
    seed: int,
    now: datetime,
    scenario: dict,
    alias: dict[str, str] | None = None,
) -> World:
    """The live state the simulator needs, read from the store. ``alias`` maps
    stored references to the simulator's own (stays and attendances it sent as
    HL7 messages, which the listener stored under keyed references)."""
    world = World(layout, seed, now, scenario)
    alias = alias or {}

    def sim(ref: str | None) -> str | None:
        return alias.get(ref, ref) if ref is not None else None

    for b in session.scalars(select(Bed).where(Bed.retired_at.is_(None))):
        world.add_bed(
            BedSim(
                b.id,
                b.ward_id,
                b.is_escalation,
                b.state,
                b.state_since,
                sim(b.patient_ref),
                b.state_reason,
            )
        )
    for s in session.scalars(
        select(InpatientStay).where(InpatientStay.discharged_at.is_(None))
    ):
        ward = layout.wards[s.ward_id]
        group = "surgery" if s.admission_source == "elective" else ward.group
        world.stays[sim(s.stay_ref)] = StaySim(
            ref=sim(s.stay_ref),
            site_id=s.site_id,
            ward_id=s.ward_id,
            bed_id=s.bed_id,
            admitted_at=s.admitted_at,
            source=s.admission_source,
            group=group,
            expected_discharge_at=s.expected_discharge_at,
            medically_ready_at=s.medically_ready_at,
            pathway=s.discharge_pathway,
        )
    area_codes = {v: k[1] for k, v in layout.areas.items()}
    for a in session.scalars(
        select(EdAttendance).where(EdAttendance.departure_at.is_(None))
    ):
        world.add_attendance(
            AttSim(
                ref=sim(a.ref),
                site_id=a.site_id,
                area=area_codes[a.area_id],
                arrival_at=a.arrival_at,
                mode=a.mode,
                triage=a.triage,
                handover_at=a.handover_at,
                seen_at=a.seen_at,
                decision_to_admit_at=a.decision_to_admit_at,
            )
        )
    horizon = now - timedelta(hours=36)
    sessions = session.scalars(
        select(TheatreSession).where(TheatreSession.planned_start >= horizon)
    ).all()
    by_id: dict[int, SessionSim] = {}
    for ts in sessions:
        site_id, _code = layout.theatres[ts.theatre_id]
        key = ts.ref
        sim = SessionSim(
            key,
            ts.theatre_id,
            site_id,
            ts.specialty,
            ts.planned_start,
            ts.planned_end,
            ts.cancelled_reason,
        )
        world.sessions[key] = sim
        by_id[ts.id] = sim
    if by_id:
        cases = session.scalars(
            select(TheatreCase)
            .where(TheatreCase.session_id.in_(list(by_id)))
            .order_by(TheatreCase.session_id, TheatreCase.planned_start)
        ).all()
        order: dict[int, int] = defaultdict(int)
        for c in cases:
            sim = by_id[c.session_id]
            world.cases[c.ref] = CaseSim(
                ref=c.ref,
                session_id=c.session_id,
                session_key=sim.key,
                site_id=sim.site_id,
                procedure=c.procedure,
                planned_start=c.planned_start,
                planned_minutes=c.planned_minutes,
                order=order[c.session_id],
                inpatient=False,
                status=c.status,
                sent_for_at=c.sent_for_at,
                anaesthetic_at=c.anaesthetic_at,
                in_theatre_at=c.in_theatre_at,
                out_of_theatre_at=c.out_of_theatre_at,
                recovery_done_at=c.recovery_done_at,
                cancelled_at=c.cancelled_at,
                cancel_reason=c.cancel_reason,
            )
            order[c.session_id] += 1
            sim.case_refs.append(c.ref)
        _restore_inpatient_flags(world)
    world.resume()
    return world


def _restore_inpatient_flags(world: World) -> None:
    for sim in world.sessions.values():
        for planned in plan_cases(world.seed, sim):
            case = world.cases.get(planned.ref)
            if case is not None:
                case.inpatient = planned.inpatient
