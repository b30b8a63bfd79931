"""The worker: precompute every user's recommendations, again every few seconds.

Run it with `python -m movies.worker`. SIGTERM or SIGINT lets the current batch
finish, then the process exits 0, so a deploy can replace it without losing a
half-written batch.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from types import FrameType

from sqlalchemy import Engine, delete
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from movies.config import configure_logging, get_settings
from movies.db import get_engine
from movies.models import Recommendation
from movies.recommend import ALGORITHM, load_recommender

log = logging.getLogger("movies.worker")

# How often an idle worker looks at the stop flag; bounds the delay of a graceful stop.
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class RunResult:
    """What one precompute run did."""

    users: int
    rows: int
    seconds: float


def run_once(engine: Engine, *, limit: int) -> RunResult:
    """Replace every user's stored recommendations in one transaction."""
    started = time.monotonic()
    now = datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        recommender = load_recommender(session)
        rows = [
            Recommendation(
                user_id=user_id,
                movie_id=scored.movie_id,
                rank=rank,
                score=scored.score,
                computed_at=now,
                algorithm=ALGORITHM,
            )
            for user_id in recommender.users
            for rank, scored in enumerate(recommender.recommend(user_id, limit), start=1)
        ]
        # Readers see either the old batch or the new one, never a mix.
        session.execute(delete(Recommendation))
        session.add_all(rows)
    return RunResult(
        users=len(recommender.users), rows=len(rows), seconds=time.monotonic() - started
    )


class StopFlag:
    """Set by SIGTERM/SIGINT; checked between batches, never inside one."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""

    def install(self) -> None:
        """Route SIGTERM and SIGINT to this flag."""
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Only set a flag: a handler that raised (or even logged) could interrupt a
        # batch mid-transaction or re-enter a lock the interrupted code holds.
        self.signal_name = signal.Signals(signum).name
        self.requested = True

    def sleep(self, seconds: float) -> None:
        """Wait up to `seconds`, returning early once a stop is requested."""
        deadline = time.monotonic() + seconds
        while not self.requested:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(POLL_SECONDS, remaining))


def main(argv: Sequence[str] | None = None) -> int:
    """Run batches until a stop is requested; return the exit status."""
    settings = get_settings()
    configure_logging(settings.LOG_LEVEL)
    stop = StopFlag()
    stop.install()
    engine = get_engine()
    log.info(
        "worker started: every %ds, %d per user",
        settings.WORKER_INTERVAL_SECONDS,
        settings.RECOMMENDATIONS_LIMIT,
    )
    while not stop.requested:
        try:
            result = run_once(engine, limit=settings.RECOMMENDATIONS_LIMIT)
        except SQLAlchemyError as exc:
            # The database may be restarting; the next run retries.
            log.error("run failed: %s: %s", type(exc).__name__, exc.__cause__ or exc)
        else:
            log.info(
                "precomputed %d recommendations for %d users in %.3fs",
                result.rows,
                result.users,
                result.seconds,
            )
        stop.sleep(settings.WORKER_INTERVAL_SECONDS)
    log.info("%s received; batch finished, worker stopped", stop.signal_name)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
