"""`conveyor check --why STEP`: the step's key now against the key of its last pass."""

from __future__ import annotations

from pathlib import Path

from conveyor.checks.cache import Cache, explain, key_parts, probe
from conveyor.checks.files import hash_files, project_files, select
from conveyor.checks.step import Plan


def why(plan: Plan, root: Path, name: str) -> list[str]:
    """Lines explaining, for each step called `name` (or `name@version`), a hit or a miss."""
    everything = project_files(root)
    cache = Cache(root)
    lines: list[str] = []
    for step in plan.steps:
        if step.name != name and not step.name.startswith(f"{name}@"):
            continue
        if not step.cacheable:
            lines.append(f"{step.name}: never cached (its result depends on more than files)")
            continue
        hashes = hash_files(root, select(everything, step.inputs))
        parts = key_parts(step, probe(step.python, step.tools), hashes)
        lines += explain(step.name, parts, cache.load(step.name))
    return lines
