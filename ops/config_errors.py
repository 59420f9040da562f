"""Errors and small helpers shared by the loaders of versioned configuration files.

Every problem in a configuration file (``config/opel.yaml``, ``config/alert_rules.yaml``)
raises :class:`ConfigError`, whose message names the file and the entry, for example::

    config/opel.yaml: parameter 'ga_occupancy': bands overlap at 92

so whoever edits the file can find the line without reading a traceback.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml


class ConfigError(ValueError):
    """A configuration file that cannot be used.

    ``path`` is the file as the caller named it, ``entry`` the part of the file at
    fault (``"parameter 'ga_occupancy'"``, ``"rule 'ga-occupancy-red-site'"``) or
    ``None`` for the file as a whole, ``problem`` what is wrong.
    """

    def __init__(self, path: str | Path, entry: str | None, problem: str) -> None:
        self.path = str(path)
        self.entry = entry
        self.problem = problem
        where = f"{self.path}: {entry}" if entry else self.path
        super().__init__(f"{where}: {problem}")


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file whose top level must be a mapping; ConfigError otherwise."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(path, None, f"not valid YAML{at}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(path, None, "the top level must be a mapping of fields")
    return data


def is_number(value: object) -> bool:
    """True for finite ints and floats (``bool`` is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def fmt_number(value: float) -> str:
    """``92`` rather than ``92.0`` in messages; other floats as written."""
    return str(int(value)) if float(value).is_integer() else str(value)


T = TypeVar("T")


def once_per_file_version(
    cache: dict[tuple[str, int, int], Any],
    path: str | Path,
    load: Callable[[str | Path], T],
) -> T:
    """``load(path)``, parsed once per file version (path, modification time, size):
    polling screens read configuration on every poll. A missing file is reported by
    ``load`` itself."""
    try:
        stat = Path(path).stat()
        key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError:
        return load(path)
    found = cache.get(key)
    if found is None:
        found = load(path)
        if len(cache) > 16:
            cache.clear()
        cache[key] = found
    return found
