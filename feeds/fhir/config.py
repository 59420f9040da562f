"""FHIR endpoint configuration, from the environment (one place).

``COMMAND_CENTRE_FHIR_MAX_BYTES`` — the largest request body the endpoint reads
(default 10 MB, the rest of the app keeps its 4 MB limit); a larger body is refused
with 413 before it is read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_MAX_BYTES = 10 * 1024 * 1024


class FhirConfigError(ValueError):
    """The endpoint cannot start (one line for the operator)."""


def fhir_max_bytes(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    raw = env.get("COMMAND_CENTRE_FHIR_MAX_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise FhirConfigError(
            f"COMMAND_CENTRE_FHIR_MAX_BYTES must be a whole number, not {raw!r}"
        ) from None
    if value < 1024:
        raise FhirConfigError("COMMAND_CENTRE_FHIR_MAX_BYTES must be at least 1024")
    return value
