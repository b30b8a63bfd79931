"""Carrying out a fix plan: write the files, or show them as a diff with secrets masked."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from conveyor.settings.render import write_private
from conveyor.settings.scan.fix import SECRET_RULES, FixPlan
from conveyor.settings.scan.rules import masked
from conveyor.settings.secrets import MASK, is_secret_name


def apply(plan: FixPlan) -> None:
    """Write every change; private files with mode 0600, others keeping their mode."""
    for change in plan.changes:
        if change.private:
            write_private(change.path, change.new)
            continue
        mode = change.path.stat().st_mode & 0o777 if change.old is not None else 0o644
        write_private(change.path, change.new)
        os.chmod(change.path, mode)


def diff(plan: FixPlan, root: Path) -> str:
    """A unified diff of the plan; values in private files are masked."""
    chunks: list[str] = []
    for change in plan.changes:
        name = change.path.relative_to(root).as_posix()
        old, new = change.old or "", change.new
        if change.private:
            old, new = _mask_env(old), _mask_env(new)
        chunks.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile="/dev/null" if change.old is None else f"a/{name}",
                tofile=f"b/{name}",
            )
        )
    text = "".join(chunks)
    # The code lines removed still hold the secrets; a diff may end up in a CI log.
    for group in plan.fixed:
        if group.rule in SECRET_RULES:
            text = text.replace(group.value, masked(group.rule, group.value))
    return text


def _mask_env(text: str) -> str:
    """KEY=value lines with secret values masked."""
    lines = []
    for line in text.splitlines(keepends=True):
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            rule = "url-credentials" if "://" in value else "hard-coded-secret"
            if "://" in value or is_secret_name(key):
                end = "\n" if line.endswith("\n") else ""
                line = f"{key}={masked(rule, value.strip()) or MASK}{end}"
        lines.append(line)
    return "".join(lines)
