"""Demo trust seed and the simulator's live tick.

``seed_demo`` builds the organisation and simulates ``history_days`` of history up to
``now``; the result depends only on the seed and ``now``. ``run_tick`` advances the
seeded trust to the present, writing through ``data.writes``.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from data.db import write_session
from feeds.demo_layout import SITES, SiteSpec
from data.models.capacity import Site
from data.models.system import SimulationState
from feeds.simulator import SCENARIOS, SOURCE, BedSim, StaySim, World, _floor
from data.writes import apply_world, create_organisation, load_layout, load_world

log = logging.getLogger(__name__)
MAX_CATCH_UP = timedelta(hours=6)


def is_seeded(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(Site)) or 0) > 0


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
) -> dict[str, int]:
    """Create a trust with ``history_days`` of simulated history ending at ``now``.

    The demo trust by default; ``bench/`` passes a regional layout. With ``chunk_days``
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
        create_organisation(session, start, sites)
        session.flush()
        layout = load_layout(session, zone, sites)
        world = World(layout, seed, start, scenario)
        from data.models.capacity import Bed

        for b in session.scalars(select(Bed).order_by(Bed.id)):
            world.add_bed(BedSim(b.id, b.ward_id, b.is_escalation, b.state, start))
        _initial_occupancy(world, start)
        local_start = start.astimezone(zone)
        world._plan_theatre_day(local_start.date(), start)
        counts: dict[str, int] = {}
        step = timedelta(days=chunk_days) if chunk_days else now - start
        t = start
        while t < now:
            t = min(now, t + step)
            world.advance(t)
            for key, n in apply_world(session, world, source=SOURCE).items():
                counts[key] = counts.get(key, 0) + n
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
        world.bed_events.append(_event(bed, start))
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
        if ward.ward_type == "assessment":
            world.schedule(start + timedelta(hours=rng.uniform(1, 20)), "assessed", ref)
            stay.expected_discharge_at = start + timedelta(days=1)
        else:
            remaining = rng.lognormvariate(math.log(2.5), 0.8)
            ready = start + timedelta(days=remaining)
            stay.expected_discharge_at = ready
            world.schedule(ready, "ready", ref)


def _event(bed: BedSim, at: datetime):  # noqa: ANN202
    from feeds.simulator import BedEventRow

    return BedEventRow(bed.id, at, bed.state, None, bed.reason)


def run_tick(
    factory: sessionmaker[Session], *, now: datetime, tz: str
) -> dict[str, int] | None:
    """Advance the seeded trust to ``now`` (at most MAX_CATCH_UP per call)."""
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
        world = load_world(session, layout, state.seed, start, scenario)
        world.apply_closures(start)
        world.advance(until)
        counts = apply_world(session, world)
        state.simulated_until = until
        return counts


def resolve_scenario(session: Session, scenario: dict) -> dict:
    """Turn ward codes ("RGH-COE2") in a scenario into ward ids for the model."""
    from data.models.capacity import Ward

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
