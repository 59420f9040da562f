"""Reading HL7 v2 tolerantly (no database): separators, BOM, encoding characters,
versions, trailing spaces, Z-segments, times, redaction, the message key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feeds.hl7.ack import build_ack
from feeds.hl7.parse import Hl7ParseError, parse, parse_ts, redact
from tests.feeds.hl7_support import AT, adt

BASE = adt("A02", "CTRL-1", at=AT, location="RES^^RES-02^RGH", prior_location="CAR")


@pytest.mark.parametrize("newline", ["\r", "\n", "\r\n"])
def test_hl7p001_segment_separators(newline: str) -> None:
    msg = parse(BASE.replace("\r", newline).encode())
    assert [str(s[0]) for s in msg.tree] == ["MSH", "EVN", "PID", "PV1"]
    assert msg.get("PV1", 3, 3) == "RES-02"
    assert msg.content_hash == parse(BASE).content_hash


def test_hl7p002_bom_trailing_spaces_and_blank_lines() -> None:
    text = "\ufeff" + BASE.replace("\r", "   \r\n\r\n") + "  \n"
    msg = parse(text.encode("utf-8"))
    assert msg.control_id == "CTRL-1"
    assert msg.get("PV1", 19) == "V1"
    assert msg.message_key == parse(BASE).message_key


def test_hl7p003_z_segments_are_ignored() -> None:
    with_z = BASE + "\rZPV|1|anything^at^all\rZXT|secret"
    msg = parse(with_z)
    assert msg.get("PV1", 3, 1) == "RES"
    assert "ZXT|***" in redact(msg.text)


def test_hl7p004_encoding_characters_of_msh2_are_honoured() -> None:
    # Field separator '#', components '$', repetitions '*', escape '@', sub '%'
    text = (
        "MSH#$*@%#PAS#RGH#CC#RDT#20260302090000##ADT$A02$ADT_A02#C9#P#2.4\r"
        "EVN#A02#20260302090000\r"
        "PID#1##123$$$RGH*456$$$NHS##DOE$JOHN\r"
        "PV1#1#I#RES$$RES-02$RGH###CAR$$CAR-01$RGH#############V7"
    )
    msg = parse(text)
    assert msg.trigger == "A02"
    assert msg.get("PV1", 3, 3) == "RES-02"
    assert msg.get("PV1", 6, 1) == "CAR"
    assert msg.field(msg.first("PID"), 3, 4, repetition=2) == "NHS"
    ack = build_ack(msg, "AE", "unknown location RES$x#1")
    assert ack.startswith("MSH#$*@%#CC#RDT#PAS#RGH#")
    assert "MSA#AE#C9#unknown location RES@S@x@F@1" in ack


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1"])
def test_hl7p005_versions_accepted(version: str) -> None:
    assert parse(adt("A01", "C", at=AT, version=version)).version == version


@pytest.mark.parametrize("version", ["2.2", "2.6", "3.0"])
def test_hl7p006_other_versions_refused(version: str) -> None:
    with pytest.raises(Hl7ParseError, match="not supported"):
        parse(adt("A01", "C", at=AT, version=version))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"hello world",
        b"\x00\xff\xfe garbage",
        b"PID|1||123",  # no MSH
        b"MSH",
        b"MSH|^~\\&|PAS|RGH|CC|RDT|20260302090000||ADT^A01|",  # no control id
        (
            b"MSH|^~\\&|PAS|RGH|CC|RDT|20260302||ADT^A01|C1|P|2.5\r"
            b"this is not a segment"
        ),  # fmt: skip
    ],
)
def test_hl7p007_unreadable_messages(raw: bytes) -> None:
    with pytest.raises(Hl7ParseError):
        parse(raw)


def test_hl7p008_times_with_offset_or_local() -> None:
    assert parse_ts("20260302091500+0100") == datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    # No offset: Europe/London (GMT in winter, BST in summer)
    assert parse_ts("20260115120000") == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert parse_ts("20260715120000") == datetime(2026, 7, 15, 11, 0, tzinfo=UTC)
    assert parse_ts("202607151200") == datetime(2026, 7, 15, 11, 0, tzinfo=UTC)
    assert parse_ts("20260715120000.1234-0500") == datetime(
        2026, 7, 15, 17, 0, 0, 123400, tzinfo=UTC
    )
    assert parse_ts("20260715") is None  # a date is not an event time
    assert parse_ts("2026071512^S") == datetime(2026, 7, 15, 11, 0, tzinfo=UTC)
    assert parse_ts("not a time") is None
    assert parse_ts("20261345120000") is None


def test_hl7p009_event_time_prefers_evn6_then_evn2_then_msh7() -> None:
    text = (
        "MSH|^~\\&|PAS|RGH|||20260302100000+0000||ADT^A02|C1|P|2.5\r"
        "EVN|A02|20260302095000+0000||||20260302094000+0000\r"
        "PID|1||1\rPV1|1|I"
    )
    assert parse(text).event_time() == datetime(2026, 3, 2, 9, 40, tzinfo=UTC)
    no_evn6 = text.replace("||||20260302094000+0000", "")
    assert parse(no_evn6).event_time() == datetime(2026, 3, 2, 9, 50, tzinfo=UTC)
    no_evn = "\r".join(s for s in text.split("\r") if not s.startswith("EVN"))
    assert parse(no_evn).event_time() == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_hl7p010_redaction_removes_identifying_fields() -> None:
    nk1 = "NK1|1|SMITH^JOHN|SPO^Spouse|2 LOW ROAD^^LONDON|020 7946 0000"
    mrg = "MRG|111^^^RGH~4857773456^^^NHS||||OLDVISIT||SMITH^J"
    msg = parse(BASE + "\r" + nk1 + "\r" + mrg)
    out = redact(msg.text)
    for secret in ("SMITH", "JANE", "19450101", "HIGH STREET", "9990001",
                   "4857773456", "2 LOW ROAD", "7946"):  # fmt: skip
        assert secret not in out
    assert "PID|1||***||***||***|F|||***" in out
    assert "NK1|1|***|SPO^Spouse|***|***" in out
    assert "OLDVISIT" in out  # MRG-5 prior visit number is not a person's detail
    assert "PV1|1|I|RES^^RES-02^RGH" in out


def test_hl7p011_message_key_is_sender_control_id_and_content() -> None:
    a = parse(BASE)
    assert parse(BASE).message_key == a.message_key  # a resend
    other = parse(BASE.replace("RES-02", "RES-03"))
    assert other.control_id == a.control_id
    assert other.message_key != a.message_key  # a reused control id
    elsewhere = parse(BASE.replace("|PAS|RGH|", "|PAS|SGH|", 1))
    assert elsewhere.message_key != a.message_key
