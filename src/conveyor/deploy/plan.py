"""A plan: the steps of a deploy, a rollback or a recovery, each carrying a typed operation.

The planners (`deploy/planner.py` for a deploy, `deploy/rollback_plan.py` for a
rollback; both make a host serve a release with `deploy/serve.py`) are pure code
from the model and the hosts' observed state to a `Plan`. The executors interpret
the steps' operations in the plan's order (`deploy/engine.py`), so `--dry-run`
prints the program that runs. Steps without an operation are the frame's
(connecting, locking, the config check) or facts (a host left out).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conveyor.deploy.layout import HostPaths
from conveyor.deploy.state import HostState

# What a failure at each kind of step does to the environment.
BEFORE_SWITCH = "stop the new colour; traffic stays on the old one"
AFTER_SWITCH = "switch every host of this deploy back to its warm old colour"
NOTHING_YET = "stop; nothing was changed"


@dataclass(frozen=True)
class Op:
    """What a step does, typed: an executor acts on this; the description is for a person.

    `kind` names the operation (ready, route, start, stop, sync, link, mark, record, ...);
    the other fields are its arguments: a service, a program, the release on a colour.
    """

    kind: str
    service: str = ""
    program: str = ""
    colour: str = ""
    release: str = ""
    version: str = ""
    venv: str = ""
    how: str = ""  # a variant: a record "switched"/"rolled_back"/"restored", a sync "strict"


@dataclass(frozen=True)
class Step:
    """One thing the deploy does on one host ("*": the whole environment)."""

    host: str
    action: str
    description: str
    argv: tuple[str, ...] = ()
    on_failure: str = NOTHING_YET
    secret: bool = False  # writes secret values: the plan shows that it does, never what
    op: Op | None = None  # what the executor does; None: the frame's step, or a fact
    phase: str = ""  # steps of one phase run on every host at once, each host's in order

    def render(self) -> str:
        """`host  action  description` and, indented, the argv."""
        text = self.description.replace("\n", "\n" + " " * 34)
        line = f"{self.host:<24} {self.action:<8} {text}"
        if self.argv:
            shown = [f"<{a.count(chr(10)) + 1}-line script>" if "\n" in a else a for a in self.argv]
            line += f"\n{'':<34}$ {shlex.join(shown)}"
        return line


@dataclass(frozen=True)
class HostView:
    """What the planner knows of a host: where the app lives, its roles, its state."""

    spec: str
    paths: HostPaths
    roles: tuple[str, ...]
    state: HostState
    reachable: str | None = None  # why the state could not be read, if it could not
    # Every host's roles, in the environment's order (a singleton runs on the first).
    all_roles: Mapping[str, Sequence[str]] = field(default_factory=dict)
    listen: Mapping[str, str] = field(default_factory=dict)  # the host's own Caddy addresses


@dataclass(frozen=True)
class Inputs:
    """What a deploy plan was built from, each as a value or a digest."""

    release: str  # the release id (content-derived, so a rebuild of the same commit matches)
    commit: str  # the commit a release built at deploy comes from ("" for a built one)
    values: str  # sha256 of the .env text the hosts get
    config: str  # sha256 of the validated conveyor.toml model
    hosts: Mapping[str, Any]  # each host's state.json as read, or why it could not be read
    watch: float | None = None
    roles: tuple[str, ...] = ()  # --role / --host the deploy is limited to
    limit_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The whole deploy, in order."""

    environment: str
    release: str
    steps: tuple[Step, ...]

    max_failures: int = 0
    # Another use of the plan (a rollback) says what it does and what a failure does.
    header: str = ""
    on_failure: tuple[str, ...] = ()
    inputs: Inputs | None = None  # what it was built from, for a saved plan's digest

    def render(self) -> str:
        """The plan for a person; secret payloads never appear."""
        lines = [self.header or f"plan: deploy {self.release} to {self.environment}", ""]
        lines += [step.render() for step in self.steps]
        lines += (
            ["", *self.on_failure]
            if self.on_failure
            else [
                "",
                "on failure before a host switches: " + BEFORE_SWITCH,
                "on failure after a host switched:  " + AFTER_SWITCH,
            ]
        )
        if self.max_failures:
            lines += [
                f"max_failures = {self.max_failures}: up to {self.max_failures} failing host(s) "
                "are put back on their previous release and reported; the others go on"
            ]
        return "\n".join(lines)

    def phases(self) -> list[tuple[str, list[Step]]]:
        """The steps with an operation, grouped into their phases in the plan's order."""
        out: list[tuple[str, list[Step]]] = []
        for step in self.steps:
            if step.op is None:
                continue
            if not out or out[-1][0] != step.phase:
                out.append((step.phase, []))
            out[-1][1].append(step)
        return out


def views(
    hosts: Sequence[tuple[str, HostPaths]],
    roles: Mapping[str, Sequence[str]],
    states: Mapping[str, HostState | str],
    *,
    listens: Mapping[str, Mapping[str, str]] | None = None,
) -> list[HostView]:
    """HostViews from what was read (a state, or why it could not be read)."""
    out = []
    for spec, paths in hosts:
        seen = states[spec]
        state, why = (seen, None) if isinstance(seen, HostState) else (HostState(), seen)
        listen = (listens or {}).get(spec, {})
        out.append(HostView(spec, paths, tuple(roles[spec]), state, why, roles, listen))
    return out
