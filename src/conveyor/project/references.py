"""Checks across sections: roles that must have hosts, steps that must exist."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conveyor.suggest import suggestion_suffix

if TYPE_CHECKING:
    from conveyor.project.model import ConveyorConfig, StepConfig

KeyPath = tuple[str | int, ...]


def dotted(path: Sequence[str | int]) -> str:
    """`environments.production.hosts.backend[0]`; keys that are not bare get TOML quotes."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part)
            out += f".{key}" if out else key
    return out


@dataclass(frozen=True)
class Problem:
    """One invalid value: where it is (a key path) and what is wrong with it."""

    path: KeyPath
    message: str


class ReferencesInvalid(ValueError):
    """Raised by ConveyorConfig's validator; the loader turns each problem into a line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(f"{dotted(p.path)}: {p.message}" for p in problems))
        self.problems = tuple(problems)


def check_references(config: ConveyorConfig, *, presets: Sequence[str]) -> list[Problem]:
    """Every reference from one section to another that points at nothing."""
    return [*_roles(config), *_steps(config.checks.use, config.checks.steps, presets)]


def _roles(config: ConveyorConfig) -> Iterator[Problem]:
    known = config.roles
    for name, service in config.services.items():
        for index, role in enumerate(service.roles):
            if role not in known:
                yield Problem(("services", name, "roles", index), _no_hosts(role, known))
    for section, table in (("migrations", config.migrations), ("release", config.release)):
        if table is not None and table.run_on not in known:
            yield Problem((section, "run_on"), _no_hosts(table.run_on, known))


def _no_hosts(role: str, known: Sequence[str]) -> str:
    return f'role "{role}" has no hosts in any environment{suggestion_suffix(role, known)}'


def _steps(
    use: Sequence[str], steps: Mapping[str, StepConfig], presets: Sequence[str]
) -> Iterator[Problem]:
    available = [*use, *steps]
    for name in steps:
        if name in presets:
            yield Problem(
                ("checks", "steps", name), f'"{name}" is a preset; name the step otherwise'
            )
    for name, step in steps.items():
        for index, need in enumerate(step.needs):
            path = ("checks", "steps", name, "needs", index)
            if need == name:
                yield Problem(path, "a step cannot need itself")
            elif need in presets and need not in use:
                yield Problem(path, f'preset "{need}" is not in checks.use')
            elif need not in available:
                suffix = suggestion_suffix(need, available)
                yield Problem(path, f'unknown step "{need}"{suffix}')
    cycle = _first_cycle({name: [n for n in s.needs if n in steps] for name, s in steps.items()})
    if cycle:
        chain = " -> ".join(cycle)
        yield Problem(("checks", "steps", cycle[0], "needs"), f"steps need each other: {chain}")


def _first_cycle(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """The first cycle found by a depth-first walk in key order, closed (a, b, a); or []."""
    done: set[str] = set()
    for start in graph:
        trail: list[str] = []
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                if node in trail:
                    return [*trail[trail.index(node) :], node]
                if node in done:
                    continue
                trail.append(node)
            # Self-needs are reported on their own, so they are skipped as edges here.
            edges = [n for n in graph[node] if n != node]
            if index < len(edges):
                stack.append((node, index + 1))
                stack.append((edges[index], 0))
            else:
                done.add(trail.pop())
    return []
