"""Reading a CSV file: its header, the column mapping, cells and local times.

Row numbers are the spreadsheet's: the header is row 1, the first data row is row 2.
A cell is only ever data: nothing is evaluated. A cell that a spreadsheet would take
as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first) is refused where a code, a
number or a time is expected, and kept as plain text in free-text fields.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ops.csv_export import FORMULA_STARTS

DEFAULT_DATE_FORMAT = "%d/%m/%Y %H:%M"
MAX_ROWS = 50_000


class CsvFileError(ValueError):
    """The file cannot be read at all (not text, no header, too many rows)."""


@dataclass(frozen=True)
class RowError:
    row: int  # 1 = the header (a problem with the whole file)
    field: str | None
    message: str

    def text(self) -> str:
        where = f"row {self.row}" + (f", {self.field}" if self.field else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Field:
    name: str
    headers: tuple[str, ...]  # header names recognised without a saved mapping
    required: bool = False
    help: str = ""


@dataclass
class Table:
    headers: list[str]
    rows: list[tuple[int, list[str]]]  # (row number, cells)
    sha256: str


@dataclass
class Rows:
    """Mapped rows: each a dict field -> cell text ("" when empty or unmapped)."""

    items: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)


def read_table(data: bytes) -> Table:
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")  # Excel's "CSV" on Windows
        except UnicodeDecodeError:
            raise CsvFileError("the file is not text (UTF-8 or Windows-1252)") from None
    if "\x00" in text:
        raise CsvFileError("the file is not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = list(reader)
    except csv.Error as exc:
        raise CsvFileError(f"the file is not valid CSV: {exc}") from None
    if not records or not any(c.strip() for c in records[0]):
        raise CsvFileError("the file is empty (no header row)")
    if len(records) - 1 > MAX_ROWS:
        raise CsvFileError(f"the file has more than {MAX_ROWS} rows")
    headers = [h.strip() for h in records[0]]
    rows = [
        (n, r)
        for n, r in enumerate(records[1:], start=2)
        if any(c.strip() for c in r)  # blank lines are not rows
    ]
    return Table(headers, rows, digest)


def _norm(header: str) -> str:
    return "".join(ch for ch in header.lower() if ch.isalnum())


def resolve_mapping(
    headers: list[str], fields: tuple[Field, ...], saved: dict[str, str] | None
) -> tuple[dict[str, str], list[RowError]]:
    """field -> header: the saved mapping first, else a header the field knows."""
    by_norm = {_norm(h): h for h in headers if h}
    mapping: dict[str, str] = {}
    errors: list[RowError] = []
    saved = saved or {}
    for f in fields:
        wanted = saved.get(f.name)
        if wanted:
            found = by_norm.get(_norm(wanted))
            if found is None and f.required:
                errors.append(
                    RowError(1, f.name, f"column {wanted!r} is missing from the file")
                )
            if found is not None:
                mapping[f.name] = found
            continue
        for candidate in (f.name, *f.headers):
            found = by_norm.get(_norm(candidate))
            if found is not None:
                mapping[f.name] = found
                break
        else:
            if f.required:
                errors.append(
                    RowError(
                        1,
                        f.name,
                        f"required column missing (expected a header such as "
                        f"{f.headers[0] if f.headers else f.name!r})",
                    )
                )
    return mapping, errors


def map_rows(table: Table, fields: tuple[Field, ...], saved: dict | None) -> Rows:
    mapping, errors = resolve_mapping(table.headers, fields, saved)
    out = Rows(errors=errors, mapping=mapping)
    if errors:
        return out
    index = {h: i for i, h in enumerate(table.headers)}
    for n, cells in table.rows:
        values = {}
        for f in fields:
            header = mapping.get(f.name)
            i = index.get(header) if header else None
            values[f.name] = cells[i] if i is not None and i < len(cells) else ""
            values[f.name] = values[f.name].strip(" \u00a0")
        out.items.append((n, values))
    return out


def looks_like_formula(value: str) -> bool:
    return value.startswith(FORMULA_STARTS)


def shown(value: str, limit: int = 40) -> str:
    """A cell quoted for an error message (shortened; never evaluated)."""
    text = value if len(value) <= limit else value[: limit - 1] + "…"
    return repr(text)


class Cells:
    """Typed reads of one row's cells, collecting errors with the row number."""

    def __init__(self, row: int, values: dict[str, str], fmt: str, tz: ZoneInfo):
        self.row, self.values, self.fmt, self.tz = row, values, fmt, tz
        self.errors: list[RowError] = []

    def error(self, name: str | None, message: str) -> None:
        self.errors.append(RowError(self.row, name, message))

    def raw(self, name: str) -> str:
        return self.values.get(name, "")

    def text(self, name: str, *, required: bool = False, limit: int = 120) -> str:
        value = self.raw(name).strip()
        if required and not value:
            self.error(name, "is empty")
        return value[:limit]

    def code(self, name: str, *, required: bool = False, limit: int = 64) -> str:
        value = self.raw(name).strip()
        if looks_like_formula(value):
            self.error(
                name,
                f"{shown(value)} looks like a spreadsheet formula where a code is "
                "expected (kept as text, not run; the row is refused)",
            )
            return ""
        if required and not value:
            self.error(name, "is empty")
        if len(value) > limit:
            self.error(name, f"is longer than {limit} characters")
            return ""
        return value

    def choice(
        self, name: str, choices: dict[str, str], *, required: bool = False
    ) -> str | None:
        value = self.code(name, required=required)
        if not value:
            return None
        found = choices.get(_norm(value))
        if found is None:
            allowed = ", ".join(sorted(set(choices.values())))
            self.error(name, f"{shown(value)} is not one of: {allowed}")
        return found

    def integer(
        self, name: str, low: int, high: int, *, required: bool = False
    ) -> int | None:
        value = self.code(name, required=required)
        if not value:
            return None
        try:
            number = int(value)
        except ValueError:
            self.error(name, f"{shown(value)} is not a whole number")
            return None
        if not low <= number <= high:
            self.error(name, f"{number} is outside {low}-{high}")
            return None
        return number

    def time(self, name: str, *, required: bool = False) -> datetime | None:
        value = self.code(name, required=required)
        if not value:
            return None
        at, why = local_time(value, self.fmt, self.tz)
        if why:
            self.error(name, why)
        return at


def local_time(
    value: str, fmt: str, tz: ZoneInfo
) -> tuple[datetime | None, str | None]:
    """A cell in the trust's local time (``fmt``, strptime) as aware UTC.

    A time with an offset in the cell (``%z``) is taken as written. A local time
    that happens twice (the hour before clocks go back) or never (the hour skipped
    when they go forward) is an error: the file must say which it means.
    """
    try:
        parsed = datetime.strptime(value, fmt)
    except ValueError:
        return None, f"{shown(value)} is not a date and time in the format {fmt!r}"
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC), None
    early = parsed.replace(tzinfo=tz, fold=0)
    late = parsed.replace(tzinfo=tz, fold=1)
    if early.utcoffset() != late.utcoffset():
        if early.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != parsed:
            return None, (
                f"{shown(value)} does not exist in {tz.key} (the clocks went "
                "forward over it)"
            )
        return None, (
            f"{shown(value)} happens twice in {tz.key} (the clocks went back): give "
            "the time with its UTC offset"
        )
    return early.astimezone(UTC), None


def choices(**groups: tuple[str, ...]) -> dict[str, str]:
    """Recognised spellings -> canonical value (case, spaces and dashes ignored)."""
    out: dict[str, str] = {}
    for canonical, spellings in groups.items():
        for s in (canonical, *spellings):
            out[_norm(s)] = canonical
    return out


def duplicates(
    items: list[tuple[int, str, dict]], what: str
) -> tuple[list[RowError], set[int]]:
    """Rows naming the same thing (``(row, identity, values)``) twice: identical
    repeats and conflicting ones are both errors, naming the first row."""
    first: dict[str, tuple[int, dict]] = {}
    errors: list[RowError] = []
    bad: set[int] = set()
    for row, identity, values in items:
        if identity in first:
            earlier, seen = first[identity]
            same = "repeats" if seen == values else "conflicts with"
            errors.append(
                RowError(row, None, f"{what} {same} row {earlier} (listed twice)")
            )
            bad.add(row)
        else:
            first[identity] = (row, values)
    return errors, bad
