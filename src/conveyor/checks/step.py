"""A step of the quality pipeline and the plan that holds them: values, nothing runs here."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Literal

GateKind = Literal["coverage", "benchmark"]


@dataclass(frozen=True)
class Gate:
    """A check on a step's reports after its command passed (coverage floor, benchmark)."""

    kind: GateKind
    report: str
    minimum: float = 0.0
    threshold: float = 10.0


@dataclass(frozen=True)
class Step:
    """One command of the pipeline, what it reads and what it needs first."""

    name: str
    argv: tuple[str, ...]
    inputs: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    writes: bool = False
    fast: bool = False
    exclusive: bool = False
    # Longer steps start first when several are ready: the slowest one bounds the run.
    weight: int = 1
    # Distributions whose versions go into the cache key (the tool itself).
    tools: tuple[str, ...] = ()
    python: str = ""
    python_version: str = ""
    env: tuple[tuple[str, str], ...] = ()
    gate: Gate | None = None
    cacheable: bool = True
    # pytest's exit 5 (no tests collected): "pass" or "fail" (checks.no_tests); "" for others.
    no_tests: str = ""
    # Keys holding a URL (or "host:port") that must accept a connection before it runs.
    services: tuple[str, ...] = ()

    @property
    def command(self) -> str:
        """The argv as one line a person can paste into a shell."""
        return shlex.join(self.argv)

    @property
    def rerun(self) -> str:
        """The command that runs this step alone."""
        return f"conveyor check {self.name}"


@dataclass(frozen=True)
class Plan:
    """The steps to run, in declaration order, and what planning had to say."""

    steps: tuple[Step, ...]
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default=())

    def step(self, name: str) -> Step:
        """The step called `name` (KeyError when absent)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def render(self) -> str:
        """One line per step: name, needs and command (for --dry-run)."""
        lines = []
        for step in self.steps:
            needs = f" (after {', '.join(step.needs)})" if step.needs else ""
            lines.append(f"{step.name}{needs}: {step.command}")
        return "\n".join(lines)
