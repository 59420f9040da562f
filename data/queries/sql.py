"""Portable SQL expressions (SQLite and PostgreSQL) used by the read queries."""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement


class seconds_between(FunctionElement[float]):  # noqa: N801
    """``end - start`` in seconds (NULL if either is NULL)."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element, compiler, **kw):  # noqa: ANN001, ANN202
    start, end = list(element.clauses)
    return (
        f"((julianday({compiler.process(end, **kw)}) - "
        f"julianday({compiler.process(start, **kw)})) * 86400.0)"
    )


@compiles(seconds_between, "postgresql")
def _seconds_pg(element, compiler, **kw):  # noqa: ANN001, ANN202
    start, end = list(element.clauses)
    return (
        f"EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - "
        f"{compiler.process(start, **kw)}))"
    )


class utc_hour(FunctionElement[str]):  # noqa: N801
    """The UTC hour a timestamp falls in, as text 'YYYY-MM-DD HH:00:00'.

    Local (Europe/London) hours are whole-hour offsets of UTC hours, so callers bucket
    by UTC hour in SQL and convert the few bucket labels to local time in Python.
    """

    type = String()
    inherit_cache = True
    name = "utc_hour"


@compiles(utc_hour, "sqlite")
def _hour_sqlite(element, compiler, **kw):  # noqa: ANN001, ANN202
    (col,) = list(element.clauses)
    return f"strftime('%Y-%m-%d %H:00:00', {compiler.process(col, **kw)})"


@compiles(utc_hour, "postgresql")
def _hour_pg(element, compiler, **kw):  # noqa: ANN001, ANN202
    (col,) = list(element.clauses)
    return (
        "to_char(date_trunc('hour', "
        f"{compiler.process(col, **kw)} AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:00:00')"
    )


class utc_minute(FunctionElement[str]):  # noqa: N801
    """The UTC minute a timestamp falls in, as text 'YYYY-MM-DD HH:MM'."""

    type = String()
    inherit_cache = True
    name = "utc_minute"


@compiles(utc_minute, "sqlite")
def _minute_sqlite(element, compiler, **kw):  # noqa: ANN001, ANN202
    (col,) = list(element.clauses)
    return f"strftime('%Y-%m-%d %H:%M', {compiler.process(col, **kw)})"


@compiles(utc_minute, "postgresql")
def _minute_pg(element, compiler, **kw):  # noqa: ANN001, ANN202
    (col,) = list(element.clauses)
    return (
        "to_char(date_trunc('minute', "
        f"{compiler.process(col, **kw)} AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI')"
    )


def minutes_between(start: ColumnElement, end: ColumnElement) -> ColumnElement[float]:
    return seconds_between(start, end) / 60.0
