"""The approval policy in force for an environment, and whose signatures count.

They are read from the commit of the newest succeeded deploy there (by the history), not
from the checkout that deploys: a branch that edits `approval` or `allowed_signers` (adds
its author's second key, lowers `required`, drops the table) changes nothing about who must
approve it. Such a change takes effect once it has been deployed there, under the policy it
replaces. A plain rollback changes nothing: going back to a release from before the policy
does not take it away.

Before the first deploy, and where the newest deploy's commit asks for no approval, the
checkout's policy is the one in force: it can only add a gate. Its allowed_signers must
then be committed and unchanged.

The anchor is the history store: a deploy made with another history, or to the same hosts
under another environment name, does not see it (docs/approvals.md).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from conveyor.build.git import config_at, file_at, git, text
from conveyor.errors import ConfigError, ConveyorError
from conveyor.gates import requests
from conveyor.history.records import URL_VARIABLE, default_path
from conveyor.history.store import HistoryStore
from conveyor.project.environment import ApprovalConfig
from conveyor.project.load import CONFIG_NAME, PYPROJECT_NAME, Project, parse_toml


@dataclass(frozen=True)
class Trust:
    """The policy in force, the allowed_signers file to verify against, and where both
    were read (for a person)."""

    policy: ApprovalConfig
    signers: Path
    source: str


def checkout_policy(project: Project, environment: str) -> ApprovalConfig | None:
    """The checkout's approval policy for `environment`, when it asks for approvals."""
    policy = project.config.environment(environment).approval
    return policy if policy is not None and policy.required > 0 else None


def in_force(project: Project, store: HistoryStore, environment: str) -> Trust | None:
    """The policy in force for deploys to `environment` (None: none needed)."""
    project.config.environment(environment)  # an unknown environment is an error here
    serving = policy_commit(store, environment)
    if serving:
        try:
            have(project, serving, environment)
            served = served_policy(project, serving, environment)
        except ConveyorError:
            # An environment that never asked for approvals deploys as before from a
            # shallow clone; one that did (or would now) must be able to read its policy.
            if checkout_policy(project, environment) is None and not requests.listing(
                store, environment, limit=1
            ):
                return None
            raise
        if served is not None:
            return Trust(
                served,
                served_signers(project, serving, served),
                f"as commit {serving[:12]} has it (the newest deploy to {environment})",
            )
    return _checkout(project, environment, deployed=bool(serving))


def in_force_here(project: Project, environment: str) -> Trust | None:
    """`in_force` with the project's history, without creating one where there is none
    (a dry run of a project never deployed from here writes nothing)."""
    if not os.environ.get(URL_VARIABLE) and not default_path(project.root).exists():
        project.config.environment(environment)
        return _checkout(project, environment, deployed=False)
    with HistoryStore.for_project(project.root) as store:
        return in_force(project, store, environment)


def _checkout(project: Project, environment: str, *, deployed: bool) -> Trust | None:
    policy = checkout_policy(project, environment)
    if policy is None:
        return None
    where = "what was deployed there asks for none" if deployed else "nothing deployed there yet"
    return Trust(policy, checkout_signers(project, policy), f"this checkout's ({where})")


def serving_commit(store: HistoryStore, environment: str) -> str:
    """The commit the environment serves, by its history ("" before the first deploy): a
    succeeded deploy (or rollback to a named release) makes its commit the current one and
    the one before it the previous; a plain rollback swaps the two, as the hosts do."""
    current = previous = ""
    for record in reversed(store.deploys(environment, limit=1000)):
        if record.status != "succeeded":
            continue
        if record.commit:
            if record.commit != current:
                current, previous = record.commit, current
        elif record.kind == "rollback":
            current, previous = previous, current
    return current


def policy_commit(store: HistoryStore, environment: str) -> str:
    """The commit whose approval policy is in force: the newest one a succeeded deploy made
    live there. A rollback changes nothing: going back to a release from before the policy
    does not take the policy away ("" before the first deploy)."""
    for record in store.deploys(environment, limit=1000):
        if record.kind == "deploy" and record.status == "succeeded" and record.commit:
            return record.commit
    return ""


def have(project: Project, commit: str, environment: str) -> None:
    """An error unless this clone has `commit`, which `environment`'s history names."""
    try:
        git(project.root, "cat-file", "-e", f"{commit}^{{commit}}")
    except ConveyorError:
        raise ConveyorError(
            f"{environment}'s history names commit {commit[:12]}, which this clone does not have: "
            "its approval policy and the authors of the changes since cannot be read; "
            "nothing was done",
            hint="fetch the whole history (git fetch --unshallow; in GitHub Actions, "
            "actions/checkout with fetch-depth: 0)",
        ) from None


def served_policy(project: Project, commit: str, environment: str) -> ApprovalConfig | None:
    """The approval table `environment` has in `commit`'s configuration file, validated on
    its own (the rest of an older file may hold what this conveyor reads differently)."""
    missing = ConfigError(
        f"commit {commit[:12]} has no {CONFIG_NAME} (nor [tool.conveyor] in "
        f"{PYPROJECT_NAME}), yet it is the newest deploy to {environment}, whose approval "
        "policy is in force"
    )
    try:
        name, content = config_at(project.root, commit)
    except ConveyorError:
        raise missing from None
    shown = f"{name} at {commit[:12]}"
    data: Any = parse_toml(content, shown=shown)
    if name == PYPROJECT_NAME:
        data = _table(_table(data, "tool"), "conveyor") or None
    if data is None:
        raise missing
    raw = _table(_table(data, "environments"), environment).get("approval")
    if raw is None:
        return None
    try:
        policy = ApprovalConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise ConfigError(
            f"{shown}: [environments.{environment}.approval] is not valid here "
            f"({key + ': ' if key else ''}{first['msg']}); it is the approval policy in force, "
            f"as the newest deploy to {environment}; nothing was done",
        ) from None
    return policy if policy.required > 0 else None


def served_signers(project: Project, commit: str, policy: ApprovalConfig) -> Path:
    """`commit`'s allowed_signers, copied under .conveyor/ for ssh-keygen to read."""
    try:
        content = file_at(project.root, commit, policy.allowed_signers)
    except ConveyorError:
        raise ConfigError(
            f"{policy.allowed_signers} at {commit[:12]}: not in that commit, whose approval "
            "policy is in force; nobody's signature can count",
            hint="the policy in force names it; a deploy can only be approved once a commit "
            "that has it serves (or, before anything serves, from the checkout)",
        ) from None
    # Named by its content and written whole (a temporary file renamed over it): two
    # commands reading it at once never see half of it, nor a link planted in its place.
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    directory = project.root / ".conveyor" / "trust"
    path = directory / f"{digest}-{Path(policy.allowed_signers).name}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".signers-")
        with os.fdopen(fd, "w") as file:
            file.write(content)
        os.replace(temporary, path)
    except OSError as error:
        raise ConveyorError(
            f"{directory}: cannot write the allowed_signers in force ({error.strerror})"
        ) from None
    return path


def checkout_signers(project: Project, policy: ApprovalConfig) -> Path:
    """The checkout's allowed_signers: it must exist, be in git and be as HEAD has it."""
    path = project.root / policy.allowed_signers
    if not path.is_file():
        raise ConfigError(
            f"{path}: no such file; approval.allowed_signers names whose SSH signatures count",
            hint='write one line per approver: "alice@example.com ssh-ed25519 AAAA..." '
            "(the key from their ~/.ssh/id_ed25519.pub), and commit it",
        )
    where = policy.allowed_signers
    if not text(project.root, "ls-files", "--", where):
        said = "not in git"
    elif text(project.root, "status", "--porcelain", "--", where):
        said = "changed since HEAD"
    else:
        return path
    raise ConfigError(
        f"{path}: {said}; whose signatures count is what the repository says",
        hint=f"commit it: git add {where} && git commit",
    )


def _table(data: Any, key: str) -> Any:
    found = data.get(key) if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}
