"""After-action report builders: CSV rows in time order with local offsets; a PDF."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from components import protocol_report as report
from ops import protocols as rules
from ops.protocol_runs import (
    AssignmentRow,
    EventType,
    LogEntry,
    RunDetail,
    RunInfo,
    TimelineEvent,
)
from ops.settings import PROJECT_ROOT

TZ = "Europe/London"
T0 = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def _template(key: str = "major-incident") -> rules.ProtocolTemplate:
    return rules.load_template(PROJECT_ROOT / "config" / "protocols" / f"{key}.yaml")


def _detail(template: rules.ProtocolTemplate, *, stood_down: bool = True) -> RunDetail:
    methane = {
        "major_incident_declared": "yes",
        "exact_location": "M6 northbound, junction 10 – lorry park",
        "type": "coach collision",
        "hazards": "diesel spill; £ costs irrelevant",
        "access": "via A454",
        "number_and_type_of_casualties": "≥ 30: 5 P1, 10 P2",
        "emergency_services": "police, fire, HEMS on scene",
    }
    info = RunInfo(
        id=7,
        template_key=template.key,
        template_version=template.version,
        title=template.title,
        trigger_kind="manual",
        trigger_detail="call from ambulance control",
        declared_by="Alice Commander",
        declared_by_role="incident_commander",
        declared_at=T0,
        reason="Mass casualty — coach crash on the M6",
        site_id=1,
        site_code="RGH",
        site_name="Royal General Hospital",
        status="stood_down" if stood_down else "active",
        stood_down_by="Alice Commander" if stood_down else None,
        stood_down_at=T0 + timedelta(hours=5) if stood_down else None,
        stand_down_note="All casualties admitted or discharged" if stood_down else None,
        methane=methane if template.requires_methane else None,
        facility_snapshot={
            "taken_at": T0.isoformat(),
            "scope": "site",
            "sites": [
                {
                    "code": "RGH",
                    "name": "Royal General Hospital",
                    "beds_available": 12,
                    "beds_occupied": 401,
                    "ga_occupancy_pct": 96.4,
                    "ed_in_department": 88,
                }
            ],
            "total": {"beds_available": 12},
        },
        version=2 if stood_down else 1,
    )
    first = template.actions[0]
    states = {
        first.key: rules.ActionState(
            True, T0 + timedelta(minutes=3), "Bob Beds", "done – fine", 1
        )
    }
    return RunDetail(
        run=info,
        template=template,
        states=states,
        assignments=[
            AssignmentRow(
                template.roles[1].key,
                "Carol",
                T0 + timedelta(minutes=1),
                None,
                "Alice Commander",
            )
        ],
        log=[
            LogEntry(
                1, T0 + timedelta(minutes=4), "Bob Beds", "Loggist", "First P1 arrived"
            )
        ],
    )


def _timeline(detail: RunDetail) -> list[TimelineEvent]:
    first = detail.template.actions[0]
    block = detail.template.block_of(first.key)
    return [
        TimelineEvent(
            T0, EventType.DECLARED, person="Alice Commander", detail="declared"
        ),
        TimelineEvent(T0, EventType.SNAPSHOT, detail="G&A occupancy 96.4%"),
        TimelineEvent(
            T0 + timedelta(minutes=1), EventType.ROLE_ASSIGNED, person="Carol"
        ),
        TimelineEvent(
            T0 + timedelta(minutes=3),
            EventType.ACTION_DONE,
            block=block.title,
            action=first.text,
            person="Bob Beds",
            role="Loggist",
            detail='note with "quotes", commas\nand a new line',
        ),
        TimelineEvent(
            T0 + timedelta(minutes=4),
            EventType.LOG,
            person="Bob Beds",
            role="Loggist",
            detail="First P1 arrived",
        ),
        TimelineEvent(
            T0 + timedelta(hours=5), EventType.STOOD_DOWN, person="Alice Commander"
        ),
    ]


def test_csv_rows_follow_time_order_with_local_offsets():
    detail = _detail(_template())
    events = _timeline(detail)
    shuffled = [events[4], events[0], events[3], events[5], events[1], events[2]]
    text = report.timeline_csv(shuffled, TZ)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(report.CSV_HEADER)
    assert [r[1] for r in rows[1:]] == [
        "declared",
        "facility snapshot",
        "role assigned",
        "action done",
        "log entry",
        "stood down",
    ]
    assert rows[1][0] == "2026-11-23 10:30:00 +00:00"
    assert rows[4][6] == 'note with "quotes", commas\nand a new line'
    assert rows[4][2] == detail.template.blocks[0].title and rows[4][4] == "Bob Beds"


def test_csv_times_carry_the_summer_offset():
    summer = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    text = report.timeline_csv([TimelineEvent(summer, EventType.LOG, detail="x")], TZ)
    assert text.splitlines()[1].startswith("2026-07-01 10:00:00 +01:00,log entry")


def _pdf_text(pdf: bytes, tmp_path) -> str:  # noqa: ANN001
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_pdf_has_every_section_and_page_numbers(tmp_path):
    detail = _detail(_template())
    pdf = report.timeline_pdf(
        _timeline(detail), detail, TZ, generated_at=T0 + timedelta(hours=6)
    )
    assert pdf.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type /Page\b", pdf))
    assert pages >= 2
    text = _pdf_text(pdf, tmp_path)
    for heading in (
        "After-action report",
        "Summary",
        "METHANE report",
        "Facility status at declaration",
        "Actions",
        "Command roles",
        "Activity log",
        "Timeline",
    ):
        assert heading in text
    assert "Alice Commander" in text and "Mass casualty — coach crash on the M6" in text
    assert "junction 10 – lorry park" in text and "£ costs" in text and "≥ 30" in text
    assert "96.4" in text and "First P1 arrived" in text
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    # stood down with actions open: the reason and what was left open
    assert "Stand-down reason" in text and "Open at stand-down" in text
    left = len(detail.template.actions) - 1
    assert f"{left} of {len(detail.template.actions)} actions:" in text


def test_pdf_without_dejavu_falls_back_to_core_fonts(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "DEJAVU_DIR", tmp_path / "no-fonts")
    detail = _detail(_template(), stood_down=False)
    pdf = report.timeline_pdf(_timeline(detail), detail, TZ)
    text = _pdf_text(pdf, tmp_path)
    assert "junction 10 - lorry park" in text and "£ costs" in text and ">= 30" in text
    assert "still active" in text


def test_report_filename_names_template_run_and_day():
    detail = _detail(_template("opel3-escalation"))
    assert (
        report.report_filename(detail, "csv")
        == "after-action-opel3-escalation-run7-20261123.csv"
    )


def test_banner_lists_each_active_protocol_with_progress_and_link():
    from components.surge import active_protocols_banner
    from ops.protocol_runs import BannerRun

    assert active_protocols_banner([]) is None
    banner = active_protocols_banner(
        [
            BannerRun(3, "OPEL 3 acute escalation", "Trust-wide", 5, 26, 2),
            BannerRun(4, "Major incident", "Downs District Hospital", 0, 24, 0),
        ]
    )
    text = repr(banner.to_plotly_json())
    assert (
        "OPEL 3 acute escalation (Trust-wide) · 5/26 actions done · 2 overdue" in text
    )
    assert "/surge?run=3" in text and "/surge?run=4" in text
    assert (
        "bi-exclamation-octagon" in text
    )  # overdue has its own icon, not colour alone


def _long_text(prefix: str, chars: int = 4000) -> str:
    """Numbered words (``r0001 r0002 …``) so every piece can be found again."""
    words, n = [], 0
    while sum(len(w) + 1 for w in words) < chars:
        n += 1
        words.append(f"{prefix}{n:04d}")
    return " ".join(words)


def _words_outside_page(pdf: bytes, tmp_path) -> list[str]:  # noqa: ANN001
    """Words whose box runs past the page's right edge (pdftotext -bbox)."""
    path = tmp_path / "b.pdf"
    path.write_bytes(pdf)
    html = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    width = float(re.search(r'<page width="([\d.]+)"', html).group(1))
    return [
        word
        for x_max, word in re.findall(r'xMax="([\d.]+)"[^>]*>([^<]*)</word>', html)
        if float(x_max) > width
    ]


def test_pdf_wraps_and_splits_long_fields_across_pages(tmp_path):
    """A 4,000-character reason, stand-down note, action note, METHANE entry and
    log entries, and a 500-character unbroken word, all appear whole and on the page."""
    from dataclasses import replace

    template = _template()
    detail = _detail(template)
    unbroken = "Z" * 500
    reason = _long_text("r")
    note = _long_text("s")
    methane = dict(detail.run.methane, exact_location=_long_text("m"))
    info = replace(detail.run, reason=reason, stand_down_note=note, methane=methane)
    first = template.actions[0]
    states = {
        first.key: rules.ActionState(
            True, T0 + timedelta(minutes=3), "Bob Beds", _long_text("a"), 1
        )
    }
    detail = replace(detail, run=info, states=states)
    timeline = _timeline(detail)
    timeline.append(
        TimelineEvent(
            T0 + timedelta(minutes=6),
            EventType.LOG,
            person="Bob Beds",
            role="Loggist",
            detail=_long_text("g") + " " + unbroken,
        )
    )
    timeline.append(
        TimelineEvent(
            T0 + timedelta(minutes=7),
            EventType.LOG,
            person="Bob Beds",
            role="Loggist",
            detail=_long_text("h", 8000),
        )
    )
    pdf = report.timeline_pdf(timeline, detail, TZ)
    assert pdf.startswith(b"%PDF-")
    text = _pdf_text(pdf, tmp_path)
    found = set(re.findall(r"\b[rsmagh]\d{4}\b", text))
    for prefix, chars in (("r", 4000), ("s", 4000), ("m", 4000), ("a", 4000)):
        expected = set(_long_text(prefix, chars).split())
        assert expected <= found, f"{prefix}: {sorted(expected - found)[:5]} missing"
    # the log entries appear in the activity log and again in the timeline
    assert set(_long_text("g").split()) <= found
    assert set(_long_text("h", 8000).split()) <= found
    assert text.count("Z") >= 2 * len(unbroken)
    assert _words_outside_page(pdf, tmp_path) == []
