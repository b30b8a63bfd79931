"""What a deploy brings, for the delivery figures: its commits (change lead time) and
whether it is a hotfix (rework rate).

The commits are `git log PREVIOUS..COMMIT`: those in the deployed commit that the
environment's previous succeeded deploy did not have, newest first, at most
MAX_CHANGES of them, each with its committer time (when the change was made in the
branch that was deployed: a rebase or cherry-pick makes a new change). A first deploy
of an environment records its own commit only: the whole history before it would
measure the project's age, not how long a change waits. One git call; a range git
cannot read (a shallow clone, a release built on another machine, a deploy of a
release by id whose commit this repository lacks) records the deployed commit alone,
with the time its release's manifest holds. Nothing here fails a deploy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from conveyor.build.git import git, text
from conveyor.errors import ConveyorError
from conveyor.history.records import Change

if TYPE_CHECKING:
    from conveyor.history.store import HistoryStore

MAX_CHANGES = 1000
# Fields apart by the unit separator, commits by NUL (-z): no name or date holds either.
_FORMAT = "--format=%H%x1f%cI%x1f%an <%ae>"
HOTFIX_PREFIXES = ("hotfix/", "hotfix-")


@dataclass(frozen=True)
class Brought:
    """The commits a deploy brings, and a note for the person when that is not all of them."""

    changes: tuple[Change, ...]
    note: str | None = None


def brought(
    root: Path, commit: str, *, previous: str | None, commit_time: str = "", cap: int = MAX_CHANGES
) -> Brought:
    """The commits `commit` brings over `previous` (None: a first deploy), newest first."""
    if not commit:
        return Brought(())
    if previous == commit:
        return Brought(())  # the same commit again: nothing new reaches the environment
    revisions = [commit] if previous is None else [commit, f"^{previous}"]
    count = 1 if previous is None else cap + 1
    try:
        argv = ["log", "-z", _FORMAT, f"--max-count={count}", "--end-of-options", *revisions]
        raw = git(root, *argv)
        changes = [_parse(entry) for entry in raw.decode("utf-8", "replace").split("\0") if entry]
    except (ConveyorError, ValueError) as error:
        own = _own(commit, commit_time)
        said = str(error).splitlines()[0] if str(error) else type(error).__name__
        what = "the deployed commit only" if own else "no commit"
        return Brought(own, f"changes: git could not list the commits ({said}); recorded {what}")
    if len(changes) > cap:
        return Brought(
            tuple(changes[:cap]),
            f"changes: more than {cap} commits since {previous and previous[:12]}; "
            f"recorded the newest {cap}",
        )
    return Brought(tuple(changes))


def _parse(entry: str) -> Change:
    sha, when, author = entry.strip("\n").split("\x1f")
    return Change(sha, _aware(datetime.fromisoformat(when)), author)


def _own(commit: str, commit_time: str) -> tuple[Change, ...]:
    """The deployed commit with the committer time its release's manifest holds, if any."""
    try:
        return (Change(commit, _aware(datetime.fromisoformat(commit_time)), ""),)
    except ValueError:
        return ()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def is_hotfix_ref(root: Path, ref: str) -> bool:
    """True when `ref` (HEAD included) is a local or remote branch named hotfix/* or hotfix-*."""
    if ref.startswith("-"):
        return False  # never an option to git (rev-parse echoes --end-of-options back)
    try:
        full = text(root, "rev-parse", "--symbolic-full-name", ref)
    except ConveyorError:
        return False
    name = full.splitlines()[0] if full else ""
    if name.startswith("refs/heads/"):
        branch = name.removeprefix("refs/heads/")
    elif name.startswith("refs/remotes/"):
        branch = name.removeprefix("refs/remotes/").partition("/")[2]  # past the remote's name
    else:
        return False  # a tag, a commit hash, a detached HEAD
    return branch.startswith(HOTFIX_PREFIXES)


def record_changes(
    store: HistoryStore,
    deploy_id: str,
    *,
    root: Path,
    environment: str,
    commit: str,
    commit_time: str = "",
) -> str | None:
    """Record the commits deploy `deploy_id` brings; a note for the person when not all
    of them could be (never an error: the deploy goes on)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        last = store.last(environment, status="succeeded", kind="deploy")
        previous = last.commit if last is not None and last.commit else None
        found = brought(root, commit, previous=previous, commit_time=commit_time)
        store.record_changes(deploy_id, found.changes)
    except (ConveyorError, SQLAlchemyError, OSError) as error:
        lines = str(error).strip().splitlines()
        return f"changes: not recorded ({lines[0] if lines else type(error).__name__})"
    return found.note
