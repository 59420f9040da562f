"""After-action report of a protocol run: CSV timeline and a PDF for the board.

Pure builders: they take the timeline and run detail read by
``data.queries.protocols`` and return text or bytes. Times are shown in the trust's
local time with the UTC offset, so a reader can tell 01:30 BST from 01:30 GMT.

The PDF uses DejaVu Sans when the machine has it (every character we write,
including "–", "—", "£" and "≥"); otherwise it falls back to the PDF core fonts,
which are Latin-1 only, and replaces the few characters they cannot show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import MethodReturnValue
from fpdf.fonts import FontFace

from ops import protocols as rules
from ops.csv_export import csv_text
from ops.protocol_runs import SNAPSHOT_FIELDS, EventType, RunDetail, TimelineEvent
from ops.timeutil import ensure_utc, format_age, to_local

CSV_HEADER = ("time", "event", "block", "action", "person", "role", "detail")
DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
_REPLACEMENTS = {
    "–": "-",
    "—": "-",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "…": "...",
    "≥": ">=",
    "≤": "<=",
    "→": "->",
    "•": "-",
    "\u00a0": " ",
}


def local_time_text(at: datetime, tz: str) -> str:
    """``2026-11-23 10:32:05 +00:00``: local time with its UTC offset."""
    local = to_local(at, tz)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"


def timeline_csv(timeline: Sequence[TimelineEvent], tz: str) -> str:
    """One row per event in time order (the timeline is sorted again to be sure)."""
    ordered = sorted(enumerate(timeline), key=lambda p: (ensure_utc(p[1].at), p[0]))
    rows = (
        (
            local_time_text(e.at, tz),
            e.event,
            e.block,
            e.action,
            e.person,
            e.role,
            e.detail,
        )
        for _i, e in ordered
    )
    return csv_text([CSV_HEADER, *rows], lineterminator="\n")


def report_filename(run: RunDetail, extension: str) -> str:
    day = f"{run.run.declared_at:%Y%m%d}"
    return f"after-action-{run.run.template_key}-run{run.run.id}-{day}.{extension}"


# ---------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------


def _sanitise(text: str) -> str:
    for bad, good in _REPLACEMENTS.items():
        text = text.replace(bad, good)
    return text.encode("latin-1", "replace").decode("latin-1")


class _ReportPDF(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text
        self.unicode = False
        regular, bold = (
            DEJAVU_DIR / "DejaVuSans.ttf",
            DEJAVU_DIR / "DejaVuSans-Bold.ttf",
        )
        if regular.is_file() and bold.is_file():
            self.add_font("DejaVu", "", str(regular))
            self.add_font("DejaVu", "B", str(bold))
            self.family_name = "DejaVu"
            self.unicode = True
        else:
            self.family_name = "Helvetica"
        self.set_auto_page_break(auto=True, margin=16)
        self.set_margins(14, 14, 14)

    def t(self, text: object) -> str:
        value = "" if text is None else str(text)
        return value if self.unicode else _sanitise(value)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family_name, "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, self.t(self.footer_text), align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0, 0, 0)


def _heading(pdf: _ReportPDF, text: str) -> None:
    if pdf.get_y() > pdf.h - pdf.b_margin - 30:  # keep a heading with its content
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font(pdf.family_name, "B", 12)
    pdf.cell(0, 7, pdf.t(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(120, 120, 120)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(1.5)
    pdf.set_font(pdf.family_name, "", 9)


_PADDING_V, _PADDING_H = 0.8, 1.2
_LINE_FACTOR = 1.45


def _wrapped_lines(pdf: _ReportPDF, text: str, width: float) -> list[str]:
    """The lines ``text`` wraps to in a cell ``width`` wide (hard breaks kept; a word
    longer than the cell is broken at characters, as the table itself does)."""
    if not text:
        return [""]
    return pdf.multi_cell(
        width,
        pdf.font_size * _LINE_FACTOR,
        text,
        dry_run=True,
        output=MethodReturnValue.LINES,
    )


def _page_rows(
    pdf: _ReportPDF,
    values: Sequence[str],
    widths: Sequence[float],
    max_lines: int,
    first_lines: int,
) -> list[tuple[list[str], int]]:
    """One table row, or several when it is too tall for a page, each with its
    height in lines.

    A table row cannot break across pages, so a long cell (a 4,000-character reason,
    a long log entry) is cut at line boundaries into consecutive rows: the first of
    at most ``first_lines`` lines (what is left of the current page), the others of
    at most ``max_lines`` (a page); the first column of a continuation row says so.
    """
    inner = [w - 2 * _PADDING_H - 0.5 for w in widths]  # a little slack on rounding
    cells = [_wrapped_lines(pdf, v, w) for v, w in zip(values, inner, strict=True)]
    tallest = max(len(c) for c in cells)
    if tallest <= first_lines or (tallest <= max_lines and tallest < 12):
        return [(list(values), tallest)]
    cuts = [0, first_lines] if first_lines >= 3 else [0]
    while cuts[-1] < tallest:
        cuts.append(cuts[-1] + max_lines)
    rows = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        row = ["\n".join(c[start:end]) for c in cells]
        if start and not row[0].strip():
            row[0] = "(continued)"
        rows.append((row, min(end, tallest) - start))
    return rows


def _table(
    pdf: _ReportPDF,
    header: Sequence[str] | None,
    rows: Sequence[Sequence[object]],
    widths: Sequence[float],
    font_size: float = 8.5,
) -> None:
    pdf.set_font(pdf.family_name, "", font_size)
    line_height = pdf.font_size * _LINE_FACTOR
    # the tallest row a page can take below a repeated heading row (two lines)
    usable = pdf.h - pdf.t_margin - pdf.b_margin - 2 * line_height - 6 * _PADDING_V
    max_lines = max(1, int(usable / line_height) - 2)
    with pdf.table(
        col_widths=tuple(widths),
        text_align="LEFT",
        first_row_as_headings=header is not None,
        headings_style=FontFace(emphasis="BOLD", fill_color=(225, 228, 232)),
        line_height=line_height,
        padding=(_PADDING_V, _PADDING_H),
        width=pdf.w - pdf.l_margin - pdf.r_margin,
        v_align="TOP",
    ) as table:
        if header is not None:
            row = table.row()
            for h in header:
                row.cell(pdf.t(h))
        # where the table will have reached on its page: an estimate (the table is
        # drawn when the block ends), used only to fill a page before cutting a row
        bottom = pdf.h - pdf.b_margin
        heading_h = line_height + 2 * _PADDING_V if header is not None else 0.0
        y = pdf.get_y() + heading_h
        for values in rows:
            texts = [pdf.t(v) for v in values]
            first = int((bottom - y - 2 * _PADDING_V) / line_height) - 1
            pieces = _page_rows(pdf, texts, widths, max_lines, max(first, 0))
            for piece, lines in pieces:
                row = table.row()
                for v in piece:
                    row.cell(v)
                height = lines * line_height + 2 * _PADDING_V
                if y + height > bottom:
                    y = pdf.t_margin + heading_h
                y += height
    pdf.ln(1)


def _when(at: datetime | None, tz: str) -> str:
    """``Mon 23 Nov 2026 10:32 (UTC+00:00)`` (local, with the offset)."""
    if at is None:
        return "—"
    local = to_local(at, tz)
    offset = local.strftime("%z")
    return f"{local:%a %d %b %Y %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def _short(at: datetime | None, tz: str) -> str:
    """``Mon 23 Nov 10:32`` (local)."""
    return "—" if at is None else f"{to_local(at, tz):%a %d %b %H:%M}"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _stand_down_rows(run: RunDetail) -> list[tuple[str, str]]:
    """The stand-down note, or -- stood down with actions open -- the reason given
    for standing down early and what was left open (the checklist is read-only
    after stand-down, so the open actions now are those open then)."""
    info = run.run
    left = rules.outstanding_actions(run.template, run.states, include_stand_down=True)
    if info.stood_down_at is None or not left:
        return [("Stand-down note", info.stand_down_note or "—")]
    return [
        ("Stand-down reason", info.stand_down_note or "—"),
        (
            "Open at stand-down",
            f"{len(left)} of {len(run.template.actions)} actions: "
            + "; ".join(a.text for a in left),
        ),
    ]


def timeline_pdf(
    timeline: Sequence[TimelineEvent],
    run: RunDetail,
    tz: str,
    generated_at: datetime | None = None,
) -> bytes:
    """A board-ready after-action report (A4): summary, METHANE, facility snapshot,
    actions, roles, activity log, stand-down and the full timeline; page numbers."""
    info, template = run.run, run.template
    generated = f"generated {_short(generated_at, tz)}" if generated_at else ""
    pdf = _ReportPDF(
        f"After-action report · {template.title} · run {info.id} · {generated}"
    )
    pdf.alias_nb_pages()
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    pdf.set_font(pdf.family_name, "B", 17)
    pdf.multi_cell(0, 8, pdf.t("After-action report"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family_name, "B", 12)
    pdf.multi_cell(0, 6, pdf.t(template.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family_name, "", 9)
    pdf.multi_cell(0, 4.6, pdf.t(template.summary), new_x="LMARGIN", new_y="NEXT")

    overall = rules.overall_progress(template, run.states)
    if info.stood_down_at is not None:
        duration = format_age((info.stood_down_at - info.declared_at).total_seconds())
        stood = f"{info.stood_down_by} at {_when(info.stood_down_at, tz)} (after {duration})"
    else:
        stood = (
            "Not stood down — the protocol was still active when this report was made"
        )
    trigger = info.trigger_kind + (
        f" — {info.trigger_detail}" if info.trigger_detail else ""
    )
    _heading(pdf, "Summary")
    _table(
        pdf,
        None,
        [
            (
                "Protocol",
                f"{template.title} (template {info.template_key}, version {info.template_version})",
            ),
            ("Run", f"#{info.id} · {info.scope_text}"),
            ("Trigger", trigger),
            ("Declared by", f"{info.declared_by} at {_when(info.declared_at, tz)}"),
            ("Reason", info.reason),
            ("Stood down", stood),
            *_stand_down_rows(run),
            ("Actions done", f"{overall.done} of {overall.total}"),
        ],
        (0.22 * width, 0.78 * width),
        9,
    )

    if info.methane:
        _heading(pdf, "METHANE report")
        _table(
            pdf,
            ("", "Item", "Report"),
            [
                (letter, label, info.methane.get(name, "—"))
                for name, letter, label in rules.METHANE_FIELDS
            ],
            (0.06 * width, 0.34 * width, 0.60 * width),
        )

    _snapshot_section(pdf, info.facility_snapshot, tz, width)

    _heading(pdf, "Actions")
    roles = {r.key: r.title for r in template.roles}
    rows = []
    for block in template.blocks:
        for action in block.actions:
            st = run.states.get(action.key) or rules.NOT_DONE
            rows.append(
                (
                    block.title,
                    action.text,
                    roles.get(action.owner, action.owner),
                    "Done" if st.done else "Not done",
                    f"{st.done_by} {_short(st.done_at, tz)}" if st.done else "—",
                    st.note or "",
                )
            )
    _table(
        pdf,
        ("Block", "Action", "Owner", "Status", "By / at", "Note"),
        rows,
        tuple(x * width for x in (0.11, 0.37, 0.15, 0.08, 0.14, 0.15)),
        7.5,
    )

    _heading(pdf, "Command roles")
    role_rows = [
        (
            roles.get(a.role_key, a.role_key),
            a.person,
            _short(a.held_from, tz),
            _short(a.held_to, tz),
            a.assigned_by,
        )
        for a in run.assignments
    ]
    if role_rows:
        _table(
            pdf,
            ("Role", "Held by", "From", "To", "Assigned by"),
            role_rows,
            tuple(x * width for x in (0.30, 0.20, 0.16, 0.16, 0.18)),
        )
    else:
        pdf.multi_cell(
            0, 5, pdf.t("No roles were assigned."), new_x="LMARGIN", new_y="NEXT"
        )

    _heading(pdf, "Activity log")
    log_events = [e for e in timeline if e.event == EventType.LOG]
    if log_events:
        _table(
            pdf,
            ("Time", "Author", "Role", "Entry"),
            [(_short(e.at, tz), e.person, e.role, e.detail) for e in log_events],
            tuple(x * width for x in (0.14, 0.16, 0.20, 0.50)),
        )
    else:
        pdf.multi_cell(0, 5, pdf.t("No log entries."), new_x="LMARGIN", new_y="NEXT")

    _heading(pdf, "Timeline")
    _table(
        pdf,
        ("Time", "Event", "Action / detail", "Person", "Role"),
        [
            (
                local_time_text(e.at, tz),
                e.event,
                " — ".join(x for x in (e.action, e.detail) if x),
                e.person,
                e.role,
            )
            for e in timeline
        ],
        tuple(x * width for x in (0.17, 0.12, 0.43, 0.13, 0.15)),
        7.5,
    )
    return bytes(pdf.output())


def _snapshot_section(
    pdf: _ReportPDF, snapshot: Mapping[str, Any], tz: str, width: float
) -> None:
    taken = snapshot.get("taken_at")
    when = ""
    if taken:
        when = f" at {_short(datetime.fromisoformat(taken), tz)}"
    _heading(pdf, f"Facility status at declaration{when}")
    sites = list(snapshot.get("sites") or [])
    if not sites:
        pdf.multi_cell(
            0,
            5,
            pdf.t("No facility data was available."),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        return
    columns = [s.get("code") or s.get("name") for s in sites]
    figures = [*sites]
    if len(sites) > 1:
        columns.append("Total")
        figures.append(snapshot.get("total") or {})
    label_w = 0.34 * width
    col_w = (width - label_w) / len(columns)
    _table(
        pdf,
        ("", *columns),
        [
            (label, *(_fmt(f.get(key)) for f in figures))
            for key, label in SNAPSHOT_FIELDS
        ],
        (label_w, *([col_w] * len(columns))),
    )
