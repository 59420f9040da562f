"""Readable differences between an audit row's before and after (pure).

``differences({"role": "viewer"}, {"role": "site_lead"})`` gives
``["role: viewer → site lead"]``: one line per changed field, values as text
(accented names as characters, never JSON escapes), missing values as "none".
"""

from __future__ import annotations

import json

MISSING = "none"
MAX_VALUE = 80
# fields whose values are identifiers shown as words (site_lead -> site lead)
_WORDY = ("role", "state", "status", "action")


def _key(key: object) -> str:
    return str(key).replace("_", " ")


def value_text(key: str, value: object) -> str:
    """One value as a reader would write it."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        text = value
        if str(key).endswith(_WORDY):
            text = text.replace("_", " ")
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    else:
        text = str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def differences(before: object, after: object) -> list[str]:
    """What changed, one line per field in key order; unchanged fields are left out.

    With only an after (a creation) each field is listed as ``key: value``; with
    only a before (a removal) as ``key: value → none``. A value that is not a
    mapping is shown whole under the field ``value``.
    """
    b = (
        before
        if isinstance(before, dict)
        else ({} if before is None else {"value": before})
    )
    a = (
        after
        if isinstance(after, dict)
        else ({} if after is None else {"value": after})
    )
    lines = []
    for key in sorted(set(b) | set(a), key=str):
        if key in b and key in a and b[key] == a[key]:
            continue
        name = _key(key)
        if not b:
            lines.append(f"{name}: {value_text(name, a.get(key))}")
        else:
            old = value_text(name, b.get(key))
            new = value_text(name, a.get(key))
            lines.append(f"{name}: {old} → {new}")
    return lines
