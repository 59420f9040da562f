"""The embedded demo speaks HL7: simulator events -> ADT messages over MLLP.

With ``COMMAND_CENTRE_DEMO_HL7`` on, a simulator tick does not write its inpatient
and ED events itself: :meth:`DemoSender.enqueue` turns them into HL7 v2.5 ADT
messages (MSH, EVN, PID, PV1, PV2) and puts them, in the order the model decided
them, into ``hl7_demo_outbox`` in the tick's own transaction; events that have no
ADT form (theatres, bed cleaning and blocks, ED handover, seen, decision to admit,
triage, criteria to reside) go into the same outbox as ``direct`` items. After the
tick has committed, :meth:`DemoSender.flush` delivers the outbox in order: each
message is sent to the listener and removed only once it is acknowledged; direct
items are applied through the event layer in their turn. No transaction is open
while waiting for an ACK (SQLite would otherwise deadlock with the listener's
writes). A failed delivery (listener down) leaves the rest of the outbox for the
next tick, which resends it (the listener recognises what it already stored) and
does not move the simulation on until the outbox is empty; one log line when the
outage starts and one when it ends.

Identifiers are the simulator's own synthetic references: the visit number PV1-19
is the simulator's stay or attendance reference and PID-3 a ``DEMO-`` number
derived from it. The listener keys them with the HL7 key, so ``hl7_demo_ref`` keeps
which stored reference stands for which simulated one (a keyed HMAC cannot be
turned back) and the simulator carries on with the same patients.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import hl7
from hl7.client import CR, EB, SB
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from data.db import write_session
from data.models.capacity import EdArea, EdAttendance, InpatientStay
from data.models.hl7_demo import Hl7DemoOutbox, Hl7DemoRef
from data.models.organisation import LocationCode
from data.writes.events import ED_KINDS, INPATIENT_KINDS, Event, apply_events
from feeds.hl7.mapping import digest

log = logging.getLogger("command_centre.hl7")
SENDING_APPLICATION = "CC-DEMO-PAS"
SENDING_FACILITY = "DEMO"  # the event-layer source is hl7:DEMO
AUTHORITY = "DEMO"  # PID-3 assigning authority
# Events with an ADT form (only for stays and attendances first sent by HL7).
ADT_KINDS = (
    "admit", "transfer", "discharge", "set_expected_discharge", "ed_arrival",
    "ed_departure",
)  # fmt: skip
# PV1-36 discharge disposition (HL7 table 0112) for an ED departure.
DISPOSITION_CODES = {"discharged": "01", "transferred": "02", "left": "07"}
ADMIT_SOURCES = {"ed": "7", "transfer": "4", "elective": "2"}  # PV1-14, table 0023
STRUCTURES = {"A01": "ADT_A01", "A02": "ADT_A02", "A03": "ADT_A03",
              "A04": "ADT_A01", "A08": "ADT_A01"}  # fmt: skip


class SendError(Exception):
    """The listener could not be reached or did not acknowledge."""


def hl7_ts(at: datetime) -> str:
    """A DTM in UTC with the model's precision (``YYYYMMDDHHMMSS[.ffffff]+0000``)."""
    at = at.astimezone(UTC)
    frac = f".{at.microsecond:06d}".rstrip("0") if at.microsecond else ""
    return f"{at:%Y%m%d%H%M%S}{frac}+0000"


def _segment(name: str, fields: dict[int, str]) -> str:
    last = max(fields) if fields else 0
    return "|".join([name, *(fields.get(i, "") for i in range(1, last + 1))])


def control_id(key: str) -> str:
    """MSH-10 (at most 20 characters) from the simulator's event key: a resend of
    the same item is the identical message."""
    return hashlib.sha256(key.encode()).hexdigest()[:20].upper()


@dataclass
class _Item:
    kind: str  # hl7, direct
    body: str


def _event_json(e: Event) -> dict:
    return {"kind": e.kind, "at": e.at.isoformat(), "key": e.key,
            "subject": e.subject, "payload": e.payload, "related": e.related}  # fmt: skip


def _event_from(d: dict) -> Event:
    return Event(d["kind"], datetime.fromisoformat(d["at"]), d["key"], d["subject"],
                 d["payload"], d["related"])  # fmt: skip


class DemoSender:
    """Delivers the demo's events as ADT messages to ``host:port``."""

    def __init__(
        self, host: str, port: int, key: bytes, *, direct_source: str,
        timeout: float = 30.0,
    ) -> None:  # fmt: skip
        self.host, self.port, self.key = host, port, key
        self.direct_source = direct_source
        self.timeout = timeout

    # -- references ----------------------------------------------------------
    def stored_ref(self, kind: str, sim_ref: str) -> str:
        prefix = "E" if kind == "attendance" else "S"
        return prefix + digest(self.key, "visit", sim_ref)[:24]

    @staticmethod
    def patient_id(kind: str, sim_ref: str) -> str:
        """PID-3: one number for the patient of an attendance and of the stay it
        led to (the simulator names that stay ``S`` + the attendance)."""
        base = sim_ref[1:] if kind == "stay" and sim_ref.startswith("S") else sim_ref
        return f"DEMO-{base}"

    def patient_ref(self, kind: str, sim_ref: str) -> str:
        pid = self.patient_id(kind, sim_ref)
        return "P" + digest(self.key, "patient", f"{pid}^{AUTHORITY}")[:24]

    def aliases(self, session: Session) -> dict[str, str]:
        """Stored reference -> simulated one, for the open stays and attendances
        (and the stays' patient references, which the beds carry)."""
        open_stays = select(InpatientStay.stay_ref).where(
            InpatientStay.discharged_at.is_(None)
        )
        open_atts = select(EdAttendance.ref).where(EdAttendance.departure_at.is_(None))
        rows = session.execute(
            select(Hl7DemoRef.sim_ref, Hl7DemoRef.stored_ref, Hl7DemoRef.patient_ref,
                   Hl7DemoRef.kind)
            .where(or_(Hl7DemoRef.stored_ref.in_(open_stays),
                       Hl7DemoRef.stored_ref.in_(open_atts)))
        ).all()  # fmt: skip
        out: dict[str, str] = {}
        for sim, stored, patient, kind in rows:
            out[stored] = sim
            if patient and kind == "stay":
                out[patient] = sim
        return out

    # -- locations (the organisation's HL7 codes) -----------------------------
    def _pl(self, session: Session, **where: int) -> str | None:
        conditions = [LocationCode.scheme == "hl7", LocationCode.retired_at.is_(None)]
        for column, value in where.items():
            conditions.append(getattr(LocationCode, column) == value)
        if "bed_id" not in where:
            conditions.append(LocationCode.bed_id.is_(None))
        if "ed_area_id" in where:
            conditions.append(LocationCode.ed_space_id.is_(None))
        row = session.execute(
            select(LocationCode.value, LocationCode.facility)
            .where(*conditions)
            .order_by(LocationCode.id)
            .limit(1)
        ).first()
        if row is None:
            return None
        return f"{row[0]}^{row[1]}".rstrip("^") if row[1] else row[0]

    def _placement_pl(self, session: Session, payload: dict) -> str | None:
        if payload.get("bed_id") is not None:
            return self._pl(session, bed_id=int(payload["bed_id"]))
        if payload.get("ward_id") is not None:
            return self._pl(session, ward_id=int(payload["ward_id"]))
        return None

    def _area_pl(self, session: Session, site_id: int, area: str) -> str | None:
        area_id = session.scalar(
            select(EdArea.id).where(EdArea.site_id == site_id, EdArea.code == area)
        )
        return None if area_id is None else self._pl(session, ed_area_id=area_id)

    # -- messages --------------------------------------------------------------
    def message(
        self, trigger: str, at: datetime, key: str, kind: str, sim_ref: str,
        pv1: dict[int, str], pv2: dict[int, str] | None = None,
    ) -> str:  # fmt: skip
        """One ADT message (HL7 v2.5 chapter 3: MSH, EVN, PID, PV1 [, PV2])."""
        ts = hl7_ts(at)
        msh = "|".join([
            "MSH", "^~\\&", SENDING_APPLICATION, SENDING_FACILITY, "COMMAND-CENTRE",
            "TRUST", ts, "", f"ADT^{trigger}^{STRUCTURES[trigger]}",
            control_id(key), "P", "2.5",
        ])  # fmt: skip
        evn = _segment("EVN", {1: trigger, 2: ts, 6: ts})
        pid = _segment("PID", {
            1: "1", 3: f"{self.patient_id(kind, sim_ref)}^^^{AUTHORITY}^MR",
            5: "DEMO^PATIENT",
        })  # fmt: skip
        pv1 = {1: "1", 2: "E" if kind == "attendance" else "I", 19: sim_ref, **pv1}
        segments = [msh, evn, pid, _segment("PV1", pv1)]
        if pv2:
            segments.append(_segment("PV2", pv2))
        return "\r".join(segments)

    def translate(
        self, session: Session, events: list[Event], known: set[str]
    ) -> tuple[list[_Item], list[Hl7DemoRef]]:
        """The outbox items for one tick's events, and the new reference links.
        ``known``: simulated references already sent by HL7 (in ``hl7_demo_ref``)."""
        items: list[_Item] = []
        links: list[Hl7DemoRef] = []
        direct: list[Event] = []
        last_at: dict[str, datetime] = {}

        def send(text: str) -> None:
            if direct:
                items.append(
                    _Item("direct", json.dumps([_event_json(e) for e in direct]))
                )
                direct.clear()
            items.append(_Item("hl7", text))

        def born(kind: str, ref: str) -> None:
            known.add(ref)
            links.append(Hl7DemoRef(
                sim_ref=ref, kind=kind, stored_ref=self.stored_ref(kind, ref),
                patient_ref=self.patient_ref(kind, ref),
            ))  # fmt: skip

        def stamp(ref: str, at: datetime) -> datetime:
            # Two messages about one stay at the same instant: the event layer
            # orders equal times by key (a hash for HL7), so keep them apart.
            prev = last_at.get(ref)
            if prev is not None and at <= prev:
                at = prev + timedelta(microseconds=1)
            last_at[ref] = at
            return at

        i = 0
        while i < len(events):
            e = events[i]
            i += 1
            p = e.payload or {}
            text: str | None = None
            if e.kind == "ed_arrival" and e.subject not in known:
                pl = self._area_pl(session, p.get("site_id"), p.get("area"))
                if pl is not None:
                    born("attendance", e.subject)
                    mode = "A" if p.get("mode") == "ambulance" else "F"  # table 0430
                    text = self.message("A04", stamp(e.subject, e.at), e.key,
                                        "attendance", e.subject, {3: pl},
                                        {38: mode})  # fmt: skip
                    send(text)
                    if p.get("triage") is not None:  # no ADT field for it
                        direct.append(Event("ed_triage", e.at, f"{e.key}:triage",
                                            self.stored_ref("attendance", e.subject),
                                            {"triage": p["triage"]}))  # fmt: skip
                    continue
            elif e.kind == "ed_departure" and e.subject in known:
                disposition = p.get("disposition")
                nxt = events[i] if i < len(events) else None
                if (
                    disposition == "admitted"
                    and nxt is not None
                    and nxt.kind == "admit"
                    and nxt.subject == f"S{e.subject}"
                ):
                    pl = self._placement_pl(session, nxt.payload or {})
                    if pl is not None:  # A01 closes the attendance (PV1-50)
                        i += 1
                        born("stay", nxt.subject)
                        send(self._admit(nxt, pl, prior=e.subject, at=stamp(
                            nxt.subject, nxt.at)))  # fmt: skip
                        continue
                elif disposition in DISPOSITION_CODES:
                    text = self.message("A03", stamp(e.subject, e.at), e.key,
                                        "attendance", e.subject,
                                        {36: DISPOSITION_CODES[disposition],
                                         45: hl7_ts(e.at)})  # fmt: skip
            elif e.kind == "admit" and e.subject not in known:
                pl = self._placement_pl(session, p)
                if pl is not None:
                    born("stay", e.subject)
                    text = self._admit(e, pl, prior=None, at=stamp(e.subject, e.at))
            elif e.subject in known and e.kind == "transfer":
                pl = self._placement_pl(session, p)
                if pl is not None:
                    text = self.message("A02", stamp(e.subject, e.at), e.key, "stay",
                                        e.subject, {3: pl})  # fmt: skip
            elif e.subject in known and e.kind == "discharge":
                text = self.message("A03", stamp(e.subject, e.at), e.key, "stay",
                                    e.subject, {45: hl7_ts(e.at)})  # fmt: skip
            elif (
                e.subject in known
                and e.kind == "set_expected_discharge"
                and p.get("expected_discharge_at")
            ):
                expected = datetime.fromisoformat(p["expected_discharge_at"])
                text = self.message("A08", stamp(e.subject, e.at), e.key, "stay",
                                    e.subject, {}, {9: hl7_ts(expected)})  # fmt: skip
            if text is not None:
                send(text)
                continue
            direct.append(self._direct(e, known))
        if direct:
            items.append(_Item("direct", json.dumps([_event_json(e) for e in direct])))
        return items, links

    def _admit(self, e: Event, pl: str, *, prior: str | None, at: datetime) -> str:
        p = e.payload or {}
        admitted = p.get("admitted_at")
        pv1 = {
            3: pl,
            14: ADMIT_SOURCES.get(p.get("admission_source") or "", "2"),
            44: hl7_ts(datetime.fromisoformat(admitted) if admitted else e.at),
        }
        if prior:
            pv1[50] = prior  # the ED visit this admission closes
        return self.message("A01", at, e.key, "stay", e.subject, pv1)

    def _direct(self, e: Event, known: set[str]) -> Event:
        """An event with no ADT form, about a stay or attendance sent by HL7:
        named by the reference the listener stored for it."""
        if e.subject not in known:
            return e
        if e.kind in ED_KINDS:
            subject = self.stored_ref("attendance", e.subject)
        elif e.kind in INPATIENT_KINDS:
            subject = self.stored_ref("stay", e.subject)
        else:
            return e
        return Event(e.kind, e.at, e.key, subject, e.payload, e.related)

    # -- the outbox -------------------------------------------------------------
    def enqueue(self, session: Session, events: list[Event], at: datetime) -> dict:
        """Put one tick's events into the outbox (in the tick's transaction)."""
        refs = {e.subject for e in events} | {f"S{e.subject}" for e in events}
        known = set(
            session.scalars(
                select(Hl7DemoRef.sim_ref).where(Hl7DemoRef.sim_ref.in_(refs))
            )
        ) if refs else set()  # fmt: skip
        items, links = self.translate(session, events, known)
        session.add_all(links)
        for item in items:
            session.add(Hl7DemoOutbox(kind=item.kind, body=item.body, created_at=at))
        return {
            "events": len(events),
            "hl7_messages": sum(1 for x in items if x.kind == "hl7"),
        }

    def pending(self, factory: sessionmaker[Session]) -> int:
        with factory() as session:
            return len(session.scalars(select(Hl7DemoOutbox.id)).all())

    def flush(self, factory: sessionmaker[Session], now: datetime) -> bool:
        """Deliver the outbox in order; True when it is empty. No transaction is
        held while a message waits for its ACK."""
        with factory() as session:
            ids = list(
                session.scalars(select(Hl7DemoOutbox.id).order_by(Hl7DemoOutbox.id))
            )
        if not ids:
            return True
        connection: socket.socket | None = None
        outage_logged = False
        try:
            for item_id in ids:
                with factory() as session:
                    item = session.get(Hl7DemoOutbox, item_id)
                    if item is None:
                        continue
                    kind, body = item.kind, item.body
                    outage_logged = outage_logged or item.failed_at is not None
                if kind == "direct":
                    with write_session(factory) as session:
                        events = [_event_from(d) for d in json.loads(body)]
                        for outcome in apply_events(
                            session, events, source=self.direct_source,
                            received_at=now,
                        ):  # fmt: skip
                            if outcome.status == "refused":
                                log.warning("simulator event %s refused: %s",
                                            outcome.key, outcome.reason)  # fmt: skip
                        session.execute(
                            delete(Hl7DemoOutbox).where(Hl7DemoOutbox.id == item_id)
                        )
                    continue
                if connection is None:
                    connection = self._connect()
                code, text = self._send(connection, body)
                if code != "AA":
                    log.warning("demo HL7 message answered %s: %s", code, text)
                with write_session(factory) as session:
                    session.execute(
                        delete(Hl7DemoOutbox).where(Hl7DemoOutbox.id == item_id)
                    )
        except (OSError, SendError) as exc:
            with write_session(factory) as session:
                head = session.scalar(
                    select(Hl7DemoOutbox).order_by(Hl7DemoOutbox.id).limit(1)
                )
                first = head is not None and head.failed_at is None
                if head is not None and head.failed_at is None:
                    head.failed_at = now
            if first and not outage_logged:
                log.warning(
                    "demo HL7: cannot deliver to the listener at %s:%d (%s); "
                    "the simulator waits and resends", self.host, self.port, exc,
                )  # fmt: skip
            return False
        finally:
            if connection is not None:
                connection.close()
        if outage_logged:
            log.warning("demo HL7: delivering to the listener again")
        return True

    def _connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=self.timeout)

    def _send(self, connection: socket.socket, text: str) -> tuple[str, str]:
        connection.sendall(SB + text.encode("utf-8") + EB + CR)
        data = b""
        while EB not in data:
            chunk = connection.recv(65536)
            if not chunk:
                raise SendError("the listener closed the connection without an ACK")
            data += chunk
        ack = data.split(SB, 1)[-1].split(EB, 1)[0].decode("utf-8", "replace")
        parsed = hl7.parse(ack.replace("\n", "\r"))
        msa = parsed.segment("MSA")
        return str(msa[1]), str(msa[3]) if len(msa) > 3 else ""


def messages_of(items: Iterable[_Item]) -> list[str]:
    return [x.body for x in items if x.kind == "hl7"]
