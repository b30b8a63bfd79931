"""conveyor's rehearsal of pending migrations: run on the migration host by the Alembic
runner (`host_alembic.py`, which imports this file from beside it, `runtime/host_rehearse.py`),
on the scratch database a verified backup was restored into.

It runs the pending revisions there the way the live run will (the live context's version
table and transaction options), on conveyor's own connection (not through `env.py`),
while a thread watches the ACCESS EXCLUSIVE locks that session holds (pg_locks, every
20 ms) and each revision is timed. CONVEYOR_REHEARSAL=1 is set meanwhile, for a migration
that reaches the database another way than Alembic's connection. Standard library,
Alembic and SQLAlchemy only.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any

EXCLUSIVE = "AccessExclusiveLock"
POLL = 0.02  # seconds between two looks at the rehearsal's locks


class Stretches:
    """The ACCESS EXCLUSIVE locks one session holds, seen poll by poll: each table's longest
    unbroken stretch (two short locks with a gap between them are two stretches)."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.open: dict[int, tuple[float, float]] = {}  # oid -> (first seen, last seen)
        self.longest: dict[int, float] = {}

    def seen(self, now: float, locks: list[tuple[int, str]]) -> None:
        current = {int(oid) for oid, _ in locks}
        self.names.update((int(oid), str(name)) for oid, name in locks)
        for oid in [o for o in self.open if o not in current]:
            self.close(oid)
        for oid in current:
            first, _ = self.open.get(oid, (now, now))
            self.open[oid] = (first, now)

    def close(self, oid: int) -> None:
        first, last = self.open.pop(oid)
        self.longest[oid] = max(self.longest.get(oid, 0.0), last - first + POLL)

    def done(self) -> dict[int, float]:
        for oid in list(self.open):
            self.close(oid)
        return self.longest


def rehearser(
    config: Any,
    script: Any,
    live: Any,
    limit: float,
    large: int,
    *,
    say: Callable[..., None],
    one_line: Callable[[BaseException], str],
    unlocked: Callable[[], Any],
) -> Callable[[Any], dict[str, Any]]:
    """What rehearses the pending migrations on the verified copy of the backup (its URL),
    the way the live run will (the live context's version table and transaction options),
    watching the locks its session holds (pg_locks, every 20 ms) and timing each revision.
    An ACCESS EXCLUSIVE lock held, unbroken, longer than `limit` seconds on a table of
    `large` rows or more fails it (host_backup.Rehearsal: nothing runs on the live
    database); on a smaller table it is said. CONVEYOR_REHEARSAL=1 is set meanwhile, for a
    migration that reaches the database by another way than Alembic's connection."""
    keys = ("version_table", "version_table_schema", "transaction_per_migration")
    options = {key: live.opts[key] for key in keys if key in live.opts}

    def rehearse(url: Any) -> dict[str, Any]:
        import threading

        from alembic.runtime.environment import EnvironmentContext
        from sqlalchemy import create_engine

        host_backup = importlib.import_module("host_backup")
        engine, watcher = create_engine(url), create_engine(url)
        stretches = Stretches()
        trouble: list[BaseException] = []
        steps: list[tuple[str, float]] = []
        stop = threading.Event()
        os.environ["CONVEYOR_REHEARSAL"] = "1"
        try:
            with unlocked(), engine.connect() as conn:
                pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() or 0)
                conn.commit()

                def watch() -> None:
                    try:
                        with watcher.connect() as seen:
                            while not stop.is_set():
                                rows = seen.exec_driver_sql(
                                    "SELECT l.relation, c.oid::regclass::text FROM pg_locks l "
                                    f"JOIN pg_class c ON c.oid = l.relation WHERE l.pid = {pid} "
                                    f"AND l.granted AND l.mode = '{EXCLUSIVE}' AND c.relkind "
                                    "IN ('r', 'p')"
                                ).all()
                                seen.rollback()
                                stretches.seen(time.monotonic(), [(r[0], r[1]) for r in rows])
                                stop.wait(POLL)
                    except Exception as error:  # no lock figures: the rehearsal proves nothing
                        trouble.append(error)

                mark = [time.monotonic()]

                def applied(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
                    now = time.monotonic()
                    steps.append((step.up_revision_id or "?", now - mark[0]))
                    mark[0] = now

                def todo(rev: Any, context: Any) -> Any:
                    return script._upgrade_revs("head", context.get_current_heads())

                thread = threading.Thread(target=watch, daemon=True)
                thread.start()
                began = time.monotonic()
                # Alembic's module proxies (alembic.context, alembic.op) are the live run's;
                # the rehearsal's own context replaces them, then they are put back.
                outer = [
                    getattr(sys.modules.get(name), "_proxy", None)
                    for name in ("alembic.context", "alembic.op")
                ]
                try:
                    with EnvironmentContext(config, script, fn=todo, destination_rev="head") as env:
                        env.configure(connection=conn, on_version_apply=applied, **options)
                        with env.begin_transaction():
                            env.run_migrations()
                except Exception as error:
                    raise host_backup.Rehearsal(
                        "the pending migrations failed on a copy of the database: "
                        + one_line(error)
                    ) from None
                finally:
                    stop.set()
                    thread.join()
                    for proxy in outer:
                        if proxy is not None:
                            proxy._install_proxy()
                took = time.monotonic() - began
                if trouble:
                    raise host_backup.Rehearsal(
                        f"its locks could not be watched ({one_line(trouble[0])})"
                    )
                longest = stretches.done()
                rows = {oid: rows_of(conn, oid) for oid in longest}
        finally:
            os.environ.pop("CONVEYOR_REHEARSAL", None)
            engine.dispose()
            watcher.dispose()
        say("rehearsed", f"{took:.2f}", *(f"{rev}={sec:.2f}" for rev, sec in steps))
        worst = []
        for oid, seconds_held in sorted(longest.items()):
            table, count = stretches.names[oid], rows[oid]
            say("held", f"{seconds_held:.2f}", str(count), EXCLUSIVE, table)
            if seconds_held > limit and count >= large:
                worst.append(
                    f"ACCESS EXCLUSIVE on {table} ({count} rows) for {seconds_held:.2f}s, "
                    f"longer than {limit:g}s"
                )
        if worst:
            raise host_backup.Rehearsal(
                "on a copy of the database the pending migrations held "
                + "; ".join(worst)
                + ": every query of those tables would wait that long"
            )
        return {"seconds": round(took, 2)}

    return rehearse


def rows_of(conn: Any, oid: int) -> int:
    """Rows of the table with this oid now (0 when the migrations dropped it)."""
    name = conn.exec_driver_sql(f"SELECT to_regclass({oid}::oid::regclass::text)::text").scalar()
    if name is None:
        return 0
    return int(conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar() or 0)
