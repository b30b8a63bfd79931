"""conveyor's side of the Alembic runner (`host_alembic.py`, put on every host as
`runtime/host_alembic.py`): the command lines that run it, and what its output says."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

MIGRATOR = (Path(__file__).parent / "host_alembic.py").read_bytes()
BACKUPS = (Path(__file__).parent / "host_backup.py").read_bytes()  # put beside it
REHEARSALS = (Path(__file__).parent / "host_rehearse.py").read_bytes()  # and this one
# Its exit codes besides 0 and Alembic's own failures.
LOCKED, REFUSED, NO_BACKUP, BLOCKED, FAILED, REHEARSAL = 3, 4, 5, 6, 7, 8


def argv(
    python: str,
    migrator: str,
    ini: str,
    command: str,
    *,
    revision: str | None = None,
    lock_timeout: timedelta | None = None,
    attempts: int | None = None,
    dry_run: bool = False,
    backups: tuple[str, int] | None = None,
    refuse: Sequence[str] = (),
    rehearse: tuple[timedelta, int] | None = None,
    allow_loss: bool = False,
) -> tuple[str, ...]:
    """The runner's command line under the release's `python` (from its app directory)."""
    words = [python, migrator, ini, command, *([revision] if revision else [])]
    if lock_timeout is not None:
        words += ["--lock-timeout", _interval(lock_timeout)]
    if attempts is not None:
        words += ["--attempts", str(attempts)]
    if dry_run:
        words.append("--dry-run")
    if backups is not None:
        words += ["--backup", backups[0], "--keep", str(backups[1])]
    for entry in refuse:
        words += ["--refuse", entry]
    if allow_loss:
        words.append("--allow-loss")
    if rehearse is not None:
        words += ["--rehearse", f"{rehearse[0].total_seconds():g}", str(rehearse[1])]
    return tuple(words)


def _interval(span: timedelta) -> str:
    """A duration the runner passes to PostgreSQL's lock_timeout (whole milliseconds)."""
    milliseconds = round(span.total_seconds() * 1000)
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


@dataclass(frozen=True)
class Backup:
    """A verified dump of the database (`backups/<id>.dump` on the migration host)."""

    id: str
    size: int
    tables: int
    rows: int
    seconds: float

    def describe(self) -> str:
        """One phrase."""
        return (
            f"backed up first: {self.id} ({self.size / 1024:.0f} KiB, {self.tables} tables, "
            f"{self.rows} rows; verified by a restore)"
        )


@dataclass(frozen=True)
class Migrated:
    """What one run of the runner said: the database's revisions before (under the lock)
    and after (read back), and the revisions it ran, in order."""

    before: tuple[str, ...] | None = None
    after: tuple[str, ...] | None = None
    ran: tuple[str, ...] = ()
    retries: int = 0
    waited: bool = False
    guarded: str | None = None  # the lock_timeout under conveyor's lock (PostgreSQL)
    head: tuple[str, ...] | None = None  # `current`: the scripts' head(s) on the host
    ahead: bool = False  # `current`: the database is at a revision the scripts do not know
    refused: tuple[str, str] | None = None  # (revision, why) of a refused downgrade
    locked: int | None = None  # attempts that all timed out
    backup: Backup | None = None  # the verified dump taken before the first migration
    no_backup: str = ""  # why none could be taken or verified
    restored: str = ""  # the backup the database was restored from
    blocked: tuple[str, ...] = ()  # REV:RULE of pending revisions the lint refuses
    error: str = ""  # what went wrong, in one line
    rehearsed: str = ""  # the rehearsal on the backup's copy: its time, each revision's
    held: tuple[str, ...] = ()  # "orders 0.31s (200000 rows)": exclusive locks it held
    rehearsal_failed: str = ""  # why the rehearsal failed the deploy
    extra: tuple[str, ...] = field(default=(), repr=False)

    @property
    def at(self) -> str:
        """The database's revision afterwards, as a person reads it."""
        return revisions(self.after)


def revisions(heads: Sequence[str] | None) -> str:
    """Revisions as a person reads them."""
    if heads is None:
        return "unknown"
    return ", ".join(heads) if heads else "empty (no revision)"


def parse(stdout: str) -> Migrated:
    """The runner's `@` lines; whatever else the project printed is kept in `extra`."""
    values: dict[str, object] = {}
    retries, waited, extra, blocked, held = 0, False, [], [], []
    for line in stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("@before", "@after", "@head"):
            values[word[1:]] = tuple(r for r in rest.strip().split(",") if r)
        elif word == "@pending":
            values["ran"] = tuple(rest.split())
        elif word == "@retry":
            retries += 1
        elif word == "@waiting":
            waited = True
        elif word == "@lock":
            values["guarded"] = rest.strip()
        elif word == "@refused":
            rev, _, why = rest.partition(" ")
            values["refused"] = (rev, why)
        elif word == "@ahead":
            values["ahead"] = True
        elif word == "@backup":
            bid, size, tables, rows, seconds = rest.split()
            values["backup"] = Backup(bid, int(size), int(tables), int(rows), float(seconds))
        elif word == "@no-backup":
            values["no_backup"] = rest
        elif word == "@blocked":
            blocked.append(rest.strip())
        elif word == "@rehearsed":
            values["rehearsed"] = rest.strip()
        elif word == "@held":
            seconds, rows, _, table = rest.split(maxsplit=3)
            held.append(f"{table} {seconds}s ({rows} rows)")
        elif word == "@rehearsal-failed":
            values["rehearsal_failed"] = rest.strip()
        elif word == "@error":
            values["error"] = rest.strip()
        elif word == "@restored":
            values["restored"] = rest.strip()
        elif word == "@locked":
            values["locked"] = int(rest)
        else:
            extra.append(line)
    found = dict(
        retries=retries,
        waited=waited,
        extra=tuple(extra),
        blocked=tuple(blocked),
        held=tuple(held),
    )
    return Migrated(**found, **values)  # type: ignore[arg-type]


def summary(done: Migrated, verb: str = "applied") -> str:
    """One line: what ran, from where to where, as read back from the database."""
    if not done.ran:
        said = f"database is up to date (at {done.at})"
    else:
        path = " → ".join(done.ran)
        was = revisions(done.before)
        said = (
            f"{len(done.ran)} migration(s) {verb}: {path}; database was at {was}, now at {done.at}"
        )
    notes = [f"under conveyor's lock, lock_timeout {done.guarded}"] if done.guarded else []
    if done.backup is not None:
        notes.insert(0, done.backup.describe())
    if done.rehearsed:
        took = done.rehearsed.split()[0]
        locks = f", ACCESS EXCLUSIVE on {', '.join(done.held)}" if done.held else ""
        notes.insert(1, f"rehearsed on that copy first ({took}s{locks})")
    if done.waited:
        notes.append("waited for another migration's lock")
    if done.retries:
        notes.append(f"retried {done.retries}x after lock timeouts")
    return "; ".join([said, *notes])
