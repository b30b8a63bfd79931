"""An environment's values for the checks: `[checks] env = "test"` gives each step `.env.test`."""

from __future__ import annotations

import os
from collections.abc import Mapping

from conveyor.errors import ConfigError
from conveyor.project.load import Project
from conveyor.settings.envfile import read_env_file

# Problems of a file's form that do not change the values read.
_HARMLESS = frozenset({"bom", "crlf"})


def step_environ(project: Project, base: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """The environment the steps run in: `base` (this process's) with the values of the
    environment `[checks] env` names; None when it names none."""
    name = project.config.checks.env
    if name is None:
        return None
    known = project.config.environments.get(name)
    relative = known.resolved_env_file if known is not None else f".env.{name}"
    path = project.root / relative
    where = f'conveyor.toml: checks.env = "{name}"'
    if not path.is_file():
        raise ConfigError(
            f"{where}: {relative} does not exist, so the checks have no values to run with",
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
