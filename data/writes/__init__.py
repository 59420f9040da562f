"""The write layer: every change to the operational store goes through here.

The simulator uses it today; HL7/FHIR/CSV feeds will use the same functions. Each
function works inside the caller's transaction (``data.db.write_session``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from feeds import demo_layout
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
    WardOccupancyHour,
)
from data.models.system import FeedStatus, SimulationState
from feeds.simulator import (
    SOURCE,
    AttSim,
    BedSim,
    CaseSim,
    Layout,
    SessionSim,
    StaySim,
    WardInfo,
    World,
)


class ConcurrentUpdateError(RuntimeError):
    """A row changed under us (optimistic concurrency); the caller may retry."""


def create_organisation(
    session: Session,
    at: datetime,
    sites: tuple[demo_layout.SiteSpec, ...] = demo_layout.SITES,
    trust_code: str = demo_layout.TRUST_CODE,
    trust_name: str = demo_layout.TRUST_NAME,
) -> None:
    """Create a trust's sites, wards, beds, ED areas and theatres (the demo by default)."""
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
    sites: tuple[demo_layout.SiteSpec, ...] = demo_layout.SITES,  # noqa: ANN001
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
    session: Session, layout: Layout, seed: int, now: datetime, scenario: dict
) -> World:
    """The live state the simulator needs, read from the store."""
    world = World(layout, seed, now, scenario)
    for b in session.scalars(select(Bed)):
        world.add_bed(
            BedSim(
                b.id,
                b.ward_id,
                b.is_escalation,
                b.state,
                b.state_since,
                b.patient_ref,
                b.state_reason,
                b.version,
                loaded_version=b.version,
            )
        )
    for s in session.scalars(
        select(InpatientStay).where(InpatientStay.discharged_at.is_(None))
    ):
        ward = layout.wards[s.ward_id]
        group = "surgery" if s.admission_source == "elective" else ward.group
        world.stays[s.patient_ref] = StaySim(
            ref=s.patient_ref,
            site_id=s.site_id,
            ward_id=s.ward_id,
            bed_id=s.bed_id,
            admitted_at=s.admitted_at,
            source=s.admission_source,
            group=group,
            expected_discharge_at=s.expected_discharge_at,
            medically_ready_at=s.medically_ready_at,
            pathway=s.discharge_pathway,
            db_id=s.id,
            dirty=False,
        )
    area_codes = {v: k[1] for k, v in layout.areas.items()}
    for a in session.scalars(
        select(EdAttendance).where(EdAttendance.departure_at.is_(None))
    ):
        world.add_attendance(
            AttSim(
                ref=a.ref,
                site_id=a.site_id,
                area=area_codes[a.area_id],
                arrival_at=a.arrival_at,
                mode=a.mode,
                triage=a.triage,
                handover_at=a.handover_at,
                seen_at=a.seen_at,
                decision_to_admit_at=a.decision_to_admit_at,
                db_id=a.id,
                dirty=False,
            )
        )
    horizon = now - timedelta(hours=36)
    sessions = session.scalars(
        select(TheatreSession).where(TheatreSession.planned_start >= horizon)
    ).all()
    by_id: dict[int, SessionSim] = {}
    for ts in sessions:
        site_id, code = layout.theatres[ts.theatre_id]
        local_day = ts.planned_start.astimezone(layout.tz)
        key = f"{site_id}-{code}-{local_day:%Y%m%d}-{local_day.hour:02d}"
        sim = SessionSim(
            key,
            ts.theatre_id,
            site_id,
            ts.specialty,
            ts.planned_start,
            ts.planned_end,
            ts.cancelled_reason,
            db_id=ts.id,
            dirty=False,
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
                db_id=c.id,
                dirty=False,
            )
            order[c.session_id] += 1
            sim.case_refs.append(c.ref)
        _restore_inpatient_flags(world)
    world.resume()
    return world


def _restore_inpatient_flags(world: World) -> None:
    from feeds.simulator import plan_cases

    for sim in world.sessions.values():
        for planned in plan_cases(world.seed, sim):
            case = world.cases.get(planned.ref)
            if case is not None:
                case.inpatient = planned.inpatient


def apply_world(
    session: Session, world: World, *, source: str = SOURCE
) -> dict[str, int]:
    """Write every change the world recorded; returns counts of rows written."""
    counts: dict[str, int] = defaultdict(int)
    area_ids = world.layout.areas
    # Theatre sessions first: cases refer to them.
    new_sessions = [s for s in world.sessions.values() if s.db_id is None]
    if new_sessions:
        rows = session.execute(
            insert(TheatreSession).returning(
                TheatreSession.id, sort_by_parameter_order=True
            ),
            [
                {
                    "theatre_id": s.theatre_id,
                    "specialty": s.specialty,
                    "planned_start": s.planned_start,
                    "planned_end": s.planned_end,
                    "cancelled_reason": s.cancelled_reason,
                }
                for s in new_sessions
            ],
        ).all()
        for s, row in zip(new_sessions, rows, strict=True):
            s.db_id = row.id
            s.dirty = False
        counts["theatre_session"] += len(rows)
    changed_sessions = [s for s in world.sessions.values() if s.dirty]
    if changed_sessions:
        session.execute(
            update(TheatreSession),
            [
                {"id": s.db_id, "cancelled_reason": s.cancelled_reason}
                for s in changed_sessions
            ],
        )
    case_fields = (
        "status",
        "sent_for_at",
        "anaesthetic_at",
        "in_theatre_at",
        "out_of_theatre_at",
        "recovery_done_at",
        "cancelled_at",
        "cancel_reason",
    )
    new_cases, upd_cases = [], []
    for c in world.cases.values():
        if not c.dirty:
            continue
        values = {f: getattr(c, f) for f in case_fields}
        if c.db_id is None:
            values.update(
                ref=c.ref,
                session_id=world.sessions[c.session_key].db_id,
                procedure=c.procedure,
                planned_start=c.planned_start,
                planned_minutes=c.planned_minutes,
            )
            new_cases.append(values)
        else:
            upd_cases.append({"id": c.db_id, **values})
        c.dirty = False
    _bulk(session, TheatreCase, new_cases, upd_cases, counts, "theatre_case")

    att_fields = (
        "handover_at",
        "seen_at",
        "decision_to_admit_at",
        "departure_at",
        "disposition",
    )
    new_atts, upd_atts = [], []
    for a in world.atts.values():
        if not a.dirty:
            continue
        values = {f: getattr(a, f) for f in att_fields}
        if a.db_id is None:
            values.update(
                ref=a.ref,
                site_id=a.site_id,
                area_id=area_ids[(a.site_id, a.area)],
                arrival_at=a.arrival_at,
                mode=a.mode,
                triage=a.triage,
            )
            new_atts.append(values)
        else:
            upd_atts.append({"id": a.db_id, **values})
        a.dirty = False
    _bulk(session, EdAttendance, new_atts, upd_atts, counts, "ed_attendance")

    stay_fields = (
        "ward_id",
        "bed_id",
        "expected_discharge_at",
        "medically_ready_at",
        "discharge_pathway",
        "discharged_at",
    )
    new_stays, upd_stays = [], []
    for s in world.stays.values():
        if not s.dirty:
            continue
        values = {
            "ward_id": s.ward_id,
            "bed_id": s.bed_id,
            "expected_discharge_at": s.expected_discharge_at,
            "medically_ready_at": s.medically_ready_at,
            "discharge_pathway": s.pathway,
            "discharged_at": s.discharged_at,
        }
        assert set(values) == set(stay_fields)
        if s.db_id is None:
            values.update(
                patient_ref=s.ref,
                site_id=s.site_id,
                admitted_at=s.admitted_at,
                admission_source=s.source,
            )
            new_stays.append(values)
        else:
            upd_stays.append({"id": s.db_id, **values})
        s.dirty = False

    # Beds: clear patient refs that are leaving before setting new ones (unique column).
    dirty_beds = [b for b in world.beds.values() if b.dirty]
    if dirty_beds:
        loaded_versions = {
            row.id: row.version
            for row in session.execute(
                select(Bed.id, Bed.version).where(
                    Bed.id.in_([b.id for b in dirty_beds])
                )
            )
        }
        beds = Bed.__table__
        session.execute(
            beds.update()
            .where(beds.c.id == bindparam("b_id"))
            .values(patient_ref=None),
            [{"b_id": b.id} for b in dirty_beds],
        )
        for b in dirty_beds:
            if (
                b.loaded_version is not None
                and loaded_versions.get(b.id) != b.loaded_version
            ):
                raise ConcurrentUpdateError(f"bed {b.id} changed under the simulator")
        session.execute(
            beds.update()
            .where(beds.c.id == bindparam("b_id"))
            .values(
                state=bindparam("b_state"),
                state_since=bindparam("b_since"),
                state_reason=bindparam("b_reason"),
                patient_ref=bindparam("b_patient"),
                version=bindparam("b_version"),
            ),
            [
                {
                    "b_id": b.id,
                    "b_state": b.state,
                    "b_since": b.since,
                    "b_reason": b.reason,
                    "b_patient": b.patient_ref,
                    "b_version": b.version,
                }
                for b in dirty_beds
            ],
        )
        counts["bed"] += len(dirty_beds)
        for b in dirty_beds:
            b.dirty = False
    _bulk(session, InpatientStay, new_stays, upd_stays, counts, "inpatient_stay")
    if world.bed_events:
        session.execute(
            insert(BedEvent),
            [
                {
                    "bed_id": e.bed_id,
                    "at": e.at,
                    "state": e.state,
                    "patient_ref": e.patient_ref,
                    "reason": e.reason,
                    "source": source,
                }
                for e in world.bed_events
            ],
        )
        counts["bed_event"] += len(world.bed_events)
        world.bed_events.clear()
    if world.hour_rows:
        hours = {h for _, h, _ in world.hour_rows}
        existing = (
            set(
                session.execute(
                    select(
                        WardOccupancyHour.ward_id, WardOccupancyHour.hour_start
                    ).where(WardOccupancyHour.hour_start.in_(list(hours)))
                )
            )
            if len(hours) < 200
            else set()
        )
        rows = [
            {"ward_id": w, "hour_start": h, **c}
            for w, h, c in world.hour_rows
            if (w, h) not in existing
        ]
        if rows:
            session.execute(insert(WardOccupancyHour), rows)
        counts["ward_occupancy_hour"] += len(rows)
        world.hour_rows.clear()
    touch_feed(
        session,
        source,
        world.now,
        detail=", ".join(f"{k}={v}" for k, v in counts.items()),
    )
    return dict(counts)


def _bulk(
    session: Session, model, new: list[dict], upd: list[dict], counts, name: str
) -> None:  # noqa: ANN001
    if new:
        session.execute(insert(model), new)
    if upd:
        session.execute(update(model).execution_options(synchronize_session=False), upd)
    counts[name] += len(new) + len(upd)


def touch_feed(
    session: Session, feed: str, at: datetime, detail: str | None = None
) -> None:
    row = session.get(FeedStatus, feed)
    if row is None:
        session.add(
            FeedStatus(feed=feed, last_write_at=at, detail=(detail or "")[:200])
        )
    else:
        row.last_write_at = at
        row.detail = (detail or "")[:200]


def get_simulation_state(session: Session) -> SimulationState | None:
    return session.get(SimulationState, 1)


def set_scenario(session: Session, scenario: dict) -> SimulationState:
    state = session.get(SimulationState, 1)
    if state is None:
        raise LookupError("the demo trust has not been seeded")
    state.scenario = dict(scenario)
    return state
