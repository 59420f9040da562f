"""Load an organisation file into the store: diff, apply (add / rename / retire), export.

The file (``ops.organisation``) says what a trust's sites, wards, beds, ED areas, ED
spaces and theatres are now; :func:`apply_organisation` changes the store by exactly
the difference, inside the caller's transaction:

- a location in the file but not in the store is **added** (a new bed gets one
  ``bed_event`` at ``at``: ``available`` for a core bed, ``closed`` for an escalation
  bed, source ``organisation``);
- a location in both is updated in place (**renamed**, attributes **changed**, codes
  **codes_changed**); a retired one that is back in the file is **reactivated**;
- a location no longer in the file is **retired** (``retired_at`` set, its bed closed
  with a ``bed_event``), never deleted, so history keeps pointing at it. Retiring a
  bed that holds a patient, a ward with patients or an ED area with patients is an
  error and nothing is applied.

Locations are identified by codes: site code; ward and ED area and theatre code within
their site; bed label within its ward; space label within its area. A bed moved to
another ward is therefore retired on the old ward and added on the new one.

Every load is audited (action ``organisation.load``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.audit import record_audit
from data.models.capacity import (
    Bed,
    BedEvent,
    EdArea,
    EdAttendance,
    InpatientStay,
    Site,
    Theatre,
    Trust,
    Ward,
)
from data.models.organisation import EdSpace, LocationCode
from ops.organisation import (
    BedDef,
    Codes,
    EdAreaDef,
    FhirCode,
    Hl7Code,
    Organisation,
    SiteDef,
    SpaceDef,
    TheatreDef,
    TrustDef,
    WardDef,
    to_document,
)

SOURCE = "organisation"
KINDS = ("trust", "site", "ward", "bed", "ed_area", "ed_space", "theatre")
CHANGES = ("added", "renamed", "changed", "codes_changed", "reactivated", "retired")
_AUDIT_LINES = 500


@dataclass(frozen=True)
class LocationChange:
    """One change to one location; ``key`` is ``SITE/WARD/BED``-style."""

    kind: str
    key: str
    change: str
    before: Any = None
    after: Any = None

    def line(self) -> str:
        label = self.kind.replace("_", " ")
        if self.change == "renamed":
            return f"{label} {self.key}: renamed {self.before!r} -> {self.after!r}"
        if self.change == "changed":
            parts = ", ".join(
                f"{k} {self.before[k]!r} -> {self.after[k]!r}" for k in self.after
            )
            return f"{label} {self.key}: {parts}"
        if self.change == "codes_changed":
            old = ", ".join(self.before) or "none"
            new = ", ".join(self.after) or "none"
            return f"{label} {self.key}: codes {old} -> {new}"
        return f"{label} {self.key}: {self.change}"


@dataclass
class OrganisationDiff:
    """What loading a file changes (or changed). ``problems`` block applying it."""

    trust_code: str
    changes: list[LocationChange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def keys(self, kind: str, change: str) -> list[str]:
        return [c.key for c in self.changes if c.kind == kind and c.change == change]

    def summary(self) -> dict[str, dict[str, int]]:
        """``{kind: {change: n}}`` for the kinds and changes that occur."""
        out: dict[str, dict[str, int]] = defaultdict(dict)
        for (kind, change), n in Counter(
            (c.kind, c.change) for c in self.changes
        ).items():
            out[kind][change] = n
        return {k: dict(out[k]) for k in KINDS if k in out}

    def lines(self) -> list[str]:
        """Readable lines: a summary per kind, then each change."""
        if self.is_empty:
            out = [f"trust {self.trust_code}: no changes"]
        else:
            out = [f"trust {self.trust_code}:"]
            for kind, counts in self.summary().items():
                parts = ", ".join(
                    f"{n} {ch}" for ch in CHANGES if (n := counts.get(ch))
                )
                out.append(f"  {kind.replace('_', ' ')}s: {parts}")
            out.append("changes:")
            out.extend(f"  {c.line()}" for c in self.changes)
        if self.problems:
            out.append("problems (nothing can be applied):")
            out.extend(f"  {p}" for p in self.problems)
        return out


class OrganisationApplyError(ValueError):
    """The file cannot be applied to this store; ``errors`` lists why."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


# ---------------------------------------------------------------------------
# Reading the store's side
# ---------------------------------------------------------------------------


@dataclass
class _Store:
    trust: Trust | None
    sites: dict[str, Site]
    wards: dict[tuple[str, str], Ward]
    beds: dict[tuple[str, str, str], Bed]
    areas: dict[tuple[str, str], EdArea]
    spaces: dict[tuple[str, str, str], EdSpace]
    theatres: dict[tuple[str, str], Theatre]
    codes: dict[tuple[str, ...], list[LocationCode]]  # active codes by location
    foreign_codes: set[tuple[str, str, str]]  # active codes of other trusts
    other_trust_sites: dict[str, str]  # site code -> trust code


def _code_key(row: LocationCode) -> tuple[str, str, str]:
    if row.scheme == "hl7":
        return ("hl7", row.value, row.facility)
    return ("fhir", row.value, row.system)


def _code_text(key: tuple[str, str, str]) -> str:
    scheme, value, extra = key
    if scheme == "hl7":
        return f"hl7 {value}^{extra}".rstrip("^")
    return f"fhir {extra}|{value}"


def _load_store(session: Session, trust_code: str) -> _Store:
    trust = session.scalar(select(Trust).where(Trust.code == trust_code))
    trust_codes = dict(session.execute(select(Trust.id, Trust.code)).all())
    sites: dict[str, Site] = {}
    other: dict[str, str] = {}
    for s in session.scalars(select(Site).order_by(Site.id)):
        if trust is not None and s.trust_id == trust.id:
            sites[s.code] = s
        else:
            other[s.code] = trust_codes.get(s.trust_id, "?")
    by_id = {s.id: s for s in sites.values()}
    site_ids = list(by_id)
    wards: dict[tuple[str, str], Ward] = {}
    ward_by_id: dict[int, Ward] = {}
    beds: dict[tuple[str, str, str], Bed] = {}
    areas: dict[tuple[str, str], EdArea] = {}
    area_by_id: dict[int, EdArea] = {}
    spaces: dict[tuple[str, str, str], EdSpace] = {}
    theatres: dict[tuple[str, str], Theatre] = {}
    ident: dict[tuple[str, int], tuple[str, ...]] = {}
    if site_ids:
        for w in session.scalars(
            select(Ward).where(Ward.site_id.in_(site_ids)).order_by(Ward.id)
        ):
            wards[(by_id[w.site_id].code, w.code)] = w
            ward_by_id[w.id] = w
            ident[("ward", w.id)] = ("ward", by_id[w.site_id].code, w.code)
        if ward_by_id:
            for b in session.scalars(
                select(Bed).where(Bed.ward_id.in_(list(ward_by_id))).order_by(Bed.id)
            ):
                w = ward_by_id[b.ward_id]
                key = (by_id[w.site_id].code, w.code, b.label)
                beds[key] = b
                ident[("bed", b.id)] = ("bed", *key)
        for a in session.scalars(
            select(EdArea).where(EdArea.site_id.in_(site_ids)).order_by(EdArea.id)
        ):
            areas[(by_id[a.site_id].code, a.code)] = a
            area_by_id[a.id] = a
            ident[("ed_area", a.id)] = ("ed_area", by_id[a.site_id].code, a.code)
        if area_by_id:
            for sp in session.scalars(
                select(EdSpace)
                .where(EdSpace.ed_area_id.in_(list(area_by_id)))
                .order_by(EdSpace.id)
            ):
                a = area_by_id[sp.ed_area_id]
                key = (by_id[a.site_id].code, a.code, sp.label)
                spaces[key] = sp
                ident[("ed_space", sp.id)] = ("ed_space", *key)
        for t in session.scalars(
            select(Theatre).where(Theatre.site_id.in_(site_ids)).order_by(Theatre.id)
        ):
            theatres[(by_id[t.site_id].code, t.code)] = t
            ident[("theatre", t.id)] = ("theatre", by_id[t.site_id].code, t.code)
    codes: dict[tuple[str, ...], list[LocationCode]] = defaultdict(list)
    foreign: set[tuple[str, str, str]] = set()
    for row in session.scalars(
        select(LocationCode)
        .where(LocationCode.retired_at.is_(None))
        .order_by(LocationCode.id)
    ):
        if row.site_id not in by_id:
            foreign.add(_code_key(row))
            continue
        codes[_row_location(row, by_id, ident)].append(row)
    return _Store(
        trust, sites, wards, beds, areas, spaces, theatres, codes, foreign, other
    )


def _row_location(
    row: LocationCode,
    sites: dict[int, Site],
    ident: dict[tuple[str, int], tuple[str, ...]],
) -> tuple[str, ...]:
    for kind, value in (
        ("bed", row.bed_id),
        ("ed_space", row.ed_space_id),
        ("ward", row.ward_id),
        ("ed_area", row.ed_area_id),
        ("theatre", row.theatre_id),
    ):
        if value is not None:
            return ident[(kind, value)]
    return ("site", sites[row.site_id].code)


# ---------------------------------------------------------------------------
# The diff
# ---------------------------------------------------------------------------


def _file_locations(
    org: Organisation,
) -> dict[str, dict[tuple[str, ...], Any]]:
    out: dict[str, dict[tuple[str, ...], Any]] = {k: {} for k in KINDS[1:]}
    for s in org.sites:
        out["site"][(s.code,)] = s
        for w in s.wards:
            out["ward"][(s.code, w.code)] = w
            for b in w.beds:
                out["bed"][(s.code, w.code, b.label)] = b
        for a in s.ed_areas:
            out["ed_area"][(s.code, a.code)] = a
            for sp in a.spaces:
                out["ed_space"][(s.code, a.code, sp.label)] = sp
        for t in s.theatres:
            out["theatre"][(s.code, t.code)] = t
    return out


def _store_locations(store: _Store) -> dict[str, dict[tuple[str, ...], Any]]:
    return {
        "site": {(k,): v for k, v in store.sites.items()},
        "ward": dict(store.wards),
        "bed": dict(store.beds),
        "ed_area": dict(store.areas),
        "ed_space": dict(store.spaces),
        "theatre": dict(store.theatres),
    }


def _attributes(kind: str, item: Any) -> dict[str, Any]:
    """Comparable attributes other than the name (file and store sides alike)."""
    if kind == "site":
        return {"ods_code": item.ods_code}
    if kind == "ward":
        return {
            "specialty": item.specialty,
            "ward_type": item.ward_type,
            "general_and_acute": item.general_and_acute,
            "core_beds": item.core_beds,
        }
    if kind == "bed":
        esc = item.escalation if isinstance(item, BedDef) else item.is_escalation
        return {
            "escalation": esc,
            "side_room": item.side_room,
            "isolation_capable": item.isolation_capable,
        }
    if kind == "theatre":
        emergency = (
            item.emergency if isinstance(item, TheatreDef) else item.is_emergency
        )
        return {"suite": item.suite, "emergency": emergency}
    return {}


def _name(kind: str, item: Any) -> str | None:
    return getattr(item, "name", None)


@dataclass
class _Plan:
    diff: OrganisationDiff
    store: _Store
    files: dict[str, dict[tuple[str, ...], Any]]
    # locations whose active codes differ from the file's (added ones included)
    recode: list[tuple[str, tuple[str, ...]]]
    retiring: set[tuple[str, ...]]  # (kind, *key) of locations to retire


def _plan(session: Session, org: Organisation) -> _Plan:
    store = _load_store(session, org.trust.code)
    diff = OrganisationDiff(trust_code=org.trust.code)
    files = _file_locations(org)
    stored = _store_locations(store)
    if store.trust is None:
        diff.changes.append(LocationChange("trust", org.trust.code, "added"))
    elif store.trust.name != org.trust.name:
        diff.changes.append(
            LocationChange(
                "trust", org.trust.code, "renamed", store.trust.name, org.trust.name
            )
        )
    for code in files["site"]:
        if code[0] in store.other_trust_sites:
            diff.problems.append(
                f"site {code[0]} belongs to trust "
                f"{store.other_trust_sites[code[0]]} in this database"
            )
    recode: list[tuple[str, tuple[str, ...]]] = []
    retiring: set[tuple[str, ...]] = set()
    new_keys: set[tuple[str, str, str]] = set()
    for kind in KINDS[1:]:
        mine, theirs = files[kind], stored[kind]
        for key, item in mine.items():
            label = "/".join(key)
            row = theirs.get(key)
            codes_now = {_code_key(r) for r in store.codes.get((kind, *key), [])}
            codes_file = item.codes.keys()
            new_keys |= codes_file
            if row is None:
                diff.changes.append(LocationChange(kind, label, "added"))
                if codes_file:
                    recode.append((kind, key))
                continue
            if row.retired_at is not None:
                diff.changes.append(LocationChange(kind, label, "reactivated"))
            if _name(kind, row) != _name(kind, item):
                diff.changes.append(
                    LocationChange(
                        kind, label, "renamed", _name(kind, row), _name(kind, item)
                    )
                )
            before, after = _attributes(kind, row), _attributes(kind, item)
            changed = [k for k in after if before[k] != after[k]]
            if changed:
                diff.changes.append(
                    LocationChange(
                        kind,
                        label,
                        "changed",
                        {k: before[k] for k in changed},
                        {k: after[k] for k in changed},
                    )
                )
            if codes_now != codes_file:
                recode.append((kind, key))
                if row.retired_at is None:
                    diff.changes.append(
                        LocationChange(
                            kind,
                            label,
                            "codes_changed",
                            sorted(_code_text(k) for k in codes_now),
                            sorted(_code_text(k) for k in codes_file),
                        )
                    )
        for key, row in theirs.items():
            if key in mine or row.retired_at is not None:
                continue
            diff.changes.append(LocationChange(kind, "/".join(key), "retired"))
            retiring.add((kind, *key))
            diff.problems.extend(_retire_problems(session, kind, key, row))
    for key in sorted(new_keys & store.foreign_codes):
        diff.problems.append(
            f"code {_code_text(key)} already names a location of another trust"
        )
    return _Plan(diff, store, files, recode, retiring)


def _retire_problems(
    session: Session, kind: str, key: tuple[str, ...], row: Any
) -> list[str]:
    label = "/".join(key)
    if kind == "bed" and (row.patient_ref is not None or row.state == "occupied"):
        return [f"bed {label} cannot be retired: it holds a patient"]
    if kind == "ward":
        n = session.scalar(
            select(InpatientStay.id)
            .where(
                InpatientStay.ward_id == row.id, InpatientStay.discharged_at.is_(None)
            )
            .limit(1)
        )
        if n is not None:
            return [f"ward {label} cannot be retired: patients are still on it"]
    if kind == "ed_area":
        n = session.scalar(
            select(EdAttendance.id)
            .where(EdAttendance.area_id == row.id, EdAttendance.departure_at.is_(None))
            .limit(1)
        )
        if n is not None:
            return [f"ED area {label} cannot be retired: patients are still in it"]
    return []


def diff_organisation(session: Session, org: Organisation) -> OrganisationDiff:
    """What :func:`apply_organisation` would change; the store is not touched."""
    return _plan(session, org).diff


# ---------------------------------------------------------------------------
# Applying
# ---------------------------------------------------------------------------


def _initial_state(bed: BedDef) -> str:
    return "closed" if bed.escalation else "available"


def _summary(diff: OrganisationDiff) -> dict[str, Any]:
    lines = [c.line() for c in diff.changes]
    return {
        "summary": diff.summary(),
        "changes": lines[:_AUDIT_LINES],
        "more_changes": max(0, len(lines) - _AUDIT_LINES),
    }


def _store_counts(session: Session, trust: Trust | None) -> dict[str, int]:
    if trust is None:
        return {}
    org = _organisation_from_store(session, trust)
    return org.counts()


def apply_organisation(
    session: Session,
    org: Organisation,
    *,
    at: datetime,
    actor_username: str,
    actor_role: str,
) -> OrganisationDiff:
    """Change the store to match ``org`` (in the caller's transaction); the diff.

    Raises :class:`OrganisationApplyError` (nothing changed) when the file cannot be
    applied, e.g. it would retire a bed that holds a patient.
    """
    plan = _plan(session, org)
    diff, store, files = plan.diff, plan.store, plan.files
    if diff.problems:
        raise OrganisationApplyError(diff.problems)
    before = {"counts": _store_counts(session, store.trust)}

    trust = store.trust
    if trust is None:
        trust = Trust(code=org.trust.code, name=org.trust.name)
        session.add(trust)
        session.flush()
    else:
        trust.name = org.trust.name

    # Codes of locations being re-coded or retired stop first, so a code may move.
    retiring = plan.retiring
    recoding = {(kind, *key) for kind, key in plan.recode}
    for loc, rows in store.codes.items():
        if loc in retiring or loc in recoding:
            for r in rows:
                r.retired_at = at
    session.flush()

    sites = _apply_sites(session, store, files["site"], trust, at)
    wards = _apply_wards(session, store, files["ward"], sites, at)
    beds = _apply_beds(session, store, files["bed"], wards, at)
    areas = _apply_areas(session, store, files["ed_area"], sites, at)
    spaces = _apply_spaces(session, store, files["ed_space"], areas, at)
    theatres = _apply_theatres(session, store, files["theatre"], sites, at)
    for a in areas.values():
        a.spaces = 0
    for (site, area, _), sp in spaces.items():
        if sp.retired_at is None:
            areas[(site, area)].spaces += 1
    session.flush()

    new_codes = []
    for kind, key in plan.recode:
        item = files[kind][key]
        ids: dict[str, Any] = {"site_id": sites[key[:1]].id}
        if kind == "ward":
            ids["ward_id"] = wards[key].id
        elif kind == "bed":
            ids["ward_id"] = wards[key[:2]].id
            ids["bed_id"] = beds[key].id
        elif kind == "ed_area":
            ids["ed_area_id"] = areas[key].id
        elif kind == "ed_space":
            ids["ed_area_id"] = areas[key[:2]].id
            ids["ed_space_id"] = spaces[key].id
        elif kind == "theatre":
            ids["theatre_id"] = theatres[key].id
        new_codes.extend(_code_rows(item.codes, ids, at))
    session.add_all(new_codes)
    session.flush()

    record_audit(
        session,
        actor_username=actor_username,
        actor_role=actor_role,
        action="organisation.load",
        entity_type="trust",
        entity_id=org.trust.code,
        before=before,
        after={
            "source": org.source,
            "counts": org.counts(),
            **_summary(diff),
        },
        at=at,
    )
    return diff


def _code_rows(codes: Codes, ids: dict[str, Any], at: datetime) -> list[LocationCode]:
    rows = [
        LocationCode(
            scheme="hl7",
            system="",
            value=h.value,
            facility=h.facility or "",
            created_at=at,
            **ids,
        )
        for h in codes.hl7
    ]
    rows += [
        LocationCode(
            scheme="fhir",
            system=f.system,
            value=f.value,
            facility="",
            created_at=at,
            **ids,
        )
        for f in codes.fhir
    ]
    return rows


def _retire_missing(rows: dict, wanted: dict, at: datetime) -> None:
    for key, row in rows.items():
        if key not in wanted and row.retired_at is None:
            row.retired_at = at


def _apply_sites(
    session: Session, store: _Store, files: dict, trust: Trust, at: datetime
) -> dict[tuple[str, ...], Site]:
    out: dict[tuple[str, ...], Site] = {(k,): v for k, v in store.sites.items()}
    _retire_missing(out, files, at)
    for key, s in files.items():
        row = out.get(key)
        if row is None:
            row = Site(trust_id=trust.id, code=s.code, name=s.name)
            session.add(row)
            out[key] = row
        row.name, row.ods_code, row.retired_at = s.name, s.ods_code, None
    session.flush()
    return out


def _apply_wards(
    session: Session, store: _Store, files: dict, sites: dict, at: datetime
) -> dict[tuple[str, ...], Ward]:
    out: dict[tuple[str, ...], Ward] = dict(store.wards)
    _retire_missing(out, files, at)
    for key, w in files.items():
        row = out.get(key)
        if row is None:
            row = Ward(
                site_id=sites[key[:1]].id,
                code=w.code,
                name=w.name,
                specialty=w.specialty,
                ward_type=w.ward_type,
                core_beds=w.core_beds,
                general_and_acute=w.general_and_acute,
            )
            session.add(row)
            out[key] = row
        row.name, row.specialty, row.ward_type = w.name, w.specialty, w.ward_type
        row.general_and_acute, row.core_beds = w.general_and_acute, w.core_beds
        row.retired_at = None
    session.flush()
    return out


def _bed_event(bed: Bed, state: str, at: datetime, reason: str | None) -> BedEvent:
    return BedEvent(
        bed_id=bed.id,
        at=at,
        state=state,
        patient_ref=None,
        reason=reason,
        source=SOURCE,
    )


def _apply_beds(
    session: Session, store: _Store, files: dict, wards: dict, at: datetime
) -> dict[tuple[str, ...], Bed]:
    out: dict[tuple[str, ...], Bed] = dict(store.beds)
    events: list[tuple[Bed, str, str | None]] = []
    for key, row in out.items():
        if key in files or row.retired_at is not None:
            continue
        row.retired_at = at
        if row.state != "closed":
            row.state, row.state_since, row.state_reason = "closed", at, "retired"
            events.append((row, "closed", "retired"))
    for key, b in files.items():
        row = out.get(key)
        state = _initial_state(b)
        if row is None:
            row = Bed(
                ward_id=wards[key[:2]].id,
                label=b.label,
                is_escalation=b.escalation,
                state=state,
                state_since=at,
                state_reason=None,
                side_room=b.side_room,
                isolation_capable=b.isolation_capable,
            )
            session.add(row)
            out[key] = row
            events.append((row, state, None))
            continue
        if row.retired_at is not None:
            row.retired_at = None
            row.state, row.state_since, row.state_reason = state, at, None
            events.append((row, state, "reactivated"))
        if (row.is_escalation, row.side_room, row.isolation_capable) != (
            b.escalation,
            b.side_room,
            b.isolation_capable,
        ):
            row.is_escalation = b.escalation
            row.side_room, row.isolation_capable = b.side_room, b.isolation_capable
    session.flush()
    session.add_all(_bed_event(bed, state, at, reason) for bed, state, reason in events)
    return out


def _apply_areas(
    session: Session, store: _Store, files: dict, sites: dict, at: datetime
) -> dict[tuple[str, ...], EdArea]:
    out: dict[tuple[str, ...], EdArea] = dict(store.areas)
    _retire_missing(out, files, at)
    for key, a in files.items():
        row = out.get(key)
        if row is None:
            row = EdArea(site_id=sites[key[:1]].id, code=a.code, name=a.name, spaces=0)
            session.add(row)
            out[key] = row
        row.name, row.retired_at = a.name, None
    session.flush()
    return out


def _apply_spaces(
    session: Session, store: _Store, files: dict, areas: dict, at: datetime
) -> dict[tuple[str, ...], EdSpace]:
    out: dict[tuple[str, ...], EdSpace] = dict(store.spaces)
    _retire_missing(out, files, at)
    for key, sp in files.items():
        row = out.get(key)
        if row is None:
            row = EdSpace(ed_area_id=areas[key[:2]].id, label=sp.label)
            session.add(row)
            out[key] = row
        row.retired_at = None
    session.flush()
    return out


def _apply_theatres(
    session: Session, store: _Store, files: dict, sites: dict, at: datetime
) -> dict[tuple[str, ...], Theatre]:
    out: dict[tuple[str, ...], Theatre] = dict(store.theatres)
    _retire_missing(out, files, at)
    for key, t in files.items():
        row = out.get(key)
        if row is None:
            row = Theatre(
                site_id=sites[key[:1]].id,
                code=t.code,
                name=t.name,
                suite=t.suite,
                is_emergency=t.emergency,
            )
            session.add(row)
            out[key] = row
        row.name, row.suite, row.is_emergency = t.name, t.suite, t.emergency
        row.retired_at = None
    session.flush()
    return out


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------


def _codes_of(rows: list[LocationCode]) -> Codes:
    hl7, fhir = [], []
    for r in rows:
        if r.scheme == "hl7":
            poc, room, bed = (r.value.split("^") + ["", "", ""])[:3]
            hl7.append(Hl7Code(poc, room or None, bed or None, r.facility or None))
        else:
            fhir.append(FhirCode(r.system, r.value))
    return Codes(hl7=tuple(hl7), fhir=tuple(fhir))


def _organisation_from_store(session: Session, trust: Trust) -> Organisation:
    store = _load_store(session, trust.code)

    def codes(kind: str, *key: str) -> Codes:
        return _codes_of(store.codes.get((kind, *key), []))

    sites = []
    for sc, s in store.sites.items():
        if s.retired_at is not None:
            continue
        wards = []
        for (wsc, wc), w in store.wards.items():
            if wsc != sc or w.retired_at is not None:
                continue
            beds = tuple(
                BedDef(
                    label=b.label,
                    escalation=b.is_escalation,
                    side_room=b.side_room,
                    isolation_capable=b.isolation_capable,
                    codes=codes("bed", sc, wc, b.label),
                )
                for (bsc, bwc, _), b in store.beds.items()
                if (bsc, bwc) == (sc, wc) and b.retired_at is None
            )
            wards.append(
                WardDef(
                    code=w.code,
                    name=w.name,
                    specialty=w.specialty,
                    ward_type=w.ward_type,
                    general_and_acute=w.general_and_acute,
                    core_beds=sum(1 for b in beds if not b.escalation),
                    beds=beds,
                    codes=codes("ward", sc, wc),
                )
            )
        areas = []
        for (asc, ac), a in store.areas.items():
            if asc != sc or a.retired_at is not None:
                continue
            spaces = tuple(
                SpaceDef(label=sp.label, codes=codes("ed_space", sc, ac, sp.label))
                for (ssc, sac, _), sp in store.spaces.items()
                if (ssc, sac) == (sc, ac) and sp.retired_at is None
            )
            areas.append(
                EdAreaDef(
                    code=a.code,
                    name=a.name,
                    spaces=spaces,
                    codes=codes("ed_area", sc, ac),
                )
            )
        theatres = tuple(
            TheatreDef(
                code=t.code,
                name=t.name,
                suite=t.suite,
                emergency=t.is_emergency,
                codes=codes("theatre", sc, tc),
            )
            for (tsc, tc), t in store.theatres.items()
            if tsc == sc and t.retired_at is None
        )
        sites.append(
            SiteDef(
                code=s.code,
                name=s.name,
                ods_code=s.ods_code,
                wards=tuple(wards),
                ed_areas=tuple(areas),
                theatres=theatres,
                codes=codes("site", sc),
            )
        )
    return Organisation(
        trust=TrustDef(code=trust.code, name=trust.name),
        sites=tuple(sites),
        source="database",
    )


def export_organisation(session: Session, trust_code: str | None = None) -> dict:
    """The trust's current (not retired) organisation as an organisation document.

    ``trust_code`` may be omitted when the database holds one trust. Loading the
    result into the same store changes nothing.
    """
    if trust_code is None:
        trusts = list(session.scalars(select(Trust).order_by(Trust.id)))
        if len(trusts) != 1:
            raise LookupError(
                f"the database holds {len(trusts)} trusts; name the one to export"
            )
        trust = trusts[0]
    else:
        trust = session.scalar(select(Trust).where(Trust.code == trust_code))
        if trust is None:
            raise LookupError(f"no trust {trust_code!r} in the database")
    return to_document(_organisation_from_store(session, trust))
