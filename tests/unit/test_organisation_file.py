"""The organisation file: format, shorthands, default codes, validation, export form."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from bench.ics_layout import bed_count, ics_sites
from data.models.capacity import WARD_TYPES as MODEL_WARD_TYPES
from feeds import demo_layout
from ops.organisation import (
    WARD_TYPES,
    FhirCode,
    Hl7Code,
    OrganisationFileError,
    load_organisation_file,
    parse_organisation,
    to_document,
)

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "organisation" / "demo.yaml"
ICS = ROOT / "config" / "organisation" / "ics-region.yaml"


def small() -> dict:
    return {
        "trust": {"code": "TST", "name": "Test Trust"},
        "sites": [
            {
                "code": "AAA",
                "ods_code": "RXX01",
                "name": "Alpha Hospital",
                "wards": [
                    {
                        "code": "CAR",
                        "name": "Cardiology",
                        "specialty": "Cardiology",
                        "ward_type": "general_acute",
                        "core_beds": 4,
                        "bed_range": {"prefix": "CAR-", "count": 4, "escalation": 1},
                        "beds": [{"label": "CAR-02", "side_room": True}],
                    },
                    {
                        "code": "PAE",
                        "name": "Children",
                        "specialty": "Paediatrics",
                        "ward_type": "paediatric",
                        "beds": [
                            {
                                "label": "P1",
                                "isolation_capable": True,
                                "codes": {
                                    "hl7": [{"point_of_care": "KIDS", "bed": "1"}],
                                    "fhir": [
                                        {
                                            "system": "https://t.example/loc",
                                            "value": "P1",
                                        }
                                    ],
                                },
                            },
                            {"label": "P2", "codes": {"hl7": []}},
                        ],
                    },
                ],
                "ed_areas": [
                    {"code": "resus", "space_range": {"prefix": "R", "count": 2}},
                    {"code": "rat", "name": "Rapid assessment", "spaces": ["RAT1"]},
                ],
                "theatres": [
                    {"code": "T1", "name": "Theatre 1", "suite": "Main"},
                    {"code": "T2", "name": "CEPOD", "suite": "Main", "emergency": True},
                ],
            }
        ],
    }


def test_org001_ward_types_match_the_model() -> None:
    assert WARD_TYPES == MODEL_WARD_TYPES


def test_org002_bed_range_expands_and_listed_beds_refine_it() -> None:
    org = parse_organisation(small(), "small.yaml")
    car = org.sites[0].wards[0]
    assert [(b.label, b.escalation) for b in car.beds] == [
        ("CAR-01", False),
        ("CAR-02", False),
        ("CAR-03", False),
        ("CAR-04", False),
        ("CAR-E1", True),
    ]
    assert [b.label for b in car.beds if b.side_room] == ["CAR-02"]
    assert car.core_beds == 4 and car.escalation_beds == 1
    assert car.general_and_acute is True
    assert org.sites[0].wards[1].general_and_acute is False  # paediatric


def test_org003_default_codes_and_explicit_codes() -> None:
    site = parse_organisation(small(), "small.yaml").sites[0]
    car, pae = site.wards
    assert car.codes.hl7 == (Hl7Code("CAR", facility="AAA"),)
    assert car.beds[0].codes.hl7 == (Hl7Code("CAR", None, "CAR-01", "AAA"),)
    assert pae.beds[0].codes.hl7 == (Hl7Code("KIDS", None, "1", None),)
    assert pae.beds[0].codes.fhir == (FhirCode("https://t.example/loc", "P1"),)
    assert pae.beds[1].codes.hl7 == ()  # hl7: [] means no HL7 code
    resus, rat = site.ed_areas
    assert resus.name == "Resus"  # known area codes have a default name
    assert [s.label for s in resus.spaces] == ["R01", "R02"]
    assert resus.codes.hl7 == (Hl7Code("ED", "resus", None, "AAA"),)
    assert resus.spaces[1].codes.hl7 == (Hl7Code("ED", "resus", "R02", "AAA"),)
    assert [s.label for s in rat.spaces] == ["RAT1"]
    assert site.theatres[1].emergency and not site.theatres[0].emergency
    assert site.theatres[0].codes.hl7 == ()  # theatres have no default code


def test_org004_five_mistakes_are_all_reported_with_paths() -> None:
    doc = small()
    wards = doc["sites"][0]["wards"]
    wards[0]["core_beds"] = 5  # 1: four core beds in the range
    wards[1]["ward_type"] = "surgical"  # 2: unknown type
    wards[1]["beds"].append({"label": "P1"})  # 3: duplicate bed label
    wards.append(copy.deepcopy(wards[0]) | {"core_beds": 4})  # 4: duplicate ward code
    doc["sites"][0]["ed_areas"][1]["codes"] = {  # 5: HL7 code of bed CAR-01
        "hl7": [{"point_of_care": "CAR", "bed": "CAR-01", "facility": "AAA"}]
    }
    with pytest.raises(OrganisationFileError) as info:
        parse_organisation(doc, "bad.yaml")
    errors = info.value.errors
    expected = [
        "bad.yaml: sites[0].wards[0].core_beds: core_beds is 5 but the ward has 4",
        "bad.yaml: sites[0].wards[1].ward_type: unknown ward_type 'surgical'",
        "bad.yaml: sites[0].wards[1].beds[2].label: bed label 'P1' is already used "
        "by sites[0].wards[1].beds[0]",
        "bad.yaml: sites[0].wards[2].code: ward code 'CAR' is already used by "
        "sites[0].wards[0]",
        "bad.yaml: sites[0].ed_areas[1].codes: HL7 code CAR^^CAR-01^AAA is already "
        "used by sites[0].wards[0].bed_range (CAR-01)",
    ]
    for want in expected:
        assert any(e.startswith(want) for e in errors), (want, errors)
    assert len(errors) == 5, errors
    assert "5 problems" in str(info.value)


def test_org005_schema_mistakes_name_the_field() -> None:
    doc = small()
    site = doc["sites"][0]
    site["wards"][0]["bed_range"]["count"] = -1
    site["wards"][0]["colour"] = "red"
    del site["theatres"][0]["suite"]
    site["ed_areas"][0]["code"] = "re^sus"
    site["wards"][1]["beds"][0]["codes"]["fhir"][0]["system"] = ""
    site["wards"][1]["beds"][0]["codes"]["fhir"].append(
        {"system": "https://t.example/loc", "value": "CAR-01"}
    )
    site["wards"][0]["beds"].append(
        {
            "label": "CAR-09",
            "codes": {"fhir": [{"system": "https://t.example/loc", "value": "CAR-01"}]},
        }
    )
    with pytest.raises(OrganisationFileError) as info:
        parse_organisation(doc, "bad.yaml")
    text = "\n".join(info.value.errors)
    assert "sites[0].wards[0].bed_range.count: input should be greater than" in text
    assert "sites[0].wards[0].colour: unknown field" in text
    assert "sites[0].theatres[0].suite: required field is missing" in text
    assert "sites[0].ed_areas[0].code: 're^sus' is not allowed" in text
    assert "sites[0].wards[1].beds[0].codes.fhir[0].system:" in text
    # a ward whose fields do not validate is left out of the checks across entries,
    # so its CAR-09 identifier is not compared with PAE P1's
    assert "FHIR code" not in text


def test_org006_duplicate_sites_and_codes_shared_across_sites() -> None:
    doc = small()
    second = copy.deepcopy(doc["sites"][0]) | {"code": "BBB", "name": "Beta"}
    doc["sites"] += [second, copy.deepcopy(doc["sites"][0])]
    with pytest.raises(OrganisationFileError) as info:
        parse_organisation(doc, "dup.yaml")
    errors = info.value.errors
    # default codes carry the site code as facility, so a second site only clashes
    # on the explicit codes: KIDS^^1 (no facility) and the FHIR identifier
    assert errors == [
        "dup.yaml: sites[2].code: site code 'AAA' is already used by sites[0]",
        "dup.yaml: sites[1].wards[1].beds[0].codes: HL7 code KIDS^^1 is already used "
        "by sites[0].wards[1].beds[0]",
        "dup.yaml: sites[1].wards[1].beds[0].codes: FHIR code "
        "https://t.example/loc|P1 is already used by sites[0].wards[1].beds[0]",
    ]


def test_org007_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "org.yaml"
    bad.write_text("trust: [unclosed\n", encoding="utf-8")
    with pytest.raises(OrganisationFileError) as info:
        load_organisation_file(bad)
    assert str(bad) in info.value.errors[0] and "not valid YAML" in info.value.errors[0]
    bad.write_text(yaml.safe_dump({"trust": {"code": "X", "name": "X"}}))
    with pytest.raises(OrganisationFileError) as info:
        load_organisation_file(bad)
    assert info.value.errors == [
        f"{bad}: sites: a list of at least one site is required"
    ]


def test_org008_document_round_trips_compactly() -> None:
    org = parse_organisation(small(), "small.yaml")
    doc = to_document(org)
    again = parse_organisation(doc, "export")
    assert again.trust == org.trust and again.sites == org.sites
    car = doc["sites"][0]["wards"][0]
    assert car["bed_range"] == {"prefix": "CAR-", "count": 4, "escalation": 1}
    assert car["beds"] == [{"label": "CAR-02", "side_room": True}]
    assert "codes" not in car  # the default code is not written out
    pae_beds = doc["sites"][0]["wards"][1]["beds"]
    assert pae_beds[1] == {"label": "P2", "codes": {"hl7": []}}


def test_org009_demo_file_is_the_demo_layout() -> None:
    org = load_organisation_file(DEMO)
    assert (org.trust.code, org.trust.name) == (
        demo_layout.TRUST_CODE,
        demo_layout.TRUST_NAME,
    )
    assert [s.code for s in org.sites] == [s.code for s in demo_layout.SITES]
    for site, spec in zip(org.sites, demo_layout.SITES, strict=True):
        assert site.name == spec.name
        assert [
            (w.code, w.name, w.specialty, w.ward_type, w.core_beds, w.escalation_beds)
            for w in site.wards
        ] == [
            (w.code, w.name, w.specialty, w.ward_type, w.core_beds, w.escalation_beds)
            for w in spec.wards
        ]
        for ward, wspec in zip(site.wards, spec.wards, strict=True):
            assert [b.label for b in ward.beds] == [
                f"{wspec.code}-{i + 1:02d}" for i in range(wspec.core_beds)
            ] + [f"{wspec.code}-E{i + 1}" for i in range(wspec.escalation_beds)]
        assert {a.code: len(a.spaces) for a in site.ed_areas} == spec.ed_spaces
        assert [(t.code, t.name, t.suite) for t in site.theatres] == list(spec.theatres)


def test_org010_ics_file_is_the_benchmark_region() -> None:
    org = load_organisation_file(ICS)
    sites = ics_sites()
    assert [s.code for s in org.sites] == [s.code for s in sites]
    assert org.counts()["beds"] == bed_count(sites)
    assert org.counts()["ed_spaces"] == sum(sum(s.ed_spaces.values()) for s in sites)
