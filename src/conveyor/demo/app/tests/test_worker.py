"""The worker: one precompute run, and a graceful stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from movies import worker
from movies.models import Rating, Recommendation

APP_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
def own_signal_handlers() -> Iterator[None]:
    """Put back pytest's SIGTERM/SIGINT handlers after a test ran worker.main()."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_run_once_stores_ranked_recommendations_for_every_user(seeded: Engine) -> None:
    result = worker.run_once(seeded, limit=10)

    assert (result.users, result.rows) == (30, 300)
    with Session(seeded) as session:
        rows = session.scalars(select(Recommendation)).all()
        rated = {(u, m) for u, m in session.execute(select(Rating.user_id, Rating.movie_id))}
    assert {r.algorithm for r in rows} == {"item-cooccurrence-v1"}
    by_user: dict[int, list[int]] = {}
    for row in rows:
        by_user.setdefault(row.user_id, []).append(row.rank)
        assert (row.user_id, row.movie_id) not in rated
    assert all(sorted(ranks) == list(range(1, 11)) for ranks in by_user.values())


def test_run_once_replaces_the_previous_batch(seeded: Engine) -> None:
    worker.run_once(seeded, limit=10)
    worker.run_once(seeded, limit=4)

    with Session(seeded) as session:
        assert session.scalar(select(func.count()).select_from(Recommendation)) == 120


def test_run_once_on_an_empty_database_does_nothing(migrated: Engine) -> None:
    result = worker.run_once(migrated, limit=10)

    assert (result.users, result.rows) == (0, 0)


def test_stop_flag_cuts_the_pause_short() -> None:
    stop = worker.StopFlag()
    stop.requested = True
    started = time.monotonic()

    stop.sleep(30)

    assert time.monotonic() - started < 1


def test_sigterm_during_a_batch_finishes_it_then_main_returns_0(
    seeded: Engine, monkeypatch: pytest.MonkeyPatch, own_signal_handlers: None
) -> None:
    finished: list[worker.RunResult] = []
    real_run_once = worker.run_once

    def signalled_mid_batch(engine: Engine, *, limit: int) -> worker.RunResult:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, inside the batch
        result = real_run_once(engine, limit=limit)
        finished.append(result)
        return result

    monkeypatch.setattr(worker, "run_once", signalled_mid_batch)

    assert worker.main([]) == 0
    assert [r.rows for r in finished] == [300]


def test_worker_process_stops_on_sigterm_with_status_0(seeded: Engine) -> None:
    env = {**os.environ, "PYTHONPATH": str(APP_DIR), "WORKER_INTERVAL_SECONDS": "60"}
    process = subprocess.Popen(
        [sys.executable, "-m", "movies.worker"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        first_run = process.stderr.readline() + process.stderr.readline()
        assert "precomputed 300 recommendations for 30 users" in first_run
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0  # well before the 60 s pause would end
        assert "SIGTERM received; batch finished, worker stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
