"""The organisation file: one trust's sites, wards, beds, ED areas and theatres.

A trust describes its hospitals in a YAML document (``config/organisation/*.yaml``,
documented in ``docs/organisation.md``). This module reads and checks that document
and expands it into an :class:`Organisation` of plain frozen values: shorthands
(``bed_range``, ``space_range``) are expanded and the default HL7 code of every bed,
ward, ED area and ED space is filled in. It also turns an :class:`Organisation` back
into the document (:func:`to_document`), compact again, for export.

Validation collects every problem before giving up: each message names the file, the
path of the entry (``sites[1].wards[4].beds[12]``) and what is wrong, and
:class:`OrganisationFileError` carries them all in ``.errors``.

Default HL7 codes (used when a location has no ``hl7`` list; ``hl7: []`` means none):

- ward: ``point_of_care`` = ward code, ``facility`` = site code;
- bed: ``point_of_care`` = ward code, ``bed`` = bed label, ``facility`` = site code;
- ED area: ``point_of_care`` = ``ED``, ``room`` = area code, ``facility`` = site code;
- ED space: as its area, with ``bed`` = space label.

Sites and theatres have no default code. FHIR identifiers are never defaulted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from ops.config_errors import ConfigError, read_yaml_mapping

# The same values as ``data.models.capacity.WARD_TYPES`` (a unit test keeps them equal).
WARD_TYPES = (
    "general_acute",
    "paediatric",
    "critical_care",
    "assessment",
    "escalation",
)
GENERAL_AND_ACUTE_TYPES = ("general_acute", "assessment", "escalation")
ED_AREA_NAMES = {
    "resus": "Resus",
    "majors": "Majors",
    "minors": "Minors",
    "paediatrics": "Paediatrics",
    "sdec": "SDEC",
}
ED_POINT_OF_CARE = "ED"

# HL7 v2 delimiters may not appear inside a code component or a label.
_NO_DELIMITERS = r"^[^\^|~\\&\s](?:[^\^|~\\&]*[^\^|~\\&\s])?$"
Code = Annotated[
    str, StringConstraints(min_length=1, max_length=16, pattern=_NO_DELIMITERS)
]
Label = Code
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)
]
ShortName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)
]
Component = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=_NO_DELIMITERS)
]
FhirText = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S+$")
]


# ---------------------------------------------------------------------------
# The expanded organisation (what the store applies and exports)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Hl7Code:
    """An HL7 v2 PL (person location): components 1-4; absent ones are ``None``."""

    point_of_care: str
    room: str | None = None
    bed: str | None = None
    facility: str | None = None

    @property
    def value(self) -> str:
        """Components 1-3 joined with ``^`` (the stored form; facility kept apart)."""
        return "^".join((self.point_of_care, self.room or "", self.bed or ""))

    def key(self) -> tuple[str, str, str]:
        return ("hl7", self.value, self.facility or "")

    def __str__(self) -> str:
        return f"{self.value}^{self.facility or ''}".rstrip("^")


@dataclass(frozen=True, order=True)
class FhirCode:
    """A FHIR ``Location.identifier`` (system + value)."""

    system: str
    value: str

    def key(self) -> tuple[str, str, str]:
        return ("fhir", self.value, self.system)

    def __str__(self) -> str:
        return f"{self.system}|{self.value}"


@dataclass(frozen=True)
class Codes:
    hl7: tuple[Hl7Code, ...] = ()
    fhir: tuple[FhirCode, ...] = ()

    def keys(self) -> set[tuple[str, str, str]]:
        return {c.key() for c in self.hl7} | {c.key() for c in self.fhir}

    def __bool__(self) -> bool:
        return bool(self.hl7 or self.fhir)


@dataclass(frozen=True)
class BedDef:
    label: str
    escalation: bool = False
    side_room: bool = False
    isolation_capable: bool = False
    codes: Codes = field(default_factory=Codes)


@dataclass(frozen=True)
class WardDef:
    code: str
    name: str
    specialty: str
    ward_type: str
    general_and_acute: bool
    core_beds: int
    beds: tuple[BedDef, ...]
    codes: Codes = field(default_factory=Codes)

    @property
    def escalation_beds(self) -> int:
        return sum(1 for b in self.beds if b.escalation)


@dataclass(frozen=True)
class SpaceDef:
    label: str
    codes: Codes = field(default_factory=Codes)


@dataclass(frozen=True)
class EdAreaDef:
    code: str
    name: str
    spaces: tuple[SpaceDef, ...]
    codes: Codes = field(default_factory=Codes)


@dataclass(frozen=True)
class TheatreDef:
    code: str
    name: str
    suite: str
    emergency: bool = False
    codes: Codes = field(default_factory=Codes)


@dataclass(frozen=True)
class SiteDef:
    code: str
    name: str
    ods_code: str | None
    wards: tuple[WardDef, ...]
    ed_areas: tuple[EdAreaDef, ...]
    theatres: tuple[TheatreDef, ...]
    codes: Codes = field(default_factory=Codes)


@dataclass(frozen=True)
class TrustDef:
    code: str
    name: str


@dataclass(frozen=True)
class Organisation:
    trust: TrustDef
    sites: tuple[SiteDef, ...]
    source: str = "<memory>"

    def counts(self) -> dict[str, int]:
        wards = [w for s in self.sites for w in s.wards]
        areas = [a for s in self.sites for a in s.ed_areas]
        return {
            "sites": len(self.sites),
            "wards": len(wards),
            "beds": sum(len(w.beds) for w in wards),
            "escalation_beds": sum(w.escalation_beds for w in wards),
            "ed_areas": len(areas),
            "ed_spaces": sum(len(a.spaces) for a in areas),
            "theatres": sum(len(s.theatres) for s in self.sites),
        }


def default_ward_hl7(site: str, ward: str) -> Hl7Code:
    return Hl7Code(point_of_care=ward, facility=site)


def default_bed_hl7(site: str, ward: str, label: str) -> Hl7Code:
    return Hl7Code(point_of_care=ward, bed=label, facility=site)


def default_area_hl7(site: str, area: str) -> Hl7Code:
    return Hl7Code(point_of_care=ED_POINT_OF_CARE, room=area, facility=site)


def default_space_hl7(site: str, area: str, label: str) -> Hl7Code:
    return Hl7Code(point_of_care=ED_POINT_OF_CARE, room=area, bed=label, facility=site)


# ---------------------------------------------------------------------------
# The document's schema (one pydantic model per entry, validated entry by entry)
# ---------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Hl7In(_In):
    point_of_care: Component
    room: Component | None = None
    bed: Component | None = None
    facility: Component | None = None


class FhirIn(_In):
    system: FhirText
    value: FhirText


class CodesIn(_In):
    hl7: list[Hl7In] | None = None
    fhir: list[FhirIn] = Field(default_factory=list)


class TrustIn(_In):
    code: Code
    name: Name


class SiteIn(_In):
    code: Code
    name: Name
    ods_code: Code | None = None
    codes: CodesIn = Field(default_factory=CodesIn)
    wards: list[Any] = Field(default_factory=list)
    ed_areas: list[Any] = Field(default_factory=list)
    theatres: list[Any] = Field(default_factory=list)


class BedRangeIn(_In):
    prefix: Annotated[str, StringConstraints(max_length=12, pattern=r"^[^\^|~\\&\s]*$")]
    count: Annotated[int, Field(ge=0, le=999)]
    escalation: Annotated[int, Field(ge=0, le=999)] = 0


class SpaceRangeIn(_In):
    prefix: Annotated[str, StringConstraints(max_length=12, pattern=r"^[^\^|~\\&\s]*$")]
    count: Annotated[int, Field(ge=0, le=999)]


class WardIn(_In):
    code: Code
    name: Name
    specialty: ShortName
    ward_type: str
    general_and_acute: bool | None = None
    core_beds: Annotated[int, Field(ge=0)] | None = None
    bed_range: BedRangeIn | None = None
    beds: list[Any] = Field(default_factory=list)
    codes: CodesIn = Field(default_factory=CodesIn)


class BedIn(_In):
    label: Label
    escalation: bool = False
    side_room: bool = False
    isolation_capable: bool = False
    codes: CodesIn = Field(default_factory=CodesIn)


class SpaceIn(_In):
    label: Label
    codes: CodesIn = Field(default_factory=CodesIn)

    @model_validator(mode="before")
    @classmethod
    def _label_alone(cls, data: Any) -> Any:
        return {"label": data} if isinstance(data, str) else data


class EdAreaIn(_In):
    code: Code
    name: ShortName | None = None
    space_range: SpaceRangeIn | None = None
    spaces: list[Any] = Field(default_factory=list)
    codes: CodesIn = Field(default_factory=CodesIn)


class TheatreIn(_In):
    code: Code
    name: ShortName
    suite: ShortName
    emergency: bool = False
    codes: CodesIn = Field(default_factory=CodesIn)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class OrganisationFileError(ConfigError):
    """An organisation document that cannot be used; ``errors`` lists every problem."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.errors = list(errors)
        n = len(self.errors)
        super().__init__(source, None, f"{n} problem{'s' if n != 1 else ''}")

    def __str__(self) -> str:
        head = super().__str__()
        return "\n".join([head, *(f"  {e}" for e in self.errors)])


def _path(parts: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or "(top level)"


class _Collector:
    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []

    def add(self, path: tuple[Any, ...], problem: str) -> None:
        self.errors.append(f"{self.source}: {_path(path)}: {problem}")

    def model(self, cls: type[_In], data: Any, path: tuple[Any, ...]) -> Any:
        """Validate one entry; record its problems and return ``None`` if any."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = tuple(p for p in err["loc"] if p != "__root__")
                self.add(path + loc, _message(err))
            return None


def _message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "string_pattern_mismatch":
        return (
            f"{err.get('input')!r} is not allowed (no spaces at either end and none "
            "of the HL7 delimiters ^ | ~ \\ &)"
        )
    msg = str(err.get("msg", "invalid"))
    if "input" in err and kind not in ("model_type", "dict_type", "list_type"):
        return f"{msg[0].lower()}{msg[1:]} (got {err['input']!r})"
    return msg[0].lower() + msg[1:]


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def load_organisation_file(path: str | Path) -> Organisation:
    """Read, check and expand an organisation file; OrganisationFileError on problems."""
    source = str(path)
    try:
        data = read_yaml_mapping(path)
    except ConfigError as exc:
        raise OrganisationFileError(source, [str(exc)]) from exc
    return parse_organisation(data, source)


def parse_organisation(data: dict, source: str) -> Organisation:
    """Check and expand an organisation document (already read from YAML)."""
    c = _Collector(source)
    if not isinstance(data, dict):
        c.add((), "the top level must be a mapping with 'trust' and 'sites'")
        raise OrganisationFileError(source, c.errors)
    for key in data:
        if key not in ("trust", "sites"):
            c.add((key,), "unknown field")
    trust_in = (
        c.model(TrustIn, data.get("trust"), ("trust",)) if "trust" in data else None
    )
    if "trust" not in data:
        c.add(("trust",), "required field is missing")
    raw_sites = data.get("sites")
    if not isinstance(raw_sites, list) or not raw_sites:
        c.add(("sites",), "a list of at least one site is required")
        raw_sites = []

    sites: list[SiteDef] = []
    for i, raw in _unique(c, raw_sites, ("sites",), "site code", "code"):
        site = _site(c, raw, ("sites", i))
        if site is not None:
            sites.append(site)
    _check_codes_unique(c, sites, raw_sites)
    if c.errors:
        raise OrganisationFileError(source, c.errors)
    assert trust_in is not None
    return Organisation(
        trust=TrustDef(code=trust_in.code, name=trust_in.name),
        sites=tuple(sites),
        source=source,
    )


def _codes(codes: CodesIn, default: Hl7Code | None) -> Codes:
    if codes.hl7 is None:
        hl7: tuple[Hl7Code, ...] = (default,) if default is not None else ()
    else:
        hl7 = tuple(
            Hl7Code(h.point_of_care, h.room, h.bed, h.facility) for h in codes.hl7
        )
    fhir = tuple(FhirCode(f.system, f.value) for f in codes.fhir)
    return Codes(hl7=hl7, fhir=fhir)


def _entries(c: _Collector, raw: Any, path: tuple[Any, ...]) -> list[Any]:
    if isinstance(raw, list):
        return raw
    c.add(path, "must be a list")
    return []


def _unique(
    c: _Collector, entries: list[Any], path: tuple[Any, ...], what: str, key: str
) -> list[tuple[int, Any]]:
    """The entries whose code (or label) is not a repeat; repeats are reported.

    Codes are compared as written, before each entry is validated, so a repeat is
    found even when the first entry has mistakes of its own.
    """
    out: list[tuple[int, Any]] = []
    first: dict[str, int] = {}
    for i, raw in enumerate(entries):
        value = raw.get(key) if isinstance(raw, dict) else raw
        if isinstance(value, str):
            if value in first:
                c.add(
                    path + (i, key),
                    f"{what} {value!r} is already used by "
                    f"{_path(path + (first[value],))}",
                )
                continue
            first[value] = i
        out.append((i, raw))
    return out


def _site(c: _Collector, raw: Any, path: tuple[Any, ...]) -> SiteDef | None:
    s = c.model(SiteIn, raw, path)
    if s is None:
        return None
    wards: list[WardDef] = []
    for i, w_raw in _unique(c, s.wards, path + ("wards",), "ward code", "code"):
        w = _ward(c, s.code, w_raw, path + ("wards", i))
        if w is not None:
            wards.append(w)
    areas: list[EdAreaDef] = []
    for i, a_raw in _unique(
        c, s.ed_areas, path + ("ed_areas",), "ED area code", "code"
    ):
        a = _area(c, s.code, a_raw, path + ("ed_areas", i))
        if a is not None:
            areas.append(a)
    theatres: list[TheatreDef] = []
    for i, t_raw in _unique(
        c, s.theatres, path + ("theatres",), "theatre code", "code"
    ):
        t_in = c.model(TheatreIn, t_raw, path + ("theatres", i))
        if t_in is None:
            continue
        theatres.append(
            TheatreDef(
                code=t_in.code,
                name=t_in.name,
                suite=t_in.suite,
                emergency=t_in.emergency,
                codes=_codes(t_in.codes, None),
            )
        )
    return SiteDef(
        code=s.code,
        name=s.name,
        ods_code=s.ods_code,
        wards=tuple(wards),
        ed_areas=tuple(areas),
        theatres=tuple(theatres),
        codes=_codes(s.codes, None),
    )


def range_labels(
    prefix: str, count: int, escalation: int = 0
) -> list[tuple[str, bool]]:
    """Labels a ``bed_range`` expands to: ``prefix01..`` then ``prefixE1..``."""
    width = max(2, len(str(count)))
    core = [(f"{prefix}{i:0{width}d}", False) for i in range(1, count + 1)]
    esc = [(f"{prefix}E{i}", True) for i in range(1, escalation + 1)]
    return core + esc


def _ward(c: _Collector, site: str, raw: Any, path: tuple[Any, ...]) -> WardDef | None:
    w = c.model(WardIn, raw, path)
    if w is None:
        return None
    if w.ward_type not in WARD_TYPES:
        c.add(
            path + ("ward_type",),
            f"unknown ward_type {w.ward_type!r} (one of {', '.join(WARD_TYPES)})",
        )
    beds: dict[str, BedDef] = {}
    if w.bed_range is not None:
        for label, esc in range_labels(
            w.bed_range.prefix, w.bed_range.count, w.bed_range.escalation
        ):
            if len(label) > 16:
                c.add(
                    path + ("bed_range",), f"bed label {label!r} is over 16 characters"
                )
                break
            beds[label] = BedDef(
                label=label,
                escalation=esc,
                codes=Codes(hl7=(default_bed_hl7(site, w.code, label),)),
            )
    unique = _unique(c, w.beds, path + ("beds",), "bed label", "label")
    for i, b_raw in unique:
        b = c.model(BedIn, b_raw, path + ("beds", i))
        if b is None:
            continue
        # A listed bed with a label from bed_range refines that bed in place.
        beds[b.label] = BedDef(
            label=b.label,
            escalation=b.escalation,
            side_room=b.side_room,
            isolation_capable=b.isolation_capable,
            codes=_codes(b.codes, default_bed_hl7(site, w.code, b.label)),
        )
    core = sum(1 for b in beds.values() if not b.escalation)
    if w.core_beds is not None and w.core_beds != core:
        c.add(
            path + ("core_beds",),
            f"core_beds is {w.core_beds} but the ward has {core} non-escalation beds",
        )
    # an entry with mistakes still joins the checks across entries (codes); the
    # recorded problems stop the file from loading
    return WardDef(
        code=w.code,
        name=w.name,
        specialty=w.specialty,
        ward_type=w.ward_type,
        general_and_acute=(
            w.general_and_acute
            if w.general_and_acute is not None
            else w.ward_type in GENERAL_AND_ACUTE_TYPES
        ),
        core_beds=core,
        beds=tuple(beds.values()),
        codes=_codes(w.codes, default_ward_hl7(site, w.code)),
    )


def _area(
    c: _Collector, site: str, raw: Any, path: tuple[Any, ...]
) -> EdAreaDef | None:
    a = c.model(EdAreaIn, raw, path)
    if a is None:
        return None
    name = a.name or ED_AREA_NAMES.get(a.code)
    if name is None:
        c.add(path + ("name",), f"a name is required for ED area {a.code!r}")
    spaces: dict[str, SpaceDef] = {}
    if a.space_range is not None:
        for label, _ in range_labels(a.space_range.prefix, a.space_range.count):
            spaces[label] = SpaceDef(
                label, Codes(hl7=(default_space_hl7(site, a.code, label),))
            )
    unique = _unique(c, a.spaces, path + ("spaces",), "space label", "label")
    for i, s_raw in unique:
        s = c.model(SpaceIn, s_raw, path + ("spaces", i))
        if s is None:
            continue
        spaces[s.label] = SpaceDef(
            s.label, _codes(s.codes, default_space_hl7(site, a.code, s.label))
        )
    # an entry with mistakes still joins the checks across entries (codes); the
    # recorded problems stop the file from loading
    return EdAreaDef(
        code=a.code,
        name=name or a.code,
        spaces=tuple(spaces.values()),
        codes=_codes(a.codes, default_area_hl7(site, a.code)),
    )


def _raw_paths(raw_sites: list[Any]) -> dict[tuple[str, ...], tuple[Any, ...]]:
    """Where each location sits in the file, by its identity (for code messages)."""
    out: dict[tuple[str, ...], tuple[Any, ...]] = {}
    for i, s in enumerate(raw_sites):
        if not isinstance(s, dict):
            continue
        sc = str(s.get("code"))
        out[(sc,)] = ("sites", i)
        for kind in ("wards", "ed_areas", "theatres"):
            entries = s.get(kind)
            if not isinstance(entries, list):
                continue
            for j, e in enumerate(entries):
                if not isinstance(e, dict):
                    continue
                ec = str(e.get("code"))
                out.setdefault((sc, kind, ec), ("sites", i, kind, j))
                sub = "beds" if kind == "wards" else "spaces"
                items = e.get(sub)
                if not isinstance(items, list):
                    continue
                for k, item in enumerate(items):
                    label = item.get("label") if isinstance(item, dict) else item
                    out.setdefault(
                        (sc, kind, ec, str(label)), ("sites", i, kind, j, sub, k)
                    )
    return out


def iter_locations(
    org_sites: tuple[SiteDef, ...] | list[SiteDef],
) -> list[tuple[tuple[str, ...], Codes]]:
    """Every location with its codes, identified by (site, kind, code[, label])."""
    out: list[tuple[tuple[str, ...], Codes]] = []
    for s in org_sites:
        out.append(((s.code,), s.codes))
        for w in s.wards:
            out.append(((s.code, "wards", w.code), w.codes))
            out.extend(((s.code, "wards", w.code, b.label), b.codes) for b in w.beds)
        for a in s.ed_areas:
            out.append(((s.code, "ed_areas", a.code), a.codes))
            out.extend(
                ((s.code, "ed_areas", a.code, sp.label), sp.codes) for sp in a.spaces
            )
        for t in s.theatres:
            out.append(((s.code, "theatres", t.code), t.codes))
    return out


def _describe(
    ident: tuple[str, ...], paths: dict[tuple[str, ...], tuple[Any, ...]]
) -> str:
    if ident in paths:
        return _path(paths[ident])
    if len(ident) == 4 and ident[:3] in paths:
        # a bed or space from a range: name it by the range and its label
        what = "bed_range" if ident[1] == "wards" else "space_range"
        return f"{_path(paths[ident[:3]] + (what,))} ({ident[3]})"
    return "/".join(ident)


def _check_codes_unique(
    c: _Collector, sites: list[SiteDef], raw_sites: list[Any]
) -> None:
    paths = _raw_paths(raw_sites)
    owner: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for ident, codes in iter_locations(sites):
        for code in (*codes.hl7, *codes.fhir):
            key = code.key()
            first = owner.get(key)
            if first is None:
                owner[key] = ident
                continue
            if first == ident:
                c.add(
                    _paths_or(paths, ident),
                    f"{key[0].upper()} code {code} is listed twice",
                )
                continue
            c.add(
                _paths_or(paths, ident),
                f"{key[0].upper()} code {code} is already used by "
                f"{_describe(first, paths)}",
            )


def _paths_or(
    paths: dict[tuple[str, ...], tuple[Any, ...]], ident: tuple[str, ...]
) -> tuple[Any, ...]:
    if ident in paths:
        return paths[ident] + ("codes",)
    if len(ident) == 4 and ident[:3] in paths:
        what = "bed_range" if ident[1] == "wards" else "space_range"
        return paths[ident[:3]] + (f"{what}({ident[3]})",)
    return tuple(ident)


# ---------------------------------------------------------------------------
# Back to the document (export)
# ---------------------------------------------------------------------------

_RANGE = re.compile(r"^(.*?)(\d+)$")


def _codes_doc(codes: Codes, default: Hl7Code | None) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    hl7 = list(codes.hl7)
    if not (default is not None and hl7 == [default]) and (hl7 or default is not None):
        out["hl7"] = [
            {
                k: v
                for k, v in (
                    ("point_of_care", h.point_of_care),
                    ("room", h.room),
                    ("bed", h.bed),
                    ("facility", h.facility),
                )
                if v is not None
            }
            for h in hl7
        ]
    if codes.fhir:
        out["fhir"] = [{"system": f.system, "value": f.value} for f in codes.fhir]
    return out or None


def _find_range(labels: list[tuple[str, bool]]) -> tuple[str, int, int] | None:
    """(prefix, count, escalation) if these labels are exactly what a range makes."""
    core = [lab for lab, esc in labels if not esc]
    esc_n = len(labels) - len(core)
    candidates = []
    if core:
        m = _RANGE.match(core[0])
        if m:
            candidates.append(m.group(1))
    else:
        esc_labels = [lab for lab, esc in labels if esc]
        if esc_labels and esc_labels[0].endswith("E1"):
            candidates.append(esc_labels[0][:-2])
    for prefix in candidates:
        if sorted(range_labels(prefix, len(core), esc_n)) == sorted(labels):
            return prefix, len(core), esc_n
    return None


def to_document(org: Organisation) -> dict[str, Any]:
    """The organisation as a document :func:`parse_organisation` reads back unchanged."""
    sites = []
    for s in org.sites:
        site: dict[str, Any] = {"code": s.code, "name": s.name}
        if s.ods_code:
            site["ods_code"] = s.ods_code
        if (codes := _codes_doc(s.codes, None)) is not None:
            site["codes"] = codes
        site["wards"] = [_ward_doc(s.code, w) for w in s.wards]
        site["ed_areas"] = [_area_doc(s.code, a) for a in s.ed_areas]
        site["theatres"] = []
        for t in s.theatres:
            theatre: dict[str, Any] = {"code": t.code, "name": t.name, "suite": t.suite}
            if t.emergency:
                theatre["emergency"] = True
            if (codes := _codes_doc(t.codes, None)) is not None:
                theatre["codes"] = codes
            site["theatres"].append(theatre)
        sites.append(site)
    return {"trust": {"code": org.trust.code, "name": org.trust.name}, "sites": sites}


def _ward_doc(site: str, w: WardDef) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "code": w.code,
        "name": w.name,
        "specialty": w.specialty,
        "ward_type": w.ward_type,
    }
    if w.general_and_acute != (w.ward_type in GENERAL_AND_ACUTE_TYPES):
        doc["general_and_acute"] = w.general_and_acute
    doc["core_beds"] = w.core_beds
    found = _find_range([(b.label, b.escalation) for b in w.beds])
    beds = []
    for b in w.beds:
        default = default_bed_hl7(site, w.code, b.label)
        plain = (
            not b.side_room
            and not b.isolation_capable
            and list(b.codes.hl7) == [default]
            and not b.codes.fhir
        )
        if found is not None and plain:
            continue
        bed: dict[str, Any] = {"label": b.label}
        if b.escalation:
            bed["escalation"] = True
        if b.side_room:
            bed["side_room"] = True
        if b.isolation_capable:
            bed["isolation_capable"] = True
        if (codes := _codes_doc(b.codes, default)) is not None:
            bed["codes"] = codes
        beds.append(bed)
    if found is not None:
        prefix, count, esc = found
        doc["bed_range"] = {"prefix": prefix, "count": count, "escalation": esc}
    if beds:
        doc["beds"] = beds
    if (codes := _codes_doc(w.codes, default_ward_hl7(site, w.code))) is not None:
        doc["codes"] = codes
    return doc


def _area_doc(site: str, a: EdAreaDef) -> dict[str, Any]:
    doc: dict[str, Any] = {"code": a.code, "name": a.name}
    found = _find_range([(sp.label, False) for sp in a.spaces])
    spaces: list[Any] = []
    for sp in a.spaces:
        default = default_space_hl7(site, a.code, sp.label)
        codes = _codes_doc(sp.codes, default)
        if codes is None:
            if found is None:
                spaces.append(sp.label)
            continue
        spaces.append({"label": sp.label, "codes": codes})
    if found is not None:
        doc["space_range"] = {"prefix": found[0], "count": found[1]}
    if spaces:
        doc["spaces"] = spaces
    if (codes := _codes_doc(a.codes, default_area_hl7(site, a.code))) is not None:
        doc["codes"] = codes
    return doc


__all__ = [
    "Codes",
    "BedDef",
    "EdAreaDef",
    "FhirCode",
    "Hl7Code",
    "Organisation",
    "OrganisationFileError",
    "SiteDef",
    "SpaceDef",
    "TheatreDef",
    "TrustDef",
    "WardDef",
    "WARD_TYPES",
    "load_organisation_file",
    "parse_organisation",
    "range_labels",
    "to_document",
]
