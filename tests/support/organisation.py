"""Loading an organisation (the demo trust's structure, no events) in tests.

The one place tests load an organisation without any feed having reported: sites,
wards, beds, ED areas and theatres only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from data.db import create_db_engine, make_session_factory, upgrade, write_session
from tests.support.apps import FROZEN_NOW


def load_organisation(session: Session, at: datetime = FROZEN_NOW) -> None:
    """Load the demo trust's organisation file into ``session`` (the caller commits)."""
    from data.writes.organisation import apply_organisation
    from feeds.seed import DEMO_ORGANISATION
    from ops.organisation import load_organisation_file

    apply_organisation(
        session,
        load_organisation_file(DEMO_ORGANISATION),
        at=at,
        actor_username="test",
        actor_role="admin",
    )


def load_organisation_into(url: str, at: datetime = FROZEN_NOW) -> None:
    """Upgrade the database at ``url`` and load the organisation, committed."""
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        with write_session(make_session_factory(engine)) as session:
            load_organisation(session, at)
    finally:
        engine.dispose()
