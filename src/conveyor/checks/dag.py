"""Which steps may start now: needs met, writers never beside readers of their files."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from conveyor.checks.step import Step

Files = Mapping[str, frozenset[str]]


def implicit_needs(steps: Sequence[Step], files: Files) -> dict[str, tuple[str, ...]]:
    """Each step's needs plus the writers of files it shares, which go first.

    Two steps that share files and of which one writes are ordered: the writer
    first (a formatter in fix mode before the linters read its output), two
    writers in the order written. So they can never run side by side.
    """
    needs = {s.name: list(s.needs) for s in steps}
    for i, first in enumerate(steps):
        for second in steps[i + 1 :]:
            if not (first.writes or second.writes):
                continue
            if not files[first.name] & files[second.name]:
                continue
            before, after = (
                (second, first) if second.writes and not first.writes else (first, second)
            )
            # An explicit need the other way round wins; no cycle is made.
            if after.name not in needs[before.name] and before.name not in needs[after.name]:
                needs[after.name].append(before.name)
    return {name: tuple(value) for name, value in needs.items()}


def blocked(steps: Sequence[Step], failed: Collection[str]) -> set[str]:
    """Steps that cannot run because something they need (directly or not) failed.

    Only written needs block: a reader still runs after a formatter that failed.
    """
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for step in steps:
            if step.name in out or step.name in failed:
                continue
            if any(n in failed or n in out for n in step.needs):
                out.add(step.name)
                changed = True
    return out


def ready(
    steps: Sequence[Step],
    needs: Mapping[str, Sequence[str]],
    *,
    finished: Collection[str],
    running: Collection[str],
    files: Files,
    slots: int,
) -> list[Step]:
    """Steps to start now, heaviest first, else in the order written; at most `slots`."""
    by_name = {s.name: s for s in steps}
    steps = sorted(steps, key=lambda s: -s.weight)  # stable: ties keep the written order
    if any(by_name[r].exclusive for r in running):
        return []
    started: list[Step] = []
    busy = [by_name[r] for r in running]
    for step in steps:
        if len(started) >= slots:
            break
        if step.name in finished or step.name in running:
            continue
        if not all(n in finished for n in needs[step.name]):
            continue
        if step.exclusive:
            if busy or started:
                continue
            return [step]
        if any(_conflict(step, other, files) for other in (*busy, *started)):
            continue
        started.append(step)
    return started


def _conflict(a: Step, b: Step, files: Files) -> bool:
    return (a.writes or b.writes) and bool(files[a.name] & files[b.name])
