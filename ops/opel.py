"""OPEL engine: score the nine acute parameters and map the total to a level.

The bands, weights and level thresholds live in a versioned configuration file
(``config/opel.yaml``) because the trust must copy the national figures from NHS
England's Integrated OPEL framework; this module only knows the rules of the game:

* A parameter's value falls into exactly one band: ``lower <= value < upper`` (lower
  bound inclusive, upper exclusive). Bands are listed best (band 1) to worst; the best
  and worst bands are open-ended, adjacent bands meet exactly.
* ``contribution = band score x weight``; ``total`` is the sum of contributions.
* The level is the first level whose ``max_total`` the total does not exceed; a total
  above the last threshold is still the highest level.
* Missing data is never scored as "best": a parameter without a value contributes
  nothing, is flagged ``missing`` and listed in ``OpelResult.missing``; the result is
  ``incomplete``. Its ``level`` is then a lower bound and ``worst_case_level`` the level
  had every missing parameter been in its worst band. When more than
  ``max_missing_parameters`` are missing, ``level`` is ``None``.

Everything here is pure: no database, no Dash.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from ops.config_errors import ConfigError, fmt_number, is_number, read_yaml_mapping
from ops.metrics import CATALOGUE

DEFAULT_OPEL_CONFIG_PATH = (
    Path(__file__).resolve().parent.parent / "config" / "opel.yaml"
)

# The nine acute parameters, numbered as in DOMAIN.md (NHS England daily feed order).
ACUTE_PARAMETERS: dict[str, int] = {
    "handover_time": 1,
    "ed_4h_performance": 2,
    "ed_attendances_vs_expected": 3,
    "majors_resus_occupancy": 4,
    "time_to_treatment": 5,
    "ed_over_12h": 6,
    "ga_occupancy": 7,
    "escalation_beds": 8,
    "nctr": 9,
}
OPEL_LEVELS = (1, 2, 3, 4)

# Builds the ConfigError for (entry, problem) with the file name filled in.
_Fail = Callable[[str | None, str], ConfigError]


class Direction(StrEnum):
    HIGHER_IS_WORSE = "higher_is_worse"
    LOWER_IS_WORSE = "lower_is_worse"


@dataclass(frozen=True)
class Band:
    """One band of a parameter: ``lower <= value < upper``; ``None`` = open-ended."""

    band: int
    score: float
    lower: float | None = None
    upper: float | None = None

    def contains(self, value: float) -> bool:
        return (self.lower is None or value >= self.lower) and (
            self.upper is None or value < self.upper
        )

    def describe(self) -> str:
        """Human range such as ``'92 to < 95'``, ``'< 85'`` or ``'>= 95'``."""
        if self.lower is None and self.upper is not None:
            return f"< {fmt_number(self.upper)}"
        if self.upper is None and self.lower is not None:
            return f">= {fmt_number(self.lower)}"
        if self.lower is not None and self.upper is not None:
            return f"{fmt_number(self.lower)} to < {fmt_number(self.upper)}"
        return "any value"


@dataclass(frozen=True)
class OpelParameter:
    key: str
    number: int
    label: str
    metric: str
    direction: Direction
    weight: float
    bands: tuple[Band, ...]  # best (band 1) to worst

    def band_for(self, value: float) -> Band:
        for band in self.bands:
            if band.contains(value):
                return band
        # Unreachable for a validated configuration (open-ended outer bands, no gaps).
        raise ValueError(f"{self.key}: no band contains {value}")

    @property
    def max_score(self) -> float:
        return max(b.score for b in self.bands)


@dataclass(frozen=True)
class LevelThreshold:
    level: int
    max_total: float


@dataclass(frozen=True)
class OpelConfig:
    version: str
    source: str
    parameters: tuple[OpelParameter, ...]
    levels: tuple[LevelThreshold, ...]
    max_missing_parameters: int = 2
    path: str = ""

    def parameter(self, key: str) -> OpelParameter:
        for p in self.parameters:
            if p.key == key:
                return p
        raise KeyError(key)

    @property
    def max_total(self) -> float:
        """The highest total this configuration can produce."""
        return sum(p.max_score * p.weight for p in self.parameters)

    def level_for_total(self, total: float) -> int:
        for threshold in self.levels:
            if total <= threshold.max_total:
                return threshold.level
        return self.levels[-1].level


@dataclass(frozen=True)
class ParameterScore:
    """One row of the "why is it OPEL 3" breakdown."""

    key: str
    number: int
    label: str
    metric: str
    value: float | None
    band: int | None
    score: float | None
    weight: float
    contribution: float
    missing: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "number": self.number,
            "label": self.label,
            "metric": self.metric,
            "value": self.value,
            "band": self.band,
            "score": self.score,
            "weight": self.weight,
            "contribution": self.contribution,
            "missing": self.missing,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParameterScore:
        return cls(
            key=data["key"],
            number=data["number"],
            label=data["label"],
            metric=data["metric"],
            value=data["value"],
            band=data["band"],
            score=data["score"],
            weight=data["weight"],
            contribution=data["contribution"],
            missing=data["missing"],
        )


@dataclass(frozen=True)
class OpelResult:
    config_version: str
    level: int | None  # None when too many parameters are missing
    total: float
    max_total: float
    incomplete: bool
    missing: tuple[str, ...]  # parameter keys without a value
    worst_case_total: float  # total if every missing parameter were in its worst band
    worst_case_level: int
    parameters: tuple[ParameterScore, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the ``opel_assessment`` breakdown column."""
        return {
            "config_version": self.config_version,
            "level": self.level,
            "total": self.total,
            "max_total": self.max_total,
            "incomplete": self.incomplete,
            "missing": list(self.missing),
            "worst_case_total": self.worst_case_total,
            "worst_case_level": self.worst_case_level,
            "parameters": [p.to_dict() for p in self.parameters],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpelResult:
        return cls(
            config_version=data["config_version"],
            level=data["level"],
            total=data["total"],
            max_total=data["max_total"],
            incomplete=data["incomplete"],
            missing=tuple(data["missing"]),
            worst_case_total=data["worst_case_total"],
            worst_case_level=data["worst_case_level"],
            parameters=tuple(ParameterScore.from_dict(p) for p in data["parameters"]),
        )


# --------------------------------------------------------------------------- scoring


def score_opel(config: OpelConfig, values: Mapping[str, float | None]) -> OpelResult:
    """Score ``values`` against ``config``.

    ``values`` is keyed by metric key (``"ga_occupancy_pct"``), as the queries return
    them; a parameter key (``"ga_occupancy"``) is accepted when the metric key is
    absent. ``None`` and NaN mean "no data".
    """
    rows: list[ParameterScore] = []
    missing: list[str] = []
    total = 0.0
    worst_case_total = 0.0
    for p in config.parameters:
        value = values.get(p.metric, values.get(p.key))
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise TypeError(f"OPEL value for {p.key!r} must be a number, not {value!r}")
        if value is None or math.isnan(value):
            missing.append(p.key)
            worst_case_total += p.max_score * p.weight
            rows.append(
                ParameterScore(
                    key=p.key,
                    number=p.number,
                    label=p.label,
                    metric=p.metric,
                    value=None,
                    band=None,
                    score=None,
                    weight=p.weight,
                    contribution=0.0,
                    missing=True,
                )
            )
            continue
        band = p.band_for(float(value))
        contribution = band.score * p.weight
        total += contribution
        worst_case_total += contribution
        rows.append(
            ParameterScore(
                key=p.key,
                number=p.number,
                label=p.label,
                metric=p.metric,
                value=float(value),
                band=band.band,
                score=band.score,
                weight=p.weight,
                contribution=contribution,
                missing=False,
            )
        )
    too_many_missing = len(missing) > config.max_missing_parameters
    return OpelResult(
        config_version=config.version,
        level=None if too_many_missing else config.level_for_total(total),
        total=total,
        max_total=config.max_total,
        incomplete=bool(missing),
        missing=tuple(missing),
        worst_case_total=worst_case_total,
        worst_case_level=config.level_for_total(worst_case_total),
        parameters=tuple(rows),
    )


def level_change(
    previous_level: int | None, new_level: int | None
) -> Literal["escalation", "de-escalation"] | None:
    """Direction of a level change; ``None`` when unchanged or either level unknown."""
    if previous_level is None or new_level is None or previous_level == new_level:
        return None
    return "escalation" if new_level > previous_level else "de-escalation"


# --------------------------------------------------------------------------- loading

_TOP_FIELDS = {"version", "source", "max_missing_parameters", "levels", "parameters"}
_PARAM_FIELDS = {"key", "number", "label", "metric", "direction", "weight", "bands"}
_BAND_FIELDS = {"band", "lower", "upper", "score"}


_LOADED: dict[tuple[str, int, int], OpelConfig] = {}


def load_opel_config(path: str | Path = DEFAULT_OPEL_CONFIG_PATH) -> OpelConfig:
    """Load and validate an OPEL configuration file; ConfigError names file and entry.

    Parsed once per file version (polling screens read it on every poll)."""
    from ops.config_errors import once_per_file_version

    return once_per_file_version(_LOADED, path, _load_opel_config)


def _load_opel_config(path: str | Path) -> OpelConfig:
    data = read_yaml_mapping(path)

    def fail(entry: str | None, problem: str) -> ConfigError:
        return ConfigError(path, entry, problem)

    unknown = sorted(set(data) - _TOP_FIELDS)
    if unknown:
        raise fail(None, f"unknown field {unknown[0]!r}")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise fail("version", "must be a non-empty string (quote it in YAML)")
    source = data.get("source", "")
    if not isinstance(source, str):
        raise fail("source", "must be text")
    max_missing = data.get("max_missing_parameters", 2)
    if (
        isinstance(max_missing, bool)
        or not isinstance(max_missing, int)
        or not 0 <= max_missing < len(ACUTE_PARAMETERS)
    ):
        raise fail(
            "max_missing_parameters",
            f"must be a whole number from 0 to {len(ACUTE_PARAMETERS) - 1}",
        )

    parameters = _load_parameters(data.get("parameters"), fail)
    levels = _load_levels(data.get("levels"), fail)
    config = OpelConfig(
        version=version.strip(),
        source=" ".join(source.split()),
        parameters=parameters,
        levels=levels,
        max_missing_parameters=max_missing,
        path=str(path),
    )
    top_but_one = levels[-2].max_total
    if config.max_total <= top_but_one:
        raise fail(
            "levels",
            f"OPEL {levels[-1].level} is unreachable: the highest possible total "
            f"{fmt_number(config.max_total)} does not exceed {fmt_number(top_but_one)}",
        )
    return config


def _load_parameters(raw: object, fail: _Fail) -> tuple[OpelParameter, ...]:
    if not isinstance(raw, list) or not raw:
        raise fail("parameters", "must be a non-empty list")
    parameters: list[OpelParameter] = []
    seen: set[str] = set()
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise fail(f"parameter #{index}", "must be a mapping of fields")
        key = item.get("key")
        if not isinstance(key, str) or not key:
            raise fail(f"parameter #{index}", "missing 'key'")
        entry = f"parameter {key!r}"
        if key not in ACUTE_PARAMETERS:
            known = ", ".join(ACUTE_PARAMETERS)
            raise fail(entry, f"unknown parameter (expected one of: {known})")
        if key in seen:
            raise fail(entry, "defined twice")
        seen.add(key)
        parameters.append(_load_parameter(item, entry, fail))
    absent = [k for k in ACUTE_PARAMETERS if k not in seen]
    if absent:
        raise fail("parameters", f"missing parameter(s): {', '.join(absent)}")
    return tuple(sorted(parameters, key=lambda p: p.number))


def _load_parameter(item: dict[str, Any], entry: str, fail: _Fail) -> OpelParameter:
    key = item["key"]
    unknown = sorted(set(item) - _PARAM_FIELDS)
    if unknown:
        raise fail(entry, f"unknown field {unknown[0]!r}")
    number = item.get("number")
    if number != ACUTE_PARAMETERS[key] or isinstance(number, bool):
        raise fail(
            entry,
            f"'number' must be {ACUTE_PARAMETERS[key]} "
            "(the order of the national acute parameters)",
        )
    label = item.get("label")
    if not isinstance(label, str) or not label.strip():
        raise fail(entry, "missing 'label'")
    metric = item.get("metric")
    if metric not in CATALOGUE:
        raise fail(entry, f"unknown metric {metric!r} (not in ops.metrics.CATALOGUE)")
    if "trust" not in CATALOGUE[metric].scopes:
        raise fail(entry, f"metric {metric!r} is not available for a whole trust")
    try:
        direction = Direction(item.get("direction"))
    except ValueError:
        raise fail(
            entry, "'direction' must be 'higher_is_worse' or 'lower_is_worse'"
        ) from None
    if "weight" not in item:
        raise fail(entry, "missing 'weight'")
    weight = item["weight"]
    if not is_number(weight):
        raise fail(entry, f"'weight' must be a number, not {weight!r}")
    if weight <= 0:
        raise fail(entry, f"'weight' must be positive, not {fmt_number(weight)}")
    bands = _load_bands(item.get("bands"), direction, entry, fail)
    return OpelParameter(
        key=key,
        number=number,
        label=label.strip(),
        metric=metric,
        direction=direction,
        weight=weight,
        bands=bands,
    )


def _load_bands(
    raw: object, direction: Direction, entry: str, fail: _Fail
) -> tuple[Band, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise fail(entry, "'bands' must be a list of at least two bands")
    bands: list[Band] = []
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise fail(entry, f"band #{index} must be a mapping of fields")
        unknown = sorted(set(item) - _BAND_FIELDS)
        if unknown:
            raise fail(entry, f"band #{index}: unknown field {unknown[0]!r}")
        if item.get("band") != index or isinstance(item.get("band"), bool):
            raise fail(
                entry,
                f"bands must be numbered 1, 2, 3, ... from best to worst; "
                f"entry #{index} has band {item.get('band')!r}",
            )
        for name in ("lower", "upper", "score"):
            value = item.get(name)
            if value is not None and not is_number(value):
                raise fail(
                    entry, f"band {index}: {name!r} must be a number, not {value!r}"
                )
        if "score" not in item:
            raise fail(entry, f"band {index}: missing 'score'")
        if item["score"] < 0:
            raise fail(entry, f"band {index}: 'score' must not be negative")
        lower, upper = item.get("lower"), item.get("upper")
        if lower is not None and upper is not None and lower >= upper:
            raise fail(
                entry,
                f"band {index}: 'lower' {fmt_number(lower)} must be below "
                f"'upper' {fmt_number(upper)}",
            )
        bands.append(Band(band=index, score=item["score"], lower=lower, upper=upper))

    for previous, band in zip(bands, bands[1:], strict=False):
        if band.score < previous.score:
            raise fail(
                entry,
                f"band {band.band} scores less than band {previous.band}; "
                "scores must not fall from best to worst",
            )

    # Walk the bands from the lowest range to the highest.
    ascending = bands if direction is Direction.HIGHER_IS_WORSE else bands[::-1]
    if ascending[0].lower is not None:
        raise fail(
            entry,
            f"band {ascending[0].band} must be open-ended: omit 'lower' so that every "
            "value lands in a band",
        )
    if ascending[-1].upper is not None:
        raise fail(
            entry,
            f"band {ascending[-1].band} must be open-ended: omit 'upper' so that every "
            "value lands in a band",
        )
    # Inner edges as (band below, its upper, band above, its lower), all present.
    edges: list[tuple[Band, float, Band, float]] = []
    for below, above in zip(ascending, ascending[1:], strict=False):
        if below.upper is None:
            raise fail(entry, f"band {below.band}: missing 'upper'")
        if above.lower is None:
            raise fail(entry, f"band {above.band}: missing 'lower'")
        edges.append((below, below.upper, above, above.lower))
    for (_, _, lower_band, start), (_, _, higher_band, next_start) in zip(
        edges, edges[1:], strict=False
    ):
        if next_start <= start:
            raise fail(
                entry,
                f"bands are not ordered for {direction.value}: band {higher_band.band} "
                f"(from {fmt_number(next_start)}) should lie above band "
                f"{lower_band.band} (from {fmt_number(start)})",
            )
    for _, end, _, start in edges:
        if start < end:
            raise fail(entry, f"bands overlap at {fmt_number(start)}")
        if start > end:
            raise fail(
                entry,
                f"bands leave a gap between {fmt_number(end)} and {fmt_number(start)}",
            )
    return tuple(bands)


def _load_levels(raw: object, fail: _Fail) -> tuple[LevelThreshold, ...]:
    if not isinstance(raw, list) or len(raw) != len(OPEL_LEVELS):
        raise fail("levels", f"must list the {len(OPEL_LEVELS)} OPEL levels 1 to 4")
    levels: list[LevelThreshold] = []
    for expected, item in zip(OPEL_LEVELS, raw, strict=True):
        entry = f"level {expected}"
        if not isinstance(item, dict) or set(item) != {"level", "max_total"}:
            raise fail(entry, "must be a mapping with 'level' and 'max_total'")
        if item["level"] != expected or isinstance(item["level"], bool):
            raise fail(
                entry, f"levels must be listed 1 to 4 in order, got {item['level']!r}"
            )
        max_total = item["max_total"]
        if not is_number(max_total):
            raise fail(entry, f"'max_total' must be a number, not {max_total!r}")
        if levels and max_total <= levels[-1].max_total:
            raise fail(
                entry,
                f"thresholds must increase: 'max_total' {fmt_number(max_total)} is not "
                f"above level {levels[-1].level}'s {fmt_number(levels[-1].max_total)}",
            )
        if max_total < 0:
            raise fail(entry, "'max_total' must not be negative")
        levels.append(LevelThreshold(level=expected, max_total=max_total))
    return tuple(levels)
