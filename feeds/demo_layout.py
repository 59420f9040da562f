"""The demo trust's structure: sites, wards, ED areas and theatres.

Two acute sites of a fictional trust, sized like a 700-800 bed acute provider.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WardSpec:
    code: str
    name: str
    specialty: str
    ward_type: str
    core_beds: int
    escalation_beds: int
    group: str  # placement group: medicine, surgery, critical_care, paediatric


@dataclass(frozen=True)
class SiteSpec:
    code: str
    name: str
    daily_ed_arrivals: float
    wards: tuple[WardSpec, ...]
    ed_spaces: dict[str, int]
    theatres: tuple[tuple[str, str, str], ...]  # code, name, suite


def _w(code, name, specialty, ward_type, core, esc, group) -> WardSpec:  # noqa: ANN001
    return WardSpec(code, name, specialty, ward_type, core, esc, group)


GA = "general_acute"
TRUST_CODE = "RDT"
TRUST_NAME = "Riverside and Downs Hospitals NHS Trust (demo)"

SITES: tuple[SiteSpec, ...] = (
    SiteSpec(
        code="RGH",
        name="Riverside General Hospital",
        daily_ed_arrivals=310.0,
        wards=(
            _w(
                "AMU",
                "Acute Medical Unit",
                "Acute medicine",
                "assessment",
                36,
                0,
                "medicine",
            ),
            _w(
                "SAU",
                "Surgical Assessment Unit",
                "General surgery",
                "assessment",
                20,
                0,
                "surgery",
            ),
            _w("CAR", "Cardiology (Ward 4)", "Cardiology", GA, 28, 2, "medicine"),
            _w(
                "RES1",
                "Respiratory (Ward 5)",
                "Respiratory medicine",
                GA,
                28,
                2,
                "medicine",
            ),
            _w(
                "RES2",
                "Respiratory (Ward 6)",
                "Respiratory medicine",
                GA,
                28,
                2,
                "medicine",
            ),
            _w(
                "GAS",
                "Gastroenterology (Ward 7)",
                "Gastroenterology",
                GA,
                28,
                2,
                "medicine",
            ),
            _w(
                "COE1",
                "Care of the Elderly (Ward 8)",
                "Care of the elderly",
                GA,
                30,
                2,
                "medicine",
            ),
            _w(
                "COE2",
                "Care of the Elderly (Ward 9)",
                "Care of the elderly",
                GA,
                30,
                2,
                "medicine",
            ),
            _w(
                "COE3",
                "Care of the Elderly (Ward 10)",
                "Care of the elderly",
                GA,
                28,
                2,
                "medicine",
            ),
            _w("STR", "Stroke Unit", "Stroke medicine", GA, 26, 0, "medicine"),
            _w(
                "GM1",
                "General Medicine (Ward 11)",
                "General medicine",
                GA,
                28,
                2,
                "medicine",
            ),
            _w(
                "GM2",
                "General Medicine (Ward 12)",
                "General medicine",
                GA,
                28,
                2,
                "medicine",
            ),
            _w(
                "GS1",
                "General Surgery (Ward 14)",
                "General surgery",
                GA,
                28,
                2,
                "surgery",
            ),
            _w(
                "GS2",
                "General Surgery (Ward 15)",
                "General surgery",
                GA,
                28,
                2,
                "surgery",
            ),
            _w(
                "TO1",
                "Trauma & Orthopaedics (Ward 16)",
                "Trauma and orthopaedics",
                GA,
                30,
                2,
                "surgery",
            ),
            _w(
                "TO2",
                "Trauma & Orthopaedics (Ward 17)",
                "Trauma and orthopaedics",
                GA,
                28,
                2,
                "surgery",
            ),
            _w("URO", "Urology (Ward 18)", "Urology", GA, 24, 2, "surgery"),
            _w(
                "ICU",
                "Intensive Care Unit",
                "Critical care",
                "critical_care",
                16,
                0,
                "critical_care",
            ),
            _w(
                "PAE",
                "Children's Ward",
                "Paediatrics",
                "paediatric",
                24,
                0,
                "paediatric",
            ),
            _w(
                "ESC",
                "Escalation Area (Ward 99)",
                "General medicine",
                "escalation",
                0,
                14,
                "medicine",
            ),
        ),
        ed_spaces={
            "resus": 6,
            "majors": 30,
            "minors": 16,
            "paediatrics": 10,
            "sdec": 12,
        },
        theatres=(
            ("T1", "Main Theatre 1", "Main suite"),
            ("T2", "Main Theatre 2", "Main suite"),
            ("T3", "Main Theatre 3", "Main suite"),
            ("T4", "Main Theatre 4", "Main suite"),
            ("T5", "Main Theatre 5", "Main suite"),
            ("T6", "Main Theatre 6 (emergency)", "Main suite"),
            ("DS1", "Day Surgery 1", "Day surgery unit"),
            ("DS2", "Day Surgery 2", "Day surgery unit"),
        ),
    ),
    SiteSpec(
        code="DDH",
        name="Downs District Hospital",
        daily_ed_arrivals=135.0,
        wards=(
            _w(
                "AMU",
                "Acute Medical Unit",
                "Acute medicine",
                "assessment",
                24,
                0,
                "medicine",
            ),
            _w(
                "COE1",
                "Care of the Elderly (Beech)",
                "Care of the elderly",
                GA,
                28,
                2,
                "medicine",
            ),
            _w(
                "COE2",
                "Care of the Elderly (Cedar)",
                "Care of the elderly",
                GA,
                26,
                2,
                "medicine",
            ),
            _w(
                "GM1",
                "General Medicine (Elm)",
                "General medicine",
                GA,
                28,
                2,
                "medicine",
            ),
            _w(
                "GM2",
                "General Medicine (Fir)",
                "General medicine",
                GA,
                28,
                2,
                "medicine",
            ),
            _w(
                "RES",
                "Respiratory (Hazel)",
                "Respiratory medicine",
                GA,
                26,
                2,
                "medicine",
            ),
            _w("GS", "General Surgery (Oak)", "General surgery", GA, 24, 2, "surgery"),
            _w(
                "ORTH",
                "Elective Orthopaedics (Pine)",
                "Trauma and orthopaedics",
                GA,
                24,
                2,
                "surgery",
            ),
            _w(
                "HDU",
                "Intensive Care / HDU",
                "Critical care",
                "critical_care",
                10,
                0,
                "critical_care",
            ),
            _w(
                "PAE",
                "Children's Ward (Willow)",
                "Paediatrics",
                "paediatric",
                16,
                0,
                "paediatric",
            ),
            _w(
                "ESC",
                "Escalation Area (Day Unit)",
                "General medicine",
                "escalation",
                0,
                12,
                "medicine",
            ),
        ),
        ed_spaces={"resus": 4, "majors": 18, "minors": 10, "paediatrics": 6, "sdec": 8},
        theatres=(
            ("T1", "Orthopaedic Theatre 1", "Elective orthopaedic centre"),
            ("T2", "Orthopaedic Theatre 2", "Elective orthopaedic centre"),
            ("T3", "General Theatre 3", "Elective orthopaedic centre"),
            ("T4", "General Theatre 4", "Elective orthopaedic centre"),
        ),
    ),
)

ED_AREA_NAMES = {
    "resus": "Resus",
    "majors": "Majors",
    "minors": "Minors",
    "paediatrics": "Paediatrics",
    "sdec": "SDEC",
}

THEATRE_SPECIALTIES = {
    "T1": "General surgery",
    "T2": "Trauma and orthopaedics",
    "T3": "Urology",
    "T4": "Gynaecology",
    "T5": "Vascular surgery",
    "T6": "Emergency (CEPOD)",
    "DS1": "Ophthalmology",
    "DS2": "ENT",
}

PROCEDURES = {
    "General surgery": [
        ("Laparoscopic cholecystectomy", 75),
        ("Inguinal hernia repair", 60),
        ("Right hemicolectomy", 180),
        ("Appendicectomy", 60),
    ],
    "Trauma and orthopaedics": [
        ("Total hip replacement", 120),
        ("Total knee replacement", 120),
        ("Dynamic hip screw", 90),
        ("Knee arthroscopy", 45),
    ],
    "Urology": [("TURP", 75), ("Cystoscopy", 30), ("Ureteroscopy", 60)],
    "Gynaecology": [("Hysteroscopy", 30), ("Laparoscopic hysterectomy", 150)],
    "Vascular surgery": [
        ("Varicose vein ablation", 60),
        ("Carotid endarterectomy", 150),
    ],
    "Emergency (CEPOD)": [("Emergency laparotomy", 150), ("Incision and drainage", 30)],
    "Ophthalmology": [("Cataract extraction", 30), ("Vitrectomy", 90)],
    "ENT": [("Tonsillectomy", 45), ("Septoplasty", 60), ("Grommets", 20)],
}
