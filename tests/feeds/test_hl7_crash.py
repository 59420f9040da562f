"""Crash safety: ``kill -9`` of the listener process while a sender streams; after a
restart and the sender's resends every message is applied exactly once, and the
bed board and history equal a clean run of the same messages."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from data.db import create_db_engine, make_session_factory
from data.models.capacity import Bed, BedEvent, InpatientStay
from data.models.events import FlowEvent
from data.models.hl7 import Hl7Message
from feeds.hl7.ingest import handle
from tests.feeds.hl7_support import AT, MllpClient, ack_code, adt, prepare
from tests.support.pg import free_port

ROOT = Path(__file__).resolve().parents[2]
KEY = "crash-test-key-" + "c" * 30
N_PATIENTS = 300  # 900 messages


def workload() -> list[str]:
    messages = []
    for i in range(N_PATIENTS):
        t = AT + timedelta(minutes=30 * i)
        a, b = f"CAR^^CAR-0{i % 4 + 1}", f"RES^^RES-0{i % 4 + 1}"
        v, p = f"V{i}", f"P{i}"
        messages += [
            adt("A01", f"C{i}a", at=t, visit=v, patient=p, location=a),
            adt("A02", f"C{i}b", at=t + timedelta(minutes=10), visit=v, patient=p,
                location=b),
            adt("A03", f"C{i}c", at=t + timedelta(minutes=20), visit=v, patient=p),
        ]  # fmt: skip
    return messages


def snapshot(url: str) -> dict:
    engine = create_db_engine(url)
    try:
        with make_session_factory(engine)() as s:
            return {
                "beds": sorted(s.execute(
                    select(Bed.label, Bed.state, Bed.patient_ref)).all()),
                "stays": sorted(s.execute(select(
                    InpatientStay.stay_ref, InpatientStay.bed_id,
                    InpatientStay.admitted_at, InpatientStay.discharged_at)).all()),
                "history": sorted(s.execute(select(
                    BedEvent.bed_id, BedEvent.at, BedEvent.state,
                    BedEvent.patient_ref)).all()),
                "events": s.scalar(select(func.count(FlowEvent.id))),
                "distinct": s.scalar(select(func.count(func.distinct(FlowEvent.key)))),
                "messages": s.scalar(select(func.count(Hl7Message.id))),
            }  # fmt: skip
    finally:
        engine.dispose()


def start_listener(url: str, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMAND_CENTRE")}
    env.update(
        DATABASE_URL=url, COMMAND_CENTRE_DEMO="0", COMMAND_CENTRE_HL7_KEY=KEY,
        COMMAND_CENTRE_HL7_PORT=str(port), SECRET_KEY="Zx9!kq2LmP0vR7tW3yB8nC5dF1gH6jK4",
    )  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "hl7-listen"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("the listener did not start")


def test_hl7k001_kill_9_while_streaming_then_resend(tmp_path: Path) -> None:
    messages = workload()
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    (tmp_path / "clean").mkdir()
    engine, factory = prepare(clean_url, tmp_path / "clean")
    for m in messages:
        assert handle(factory, m, key=KEY.encode()).ack_code == "AA"
    engine.dispose()

    url = f"sqlite:///{tmp_path / 'live.db'}"
    engine, _ = prepare(url, tmp_path)
    engine.dispose()
    port = free_port()
    proc = start_listener(url, port)
    acked: set[int] = set()
    killed = False
    try:
        client = MllpClient(port)
        for i, m in enumerate(messages):
            if i == len(messages) // 3 and not killed:
                # the process dies with a message sent and not yet answered
                client.send_raw(b"\x0b" + m.encode() + b"\x1c\r")
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
                killed = True
                break
            assert ack_code(client.send(m)) == "AA"
            acked.add(i)
        client.close()
        proc = start_listener(url, port)
        # the sender resends everything it has no ACK for, plus a few it had
        client = MllpClient(port)
        for i, m in enumerate(messages):
            if i not in acked or i >= len(acked) - 20:
                assert ack_code(client.send(m)) == "AA"
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert killed
    live, clean = snapshot(url), snapshot(clean_url)
    assert live["messages"] == clean["messages"] == len(messages)
    assert live["events"] == live["distinct"] == clean["events"]
    for part in ("beds", "stays", "history"):
        assert live[part] == clean[part], part
