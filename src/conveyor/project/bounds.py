"""Limits on a configuration file's size, nesting and strings, checked before validation.

A conveyor.toml is a few kilobytes written by a person; anything far beyond that is a
mistake (a pasted file, a generated blob) and would otherwise end in a RecursionError or
in megabyte-long names on the hosts.
"""

from __future__ import annotations

from typing import Any

from conveyor.project.references import KeyPath, Problem

MAX_BYTES = 512 * 1024
MAX_DEPTH = 32
MAX_STRING = 4096


def size_problem(size: int) -> str | None:
    """Why a file of `size` bytes is refused, or None."""
    if size <= MAX_BYTES:
        return None
    return f"is {size:,} bytes; a configuration file may be at most {MAX_BYTES:,} bytes (512 KiB)"


def bound_problems(data: Any, prefix: KeyPath = ()) -> list[Problem]:
    """Every string (or key) longer than MAX_STRING and the first value nested deeper than
    MAX_DEPTH, found without recursion (the data may be nested as deep as the parser allows)."""
    problems: list[Problem] = []
    deep: KeyPath | None = None
    stack: list[tuple[Any, KeyPath, int]] = [(data, prefix, 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            deep = deep or path
            continue
        if isinstance(node, str) and len(node) > MAX_STRING:
            message = f"is {len(node):,} characters long; at most {MAX_STRING:,} are allowed"
            problems.append(Problem(path, message))
        elif isinstance(node, dict):
            for key, value in reversed(node.items()):
                if len(key) > MAX_STRING:
                    message = f"has a key {len(key):,} characters long; at most {MAX_STRING:,}"
                    problems.append(Problem(path, message))
                else:
                    stack.append((value, (*path, key), depth + 1))
        elif isinstance(node, list):
            stack.extend(
                (value, (*path, i), depth + 1) for i, value in reversed(list(enumerate(node)))
            )
    if deep is not None:
        # Only the keys that lead there: a path of thousands of "[0]" would say nothing.
        keys = tuple(part for part in deep if isinstance(part, str))
        problems.append(Problem(keys, f"nested more than {MAX_DEPTH} levels deep; flatten it"))
    return problems
