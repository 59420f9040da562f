"""HL7 test helpers: messages built field by field from the HL7 v2.5 chapter 3
segment definitions (MSH, EVN, PID, PV1, PV2, MRG), a small organisation, an MLLP
client and a listener on a free port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.capacity import Bed, Ward
from data.writes.organisation import apply_organisation
from feeds.hl7.config import Hl7Config
from feeds.hl7.listener import Hl7Listener
from ops.organisation import load_organisation_file

KEY = b"test-key-" + b"k" * 40
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

ORGANISATION = """
trust: {code: TST, name: Test Trust}
sites:
- code: RGH
  name: Riverside General
  wards:
  - code: CAR
    name: Cardiology
    specialty: Cardiology
    ward_type: general_acute
    core_beds: 4
    bed_range: {prefix: CAR-, count: 4}
  - code: RES
    name: Respiratory
    specialty: Respiratory medicine
    ward_type: general_acute
    core_beds: 4
    bed_range: {prefix: RES-, count: 4}
  ed_areas:
  - code: majors
    name: Majors
    space_range: {prefix: MAJ-, count: 4}
  - code: resus
    name: Resus
    space_range: {prefix: RESUS-, count: 2}
"""
# The same trust with a fourth ward, GAS, that the first file lacked.
ORGANISATION_WITH_GAS = ORGANISATION.replace(
    "  ed_areas:",
    """  - code: GAS
    name: Gastroenterology
    specialty: Gastroenterology
    ward_type: general_acute
    core_beds: 2
    bed_range: {prefix: GAS-, count: 2}
  ed_areas:""",
)


def load_org(factory, folder: Path, text: str = ORGANISATION, at=AT) -> None:  # noqa: ANN001
    path = folder / f"org-{abs(hash(text))}.yaml"
    path.write_text(text)
    org = load_organisation_file(path)
    with write_session(factory) as session:
        apply_organisation(
            session, org, at=at, actor_username="test", actor_role="admin"
        )


def prepare(url: str, folder: Path):  # noqa: ANN201
    engine = create_db_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    load_org(factory, folder)
    return engine, factory


def bed_ids(session) -> dict[str, int]:  # noqa: ANN001
    return {label: i for i, label in session.execute(select(Bed.id, Bed.label))}


def ward_of(session, bed_id: int) -> str:  # noqa: ANN001
    return session.scalar(
        select(Ward.code).join(Bed, Bed.ward_id == Ward.id).where(Bed.id == bed_id)
    )


# -- messages ----------------------------------------------------------------
def segment(name: str, fields: dict[int, str], sep: str = "|") -> str:
    """A segment with field n at position n (HL7 numbering)."""
    top = max(fields) if fields else 0
    return sep.join([name] + [fields.get(i, "") for i in range(1, top + 1)])


def ts(at: datetime) -> str:
    """HL7 TS in UTC; with four decimals of a second when the time has any."""
    at = at.astimezone(UTC)
    frac = f".{at.microsecond // 100:04d}" if at.microsecond else ""
    return at.strftime("%Y%m%d%H%M%S") + frac + "+0000"


def adt(
    trigger: str,
    control_id: str,
    *,
    at: datetime,
    patient: str = "9990001",
    visit: str = "V1",
    cls: str = "I",
    location: str = "",
    prior_location: str = "",
    facility: str = "RGH",
    version: str = "2.5",
    extra: list[str] | None = None,
    pv1: dict[int, str] | None = None,
    pv2: dict[int, str] | None = None,
    structure: str | None = None,
) -> str:
    """An ADT message: MSH, EVN (EVN-2 recorded, EVN-6 occurred), PID (PID-3
    identifier list, PID-5 name, PID-7 birth date, PID-11 address), PV1 (PV1-2
    class, PV1-3 assigned location, PV1-6 prior location, PV1-19 visit number)."""
    msh = "MSH|" + "|".join(
        [
            "^~\\&", "PAS", facility, "CC", "RDT", ts(at), "",
            f"ADT^{trigger}^{structure or 'ADT_' + trigger}", control_id, "P",
            version,
        ]
    )  # MSH-1 is the field separator itself; MSH-2 .. MSH-12 follow  # fmt: skip
    evn = segment("EVN", {1: trigger, 2: ts(at), 6: ts(at)})
    pid = segment(
        "PID",
        {
            1: "1",
            3: f"{patient}^^^RGH^MR~4857773456^^^NHS^NH",
            5: "SMITH^JANE^^^MRS",
            7: "19450101",
            8: "F",
            11: "1 HIGH STREET^^LONDON^^E1 1AA",
        },
    )
    fields = {1: "1", 2: cls, 3: location, 6: prior_location, 19: visit}
    fields.update(pv1 or {})
    segs = [msh, evn, pid, segment("PV1", fields)]
    if pv2:
        segs.append(segment("PV2", pv2))
    segs += extra or []
    return "\r".join(segs)


# -- MLLP --------------------------------------------------------------------
class MllpClient:
    def __init__(self, port: int, timeout: float = 20) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, message: str | bytes) -> str:
        data = message.encode() if isinstance(message, str) else message
        self.sock.sendall(b"\x0b" + data + b"\x1c\r")
        return self.read_ack()

    def read_ack(self) -> str:
        while b"\x1c\r" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        frame, self.buffer = self.buffer.split(b"\x1c\r", 1)
        return frame.lstrip(b"\x0b").decode()

    def closed(self) -> bool:
        """True once the listener has closed this connection."""
        try:
            return self.sock.recv(65536) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self) -> None:
        self.sock.close()


def ack_code(ack: str) -> str:
    msa = next(s for s in ack.split("\r") if s.startswith("MSA"))
    return msa.split("|")[1]


def ack_text(ack: str) -> str:
    return "\r".join(s for s in ack.split("\r") if s[:3] in ("MSA", "ERR"))


@contextmanager
def running_listener(factory, **overrides) -> Iterator[Hl7Listener]:  # noqa: ANN001
    config = Hl7Config(key=KEY, host="127.0.0.1", port=0, **overrides)
    listener = Hl7Listener(factory, config)
    listener.start_in_thread()
    try:
        yield listener
    finally:
        listener.stop()
