"""Acknowledgements (original mode): MSA AA / AE / AR, with an ERR segment naming
the problem (HL7 table 0357 code, location, text)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from feeds.hl7.parse import LOCAL_TZ, Message

RECEIVER = "COMMAND_CENTRE"


def _escape(text: str, seps: str, esc: str) -> str:
    """Escape the field, component, repetition, subcomponent and escape characters."""
    field, rep, comp, sub = seps[1], seps[2], seps[3], seps[4] if len(seps) > 4 else "&"
    out = text.replace(esc, f"{esc}E{esc}")
    for char, code in ((field, "F"), (comp, "S"), (rep, "R"), (sub, "T")):
        out = out.replace(char, f"{esc}{code}{esc}")
    return out.replace("\r", " ").replace("\n", " ")


def build_ack(
    msg: Message | None,
    code: str,
    text: str = "",
    *,
    error_code: str = "",
    where: str = "",
    control_id: str | None = None,
    now: datetime | None = None,
) -> str:
    """The ACK for ``msg`` (or, when it could not be parsed, a bare one answering
    ``control_id``) as segments joined by CR."""
    now = (now or datetime.now(UTC)).astimezone(LOCAL_TZ)
    stamp = now.strftime("%Y%m%d%H%M%S") + now.strftime("%z")
    if msg is not None:
        seps, esc = msg.separators, msg.tree.esc
        f = seps[1]
        enc = msg.text[4 : msg.text.index(f, 4)]
        trigger = msg.trigger
        version = msg.version or "2.5"
        header = [
            "MSH", enc, msg.get("MSH", 5) or RECEIVER, msg.get("MSH", 6),
            msg.sending_application, msg.sending_facility, stamp, "",
            f"ACK{seps[3]}{trigger}{seps[3]}ACK" if trigger else "ACK",
            "ACK" + secrets.token_hex(8), msg.get("MSH", 11) or "P", version,
        ]  # fmt: skip
        answered = msg.control_id
    else:
        seps, esc, f = "\r|~^&", "\\", "|"
        header = [
            "MSH", "^~\\&", RECEIVER, "", "", "", stamp, "", "ACK",
            "ACK" + secrets.token_hex(8), "P", "2.5",
        ]  # fmt: skip
        answered = control_id or ""
    segments = [
        f.join(header),
        f.join(["MSA", code, _escape(answered, seps, esc), _escape(text, seps, esc)]),
    ]
    if code != "AA":
        c = seps[3]
        err = [
            "ERR",
            "",
            where.replace("^", c),
            f"{error_code or '207'}{c}{_escape(text, seps, esc)}{c}HL70357",
            "E",
            "", "", "",
            _escape(text, seps, esc),
        ]  # fmt: skip
        segments.append(f.join(err))
    return "\r".join(segments)


def control_id_guess(raw: bytes) -> str:
    """MSH-10 of bytes that did not parse, when the header can still be read."""
    try:
        text = raw.decode("utf-8", errors="replace").lstrip("\ufeff\x0b")
        if text.startswith("MSH") and len(text) > 4:
            first = text.replace("\n", "\r").split("\r", 1)[0]
            fields = first.split(text[3])
            return fields[9].strip()[:64] if len(fields) > 9 else ""
    except Exception:  # noqa: BLE001
        return ""
    return ""
