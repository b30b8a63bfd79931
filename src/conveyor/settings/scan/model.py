"""What a scan finds: findings, groups of identical values, and files it had to skip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["low", "medium", "high"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high")
# Where a literal sits decides how --fix may rewrite it.
Context = Literal["assign", "keyword", "dict", "argument", "getenv", "literal", "text"]


def rank(severity: str) -> int:
    """0 for low, 1 for medium, 2 for high; 3 for anything else ("never")."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 3


@dataclass(frozen=True)
class Finding:
    """One hard-coded value at one place; `value` is raw and must be masked before showing."""

    path: str
    line: int
    column: int
    rule: str
    severity: Severity
    value: str
    name: str | None
    proposal: str
    context: Context
    fixable: bool
    line_text: str
    is_int: bool = False

    def location(self) -> str:
        """file:line:col."""
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Group:
    """Identical values found in several places, with one proposed setting name."""

    id: str
    setting: str
    rule: str
    value: str
    findings: tuple[Finding, ...]

    @property
    def severity(self) -> Severity:
        """The highest severity among the group's findings."""
        return max((f.severity for f in self.findings), key=rank)

    @property
    def fixable(self) -> bool:
        """True when --fix can rewrite at least one place."""
        return any(f.fixable for f in self.findings)


@dataclass(frozen=True)
class Skipped:
    """A file or directory the scan did not read, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class ScanResult:
    """Everything one scan produced."""

    groups: tuple[Group, ...]
    skipped: tuple[Skipped, ...]
    suppressed: int
    files: int
    lines: int

    def findings(self) -> list[Finding]:
        """Every finding, ordered by file and position."""
        found = [f for group in self.groups for f in group.findings]
        return sorted(found, key=lambda f: (f.path, f.line, f.column, f.rule))

    def group_of(self, finding: Finding) -> Group:
        """The group a finding belongs to."""
        return next(g for g in self.groups if finding in g.findings)
