"""conveyor's Alembic runner: runs on the migration host, under the release's own Python.

    host_alembic.py INI current
    host_alembic.py INI upgrade   [--lock-timeout 5s] [--attempts 5] [--backup DIR --keep N]
    host_alembic.py INI downgrade REV [--lock-timeout 5s] [--attempts 5] [--dry-run]
    host_alembic.py INI restore BACKUP_ID --backup DIR

It runs the project's own `env.py` (its settings, its engine, its driver) through
Alembic's public `EnvironmentContext`, as `alembic upgrade` does, and steps in only
when the migration context starts to run with its connection (`locking`):

- on PostgreSQL, it takes a session advisory lock first, so that two deploys racing
  migrate one after the other (the second finds nothing left to do), then sets
  `lock_timeout`, so that a migration waiting behind a long query fails fast instead of
  queueing every request of the running release behind its own lock;
- it reads the revision the database is at *under that lock*, and says exactly which
  revisions it is about to run;
- a migration that timed out waiting for a lock (SQLSTATE 55P03) is rolled back with its
  transaction and tried again, up to `--attempts` times, backing off;
- afterwards it reads the database's revision again, in a new connection.

What it says, on stdout, one line each (its callers read these; Alembic's own log goes
to stderr as usual):

    @before REV[,REV]      the database's revision(s) under the lock ("" when empty)
    @pending REV REV ...   the revisions it will run, in order
    @lock TIMEOUT          the advisory lock is held and lock_timeout set (PostgreSQL only)
    @waiting               another migration holds the lock; waiting for it
    @retry N SECONDS       a lock timeout; attempt N comes after SECONDS
    @after REV[,REV]       the revision(s) read back afterwards
    @locked N              every one of N attempts timed out waiting for a lock (exit 3)
    @backup ID BYTES TABLES ROWS SECONDS
                           a verified dump, taken before the first migration ran
    @no-backup WHY         the backup could not be taken or verified: nothing ran (exit 5)
    @restored ID           the database was restored from backup ID
    @blocked REV:RULE      a pending revision breaks a rule conveyor refuses (--refuse):
                           nothing ran (exit 6)
    @rehearsed SECONDS REV=SECONDS ...
                           the pending migrations ran on the backup's verified copy
    @held SECONDS ROWS MODE TABLE
                           an ACCESS EXCLUSIVE lock the rehearsal held, for how long
    @rehearsal-failed WHY  it failed, or held such a lock too long on a large table:
                           nothing ran on the database (exit 8)
    @error TYPE: WHAT      anything else went wrong, in one line (exit 7; the traceback
                           goes to stderr)
    @head REV[,REV]        (current) the head(s) of the scripts here
    @ahead                 (current) the database is at a revision the scripts do not know
    @refused REV WHY       a downgrade that would run REV, whose `downgrade()` is missing,
                           empty or (without --allow-loss) drops a column or table
                           (exit 4): nothing ran

Standard library, Alembic and SQLAlchemy only: it runs in the release's venv, which
holds Alembic because the project's migrations need it. `ScriptDirectory._upgrade_revs`
and `_downgrade_revs` are what `alembic.command.upgrade`/`downgrade` hand to the
context (unchanged since Alembic 0.7); there is no public name for them.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

FAILED = 7  # an error of the migrations, env.py or the database: @error says which
REHEARSING = False  # set while the pending migrations run on the backup's scratch copy
SQL_DROP = re.compile(r"\bDROP\s+(TABLE|COLUMN)\s+(IF\s+EXISTS\s+)?([\w.\"]+)", re.IGNORECASE)
ADVISORY_KEY = 7_236_052_463_245_181_001  # any fixed 64-bit number: "conveyor migrations"
LOCK_NOT_AVAILABLE = "55P03"


def sibling(name: str) -> Any:
    """A module put beside this script (the script's directory is first on sys.path)."""
    return importlib.import_module(name)


def say(word: str, *values: str) -> None:
    print(" ".join(("@" + word, *values)), flush=True)


def joined(heads: Any) -> str:
    return ",".join(sorted(heads))


def sqlstate(error: BaseException | None) -> str | None:
    """The SQLSTATE of a database error anywhere in `error`'s chain (psycopg, psycopg2,
    asyncpg), else None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        for candidate in (error, getattr(error, "orig", None)):
            code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
            if isinstance(code, str):
                return code
        error = error.__cause__ or error.__context__
    return None


def seconds(text: str) -> str:
    """ "5s", "500ms", "2m" -> a PostgreSQL interval literal PostgreSQL accepts as-is."""
    match = re.fullmatch(r"\s*(\d+)\s*(ms|s|min|m)?\s*", text)
    if match is None:
        raise SystemExit(f"--lock-timeout {text!r}: write it as 5s, 500ms or 2m")
    number, unit = match.groups()
    return f"{number}{'min' if unit == 'm' else unit or 's'}"


def run_env(config: Any, script: Any, fn: Any, **options: Any) -> None:
    from alembic.runtime.environment import EnvironmentContext

    with EnvironmentContext(config, script, fn=fn, **options):
        script.run_env()


def current(config: Any, script: Any) -> list[str]:
    """The database's revisions, read in a connection of its own."""
    found: list[str] = []

    def read(rev: Any, context: Any) -> list[Any]:
        found.extend(context.get_current_heads())
        return []

    run_env(config, script, read, dont_mutate=True)
    return found


def locked(context: Any, lock_timeout: str, held: list[int]) -> None:
    """On PostgreSQL: the advisory lock (waiting, and saying so, when another run holds
    it), then `lock_timeout` for the migrations' own statements.

    The lock is a session's, so it outlives a failed attempt whose connection `env.py`
    returned to a pool (an async engine that is never disposed keeps it open): the sessions
    of this process's earlier attempts (`held`, by backend pid) are ended first, or the
    retry would wait for a lock its own process holds."""
    connection = context.connection
    if connection is None or connection.dialect.name != "postgresql":
        return
    if held:
        ended(connection, held)
    held.append(int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()))
    if not connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({ADVISORY_KEY})").scalar():
        say("waiting")
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({ADVISORY_KEY})")
    connection.exec_driver_sql(f"SET lock_timeout = '{lock_timeout}'")
    say("lock", lock_timeout)


def ended(connection: Any, held: list[int], wait: float = 10.0) -> None:
    """End this process's earlier sessions and wait until they are gone: ending one only
    signals it, and until its backend exits its advisory lock is still held (the retry
    would say it waits for another migration when it waits for itself)."""
    earlier = ",".join(str(pid) for pid in held)
    others = f"unnest(ARRAY[{earlier}]::int[]) AS pid WHERE pid <> pg_backend_pid()"
    connection.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM {others}")
    alive = f"SELECT count(*) FROM pg_stat_activity WHERE pid IN (SELECT pid FROM {others})"
    until = time.monotonic() + wait
    while True:
        # pg_stat_activity is a snapshot kept for the transaction: cleared before each look.
        connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        if not connection.exec_driver_sql(alive).scalar() or time.monotonic() >= until:
            return
        time.sleep(0.01)


@contextlib.contextmanager
def unlocked() -> Iterator[None]:
    """While inside, migration contexts take no advisory lock (the rehearsal's, on a copy)."""
    global REHEARSING
    REHEARSING = True
    try:
        yield
    finally:
        REHEARSING = False


def rehearser(
    config: Any, script: Any, live: Any, limit: float, large: int
) -> Callable[[Any], dict[str, Any]]:
    """The rehearsal of the pending migrations on the backup's verified copy
    (`host_rehearse.py`, put beside this script)."""
    module = sibling("host_rehearse")
    return module.rehearser(  # type: ignore[no-any-return]
        config, script, live, limit, large, say=say, one_line=one_line, unlocked=unlocked
    )


def locking(lock_timeout: str, held: list[int]) -> Callable[[], None]:
    """Make every migration context of this process take the lock (`locked`) first thing in
    `run_migrations`: before Alembic reads the revision or creates its version table, which
    two first deploys racing would otherwise both try to create. Returns what undoes that
    (the read-back afterwards takes no lock)."""
    from alembic.runtime.migration import MigrationContext

    original = MigrationContext.run_migrations

    def run_migrations(self: Any, **kwargs: Any) -> None:
        if not REHEARSING:  # a rehearsal's context is on a scratch copy: no lock there
            locked(self, lock_timeout, held)
        original(self, **kwargs)

    def undo() -> None:
        MigrationContext.run_migrations = original  # type: ignore[method-assign]

    MigrationContext.run_migrations = run_migrations  # type: ignore[method-assign]
    return undo


class Blocked(Exception):
    """A pending revision breaks a rule the deploy refuses (its lint, on conveyor's side)."""


class Refused(Exception):
    """A downgrade that would run a revision with no real `downgrade()`."""


def undoable(step: Any, allow_loss: bool = False) -> str | None:
    """Why a revision cannot be undone: its `downgrade` missing or doing nothing, or (unless
    `allow_loss`) dropping a column or table, which loses what was written there since."""
    with open(step.revision.path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "downgrade":
            body = [
                statement
                for statement in node.body
                if not isinstance(statement, ast.Pass)
                and not (
                    isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
                )
            ]
            if not body:
                if step.revision.is_merge_point:
                    return None  # a merge point: `alembic merge` leaves nothing to undo
                return "its downgrade() does nothing"
            drops = [] if allow_loss else list(dropped(node))
            if drops:
                return (
                    f"its downgrade() drops {', '.join(drops)}: what was written there since "
                    "the upgrade is lost"
                )
            return None
    return "it has no downgrade()"


def dropped(function: ast.FunctionDef) -> Iterator[str]:
    """What `function` drops: `op.drop_column`/`op.drop_table` calls (or a batch's), and
    DROP TABLE / DROP COLUMN in the SQL it passes as literals."""
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        for arg in node.args:  # op.execute("..."), sa.text("..."): not a docstring
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found = SQL_DROP.search(arg.value)
                if found:
                    yield found.group(3).replace('"', "")
        if not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr not in ("drop_column", "drop_table"):
            continue
        values = [*node.args, *(k.value for k in node.keywords if k.arg != "schema")]
        names = [str(v.value) for v in values if isinstance(v, ast.Constant)]
        yield ".".join(names) or ("a column" if node.func.attr == "drop_column" else "a table")


def migrate(
    config: Any,
    script: Any,
    direction: str,
    target: str,
    lock_timeout: str,
    attempts: int,
    dry_run: bool = False,
    backups: tuple[str, int] | None = None,
    refuse: tuple[str, ...] = (),
    rehearse: tuple[float, int] | None = None,
    allow_loss: bool = False,
) -> int:
    """Upgrade to head or downgrade to `target` under the lock, retrying lock timeouts;
    `dry_run`: say what would run (and what would be refused), run nothing; `backups`:
    (directory, how many to keep) for a verified dump before the first upgrade runs."""

    held: list[int] = []
    taken: list[str] = []  # a retry after a lock timeout does not dump again

    def steps(rev: Any, context: Any) -> list[Any]:
        heads = context.get_current_heads()
        say("before", joined(heads))
        todo: list[Any]
        if direction == "upgrade":
            todo = script._upgrade_revs(target, heads)
        else:
            todo = script._downgrade_revs(target, heads)
            for step in todo:
                why = undoable(step, allow_loss)
                if why is not None:
                    say("refused", step.revision.revision, why)
                    raise Refused()
        say("pending", *(step.revision.revision for step in todo))
        ids = {step.revision.revision for step in todo}
        blocked = [entry for entry in refuse if entry.partition(":")[0] in ids]
        for entry in blocked:
            say("blocked", entry)
        if blocked and not dry_run:
            raise Blocked()
        if todo and backups is not None and not dry_run and not taken:
            host_backup = sibling("host_backup")

            rehearsal = None
            if rehearse is not None:
                rehearsal = rehearser(config, script, context, *rehearse)
            info = host_backup.backup(
                context.connection, backups[0], backups[1], joined(heads), rehearsal
            )
            taken.append(info["id"])
            say("backup", *(str(info[k]) for k in ("id", "bytes", "tables", "rows", "seconds")))
        return [] if dry_run else todo

    unlocking = locking(lock_timeout, held)
    for attempt in range(1, attempts + 1):
        try:
            run_env(config, script, steps, destination_rev=target)
            break
        except Exception as error:
            if isinstance(error, Refused):
                return 4
            if isinstance(error, Blocked):
                return 6
            if type(error).__name__ == "Rehearsal":
                say("rehearsal-failed", " ".join(str(error).split()))
                return 8
            if type(error).__name__ == "BackupFailed":
                say("no-backup", " ".join(str(error).split()))
                return 5
            if sqlstate(error) != LOCK_NOT_AVAILABLE:
                raise
            if attempt == attempts:
                print(str(error).splitlines()[0], file=sys.stderr)
                say("locked", str(attempts))
                unlocking()  # with migrations that commit one by one, some may have run
                say("after", joined(current(config, script)))
                return 3
            pause = min(2.0 ** (attempt - 1), 15.0)
            say("retry", str(attempt + 1), f"{pause:g}")
            time.sleep(pause)
    unlocking()
    say("after", joined(current(config, script)))
    return 0


def restore(config: Any, script: Any, directory: str, backup_id: str) -> int:
    """The database `env.py` connects to, as backup `backup_id` holds it, under the advisory
    lock; its revision read back afterwards."""
    host_backup = sibling("host_backup")
    from sqlalchemy import create_engine

    urls = []

    def capture(rev: Any, context: Any) -> list[Any]:
        urls.append(context.connection.engine.url)
        return []

    run_env(config, script, capture, dont_mutate=True)
    engine = create_engine(sibling("host_backup").sync_url(urls[0]))
    try:
        with engine.connect() as connection:
            if connection.dialect.name != "postgresql":
                say("no-backup", f"restores are for PostgreSQL, not {connection.dialect.name}")
                return 5
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({ADVISORY_KEY})")
            connection.commit()
            try:
                host_backup.restore(urls[0], directory, backup_id)
            except host_backup.BackupFailed as error:
                say("no-backup", " ".join(str(error).split()))
                return 5
            say("restored", backup_id)
    finally:
        engine.dispose()
    say("after", joined(current(config, script)))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="host_alembic.py")
    parser.add_argument("ini")
    parser.add_argument("command", choices=("current", "upgrade", "downgrade", "restore"))
    parser.add_argument("revision", nargs="?")
    parser.add_argument("--lock-timeout", default="5s")
    parser.add_argument("--attempts", type=int, default=5)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--backup", metavar="DIR")
    parser.add_argument("--keep", type=int, default=5)
    parser.add_argument("--refuse", action="append", default=[], metavar="REV:RULE")
    parser.add_argument("--rehearse", nargs=2, metavar=("LOCK_SECONDS", "LARGE_ROWS"))
    parser.add_argument("--allow-loss", action="store_true")
    args = parser.parse_args(argv)
    try:
        return run(parser, args)
    except Exception as error:  # the project's own migration, its env.py, the database
        traceback.print_exc()  # to stderr: the history keeps its tail
        say("error", one_line(error))
        return FAILED


def one_line(error: BaseException) -> str:
    """An error in one line, as a person reads it, with any password in a URL masked."""
    orig = getattr(error, "orig", None)
    if orig is not None:  # SQLAlchemy's wrapper: the driver's own words
        error = orig
    lines = str(error).strip().splitlines()
    name = type(error).__name__
    text = f"{name}: {lines[0]}" if lines else name
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config(args.ini)
    script: Any = ScriptDirectory.from_config(config)
    if args.command == "current":
        heads = current(config, script)
        say("after", joined(heads))
        say("head", joined(script.get_heads()))
        try:
            todo = script._upgrade_revs("heads", tuple(heads))
        except Exception:  # the database is at a revision these scripts do not know
            say("ahead")
        else:
            say("pending", *(step.revision.revision for step in todo))
        return 0
    if args.command == "restore":
        if not args.revision or not args.backup:
            parser.error("restore needs the backup's id and --backup DIR")
        return restore(config, script, args.backup, args.revision)
    if args.command == "downgrade" and not args.revision:
        parser.error("downgrade needs the revision to go down to")
    target = "head" if args.command == "upgrade" else args.revision
    return migrate(
        config,
        script,
        args.command,
        target,
        seconds(args.lock_timeout),
        max(1, args.attempts),
        dry_run=args.dry_run,
        backups=(args.backup, max(1, args.keep)) if args.backup else None,
        refuse=tuple(args.refuse),
        rehearse=(float(args.rehearse[0]), int(args.rehearse[1])) if args.rehearse else None,
        allow_loss=args.allow_loss,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
