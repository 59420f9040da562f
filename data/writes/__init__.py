"""The write layer: every change to the operational store goes through here.

Operational events (beds, stays, ED, theatres) go through the event layer
(``data.writes.events.apply_events`` and the per-event functions in
``data.writes.inpatient``, ``data.writes.ed``, ``data.writes.theatres``), which every
feed uses, the demo simulator included. Each function works inside the caller's
transaction (``data.db.write_session``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from data.models.system import SimulationState
from data.writes.events import touch_feed

__all__ = ["get_simulation_state", "set_scenario", "touch_feed"]


def get_simulation_state(session: Session) -> SimulationState | None:
    return session.get(SimulationState, 1)


def set_scenario(session: Session, scenario: dict) -> SimulationState:
    state = session.get(SimulationState, 1)
    if state is None:
        raise LookupError("the demo trust has not been seeded")
    state.scenario = dict(scenario)
    return state
