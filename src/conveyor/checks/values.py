"""An environment's values for the checks: `[checks] env = "test"` gives each step `.env.test`."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from conveyor.checks.step import Plan
from conveyor.errors import ConfigError
from conveyor.project.load import Project
from conveyor.settings.envfile import read_env_file

# Problems of a file's form that do not change the values read.
_HARMLESS = frozenset({"bom", "crlf"})
MARKER = "CONVEYOR_CHECKS_ENV"


def _env_file(project: Project) -> tuple[str, str, Path] | None:
    """(environment, its file as written, its path) for `[checks] env`, or None."""
    name = project.config.checks.env
    if name is None:
        return None
    known = project.config.environments.get(name)
    relative = known.resolved_env_file if known is not None else f".env.{name}"
    return name, relative, project.root / relative


def step_environ(project: Project, base: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """The environment the steps run in: `base` (this process's) with the values of the
    environment `[checks] env` names; None when it names none."""
    found = _env_file(project)
    if found is None:
        return None
    name, relative, path = found
    if not path.is_file():
        raise ConfigError(
            f'conveyor.toml: checks.env = "{name}": {relative} does not exist, '
            "so the checks have no values to run with",
            hint=f"create it with the values the tests need (cp {project.config.settings.example} "
            f"{relative}, then fill it in; chmod 600 {relative}), or remove checks.env",
        )
    parsed = read_env_file(path)
    problems = [p for p in parsed.problems if p.code not in _HARMLESS]
    if problems:
        first = problems[0]
        raise ConfigError(
            f"{relative}:{first.line}: {first.message}",
            hint=f"fix {relative} (conveyor config check {name} lists every problem)",
        )
    values = {entry.key: entry.value for entry in parsed.entries}
    return {**(os.environ if base is None else base), **values}


def with_values(plan: Plan, project: Project) -> Plan:
    """The plan with each step's cache key bound to the values of `[checks] env`: a step that
    passed with other values runs again. Only a digest enters the key, never a value."""
    found = _env_file(project)
    if found is None or not found[2].is_file():
        return plan
    _, relative, path = found
    marker = (MARKER, f"{relative}@{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}")
    return replace(plan, steps=tuple(replace(s, env=(*s.env, marker)) for s in plan.steps))
