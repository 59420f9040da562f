"""Many commanders ticking and unticking the same protocol at once: no lost update.

Threads (and, on PostgreSQL, separate processes) each read an action's state and
toggle it with the version they saw, 1,000 attempts in all. Afterwards every action's
version equals the number of accepted changes, the change history alternates
tick/untick with consecutive versions, and the audit trail agrees row for row.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select

from callbacks.identity import Actor
from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.protocols import ProtocolActionEvent, ProtocolActionState
from data.models.security import AuditEvent
from data.writes import protocols as writes
from ops import protocol_runs as runs
from tests.support.apps import FROZEN_NOW

TZ = "Europe/London"
ROUNDS = 1000
ACTIONS = ("notify-icb-scc", "site-huddle")
COMMANDER = Actor(1, "commander", "Ivy Commander", "incident_commander")


def _actor(i: int) -> Actor:
    return Actor(100 + i, f"worker{i}", f"Worker {i}", "bed_manager")


def _toggle_many(
    factory, run_id: int, actor: Actor, attempts: int, offset: int
) -> Counter:  # noqa: ANN001
    """Read an action's state, then tick or untick it against the version read."""
    result: Counter = Counter()
    for i in range(attempts):
        key = ACTIONS[(i + offset) % len(ACTIONS)]
        with factory() as s:
            seen = s.execute(
                select(ProtocolActionState.done, ProtocolActionState.version).where(
                    ProtocolActionState.run_id == run_id,
                    ProtocolActionState.action_key == key,
                )
            ).one()
        try:
            with write_session(factory) as s:
                writes.set_action(
                    s,
                    run_id,
                    key,
                    not seen.done,
                    actor,
                    FROZEN_NOW + timedelta(seconds=i),
                    expected_version=seen.version,
                    tz=TZ,
                )
            result[("ok", key)] += 1
        except runs.ActionConflict:
            result[("conflict", key)] += 1
    return result


def _process_worker(url: str, run_id: int, index: int, attempts: int) -> Counter:
    engine = create_db_engine(url)
    try:
        return _toggle_many(
            make_session_factory(engine), run_id, _actor(index), attempts, index
        )
    finally:
        engine.dispose()


def _stress(url: str, threads: int, processes: int) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    template = runs.available_templates()["opel3-escalation"].template
    with write_session(factory) as s:
        run_id = writes.declare_run(
            s, template, COMMANDER, FROZEN_NOW, reason="stress", tz=TZ
        )

    workers = threads + processes
    per_worker = ROUNDS // workers
    attempts = {
        i: per_worker + (1 if i < ROUNDS % workers else 0) for i in range(workers)
    }
    started = time.monotonic()
    counts: Counter = Counter()
    pool = None
    if processes:
        ctx = multiprocessing.get_context("spawn")
        pool = ctx.Pool(processes)
        async_results = [
            pool.apply_async(_process_worker, (url, run_id, i, attempts[i]))
            for i in range(threads, workers)
        ]
    barrier = threading.Barrier(threads)

    def thread_worker(i: int) -> Counter:
        barrier.wait()
        return _toggle_many(factory, run_id, _actor(i), attempts[i], i)

    with ThreadPoolExecutor(threads) as ex:
        per_thread = list(ex.map(thread_worker, range(threads)))
    for c in per_thread:
        counts.update(c)
    if pool is not None:
        for r in async_results:
            counts.update(r.get(timeout=120))
        pool.close()
        pool.join()
    elapsed = time.monotonic() - started
    # ~3 s (SQLite) and ~6 s (PostgreSQL) on an idle 2-core machine; the bound only
    # catches a pathological slowdown (lock convoys, retries) on a busy CI box.
    assert elapsed < 120, f"{ROUNDS} rounds took {elapsed:.1f} s"
    assert sum(counts.values()) == ROUNDS

    with factory() as s:
        for key in ACTIONS:
            ok = counts[("ok", key)]
            state = s.execute(
                select(ProtocolActionState).where(
                    ProtocolActionState.run_id == run_id,
                    ProtocolActionState.action_key == key,
                )
            ).scalar_one()
            events = s.scalars(
                select(ProtocolActionEvent)
                .where(
                    ProtocolActionEvent.run_id == run_id,
                    ProtocolActionEvent.action_key == key,
                )
                .order_by(ProtocolActionEvent.id)
            ).all()
            audit = s.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.entity_type == "protocol_action",
                    AuditEvent.entity_id == f"{run_id}:{key}",
                )
                .order_by(AuditEvent.id)
            ).all()
            # Every accepted change is in the state's version, the history and the audit.
            assert ok > 0
            assert state.version == ok == len(events) == len(audit)
            assert [e.version for e in events] == list(range(1, ok + 1))
            assert [e.done for e in events] == [i % 2 == 0 for i in range(ok)]
            assert [(a.before["version"], a.after["version"]) for a in audit] == [
                (i, i + 1) for i in range(ok)
            ]
            assert [a.after["done"] for a in audit] == [e.done for e in events]
            assert [a.actor_username for a in audit] == [e.by_username for e in events]
            assert [a.action for a in audit] == [
                "protocol.action.tick" if e.done else "protocol.action.untick"
                for e in events
            ]
            assert state.done == events[-1].done
            assert state.done_by == (events[-1].by if state.done else None)
        # No conflict was silently dropped: everything not accepted was reported.
        assert sum(
            v for (kind, _), v in counts.items() if kind == "conflict"
        ) == ROUNDS - sum(counts[("ok", k)] for k in ACTIONS)
    engine.dispose()


def test_stress_sqlite_threads(tmp_path):
    _stress(f"sqlite:///{tmp_path / 'stress.db'}", threads=4, processes=0)


def test_stress_postgresql_threads_and_processes(pg_server):
    import uuid

    url = pg_server.create_database(f"s_{uuid.uuid4().hex[:10]}")
    _stress(url, threads=4, processes=2)
