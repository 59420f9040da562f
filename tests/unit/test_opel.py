"""OPEL engine: configuration validation, band scoring, level mapping, missing data."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.config_errors import ConfigError
from ops.metrics import CATALOGUE
from ops.opel import (
    ACUTE_PARAMETERS,
    DEFAULT_OPEL_CONFIG_PATH,
    OpelConfig,
    OpelResult,
    level_change,
    load_opel_config,
    score_opel,
)


@pytest.fixture(scope="module")
def config() -> OpelConfig:
    return load_opel_config()


def metric_of(config: OpelConfig, key: str) -> str:
    return config.parameter(key).metric


# A quiet day: every parameter in band 1.
QUIET = {
    "handover_mean_min_4h": 12,
    "ed_4h_pct_today": 88,
    "ed_attendances_vs_expected_pct": 95,
    "majors_resus_occupancy_pct": 80,
    "median_time_to_treatment_min": 45,
    "ed_over_12h_pct": 1,
    "ga_occupancy_pct": 84,
    "escalation_beds_pct": 0,
    "nctr_pct": 8,
}
# A typical winter day, scored by hand (band score x weight):
#   handover 35 b3 2x2=4 | 4h 72 b3 2x2=4 | attendances 105 b2 1x1=1 | majors 110 b3 2x2=4
#   ttt 100 b2 1x1=1 | >12h 6 b3 2x2=4 | G&A 94 b3 2x3=6 | escalation 2 b2 1x1=1
#   NCTR 14 b2 1x1=1  -> total 26 -> OPEL 3
WINTER = {
    "handover_mean_min_4h": 35,
    "ed_4h_pct_today": 72,
    "ed_attendances_vs_expected_pct": 105,
    "majors_resus_occupancy_pct": 110,
    "median_time_to_treatment_min": 100,
    "ed_over_12h_pct": 6,
    "ga_occupancy_pct": 94,
    "escalation_beds_pct": 2,
    "nctr_pct": 14,
}
# A milder winter day: handover 25 b2 2 | 4h 76 b3 4 | attendances 100 b2 1 |
#   majors 95 b2 2 | ttt 70 b2 1 | >12h 4 b2 2 | G&A 93 b3 6 | escalation 1.5 b2 1 |
#   NCTR 12 b2 1 -> total 20 -> OPEL 2
MILD_WINTER = {
    "handover_mean_min_4h": 25,
    "ed_4h_pct_today": 76,
    "ed_attendances_vs_expected_pct": 100,
    "majors_resus_occupancy_pct": 95,
    "median_time_to_treatment_min": 70,
    "ed_over_12h_pct": 4,
    "ga_occupancy_pct": 93,
    "escalation_beds_pct": 1.5,
    "nctr_pct": 12,
}
# A surge: G&A 97 b4 4x3=12 | 4h 60 b4 4x2=8 | handover 70 b4 4x2=8, others as the
# mild winter day except majors 95 b2 2 and ttt 90 b2 1 -> 28 + 2+1+2+1+1+1 = 36 -> OPEL 4
SURGE = {
    **MILD_WINTER,
    "ga_occupancy_pct": 97,
    "ed_4h_pct_today": 60,
    "handover_mean_min_4h": 70,
    "median_time_to_treatment_min": 90,
}


# --------------------------------------------------------------------------- shipped


def test_opel001_shipped_config_loads(config: OpelConfig) -> None:
    assert config.version
    assert "Integrated OPEL framework" in config.source
    assert [p.key for p in config.parameters] == list(ACUTE_PARAMETERS)
    assert [p.number for p in config.parameters] == list(range(1, 10))
    assert all(p.metric in CATALOGUE for p in config.parameters)
    assert [lv.max_total for lv in config.levels] == [11, 22, 33, 44]


def test_opel002_maximum_total_clears_opel3_and_opel4_thresholds(
    config: OpelConfig,
) -> None:
    assert config.max_total == 60
    assert config.max_total >= 44 + 10


# --------------------------------------------------------------------------- bands

# Every band boundary of the shipped defaults, just below, on and just above.
# Lower bound inclusive, upper exclusive: on a higher_is_worse threshold the value is
# in the worse band; on a lower_is_worse threshold it is in the better band.
BOUNDARIES = [
    # 1 handover mean (min), higher is worse: 15 / 30 / 45
    ("handover_time", 0, 1),
    ("handover_time", 14.99, 1),
    ("handover_time", 15, 2),
    ("handover_time", 29.99, 2),
    ("handover_time", 30, 3),
    ("handover_time", 44.99, 3),
    ("handover_time", 45, 4),
    ("handover_time", 240, 4),
    # 2 4-hour % today, lower is worse: 85 / 78 / 65
    ("ed_4h_performance", 100, 1),
    ("ed_4h_performance", 85, 1),
    ("ed_4h_performance", 84.99, 2),
    ("ed_4h_performance", 78, 2),
    ("ed_4h_performance", 77.99, 3),
    ("ed_4h_performance", 65, 3),
    ("ed_4h_performance", 64.99, 4),
    ("ed_4h_performance", 0, 4),
    # 3 attendances vs expected %: 100 / 110 / 120
    ("ed_attendances_vs_expected", 99.99, 1),
    ("ed_attendances_vs_expected", 100, 2),
    ("ed_attendances_vs_expected", 109.99, 2),
    ("ed_attendances_vs_expected", 110, 3),
    ("ed_attendances_vs_expected", 119.99, 3),
    ("ed_attendances_vs_expected", 120, 4),
    # 4 majors + resus occupancy %: 85 / 100 / 120
    ("majors_resus_occupancy", 84.99, 1),
    ("majors_resus_occupancy", 85, 2),
    ("majors_resus_occupancy", 99.99, 2),
    ("majors_resus_occupancy", 100, 3),
    ("majors_resus_occupancy", 119.99, 3),
    ("majors_resus_occupancy", 120, 4),
    # 5 median time to treatment (min): 60 / 120 / 180
    ("time_to_treatment", 59.99, 1),
    ("time_to_treatment", 60, 2),
    ("time_to_treatment", 119.99, 2),
    ("time_to_treatment", 120, 3),
    ("time_to_treatment", 179.99, 3),
    ("time_to_treatment", 180, 4),
    # 6 % of ED patients > 12 h: 2 / 5 / 10
    ("ed_over_12h", 0, 1),
    ("ed_over_12h", 1.99, 1),
    ("ed_over_12h", 2, 2),
    ("ed_over_12h", 4.99, 2),
    ("ed_over_12h", 5, 3),
    ("ed_over_12h", 9.99, 3),
    ("ed_over_12h", 10, 4),
    # 7 G&A occupancy %: 85 / 92 / 95
    ("ga_occupancy", 84.99, 1),
    ("ga_occupancy", 85, 2),
    ("ga_occupancy", 91.99, 2),
    ("ga_occupancy", 92, 3),
    ("ga_occupancy", 94.99, 3),
    ("ga_occupancy", 95, 4),
    ("ga_occupancy", 105, 4),
    # 8 escalation beds % of open beds: 1 / 3 / 5
    ("escalation_beds", 0, 1),
    ("escalation_beds", 0.99, 1),
    ("escalation_beds", 1, 2),
    ("escalation_beds", 2.99, 2),
    ("escalation_beds", 3, 3),
    ("escalation_beds", 4.99, 3),
    ("escalation_beds", 5, 4),
    # 9 NCTR % of occupied beds: 10 / 15 / 20
    ("nctr", 9.99, 1),
    ("nctr", 10, 2),
    ("nctr", 14.99, 2),
    ("nctr", 15, 3),
    ("nctr", 19.99, 3),
    ("nctr", 20, 4),
]
BAND_SCORES = {1: 0, 2: 1, 3: 2, 4: 4}


@pytest.mark.parametrize(("key", "value", "band"), BOUNDARIES)
def test_opel003_band_boundaries(
    config: OpelConfig, key: str, value: float, band: int
) -> None:
    result = score_opel(config, {metric_of(config, key): value})
    row = next(r for r in result.parameters if r.key == key)
    weight = config.parameter(key).weight
    assert (row.band, row.score) == (band, BAND_SCORES[band])
    assert row.contribution == BAND_SCORES[band] * weight
    assert row.missing is False
    assert row.value == value


def test_opel004_boundary_table_covers_every_threshold(config: OpelConfig) -> None:
    """Guard against the config gaining a threshold the table above does not test."""
    tested = {(k, v) for k, v, _ in BOUNDARIES}
    for p in config.parameters:
        for band in p.bands:
            for edge in (band.lower, band.upper):
                if edge is not None:
                    assert (p.key, edge) in tested, (p.key, edge)


# --------------------------------------------------------------------------- levels


@pytest.mark.parametrize(
    ("total", "level"),
    [
        (0, 1),
        (11, 1),
        (11.5, 2),
        (12, 2),
        (22, 2),
        (23, 3),
        (33, 3),
        (34, 4),
        (44, 4),
        (45, 4),
        (60, 4),
    ],
)
def test_opel005_level_thresholds(config: OpelConfig, total: float, level: int) -> None:
    assert config.level_for_total(total) == level


@pytest.mark.parametrize(
    ("values", "total", "level"),
    [
        (QUIET, 0, 1),
        (MILD_WINTER, 20, 2),
        (WINTER, 26, 3),
        (SURGE, 36, 4),
    ],
    ids=["quiet", "mild-winter", "winter", "surge"],
)
def test_opel006_hand_worked_days(
    config: OpelConfig, values: dict[str, float], total: float, level: int
) -> None:
    result = score_opel(config, values)
    assert (result.total, result.level) == (total, level)
    assert result.incomplete is False
    assert result.missing == ()
    assert result.worst_case_level == level
    assert result.config_version == config.version
    assert sum(r.contribution for r in result.parameters) == total


def test_opel007_surge_breakdown_explains_the_level(config: OpelConfig) -> None:
    rows = {r.key: r for r in score_opel(config, SURGE).parameters}
    assert (rows["ga_occupancy"].band, rows["ga_occupancy"].contribution) == (4, 12)
    assert (rows["ed_4h_performance"].band, rows["ed_4h_performance"].contribution) == (
        4,
        8,
    )
    assert (rows["handover_time"].band, rows["handover_time"].contribution) == (4, 8)
    assert rows["ga_occupancy"].label == "Adult G&A bed occupancy"
    assert rows["ga_occupancy"].weight == 3


def test_opel008_values_may_be_keyed_by_parameter_key(config: OpelConfig) -> None:
    by_param = {key: WINTER[config.parameter(key).metric] for key in ACUTE_PARAMETERS}
    assert score_opel(config, by_param).total == 26


# --------------------------------------------------------------------------- missing


def test_opel009_missing_parameter_contributes_nothing_and_is_listed(
    config: OpelConfig,
) -> None:
    values = {**WINTER, "ga_occupancy_pct": None}
    result = score_opel(config, values)
    row = next(r for r in result.parameters if r.key == "ga_occupancy")
    assert row.missing is True
    assert (row.value, row.band, row.score, row.contribution) == (None, None, None, 0)
    assert result.total == 20  # 26 without G&A's 6
    assert result.level == 2  # a lower bound ...
    assert result.incomplete is True
    assert result.missing == ("ga_occupancy",)
    assert result.worst_case_total == 32  # ... G&A in band 4 would add 4 x 3
    assert result.worst_case_level == 3


def test_opel010_absent_key_and_nan_count_as_missing(config: OpelConfig) -> None:
    values = {k: v for k, v in WINTER.items() if k != "nctr_pct"}
    values["escalation_beds_pct"] = math.nan
    result = score_opel(config, values)
    assert result.missing == ("escalation_beds", "nctr")
    assert result.level == config.level_for_total(24)
    assert result.total == 24


def test_opel011_too_many_missing_gives_no_level(config: OpelConfig) -> None:
    assert config.max_missing_parameters == 2
    values = dict(WINTER)
    for metric in ("ga_occupancy_pct", "nctr_pct", "ed_4h_pct_today"):
        values[metric] = None
    result = score_opel(config, values)
    assert result.level is None
    assert result.incomplete is True
    assert len(result.missing) == 3


def test_opel012_no_data_at_all(config: OpelConfig) -> None:
    result = score_opel(config, {})
    assert result.level is None
    assert result.total == 0
    assert result.worst_case_total == config.max_total
    assert result.missing == tuple(ACUTE_PARAMETERS)


def test_opel013_non_numeric_value_is_rejected(config: OpelConfig) -> None:
    with pytest.raises(TypeError, match="ga_occupancy"):
        score_opel(config, {"ga_occupancy_pct": "94%"})


# --------------------------------------------------------------------------- storage


def test_opel014_result_round_trips_through_json(config: OpelConfig) -> None:
    result = score_opel(config, {**SURGE, "nctr_pct": None})
    stored = json.loads(json.dumps(result.to_dict()))
    assert OpelResult.from_dict(stored) == result
    assert stored["parameters"][6]["key"] == "ga_occupancy"
    assert stored["config_version"] == config.version


@pytest.mark.parametrize(
    ("previous", "new", "change"),
    [
        (1, 2, "escalation"),
        (2, 4, "escalation"),
        (3, 2, "de-escalation"),
        (4, 1, "de-escalation"),
        (3, 3, None),
        (None, 3, None),
        (3, None, None),
        (None, None, None),
    ],
)
def test_opel015_level_change(
    previous: int | None, new: int | None, change: str | None
) -> None:
    assert level_change(previous, new) == change


# --------------------------------------------------------------------------- bad files


def shipped() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_OPEL_CONFIG_PATH.read_text(encoding="utf-8"))


def param(data: dict[str, Any], key: str) -> dict[str, Any]:
    return next(p for p in data["parameters"] if p["key"] == key)


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "opel.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _unknown_metric(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["metric"] = "ga_occupancy_percent"


def _missing_weight(d: dict[str, Any]) -> None:
    del param(d, "ga_occupancy")["weight"]


def _text_weight(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["weight"] = "heavy"


def _zero_weight(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["weight"] = 0


def _text_bound(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["bands"][2]["lower"] = "92%"


def _bool_score(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["bands"][2]["score"] = True


def _overlap(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["bands"][1]["upper"] = 93  # band 2 85-93, band 3 92-95


def _gap(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["bands"][2]["lower"] = 93  # band 2 ends 92, band 3 from 93


def _gap_lower_is_worse(d: dict[str, Any]) -> None:
    param(d, "ed_4h_performance")["bands"][1]["lower"] = 80  # 80-85, next 65-78


def _unordered(d: dict[str, Any]) -> None:
    bands = param(d, "ga_occupancy")["bands"]
    bands[1]["lower"], bands[1]["upper"] = 92, 95
    bands[2]["lower"], bands[2]["upper"] = 85, 92


def _wrong_direction(d: dict[str, Any]) -> None:
    param(d, "ed_4h_performance")["direction"] = "higher_is_worse"


def _bad_direction(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["direction"] = "up"


def _closed_outer_band(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["bands"][0]["lower"] = 0


def _inverted_band(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["bands"][2]["upper"] = 90


def _falling_score(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["bands"][3]["score"] = 1


def _misnumbered_band(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["bands"][2]["band"] = 4


def _missing_parameter(d: dict[str, Any]) -> None:
    d["parameters"] = [p for p in d["parameters"] if p["key"] != "nctr"]


def _duplicate_parameter(d: dict[str, Any]) -> None:
    d["parameters"].append(dict(param(d, "nctr")))


def _unknown_parameter(d: dict[str, Any]) -> None:
    param(d, "nctr")["key"] = "delayed_discharges"


def _wrong_number(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["number"] = 3


def _unknown_field(d: dict[str, Any]) -> None:
    param(d, "ga_occupancy")["wieght"] = 3


def _thresholds_not_increasing(d: dict[str, Any]) -> None:
    d["levels"][2]["max_total"] = 22


def _text_threshold(d: dict[str, Any]) -> None:
    d["levels"][1]["max_total"] = "twenty-two"


def _levels_out_of_order(d: dict[str, Any]) -> None:
    d["levels"][0]["level"], d["levels"][1]["level"] = 2, 1


def _three_levels(d: dict[str, Any]) -> None:
    d["levels"] = d["levels"][:3]


def _opel4_unreachable(d: dict[str, Any]) -> None:
    for p in d["parameters"]:
        p["weight"] = 0.5  # max total 9 x 4 x 0.5 = 18


def _numeric_version(d: dict[str, Any]) -> None:
    d["version"] = 2025.1


def _bad_max_missing(d: dict[str, Any]) -> None:
    d["max_missing_parameters"] = 9


BAD_CONFIGS: list[tuple[Callable[[dict[str, Any]], None], str, str]] = [
    (
        _unknown_metric,
        "parameter 'ga_occupancy'",
        "unknown metric 'ga_occupancy_percent'",
    ),
    (_missing_weight, "parameter 'ga_occupancy'", "missing 'weight'"),
    (
        _text_weight,
        "parameter 'ga_occupancy'",
        "'weight' must be a number, not 'heavy'",
    ),
    (_zero_weight, "parameter 'ga_occupancy'", "'weight' must be positive"),
    (_text_bound, "parameter 'ga_occupancy'", "band 3: 'lower' must be a number"),
    (_bool_score, "parameter 'ga_occupancy'", "band 3: 'score' must be a number"),
    (_overlap, "parameter 'ga_occupancy'", "bands overlap at 92"),
    (_gap, "parameter 'ga_occupancy'", "bands leave a gap between 92 and 93"),
    (_gap_lower_is_worse, "parameter 'ed_4h_performance'", "gap between 78 and 80"),
    (_unordered, "parameter 'ga_occupancy'", "bands are not ordered"),
    (_wrong_direction, "parameter 'ed_4h_performance'", "must be open-ended"),
    (_bad_direction, "parameter 'ga_occupancy'", "'direction' must be"),
    (_closed_outer_band, "parameter 'ga_occupancy'", "band 1 must be open-ended"),
    (_inverted_band, "parameter 'ga_occupancy'", "'lower' 92 must be below 'upper' 90"),
    (_falling_score, "parameter 'ga_occupancy'", "band 4 scores less than band 3"),
    (_misnumbered_band, "parameter 'ga_occupancy'", "entry #3 has band 4"),
    (_missing_parameter, "parameters", "missing parameter(s): nctr"),
    (_duplicate_parameter, "parameter 'nctr'", "defined twice"),
    (_unknown_parameter, "parameter 'delayed_discharges'", "unknown parameter"),
    (_wrong_number, "parameter 'ga_occupancy'", "'number' must be 7"),
    (_unknown_field, "parameter 'ga_occupancy'", "unknown field 'wieght'"),
    (_thresholds_not_increasing, "level 3", "thresholds must increase"),
    (_text_threshold, "level 2", "'max_total' must be a number"),
    (_levels_out_of_order, "level 1", "listed 1 to 4 in order"),
    (_three_levels, "levels", "must list the 4 OPEL levels"),
    (_opel4_unreachable, "levels", "OPEL 4 is unreachable"),
    (_numeric_version, "version", "must be a non-empty string"),
    (_bad_max_missing, "max_missing_parameters", "from 0 to 8"),
]


@pytest.mark.parametrize(
    ("mutate", "entry", "problem"),
    BAD_CONFIGS,
    ids=[m.__name__.lstrip("_") for m, _, _ in BAD_CONFIGS],
)
def test_opel016_bad_config_names_file_and_entry(
    tmp_path: Path,
    mutate: Callable[[dict[str, Any]], None],
    entry: str,
    problem: str,
) -> None:
    data = shipped()
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_opel_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {entry}: "), message
    assert problem in message, message
    assert caught.value.path == str(path)


def test_opel017_overlap_message_matches_documented_form(tmp_path: Path) -> None:
    data = shipped()
    _overlap(data)
    path = tmp_path / "config" / "opel.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_opel_config(path)
    assert str(caught.value) == (
        f"{path}: parameter 'ga_occupancy': bands overlap at 92"
    )


def test_opel018_unreadable_and_malformed_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read file"):
        load_opel_config(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: '1'\nparameters: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_opel_config(broken)
    a_list = tmp_path / "list.yaml"
    a_list.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"list\.yaml: the top level must be"):
        load_opel_config(a_list)


def test_opel019_edited_config_is_used(tmp_path: Path) -> None:
    """A trust copying national figures only edits the file: the engine follows."""
    data = shipped()
    data["version"] = "national-2024-26"
    ga = param(data, "ga_occupancy")
    ga["weight"] = 4
    ga["bands"][1]["upper"] = ga["bands"][2]["lower"] = 90
    config = load_opel_config(write(tmp_path, data))
    result = score_opel(config, {"ga_occupancy_pct": 91})
    row = next(r for r in result.parameters if r.key == "ga_occupancy")
    assert (row.band, row.contribution) == (3, 8)
    assert result.config_version == "national-2024-26"
