"""Which location an external code names: HL7 v2 PL and FHIR Location identifiers.

Feeds call these with what a message carries; the codes come from the organisation
file (``ops.organisation``, stored in ``location_code``). Only codes of locations in
service count: a retired location's codes no longer resolve.

HL7 PL matching: components 1-3 (point of care, room, bed) must equal a code's;
components after facility (location status, building, floor ...) are ignored.
Facility (component 4): a message naming a facility matches a code with that
facility, else a code without one; a message without a facility matches a code
without one, else the only code with those components (several facilities: no match).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models.capacity import Bed, EdArea, Site, Theatre, Ward
from data.models.organisation import EdSpace, LocationCode


@dataclass(frozen=True)
class LocationMatch:
    """The location a code names; ``kind`` is the most specific level set."""

    kind: str  # bed, ward, ed_space, ed_area, theatre, site
    site_id: int
    site_code: str
    ward_id: int | None = None
    ward_code: str | None = None
    bed_id: int | None = None
    bed_label: str | None = None
    ed_area_id: int | None = None
    ed_area_code: str | None = None
    ed_space_id: int | None = None
    ed_space_label: str | None = None
    theatre_id: int | None = None
    theatre_code: str | None = None


def _clean(value: str | None) -> str:
    return (value or "").strip()


def _matches(session: Session, *conditions) -> list[tuple]:  # noqa: ANN002
    stmt = (
        select(
            LocationCode.facility,
            Site.id,
            Site.code,
            Ward.id,
            Ward.code,
            Bed.id,
            Bed.label,
            EdArea.id,
            EdArea.code,
            EdSpace.id,
            EdSpace.label,
            Theatre.id,
            Theatre.code,
        )
        .join(Site, Site.id == LocationCode.site_id)
        .outerjoin(Ward, Ward.id == LocationCode.ward_id)
        .outerjoin(Bed, Bed.id == LocationCode.bed_id)
        .outerjoin(EdArea, EdArea.id == LocationCode.ed_area_id)
        .outerjoin(EdSpace, EdSpace.id == LocationCode.ed_space_id)
        .outerjoin(Theatre, Theatre.id == LocationCode.theatre_id)
        .where(LocationCode.retired_at.is_(None), *conditions)
        .order_by(LocationCode.id)
    )
    return [tuple(r) for r in session.execute(stmt)]


def _match(row: tuple) -> LocationMatch:
    _, sid, scode, wid, wcode, bid, blabel, aid, acode, spid, splabel, tid, tcode = row
    if bid is not None:
        kind = "bed"
    elif spid is not None:
        kind = "ed_space"
    elif wid is not None:
        kind = "ward"
    elif aid is not None:
        kind = "ed_area"
    elif tid is not None:
        kind = "theatre"
    else:
        kind = "site"
    return LocationMatch(
        kind=kind,
        site_id=sid,
        site_code=scode,
        ward_id=wid,
        ward_code=wcode,
        bed_id=bid,
        bed_label=blabel,
        ed_area_id=aid,
        ed_area_code=acode,
        ed_space_id=spid,
        ed_space_label=splabel,
        theatre_id=tid,
        theatre_code=tcode,
    )


def resolve_hl7_location(
    session: Session,
    point_of_care: str | None,
    room: str | None = None,
    bed: str | None = None,
    facility: str | None = None,
) -> LocationMatch | None:
    """The bed, ward, ED space or area an HL7 v2 PL names; ``None`` if none (or
    several facilities share the components and the message names none)."""
    poc = _clean(point_of_care)
    if not poc:
        return None
    value = "^".join((poc, _clean(room), _clean(bed)))
    rows = _matches(session, LocationCode.scheme == "hl7", LocationCode.value == value)
    fac = _clean(facility)
    for wanted in (fac, ""):  # the facility named, then codes without one
        for r in rows:
            if r[0] == wanted:
                return _match(r)
    if not fac and len(rows) == 1:
        return _match(rows[0])
    return None


def resolve_fhir_location(
    session: Session, system: str | None, value: str | None
) -> LocationMatch | None:
    """The location a FHIR ``Location.identifier`` (system + value) names."""
    system, value = _clean(system), _clean(value)
    if not system or not value:
        return None
    rows = _matches(
        session,
        LocationCode.scheme == "fhir",
        LocationCode.system == system,
        LocationCode.value == value,
    )
    return _match(rows[0]) if rows else None


def resolve_hl7_pl(
    session: Session, pl: str | None, component_separator: str = "^"
) -> LocationMatch | None:
    """:func:`resolve_hl7_location` for a whole PL field (``CAR^^CAR-01^RGH^^^W4``)."""
    parts = (pl or "").split(component_separator)
    parts += [""] * (4 - len(parts))
    return resolve_hl7_location(session, *parts[:4])
