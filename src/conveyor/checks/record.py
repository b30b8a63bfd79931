"""A check run's result in the deploy history, by commit and checks configuration.

What is recorded is a claim about a commit: "the whole pipeline, configured as
`checks_digest` says, passed (or failed) on exactly this commit". So only a run of
every step is recorded (not `STEP...`, `--fast` or `--python`), and only when the
tracked files under the project have no uncommitted change, before the run and after it
(`--fix` may have rewritten some). A run of a dirty tree is not recorded at all: it
proves nothing about any commit, and "<sha>+dirty" rows would only be noise that no
gate or figure can use. Cached steps count: a step is cached only when the same key
(tool, configuration, the files it reads) passed before.

Writing the result may create the project's history (`.conveyor/history.db`, ignored by
git): a passed check of a commit is what the approval gate asks for. A history that
cannot be written never fails the check; the caller shows the warning.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from conveyor.build.git import changed_files, config_at, head_commit
from conveyor.errors import ConveyorError
from conveyor.project.load import Project


def checks_digest(project: Project) -> str:
    """`sha256:<hex>` of the validated [checks] section (the format of `deploy.saved.digest`)."""
    text = project.config.checks.model_dump_json()
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def checks_digest_at(project: Project, commit: str) -> str:
    """The `checks_digest` of the configuration `commit` holds: what a check of that commit
    was run with (a check is recorded only on a clean tree). A ConveyorError names the file
    and the commit when it cannot be read there."""
    from conveyor.project.load import config_from_text, read_text

    try:
        name, text = config_at(project.root, commit)
    except ConveyorError:
        shown = f"{project.config_path.name} at {commit[:12]}"
        raise ConveyorError(f"{shown}: cannot be read from git") from None
    path = project.root / name
    if path == project.config_path and text == read_text(path):
        return checks_digest(project)
    return checks_digest(config_from_text(path, text, shown=f"{name} at {commit[:12]}"))


@dataclass(frozen=True)
class Subject:
    """The commit a run is about, or why the run says nothing about one."""

    commit: str | None
    why_not: str = ""  # for a person, when `commit` is None; "" when there is nothing to say


def subject(root: Path) -> Subject:
    """HEAD's commit when the tracked files under `root` have no uncommitted change."""
    try:
        commit = head_commit(root)
        if commit is None:
            return Subject(None)  # not a git repository, or no commit yet: nothing to say
        changed = changed_files(root)
    except ConveyorError:
        return Subject(None)  # git itself is missing: a check needs no git
    if changed:
        many = f"{len(changed)} files" if len(changed) != 1 else changed[0]
        return Subject(
            None,
            f"not recorded as a check of {commit[:12]}: uncommitted changes to {many}; "
            "commit, then run conveyor check again (cached steps take no time)",
        )
    return Subject(commit)


def record(
    project: Project,
    *,
    commit: str,
    passed: bool,
    started_at: datetime,
    finished_at: datetime,
    summary: str,
) -> str | None:
    """Write the result into the project's history; a warning when it could not be."""
    from sqlalchemy.exc import SQLAlchemyError

    from conveyor.history.store import HistoryStore

    try:
        with HistoryStore.for_project(project.root) as store:
            store.record_check(
                commit=commit,
                config=checks_digest(project),
                passed=passed,
                started_at=started_at,
                finished_at=finished_at,
                summary=summary,
            )
    except (ConveyorError, OSError, SQLAlchemyError) as error:
        said = error.message if isinstance(error, ConveyorError) else str(error)
        # One line: a driver's error goes on for several (a hint, the SQL sent).
        first = said.strip().splitlines()[0] if said.strip() else type(error).__name__
        return f"the check result was not recorded in the history: {first}"
    return None
