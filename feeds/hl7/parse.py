"""Reading one HL7 v2 message, tolerantly, with python-hl7.

Accepted: segment separators ``\\r``, ``\\n`` or ``\\r\\n``; a UTF-8 byte order mark
(other bytes that are not UTF-8 are read as Windows-1252); trailing spaces on a
segment; the encoding characters MSH-2 declares; versions 2.3 to 2.5.1 (MSH-12).
Z-segments are kept in the text but never read.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import hl7

SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
LOCAL_TZ = ZoneInfo("Europe/London")
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_TS = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?$"
)


class Hl7ParseError(ValueError):
    """The bytes are not an HL7 v2 message we can read (answered AR)."""


@dataclass(frozen=True)
class Message:
    """One parsed message: the normalised text (segments joined by ``\\r``) and
    python-hl7's tree, with accessors by HL7 position (1-based, as the standard)."""

    text: str
    tree: hl7.Message

    # -- positions ---------------------------------------------------------
    @property
    def separators(self) -> str:
        return self.tree.separators  # segment, field, repetition, component, sub

    def segments(self, segment_id: str) -> list:
        return [s for s in self.tree if str(s[0]) == segment_id]

    def first(self, segment_id: str):  # noqa: ANN201
        found = self.segments(segment_id)
        return found[0] if found else None

    def field(
        self, segment, field: int, component: int = 1, repetition: int = 1,
    ) -> str:  # fmt: skip
        """One component of one field repetition, unescaped and stripped ('' if
        absent)."""
        if segment is None:
            return ""
        try:
            value = segment.extract_field(
                field_num=field, repeat_num=repetition, component_num=component
            )
        except (IndexError, KeyError, ValueError):
            return ""
        if value is None:
            return ""
        text = str(value)
        if self.tree.esc in text:
            with contextlib.suppress(Exception):  # a broken escape stays as written
                text = self.tree.unescape(text)
        return text.strip()

    def get(self, segment_id: str, field: int, component: int = 1) -> str:
        return self.field(self.first(segment_id), field, component)

    # -- the header ----------------------------------------------------------
    @property
    def message_type(self) -> str:
        return self.get("MSH", 9, 1).upper()

    @property
    def trigger(self) -> str:
        return self.get("MSH", 9, 2).upper() or self.get("EVN", 1).upper()

    @property
    def control_id(self) -> str:
        return self.get("MSH", 10)

    @property
    def sending_application(self) -> str:
        return self.get("MSH", 3)

    @property
    def sending_facility(self) -> str:
        return self.get("MSH", 4)

    @property
    def sender(self) -> str:
        return f"{self.sending_application}^{self.sending_facility}"

    @property
    def version(self) -> str:
        return self.get("MSH", 12)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def message_key(self) -> str:
        """sha256(sender | control id | content hash): a resend of the same message
        is the same key; a reused control id with other content is not."""
        raw = f"{self.sender}|{self.control_id}|{self.content_hash}"
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    def event_time(self) -> datetime | None:
        """EVN-6 (event occurred), else EVN-2 (recorded), else MSH-7."""
        for seg, pos in (("EVN", 6), ("EVN", 2), ("MSH", 7)):
            at = parse_ts(self.get(seg, pos))
            if at is not None:
                return at
        return None


def decode(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw.lstrip("\ufeff")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def normalise(text: str) -> str:
    """Segments split on CR, LF or CRLF, trailing spaces and empty lines dropped."""
    lines = re.split(r"\r\n|\n|\r", text.lstrip("\ufeff"))
    return "\r".join(line.rstrip(" \t") for line in lines if line.strip())


def parse(raw: bytes | str) -> Message:
    """Parse one message or raise :class:`Hl7ParseError` naming the problem."""
    text = normalise(decode(raw).strip("\x0b\x1c\x00 \t\r\n"))
    if not text.startswith("MSH") or len(text) < 8:
        raise Hl7ParseError("the message does not begin with an MSH segment")
    field_sep = text[3]
    if field_sep.isalnum() or field_sep in " \r":
        raise Hl7ParseError("MSH-1 (field separator) is missing or invalid")
    encoding = text[4:].split(field_sep, 1)[0]
    if len(encoding) < 2 or len(set(encoding + field_sep)) != len(encoding) + 1:
        raise Hl7ParseError("MSH-2 (encoding characters) is missing or invalid")
    for line in text.split("\r"):
        if not _SEGMENT_ID.match(line[:3]) or (len(line) > 3 and line[3] != field_sep):
            raise Hl7ParseError(f"not a segment: {line[:12]!r}")
    try:
        tree = hl7.parse(text)
    except Exception as exc:  # noqa: BLE001 - any failure of the parser is an AR
        raise Hl7ParseError(f"unreadable message: {exc.__class__.__name__}") from None
    msg = Message(text, tree)
    if not msg.control_id:
        raise Hl7ParseError("MSH-10 (message control id) is empty")
    version = msg.version
    if version and version not in SUPPORTED_VERSIONS:
        raise Hl7ParseError(f"HL7 version {version} is not supported (2.3 to 2.5.1)")
    return msg


def parse_ts(value: str | None) -> datetime | None:
    """An HL7 TS/DTM (``YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]``) as UTC; no offset
    means the trust's local time (Europe/London). Day precision or coarser: None.
    Fractions of a second up to six digits are read (v2.5 allows four; senders
    that stamp microseconds, the demo's included, are common)."""
    value = (value or "").strip()
    if "^" in value:
        value = value.split("^", 1)[0]
    m = _TS.match(value)
    if not m:
        return None
    year, month, day, hour, minute, second, frac, offset = m.groups()
    if hour is None:
        return None
    try:
        micro = int((frac or "0").ljust(6, "0")[:6])
        naive = datetime(
            int(year), int(month), int(day), int(hour), int(minute or 0),
            int(second or 0), micro,
        )  # fmt: skip
    except ValueError:
        return None
    if offset:
        sign = 1 if offset[0] == "+" else -1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        return naive.replace(tzinfo=timezone(sign * delta)).astimezone(UTC)
    return naive.replace(tzinfo=LOCAL_TZ).astimezone(UTC)


def parse_date(value: str | None) -> datetime | None:
    """A TS of any precision down to the day (for expected discharge dates)."""
    value = (value or "").strip().split("^", 1)[0]
    at = parse_ts(value)
    if at is not None:
        return at
    m = re.match(r"^(\d{4})(\d{2})(\d{2})$", value)
    if not m:
        return None
    try:
        naive = datetime(int(m[1]), int(m[2]), int(m[3]), 12)
    except ValueError:
        return None
    return naive.replace(tzinfo=LOCAL_TZ).astimezone(UTC)


# -- redaction ---------------------------------------------------------------
# Fields kept (everything else in these segments is blanked): PID-1 set id and
# PID-8 administrative sex; NK1-1 set id and NK1-3 relationship; MRG-5 / MRG-6
# prior visit numbers. GT1, IN1, IN2, IN3 and Z-segments keep only their set id.
KEEP = {
    "PID": {1, 8},
    "NK1": {1, 3},
    "MRG": {5, 6},
    "GT1": {1},
    "IN1": {1},
    "IN2": set(),
    "IN3": {1},
    "PD1": set(),
}
REDACTED = "***"


def redact(text: str) -> str:
    """The normalised message with identifying fields replaced by ``***``."""
    if len(text) < 4:
        return text
    sep = text[3]
    out = []
    for line in text.split("\r"):
        seg = line[:3]
        keep = KEEP.get(seg)
        if keep is None and seg.startswith("Z"):
            keep = set()
        if keep is None:
            out.append(line)
            continue
        fields = line.split(sep)
        for i in range(1, len(fields)):
            if i not in keep and fields[i]:
                fields[i] = REDACTED
        out.append(sep.join(fields))
    return "\r".join(out)
