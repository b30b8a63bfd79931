"""Setting names for findings, and groups of identical values across files."""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from urllib.parse import urlsplit

from conveyor.settings.scan.model import Finding, Group, rank
from conveyor.settings.scan.rules import DB_SCHEMES

# A name this generic says nothing about what it configures: `url`, `host`, `password`.
_GENERIC = frozenset(
    {"URL", "URI", "DSN", "HOST", "HOSTNAME", "PORT", "PASSWORD", "PASSWD", "PWD", "KEY",
     "TOKEN", "SECRET", "USER", "USERNAME", "NAME", "DATABASE", "DBNAME", "DB", "ENDPOINT",
     "CONFIG", "SETTINGS"}
)  # fmt: skip
_KEYWORD_NAMES = {
    "broker": "CELERY_BROKER_URL",
    "backend": "CELERY_RESULT_BACKEND",
    "base_url": "API_BASE_URL",
    "dbname": "DB_NAME",
    "database": "DB_NAME",
    "user": "DB_USER",
    "username": "DB_USER",
}
_CONTAINER = re.compile(r"_?(CONFIG|CONF|SETTINGS|PARAMS|OPTIONS|OPTS|ARGS|KWARGS)$")
# Groups keyed by value alone would merge DB_HOST="localhost" with REDIS_HOST="localhost".
_BY_NAME_RULES = frozenset({"hard-coded-host", "hard-coded-port", "hard-coded-secret"})


def name_from_value(value: str) -> str:
    """A setting name for a URL nobody named: DATABASE_URL, REDIS_URL, API_BASE_URL."""
    scheme = value.partition("://")[0].lower()
    if scheme.startswith("mongodb"):
        return "MONGODB_URL"
    if scheme.startswith("redis"):
        return "REDIS_URL"
    if scheme.startswith("amqp"):
        return "BROKER_URL"
    if DB_SCHEMES.fullmatch(scheme):
        return "DATABASE_URL"
    try:
        path = urlsplit(value).path
    except ValueError:
        path = ""
    return "API_BASE_URL" if "/api" in path else "SERVICE_URL"


def propose(name: str | None, value: str, *, family: str | None, parent: str | None) -> str:
    """The setting a finding should become, from its name, its call and its value."""
    if name is None:
        return name_from_value(value) if "://" in value else f"{family or 'APP'}_VALUE"
    if name in _KEYWORD_NAMES and family in ("DB", "CELERY", "API"):
        return _KEYWORD_NAMES[name]
    upper = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") or "VALUE"
    if upper not in _GENERIC:
        return upper
    prefix = family
    if parent:
        stem = _CONTAINER.sub("", re.sub(r"[^A-Z0-9]+", "_", parent.upper())).strip("_")
        prefix = stem or prefix
    if prefix is None and "://" in value:
        return name_from_value(value)
    return f"{prefix or 'APP'}_{upper}"


def group_id(key: str) -> str:
    """A short, stable id for a group, from its key (never the raw value)."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def group_findings(findings: list[Finding]) -> tuple[Group, ...]:
    """Identical values become one group, named after the most common proposal."""
    buckets: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        key = f"{finding.rule}\0{finding.value}"
        if finding.rule in _BY_NAME_RULES:
            key += f"\0{finding.proposal}"
        buckets[key].append(finding)
    groups = []
    taken: dict[str, str] = {}
    for key, members in sorted(buckets.items(), key=lambda item: _order(item[1])):
        members.sort(key=lambda f: (f.path, f.line, f.column))
        setting = _most_common(members)
        # Two different values must not become the same setting.
        if setting in taken and taken[setting] != key:
            number = 2
            while f"{setting}_{number}" in taken:
                number += 1
            setting = f"{setting}_{number}"
        taken[setting] = key
        rule = max(members, key=lambda f: rank(f.severity)).rule
        groups.append(Group(group_id(key), setting, rule, members[0].value, tuple(members)))
    return tuple(groups)


def _order(members: list[Finding]) -> tuple[int, int, str]:
    """Worst and biggest groups first, then by place."""
    worst = max(rank(f.severity) for f in members)
    first = min(members, key=lambda f: (f.path, f.line))
    return (-worst, -len(members), first.location())


def _most_common(members: list[Finding]) -> str:
    """The proposal most places agree on; names people wrote beat names made up."""
    # Only places --fix can rewrite vote (a URL quoted in a message names nothing), and
    # code outside the tests outvotes the tests.
    voters = [f for f in members if f.fixable] or members
    top = max(rank(f.severity) for f in voters)
    voters = [f for f in voters if rank(f.severity) == top]
    written = Counter(f.proposal for f in voters if f.name and f.name.upper() == f.proposal)
    counts = written or Counter(f.proposal for f in voters)
    best = max(counts.values())
    return min(name for name, count in counts.items() if count == best)
