"""CSV text for every export: one writer, and no cell a spreadsheet would run.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
taken as a formula by Excel, LibreOffice and Google Sheets ("CSV injection", OWASP).
Such text cells are written with a leading apostrophe, which the spreadsheet shows as
text; numbers are written as they are (``-3`` stays a number). Every CSV the product
exports is built by :func:`csv_text`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value`` safe for a spreadsheet cell: text starting a formula gets a ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(rows: Iterable[Iterable[Any]], *, lineterminator: str = "\r\n") -> str:
    """The CSV text of ``rows`` (the header is the first row), every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=lineterminator)
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return out.getvalue()
